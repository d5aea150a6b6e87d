// SVG drawings: a VM's path graph and a pool's usage forecast.
import { s, bytes } from './dom.js';

const COLS = [
  ['vm', 'VM'], ['vport', 'vport'], ['fabric', 'fabric'], ['zone', 'zone'],
  ['target', 'target port'], ['array', 'array'], ['lun', 'LUN'],
];

// degradedBy says whether one of the topology's issues names the node.
function degradedBy(issues, col, id) {
  const say = {
    vport: [`vport ${id}`], zone: [`zone ${id} `], lun: [`volume ${id} `],
    fabric: [`fabric ${id} could`, `fabric ${id} has not`],
    array: [`array ${id} could`, `array ${id} no longer`], target: [id],
  }[col] || [];
  return issues.some((t) => say.some((w) => t.includes(w)));
}

function short(text, max = 24) {
  return text.length <= max ? text : `${text.slice(0, 11)}…${text.slice(-(max - 12))}`;
}

// pathGraph draws VM → vport → fabric → zone → target port → array → LUN,
// one column each; a node an issue names is degraded (red), and so is the
// zone of a path marked missing (the model has it, the devices do not); a
// node only standby paths use is dashed.
export function pathGraph(topo) {
  const issues = topo.issues || [];
  const cols = COLS.map(() => new Map()); // key → {label, paths, active}
  const edges = new Map(); // "i|a|b" → {active, degraded}
  for (const p of topo.paths || []) {
    const keys = [
      [topo.vm, topo.vm], [p.vportWWPN, p.vportWWPN], [p.fabric, p.fabric],
      [`${p.fabric}/${p.zone}`, p.zone || '(no zone)'], [p.targetPortWWPN, p.targetPortWWPN],
      [p.array, p.array], [p.volume, `LUN ${p.lun} · ${p.volume}`],
    ];
    keys.forEach(([key, label], i) => {
      const m = cols[i];
      if (!m.has(key)) {
        const id = COLS[i][0] === 'zone' ? p.zone : key;
        m.set(key, { label, active: false, degraded: degradedBy(issues, COLS[i][0], id) });
      }
      if (p.missing && COLS[i][0] === 'zone') m.get(key).degraded = true;
      if (p.active) m.get(key).active = true;
    });
    for (let i = 0; i + 1 < keys.length; i++) {
      const k = `${i}|${keys[i][0]}|${keys[i + 1][0]}`;
      const e = edges.get(k) || { i, a: keys[i][0], b: keys[i + 1][0], active: false };
      if (p.active) e.active = true;
      if (p.missing && (i === 2 || i === 3)) e.degraded = true;
      edges.set(k, e);
    }
  }
  const colW = 188, nodeW = 172, nodeH = 24, rowH = 32, top = 28;
  const rows = Math.max(1, ...cols.map((m) => m.size));
  const height = top + rows * rowH + 8;
  const pos = cols.map((m) => {
    const out = new Map();
    const off = ((rows - m.size) * rowH) / 2;
    [...m.keys()].forEach((k, j) => out.set(k, { y: top + off + j * rowH }));
    return out;
  });
  const svg = s('svg', {
    class: 'pathgraph', viewBox: `0 0 ${COLS.length * colW} ${height}`, width: COLS.length * colW, height,
    role: 'img', 'aria-label': `Path graph of ${topo.vm}: ${(topo.paths || []).length} paths, ${issues.length} issues`,
  });
  COLS.forEach(([, title], i) => svg.append(s('text', { x: i * colW + 8, y: 16, class: 'colhead' }, title)));
  for (const e of edges.values()) {
    const a = pos[e.i].get(e.a), b = pos[e.i + 1].get(e.b);
    const na = cols[e.i].get(e.a), nb = cols[e.i + 1].get(e.b);
    const bad = e.degraded || (na.degraded && e.i > 0) || nb.degraded;
    const cls = bad ? 'edge degraded' : e.active ? 'edge' : 'edge standby';
    const x1 = e.i * colW + 8 + nodeW, x2 = (e.i + 1) * colW + 8;
    const y1 = a.y + nodeH / 2, y2 = b.y + nodeH / 2;
    svg.append(s('path', { class: cls, d: `M${x1},${y1} C${x1 + 10},${y1} ${x2 - 10},${y2} ${x2},${y2}` }));
  }
  cols.forEach((m, i) => {
    for (const [key, n] of m) {
      const { y } = pos[i].get(key);
      const cls = `node ${COLS[i][0]}${n.degraded ? ' degraded' : ''}${n.active ? '' : ' standby'}`;
      svg.append(s('g', { class: cls, 'data-col': COLS[i][0], 'data-key': key },
        s('title', {}, `${COLS[i][1]} ${n.label}${n.degraded ? ' — degraded' : ''}${n.active ? '' : ' (standby)'}`),
        s('rect', { x: i * colW + 8, y, width: nodeW, height: nodeH, rx: 4 }),
        s('text', { x: i * colW + 14, y: y + 16 }, short(n.label))));
    }
  });
  return svg;
}

// forecastChart draws the pool's used bytes over its history against its
// capacity, and the forecast from the last point to the day it fills.
export function forecastChart(pool, points) {
  const W = 960, H = 280, L = 76, R = 16, T = 16, B = 40;
  const cap = pool.physicalBytes;
  const pts = points.map((p) => ({ t: Date.parse(p.at), v: p.usedBytes })).filter((p) => !isNaN(p.t));
  const now = Date.parse(pool.observedAt) || Date.now();
  if (pts.length === 0) pts.push({ t: now, v: pool.usedBytes });
  const last = pts[pts.length - 1];
  let full = null;
  if (pool.daysToFull !== null && pool.daysToFull !== undefined) {
    full = { t: now + pool.daysToFull * 86400e3, v: cap };
  }
  const t0 = pts[0].t, t1 = Math.max(full ? full.t : last.t, t0 + 3600e3);
  const vmax = Math.max(cap, ...pts.map((p) => p.v)) * 1.05;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / vmax) * (H - T - B);
  const svg = s('svg', {
    class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
    'aria-label': `Used bytes of pool ${pool.id} over time${full ? `, forecast full on ${new Date(full.t).toDateString()}` : ''}`,
  });
  for (let i = 0; i <= 4; i++) {
    const v = (vmax / 4) * i;
    svg.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      s('text', { class: 'tick', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, bytes(v)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) / 4) * i;
    svg.append(s('text', { class: 'tick', x: x(t), y: H - B + 18, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' },
      new Date(t).toISOString().slice(0, 16).replace('T', ' ')));
  }
  svg.append(s('line', { class: 'capacity', x1: L, x2: W - R, y1: y(cap), y2: y(cap) }),
    s('text', { class: 'tick', x: W - R, y: y(cap) - 4, 'text-anchor': 'end' }, `capacity ${bytes(cap)}`));
  svg.append(s('polyline', { class: 'used', points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ') }));
  if (full) {
    svg.append(s('line', { class: 'forecast', x1: x(last.t), y1: y(last.v), x2: x(full.t), y2: y(full.v) }),
      s('circle', { class: 'full', cx: x(full.t), cy: y(full.v), r: 4 }),
      s('text', { class: 'tick', x: x(full.t) - 6, y: y(full.v) + 16, 'text-anchor': 'end' },
        `full ${new Date(full.t).toISOString().slice(0, 10)}`));
  }
  return svg;
}
