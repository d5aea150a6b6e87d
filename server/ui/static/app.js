// sanmob console: a token login, then hash-routed views over /v1.
import { api, follow, token, setOnUnauthorized } from './api.js';
import { h, bytes, when, num, meter, table, badge } from './dom.js';
import { pathGraph, forecastChart } from './graph.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signout = document.getElementById('signout');
let current = null; // the AbortController of the view on screen

const enc = encodeURIComponent;
const errorBox = (e) => h('p', { class: 'error', role: 'alert' },
  e instanceof TypeError ? `sanmobd cannot be reached (${e.message}); retrying — what is shown may be out of date.` : (e.message || String(e)));

// show replaces the view's content; the first heading gets the focus, so
// that keyboard and screen reader users land on the new view.
function show(title, ...content) {
  document.title = `${title} · sanmob`;
  main.replaceChildren(h('h1', { tabindex: -1 }, title), ...content);
  main.querySelector('h1').focus({ preventScroll: true });
}

// --- Login ---

function login(message) {
  nav.hidden = true;
  signout.hidden = true;
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const out = h('div', { 'aria-live': 'polite' }, message ? h('p', { class: 'error', role: 'alert' }, message) : null);
  const form = h('form', { class: 'login', onsubmit: async (ev) => {
    ev.preventDefault();
    token.set(input.value.trim());
    try {
      await api('/v1/fabrics?limit=1');
      if (!location.hash || location.hash === '#/login') location.hash = '#/vms';
      else route();
    } catch (e) {
      token.clear();
      out.replaceChildren(errorBox(e));
    }
  } },
  h('label', { for: 'token' }, 'API token'),
  h('p', { class: 'hint' }, 'A bearer token of sanmobd (the lab writes one to admin.token in its data directory). It is kept in this tab only.'),
  input, h('button', { type: 'submit' }, 'Sign in'), out);
  show('Sign in', form);
  input.focus();
}

setOnUnauthorized((p) => { token.clear(); login(p.detail || 'The token was refused.'); });
signout.addEventListener('click', () => { token.clear(); if (current) current.abort(); login(); });

// --- VMs ---

async function vms() {
  const list = await api('/v1/vms');
  show('VMs', table(`${list.items.length} VMs`, ['VM', 'Host', 'Site', 'Vports logged in', 'Volumes'],
    list.items.map((v) => ({ cells: [
      h('a', { href: `#/vms/${enc(v.id)}` }, v.name || v.id), v.host, v.site,
      `${v.vports.filter((p) => p.loggedIn).length} / ${v.vports.length}`, (v.volumes || []).length,
    ] }))));
}

