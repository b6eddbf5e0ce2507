"""``{% data_table table %}``: a table rendered in Python.

A county's grid table has ~900 rows × 20 columns; rendering that through the template engine
cell by cell costs more than all of its queries, so the cells are joined here, each escaped.
"""

from __future__ import annotations

from html import escape

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def data_table(
    context,
    table,
    first_link: bool = False,
    show_links: bool = False,
    link_col: int = 0,
    sticky_first: bool = False,
):
    """``sticky_first``: the first column stays in view while the table scrolls sideways
    inside its own box (wide tables such as the indicator table, at desk widths)."""
    query = context.get("query", "")
    prefix = f"?{escape(query)}&amp;" if query else "?"
    out = [
        f"<section class='card' id='table-{escape(table.key)}'><h2>{escape(table.title)}"
        f"<span class='tools'>导出：<a href='{prefix}export=csv&amp;table={escape(table.key)}'>CSV</a>"
        f"<a href='{prefix}export=xlsx&amp;table={escape(table.key)}'>Excel</a></span></h2>"
    ]
    if table.note:
        out.append(f"<p class='muted'>{escape(table.note)}</p>")
    if not table.rows:
        out.append("<p class='empty'>本期没有数据。</p></section>")
        return mark_safe("".join(out))
    # Text columns (names, places, reasons) read left-aligned; numbers right-aligned.
    text_cols = {
        i
        for row in table.rows[:50]
        for i, v in enumerate(row)
        if isinstance(v, str) and v[:1] != ">"
    }
    table_class = "data sticky-first" if sticky_first else "data"
    out.append(f"<div class='table-scroll'><table class='{table_class}'><thead><tr>")
    out.extend(
        f"<th class='{'name' if i in text_cols else ''}'>{escape(h)}</th>"
        for i, h in enumerate(table.headers)
    )
    if show_links:
        out.append("<th>事件</th>")
    out.append("</tr></thead><tbody>")
    for cells, link in table.html_rows:
        out.append("<tr>")
        for index, cell in enumerate(cells):
            text = escape(str(cell))
            if index == link_col and first_link and link:
                text = f"<a href='{escape(link)}'>{text}</a>"
            out.append(
                f"<td class='name'>{text}</td>" if index in text_cols else f"<td>{text}</td>"
            )
        if show_links:
            out.append(f"<td><a href='{escape(link)}'>查看</a></td>" if link else "<td></td>")
        out.append("</tr>")
    out.append("</tbody></table></div></section>")
    return mark_safe("".join(out))
