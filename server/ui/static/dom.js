// Small DOM helpers: elements are built, never parsed from strings, so that
// names from the API cannot inject markup.

const SVG = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// h('a', {href: '#/vms'}, 'VMs') builds an HTML element.
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);

// s('rect', {...}) builds an SVG element.
export const s = (tag, attrs, ...children) => build(document.createElementNS(SVG, tag), attrs, children);

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export const num = (n, digits = 1) => (n === null || n === undefined ? '—' : Number(n).toFixed(digits));

// meter is a labelled <meter> with its value as text beside it.
export function meter(label, value, max, text, { low, high, optimum } = {}) {
  return h('div', { class: 'meter' },
    h('span', { class: 'meter-label' }, label),
    h('meter', { min: 0, max, value: Math.min(value, max), low, high, optimum, 'aria-label': label }),
    h('span', { class: 'meter-text' }, text));
}

// table builds a table from column headings and rows of cells.
export function table(caption, heads, rows) {
  return h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, heads.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', r.attrs || {}, r.cells.map((c) => h('td', {}, c))))
      : h('tr', {}, h('td', { colspan: heads.length, class: 'empty' }, 'None.'))));
}

export const badge = (state) => h('span', { class: `badge ${String(state).replace(/[^a-z-]/gi, '')}` }, state);
