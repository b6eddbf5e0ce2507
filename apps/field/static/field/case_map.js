/* 联动外勤: where a case is — a small map (the point and its grid's outline) on the case's page and
 * a 导航 button that hands the point to the phone's map apps, each in the coordinates it
 * expects (apps/core/static/core/basemap.js navigationLinks: WGS-84 where the app accepts it,
 * GCJ-02 for Tencent). app.js renderCase() puts LDCaseMap.card(data, CONFIG.map) on the page. */
(function () {
  'use strict';
  const t = (typeof window.gettext === 'function') ? window.gettext : (s) => s;

  function node(tag, attrs, children) {
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) element.setAttribute(key, value);
    for (const child of children || []) {
      if (child) element.append(child);
    }
    return element;
  }

  function draw(box, data, config) {
    if (!window.L || !box.isConnected) return;
    const map = LDMap.create(box, config, { zoomControl: true, scrollWheelZoom: false, tap: true });
    const grid = data.grid_boundary ? LDMap.geoJSON(map, data.grid_boundary, {
      style: { color: '#1d4f91', weight: 2, fillColor: '#2f6fd0', fillOpacity: 0.06, dashArray: '4 3' },
      interactive: false,
    }) : null;
    const point = LDMap.show(map, data.lat, data.lng);
    if (grid) {
      const bounds = grid.getBounds().extend(point);
      map.fitBounds(bounds, { padding: [14, 14], maxZoom: 17 });
      grid.addTo(map);
    } else {
      map.setView(point, 17);
    }
    L.circleMarker(point, { radius: 9, color: '#fff', weight: 2, fillColor: '#d93025', fillOpacity: 0.95 })
      .addTo(map).bindTooltip(data.address || data.tracking_number || '');
  }

  /* A card with the map and the navigation links; the map is drawn once the card is on the page. */
  function card(data, config) {
    if (typeof data.lat !== 'number' || typeof data.lng !== 'number' || !window.LDMap) return null;
    const box = node('div', { class: 'case-map', 'data-testid': 'case-map', role: 'img', 'aria-label': t('事件位置地图') });
    box.style.cssText = 'height:190px;border-radius:8px;overflow:hidden;margin:6px 0';
    const name = data.address || data.tracking_number || t('事件位置');
    const links = LDMap.navigationLinks(data.lat, data.lng, name).map((link) => node('a', {
      href: link.href, 'data-app': link.app, rel: 'noopener noreferrer',
      ...(link.app === 'geo' ? {} : { target: '_blank' }),
      class: 'nav-link',
      style: 'display:block;padding:10px 4px;border-top:1px solid #e5e7eb;text-decoration:none',
    }, [link.label]));
    const summary = node('summary', {
      class: 'nav-button', 'data-testid': 'navigate',
      style: 'display:inline-block;padding:8px 16px;border-radius:6px;background:#1d4f91;color:#fff;cursor:pointer;list-style:none',
    }, [t('导航')]);
    const menu = node('details', { class: 'nav-menu' }, [summary, node('div', { class: 'nav-links' }, links)]);
    const head = node('h3', {}, [t('位置')]);
    const where = node('p', { class: 'muted', style: 'margin:0' },
      [data.address || `${data.lat.toFixed(6)}, ${data.lng.toFixed(6)}`]);
    const wrap = node('div', { class: 'card', 'data-testid': 'case-location' }, [head, where, box, menu]);
    setTimeout(() => draw(box, data, config), 0);
    return wrap;
  }

  window.LDCaseMap = { card };
})();
