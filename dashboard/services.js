// dashboard/services.js: a /events snapshot shown: the summary tiles and a table row per service, with its chart.

import { History, draw } from './chart.js';

const $ = (id) => document.getElementById(id);
const rows = new Map(); // service name -> { row, cells, canvas, history }
const DASH = '\u2013';

const fmtRate = (v) => (v == null ? DASH : v < 10 ? v.toFixed(1) : Math.round(v).toString());
const fmtShare = (v) => (v == null ? DASH : (v * 100).toFixed(v < 0.1 ? 1 : 0) + '%');
const fmtMs = (v) => (v == null ? DASH : v < 10 ? v.toFixed(2) + ' ms' : Math.round(v) + ' ms');
const fmtCount = (v) => (v == null ? DASH : v.toLocaleString('en'));

function cell(row, field, cls) {
  const td = document.createElement('td');
  td.dataset.field = field;
  td.className = cls || '';
  row.appendChild(td);
  return td;
}

function newRow(name, onEdit) {
  const row = document.createElement('tr');
  row.dataset.service = name;
  const cells = {};
  for (const [field, cls] of [['name', 'name'], ['url', 'url'], ['hosts', 'hosts'], ['rps', 'num rps'],
    ['error_rate', 'num error-rate'], ['p50_ms', 'num p50'], ['p99_ms', 'num p99'], ['tunnels', 'num tunnels'],
    ['requests', 'num requests']]) {
    cells[field] = cell(row, field, cls);
  }
  cells.name.textContent = name;
  const canvas = document.createElement('canvas');
  canvas.className = 'chart';
  cell(row, 'chart', 'chart').appendChild(canvas);
  const edit = document.createElement('button');
  edit.type = 'button';
  edit.className = 'edit';
  edit.textContent = 'Edit';
  edit.dataset.service = name;
  edit.addEventListener('click', () => onEdit(name));
  cell(row, 'actions', 'actions').appendChild(edit);
  return { row, cells, canvas, history: new History() };
}

// Every response class since start, for the requests cell's tooltip.
function classes(totals) {
  return Object.entries(totals.responses).map(([k, v]) => k + ' ' + fmtCount(v)).join(', ');
}

function fill(r, s, now) {
  r.cells.url.textContent = s.url;
  r.cells.hosts.textContent = (s.hosts || []).join(', ');
  r.cells.rps.textContent = fmtRate(s.rps);
  r.cells.error_rate.textContent = fmtShare(s.error_rate);
  r.cells.p50_ms.textContent = fmtMs(s.p50_ms);
  r.cells.p99_ms.textContent = fmtMs(s.p99_ms);
  r.cells.tunnels.textContent = fmtCount(s.tunnels);
  r.cells.requests.textContent = s.totals ? fmtCount(s.totals.requests) : DASH;
  r.cells.requests.title = s.totals ? classes(s.totals) : 'not counted: too many service names';
  r.row.classList.toggle('errors', (s.error_rate || 0) > 0);
  r.history.add(now, s.rps, s.error_rate);
  draw(r.canvas, r.history, now);
}

function renderAuth(a) {
  const off = !a || !a.enabled;
  $('auth-allows').textContent = off ? 'off' : fmtCount(a.allows);
  $('auth-denies').textContent = off ? 'off' : fmtCount(a.denies);
  $('auth-failures').textContent = off ? 'off' : fmtCount(a.failures);
  const lookups = off ? 0 : a.cache_hits + a.cache_misses;
  // the last second's hit rate, or since start when the last second had no lookups
  const rate = off ? null : a.cache_hit_rate != null ? a.cache_hit_rate : lookups ? a.cache_hits / lookups : null;
  $('auth-hit-rate').textContent = off ? 'off' : fmtShare(rate);
}

// Shows `snap`; onEdit(name) is called by a row's Edit button.
export function render(snap, onEdit) {
  const tbody = $('services').tBodies[0];
  const seen = new Set();
  let requests = 0;
  let errors = 0;
  let rps = null;
  $('version').textContent = snap.version;
  $('updated').textContent = new Date(snap.time_ms).toLocaleTimeString();
  snap.services.forEach((s, i) => {
    seen.add(s.name);
    let r = rows.get(s.name);
    if (!r) {
      r = newRow(s.name, onEdit);
      rows.set(s.name, r);
    }
    if (tbody.rows[i] !== r.row) tbody.insertBefore(r.row, tbody.rows[i] || null); // the snapshot's order: by name
    fill(r, s, snap.time_ms);
    if (s.totals) {
      requests += s.totals.requests;
      errors += s.totals.responses['5xx'];
    }
    if (s.rps != null) rps = (rps || 0) + s.rps;
  });
  for (const [name, r] of rows) {
    if (!seen.has(name)) {
      r.row.remove();
      rows.delete(name);
    }
  }
  $('no-services').hidden = snap.services.length !== 0;
  $('requests-total').textContent = fmtCount(requests);
  $('errors-total').textContent = fmtCount(errors);
  $('rps-total').textContent = fmtRate(rps);
  renderAuth(snap.auth);
}

// Nothing shown any more: the token was refused or forgotten.
export function clear() {
  for (const r of rows.values()) r.row.remove();
  rows.clear();
  for (const id of ['requests-total', 'rps-total', 'errors-total', 'auth-allows', 'auth-denies', 'auth-failures',
    'auth-hit-rate', 'version', 'updated']) {
    $(id).textContent = DASH;
  }
}
