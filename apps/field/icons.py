"""Draws the field app's icons (committed under static/field/icons/). Re-run after a design
change: ``python -m apps.field.icons``.

The mark: a map grid (网格) with a pin on one cell, white on the app's blue.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BLUE = (29, 79, 145)
LIGHT = (160, 190, 230)
ORANGE = (245, 140, 40)
WHITE = (255, 255, 255)
OUT = Path(__file__).resolve().parent / "static" / "field" / "icons"


def draw(size: int, *, maskable: bool) -> Image.Image:
    scale = 4  # draw large, then downsample for smooth edges
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if maskable:
        pen.rectangle((0, 0, big, big), fill=BLUE)
        inset = big * 0.2  # keep the mark inside the maskable safe zone
    else:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.22, fill=BLUE)
        inset = big * 0.16
    box = big - 2 * inset
    cell = box / 3
    line = max(2, int(big * 0.018))
    for i in range(4):
        offset = inset + i * cell
        pen.line((inset, offset, inset + box, offset), fill=LIGHT, width=line)
        pen.line((offset, inset, offset, inset + box), fill=LIGHT, width=line)
    # The pin stands on the centre cell.
    cx, tip = big / 2, inset + cell * 2.15
    radius = cell * 0.62
    head_y = tip - radius * 1.75
    pen.polygon(
        [
            (cx - radius * 0.78, head_y + radius * 0.6),
            (cx + radius * 0.78, head_y + radius * 0.6),
            (cx, tip),
        ],
        fill=ORANGE,
    )
    pen.ellipse((cx - radius, head_y - radius, cx + radius, head_y + radius), fill=ORANGE)
    pen.ellipse(
        (cx - radius * 0.42, head_y - radius * 0.42, cx + radius * 0.42, head_y + radius * 0.42),
        fill=WHITE,
    )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        draw(size, maskable=False).save(OUT / f"icon-{size}.png", optimize=True)
    draw(512, maskable=True).convert("RGB").save(OUT / "icon-maskable-512.png", optimize=True)


if __name__ == "__main__":
    main()