async function vm([id], signal) {
  const [v, hosts] = await Promise.all([api(`/v1/vms/${enc(id)}`), api('/v1/hosts')]);
  const graph = h('section', { 'aria-labelledby': 'paths-h' }, h('h2', { id: 'paths-h' }, 'Paths'), h('p', {}, 'Loading…'));
  const verify = h('button', { type: 'button', onclick: () => draw(true) }, 'Verify against the devices');
  let model = null; // the model's paths, to show those the devices lost
  const pathKey = (p) => [p.fabric, p.vportWWPN, p.zone, p.targetPortWWPN, p.volume].join('|');
  async function draw(fromDevices) {
    verify.disabled = true;
    try {
      const t = await api(`/v1/vms/${enc(id)}/topology${fromDevices ? '?verify=true' : ''}`, { signal });
      const found = t.paths.length;
      let lost = 0;
      if (!fromDevices) model = t.paths;
      else if (model) {
        const seen = new Set(t.paths.map(pathKey));
        const gone = model.filter((p) => !seen.has(pathKey(p))).map((p) => ({ ...p, missing: true }));
        lost = gone.length;
        t.paths = t.paths.concat(gone);
      }
      graph.replaceChildren(h('h2', { id: 'paths-h' }, 'Paths'),
        h('p', { class: 'muted' }, `${found} paths, from the ${t.source === 'devices' ? 'devices' : 'observed model'} at ${when(t.observedAt)}` +
          (lost ? `; ${lost} more the model had are gone (drawn red). ` : '. '), verify),
        t.issues.length
          ? h('ul', { class: 'issues', 'aria-label': 'Issues' }, t.issues.map((i) => h('li', { class: 'degraded' }, i)))
          : h('p', { class: 'ok' }, 'No issues.'),
        h('div', { class: 'scroll' }, pathGraph(t)),
        h('p', { class: 'legend' }, h('span', { class: 'key ok' }, 'active'), h('span', { class: 'key standby' }, 'standby'), h('span', { class: 'key degraded' }, 'degraded')),
        h('details', {}, h('summary', {}, 'Paths as a table'),
          table(null, ['Fabric', 'Set', 'Vport', 'Logged in', 'Zone', 'Target port', 'Array', 'LUN'],
            t.paths.map((p) => ({ attrs: { class: p.missing ? 'degraded' : '' }, cells: [p.fabric, p.set, p.vportWWPN, p.loggedIn ? 'yes' : 'no', p.missing ? `${p.zone} (missing on the switch)` : p.zone, p.targetPortWWPN, p.array, `${p.lun} (${p.volume})`] })))),
        h('h2', {}, 'Volumes'),
        table(null, ['Volume', 'Array', 'Pool', 'LUN', 'Size', 'Used', 'Snapshots'],
          t.volumes.map((x) => ({ cells: [x.id, x.array, h('a', { href: `#/pools/${enc(x.pool)}` }, x.pool), x.lun, bytes(x.sizeBytes), bytes(x.usedBytes), (x.snapshots || []).length] }))));
    } catch (e) {
      graph.append(errorBox(e));
    } finally {
      verify.disabled = false;
    }
  }
  show(`VM ${v.name || v.id}`,
    h('p', {}, `On host ${v.host} at site ${v.site}; shares ${v.shares ?? '—'}.`),
    migrateForm(v, hosts.items), graph);
  await draw(false);
}

function migrateForm(v, hosts) {
  const dest = h('select', { id: 'dest', required: true },
    hosts.filter((x) => x.id !== v.host).map((x) => h('option', { value: x.id }, `${x.id} (${x.site})`)));
  const mode = h('select', { id: 'mode' }, h('option', { value: 'live' }, 'live'), h('option', { value: 'cold' }, 'cold'));
  const out = h('div', { 'aria-live': 'polite' });
  const spec = (dryRun) => ({ vm: v.id, destinationHost: dest.value, mode: mode.value, dryRun });
  const submit = async (dryRun) => {
    out.replaceChildren(h('p', {}, dryRun ? 'Planning…' : 'Starting…'));
    try {
      const r = await api('/v1/migrations', { method: 'POST', body: spec(dryRun) });
      if (!dryRun) { location.hash = `#/migrations/${enc(r.id)}`; return; }
      out.replaceChildren(h('p', {}, `Plan: ${r.kind}, ${r.mode}; about ${num(r.estimate?.seconds)} s, ${bytes(r.estimate?.bytesToCopy)} to copy, downtime ${num(r.estimate?.downtimeSeconds)} s.`),
        h('ul', {}, (r.estimate?.notes || []).map((n) => h('li', {}, n))));
    } catch (e) {
      const reasons = e.problem?.reasons || e.problem?.['invalid-params']?.map((p) => `${p.name}: ${p.reason}`) || [];
      out.replaceChildren(errorBox(e), reasons.length ? h('ul', {}, reasons.map((r) => h('li', {}, typeof r === 'string' ? r : JSON.stringify(r)))) : null);
    }
  };
  return h('form', { class: 'migrate', onsubmit: (ev) => { ev.preventDefault(); submit(false); } },
    h('fieldset', {}, h('legend', {}, 'Migrate this VM'),
      h('label', { for: 'dest' }, 'Destination host'), dest,
      h('label', { for: 'mode' }, 'Mode'), mode,
      h('button', { type: 'button', onclick: () => submit(true) }, 'Plan (dry run)'),
      h('button', { type: 'submit', class: 'primary' }, 'Start migration')),
    out);
}

// --- Fabrics ---

async function fabrics() {
  const list = await api('/v1/fabrics');
  show('Fabrics', h('div', { class: 'cards' }, list.items.map(fabricCard)));
}

function fabricCard(f) {
  const pct = f.zoneDbMaxBytes ? (100 * f.zoneDbBytes) / f.zoneDbMaxBytes : 0;
  const out = h('div', { 'aria-live': 'polite' });
  const check = async () => {
    out.replaceChildren(h('p', {}, 'Comparing with the switch…'));
    try {
      const d = await api(`/v1/fabrics/${enc(f.id)}/reconcile`, { method: 'POST' });
      const n = d.missing.length + d.changed.length + d.orphans.length;
      out.replaceChildren(n === 0 ? h('p', { class: 'ok' }, 'No drift: the switch has every zone sanmob committed.')
        : h('div', { class: 'degraded' }, h('p', {}, `Drift: ${d.missing.length} missing, ${d.changed.length} changed, ${d.orphans.length} orphaned.`),
          h('ul', {}, [...d.missing.map((z) => `missing ${z.name}`), ...d.changed.map((z) => `changed ${z.name}`), ...d.orphans.map((z) => `orphaned ${z.name || z}`)].map((t) => h('li', {}, t)))));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  const st = f.status || {};
  return h('section', { class: 'card', 'aria-labelledby': `fab-${f.id}` },
    h('h2', { id: `fab-${f.id}` }, f.id, ' ', badge(st.reachable === false ? 'unreachable' : 'reachable')),
    h('p', { class: 'muted' }, `Site ${f.site} · ${f.switch?.vendor || ''} ${f.switch?.firmware || ''} · policy ${f.zonePolicy || '—'}`),
    meter('Zone DB', pct, 100, `${bytes(f.zoneDbBytes)} of ${bytes(f.zoneDbMaxBytes)} (${num(pct)}%)`, { low: 70, high: 90, optimum: 0 }),
    h('dl', {}, h('dt', {}, 'Zones'), h('dd', {}, f.zoneCount), h('dt', {}, 'Logins'), h('dd', {}, f.loginCount),
      h('dt', {}, 'Effective config'), h('dd', {}, f.effectiveCfg || '—'), h('dt', {}, 'Observed'), h('dd', {}, when(st.observedAt))),
    h('button', { type: 'button', onclick: check }, `Check ${f.id} for drift`), out);
}

// --- Pools ---

async function pools() {
  const list = await api('/v1/pools');
  show('Pools', h('div', { class: 'cards' }, list.items.map((p) => h('section', { class: 'card', 'aria-labelledby': `pool-${p.id}` },
    h('h2', { id: `pool-${p.id}` }, h('a', { href: `#/pools/${enc(p.id)}` }, p.id)),
    poolMeters(p)))));
}

function poolMeters(p) {
  return [
    meter('Used', p.usedPercent, 100, `${bytes(p.usedBytes)} of ${bytes(p.physicalBytes)} (${num(p.usedPercent)}%)`, { low: 70, high: 85, optimum: 0 }),
    meter('Overcommit', p.overcommitPercentOfMax, 100, `${num(p.overcommit, 2)}× of at most ${num(p.maxOvercommit, 1)}×`, { low: 70, high: 90, optimum: 0 }),
    h('p', {}, p.daysToFull === null || p.daysToFull === undefined ? 'Days to full: no forecast.' : `Days to full: ${num(p.daysToFull)}${p.forecast?.daysToFullLow != null ? ` (as soon as ${num(p.forecast.daysToFullLow)})` : ''}.`),
    h('p', { class: 'muted' }, p.forecast?.explanation || ''),
  ];
}

async function pool([id], signal) {
  const [p, hist] = await Promise.all([api(`/v1/pools/${enc(id)}`, { signal }), api(`/v1/pools/${enc(id)}/history`, { signal })]);
  show(`Pool ${p.id}`, h('p', {}, `Array ${p.array}, site ${p.site}, ${p.media || ''}; ${bytes(p.provisionedBytes)} provisioned, ${bytes(p.freeBytes)} free, ${p.reservedPercent}% reserved.`),
    ...poolMeters(p),
    h('h2', {}, 'Usage and forecast'),
    h('div', { class: 'scroll' }, forecastChart(p, hist.items)),
    h('p', { class: 'legend' }, h('span', { class: 'key used' }, 'used'), h('span', { class: 'key forecast' }, 'forecast'), h('span', { class: 'key capacity' }, 'capacity'),
      ` ${hist.items.length} points of history.`));
}

// --- Migrations ---

async function migrations() {
  const list = await api('/v1/migrations');
  show('Migrations', h('p', {}, 'Start a migration from a VM\u2019s page.'),
    table(`${list.items.length} migrations`, ['Migration', 'VM', 'From', 'To', 'Kind', 'Phase', 'Created'],
      list.items.slice().reverse().map((m) => ({ cells: [
        h('a', { href: `#/migrations/${enc(m.id)}` }, m.id), m.vm, m.sourceHost, m.destinationHost, m.kind, badge(m.phase), when(m.createdAt)] }))));
}

const TERMINAL = ['succeeded', 'failed', 'rolled-back', 'aborted'];

async function migration([id], signal) {
  let m = await api(`/v1/migrations/${enc(id)}`, { signal });
  const phase = h('output', { id: 'phase', 'aria-live': 'polite' });
  const prog = h('progress', { max: 1, value: 0, 'aria-label': 'Steps done' });
  const steps = h('ol', { class: 'steps' });
  const log = h('ol', { class: 'log', 'aria-label': 'Events' });
  const err = h('div');
  const render = () => {
    phase.replaceChildren(badge(m.phase));
    const done = m.steps.filter((s) => s.state === 'done').length;
    prog.max = m.steps.length || 1;
    prog.value = done;
    steps.replaceChildren(...m.steps.map((s) => h('li', { 'data-state': s.state },
      h('span', { class: 'step' }, s.name), ' ', badge(s.state), s.error ? h('span', { class: 'error' }, ` ${s.error}`) : null)));
  };
  show(`Migration of ${m.vm}`,
    h('p', {}, `${m.sourceHost} → ${m.destinationHost}, ${m.mode} (${m.kind}); id ${m.id}.`),
    h('p', { class: 'phase' }, 'Phase: ', phase, ' ', prog), steps,
    m.estimate ? h('p', { class: 'muted' }, `Estimate: ${num(m.estimate.seconds)} s, downtime ${num(m.estimate.downtimeSeconds)} s.`) : null,
    err, h('h2', {}, 'Events'), log);
  render();
  if (TERMINAL.includes(m.phase)) return;
  const ctl = new AbortController();
  signal.addEventListener('abort', () => ctl.abort());
  follow(`/v1/migrations/${enc(id)}/events`, (ev) => {
    err.replaceChildren();
    if (ev.event === 'snapshot') m = ev.data;
    else if (ev.event === 'step') {
      const s = m.steps.find((x) => x.name === ev.data.step);
      if (s) { s.state = ev.data.state; s.error = ev.data.error; }
    } else if (ev.event === 'phase') m.phase = ev.data.state;
    log.append(h('li', {}, `${when(ev.data.at || m.updatedAt)} ${ev.event}${ev.data.step ? ` ${ev.data.step}` : ''} ${ev.event === 'snapshot' ? m.phase : ev.data.state || ''}`));
    render();
    if (TERMINAL.includes(m.phase)) ctl.abort();
  }, ctl.signal, (e) => err.replaceChildren(errorBox(e)));
}

// --- Alerts ---

async function alerts(_, signal) {
  const firing = new Map();
  const body = h('div');
  const log = h('ol', { class: 'log', 'aria-live': 'polite', 'aria-label': 'Alert changes' });
  const status = h('p', { class: 'muted' }, 'Connecting…');
  const err = h('div');
  const render = () => {
    const items = [...firing.values()].sort((a, b) => (a.startsAt < b.startsAt ? 1 : -1));
    body.replaceChildren(table(`${items.length} firing`, ['Severity', 'Alert', 'Labels', 'Summary', 'Since'],
      items.map((a) => ({ attrs: { 'data-alertname': a.labels.alertname }, cells: [badge(a.labels.severity || 'none'), a.labels.alertname,
        Object.entries(a.labels).filter(([k]) => !['alertname', 'severity'].includes(k)).map(([k, v]) => `${k}=${v}`).join(' '),
        a.annotations?.summary || '', when(a.startsAt)] }))));
  };
  show('Alerts', status, err, body, h('h2', {}, 'Changes as they happen'), log);
  render();
  follow('/v1/alerts/stream', (ev) => {
    err.replaceChildren();
    if (ev.event === 'snapshot') {
      firing.clear();
      for (const a of ev.data.items) firing.set(a.fingerprint, a);
      status.textContent = `Live since ${when(new Date())}.`;
    } else if (ev.event === 'fired' || ev.event === 'resolved') {
      const a = ev.data.alert;
      if (ev.event === 'fired') firing.set(a.fingerprint, a); else firing.delete(a.fingerprint);
      log.prepend(h('li', { class: ev.event, 'data-alertname': a.labels.alertname }, `${when(new Date())} `, badge(ev.event), ` ${a.labels.alertname}: ${a.annotations?.summary || ''}`));
    } else if (ev.event === 'resync') {
      status.textContent = 'Fell behind; reconnecting…';
    }
    render();
  }, signal, (e) => err.replaceChildren(errorBox(e)));
}

// --- Queue depths ---

async function queueHosts() {
  const list = await api('/v1/hosts');
  show('Queue depths', h('p', {}, 'Pick a host to watch the queue depths sanmob recommends for its LUNs, live.'),
    h('ul', { class: 'hosts' }, list.items.map((x) => h('li', {}, h('a', { href: `#/queue-depths/${enc(x.id)}` }, x.id), ` (${x.site})`))));
}

async function queueDepths([id], signal) {
  const body = h('div', {}, h('p', {}, 'Connecting…'));
  const err = h('div');
  show(`Queue depths on ${id}`, h('p', {}, h('a', { href: '#/queue-depths' }, 'All hosts')), err, body);
  const max = 64;
  follow(`/v1/hosts/${enc(id)}/queue-depths?watch=true`, (ev) => {
    err.replaceChildren();
    const q = ev.data;
    if (!q.items) return;
    body.replaceChildren(h('p', { class: 'muted' }, `Period ${q.periodSeconds} s, updated ${when(q.at)}.`),
      table(`${q.items.length} LUNs`, ['Volume', 'LUN', 'Pool', 'Queue depth', 'Latency / threshold', 'IOPS', 'VMs', 'Why'],
        q.items.map((x) => ({ attrs: { class: x.congested ? 'degraded' : '' }, cells: [x.volume, x.lun, x.pool,
          meter(`Queue depth of ${x.volume}`, x.queueDepth, Math.max(max, x.queueDepth), String(x.queueDepth)),
          `${num(x.latencyMs, 2)} / ${num(x.thresholdMs, 1)} ms`, num(x.iops, 0), (x.vms || []).join(', '),
          x.congested ? h('span', { class: 'error' }, `congested: ${x.reason}`) : x.reason] }))));
  }, signal, (e) => {
    err.replaceChildren(errorBox(e));
    if (e.status === 404) body.replaceChildren(); // no such host: nothing is coming
  });
}

// --- Router ---

const routes = [
  [/^#\/vms$/, vms], [/^#\/vms\/([^/]+)$/, vm],
  [/^#\/fabrics$/, fabrics],
  [/^#\/pools$/, pools], [/^#\/pools\/([^/]+)$/, pool],
  [/^#\/migrations$/, migrations], [/^#\/migrations\/([^/]+)$/, migration],
  [/^#\/alerts$/, alerts],
  [/^#\/queue-depths$/, queueHosts], [/^#\/queue-depths\/([^/]+)$/, queueDepths],
];

async function route() {
  if (current) current.abort();
  current = new AbortController();
  const { signal } = current;
  if (!token.get()) { login(); return; }
  nav.hidden = false;
  signout.hidden = false;
  const hash = location.hash || '#/vms';
  for (const a of nav.querySelectorAll('a')) {
    if (hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const found = routes.find(([re]) => re.test(hash));
  if (!found) { show('Not found', h('p', {}, `No view ${hash}. `, h('a', { href: '#/vms' }, 'VMs'))); return; }
  let params;
  try {
    params = hash.match(found[0]).slice(1).map(decodeURIComponent);
  } catch {
    show('Not found', h('p', {}, `No view ${hash}: it is not a valid address. `, h('a', { href: '#/vms' }, 'VMs')));
    return;
  }
  main.setAttribute('aria-busy', 'true');
  try {
    await found[1](params, signal);
  } catch (e) {
    if (!signal.aborted && token.get()) show('Error', errorBox(e));
  } finally {
    main.removeAttribute('aria-busy');
  }
}

// The skip link moves the focus to the content without going through the
// hash router (its #main is not a view).
document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  (main.querySelector('h1') || main).focus();
});

window.addEventListener('hashchange', route);
route();
