// dashboard/dashboard.js: proxyd's live dashboard: /events for the numbers, the admin API for registry edits.
// The admin token is kept in sessionStorage (this tab only) and sent as a WebSocket subprotocol or as
// /events' first message, and as Authorization to the API; never in a URL.
'use strict';

(function () {
  const TOKEN_KEY = 'proxyd-admin-token';
  const HISTORY = 180; // snapshots kept per service for its chart: 3 minutes
  const EVENTS_SHOWN = 50;
  // RFC 7230 token characters: what a subprotocol, and so "bearer.<token>", may hold
  const SUBPROTOCOL_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const BOOLEAN_OPTIONS = ['auth', 'public', 'preserve_host', 'allow_encoded_slash', 'allow_encoded_nul'];
  const TEXT_OPTIONS = ['url', 'timeout', 'websocket_timeout', 'max_request_body'];
  const BOOLEAN_DEFAULTS = { auth: true };

  const $ = (id) => document.getElementById(id);
  const rows = new Map(); // service name -> { row, cells, canvas, history }
  let ws = null;
  let retry = 0;
  let retryTimer = null;
  let editing = null; // { name, etag } while an existing service is in the form

  // ---- the token ----

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function api(method, path, body, headers) {
    const init = { method, headers: Object.assign({ Authorization: 'Bearer ' + token() }, headers || {}), cache: 'no-store' };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    return fetch(path, init).then((res) => res.text().then((text) => {
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
      return { status: res.status, ok: res.ok, etag: res.headers.get('ETag'), json };
    }));
  }

  function setStatus(state, text) {
    $('status').dataset.state = state;
    $('status').textContent = text;
  }

  function showLogin(message) {
    $('login-section').hidden = false;
    $('dashboard').hidden = true;
    $('logout').hidden = true;
    $('login-error').textContent = message || '';
  }

  function showDashboard() {
    $('login-section').hidden = true;
    $('dashboard').hidden = false;
    $('logout').hidden = false;
  }

  function forget(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (ws) {
      ws.onclose = null;
      ws.close(1000);
      ws = null;
    }
    clearTimeout(retryTimer);
    setStatus('disconnected', 'not connected');
    showLogin(message);
  }

  // The token is tried on /health first: a browser cannot read why a WebSocket handshake failed.
  function start() {
    setStatus('connecting', 'checking the token');
    api('GET', '/health').then((res) => {
      if (res.status === 401) {
        forget('The admin token was refused.');
        return;
      }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      showDashboard();
      connect();
    }).catch((e) => {
      setStatus('disconnected', 'admin listener unreachable (' + e.message + ')');
      scheduleReconnect();
    });
  }

  // ---- /events ----

  function connect() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/events';
    const t = token();
    const inSubprotocol = SUBPROTOCOL_CHARS.test(t);
    setStatus('connecting', 'connecting');
    ws = inSubprotocol ? new WebSocket(url, ['proxyd-events', 'bearer.' + t]) : new WebSocket(url, ['proxyd-events']);
    ws.onopen = () => {
      if (!inSubprotocol) ws.send(JSON.stringify({ token: t }));
    };
    ws.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (msg.type === 'hello') {
        retry = 0;
        setStatus('connected', 'connected');
      } else if (msg.type === 'snapshot') {
        render(msg);
      } else if (msg.type === 'registry') {
        logEvent(msg);
      }
    };
    ws.onclose = (e) => {
      ws = null;
      if (e.code === 1008) {
        forget('The admin token was refused: ' + (e.reason || 'policy violation'));
        return;
      }
      setStatus('disconnected', 'disconnected' + (e.code && e.code !== 1006 ? ' (' + e.code + ')' : '') + ', reconnecting');
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    retry = Math.min(retry + 1, 10);
    retryTimer = setTimeout(start, retry * 1000);
  }

  // ---- numbers ----

  function fmtRate(v) { return v == null ? '\u2013' : v < 10 ? v.toFixed(1) : Math.round(v).toString(); }
  function fmtShare(v) { return v == null ? '\u2013' : (v * 100).toFixed(v < 0.1 ? 1 : 0) + '%'; }
  function fmtMs(v) { return v == null ? '\u2013' : v < 10 ? v.toFixed(2) + ' ms' : Math.round(v) + ' ms'; }
  function fmtCount(v) { return v == null ? '\u2013' : v.toLocaleString('en'); }

  function cell(row, field, cls) {
    const td = document.createElement('td');
    td.dataset.field = field;
    td.className = cls || '';
    row.appendChild(td);
    return td;
  }

  function button(text, cls, name, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    b.className = cls;
    b.dataset.service = name;
    b.addEventListener('click', onClick);
    return b;
  }

  function newRow(name) {
    const row = document.createElement('tr');
    row.dataset.service = name;
    const cells = {
      name: cell(row, 'name', 'name'),
      url: cell(row, 'url', 'url'),
      rps: cell(row, 'rps', 'num rps'),
      error_rate: cell(row, 'error_rate', 'num error-rate'),
      p50_ms: cell(row, 'p50_ms', 'num p50'),
      p99_ms: cell(row, 'p99_ms', 'num p99'),
      tunnels: cell(row, 'tunnels', 'num tunnels'),
      requests: cell(row, 'requests', 'num requests'),
    };
    cells.name.textContent = name;
    const canvas = document.createElement('canvas');
    canvas.className = 'chart';
    canvas.width = 180;
    canvas.height = 36;
    cell(row, 'chart', 'chart').appendChild(canvas);
    cell(row, 'actions', 'actions').appendChild(button('Edit', 'edit', name, () => edit(name)));
    return { row, cells, canvas, history: [] };
  }

  function render(snap) {
    $('version').textContent = snap.version;
    $('updated').textContent = new Date(snap.time_ms).toLocaleTimeString();
    const tbody = $('services').tBodies[0];
    const seen = new Set();
    let total = 0;
    let rps = 0;
    let anyRate = false;
    snap.services.forEach((s, i) => {
      seen.add(s.name);
      let r = rows.get(s.name);
      if (!r) {
        r = newRow(s.name);
        rows.set(s.name, r);
      }
      if (tbody.rows[i] !== r.row) tbody.insertBefore(r.row, tbody.rows[i] || null); // the snapshot's order: by name
      r.cells.url.textContent = s.url;
      r.cells.rps.textContent = fmtRate(s.rps);
      r.cells.error_rate.textContent = fmtShare(s.error_rate);
      r.cells.p50_ms.textContent = fmtMs(s.p50_ms);
      r.cells.p99_ms.textContent = fmtMs(s.p99_ms);
      r.cells.tunnels.textContent = fmtCount(s.tunnels);
      r.cells.requests.textContent = s.totals ? fmtCount(s.totals.requests) : '\u2013';
      r.row.classList.toggle('errors', (s.error_rate || 0) > 0);
      if (s.totals) total += s.totals.requests;
      if (s.rps != null) { rps += s.rps; anyRate = true; }
      r.history.push({ rps: s.rps || 0, errors: s.error_rate || 0 });
      if (r.history.length > HISTORY) r.history.shift();
      draw(r.canvas, r.history);
    });
    for (const [name, r] of rows) {
      if (!seen.has(name)) {
        r.row.remove();
        rows.delete(name);
      }
    }
    $('no-services').hidden = snap.services.length !== 0;
    $('requests-total').textContent = fmtCount(total);
    $('rps-total').textContent = anyRate ? fmtRate(rps) : '\u2013';
    renderAuth(snap.auth);
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

  // requests/s as a line, the 5xx share as red bars beneath it
  function draw(canvas, history) {
    const ctx = canvas.getContext('2d');
    const w = canvas.width;
    const h = canvas.height;
    const step = w / (HISTORY - 1);
    const x0 = w - (history.length - 1) * step;
    const max = Math.max(1, ...history.map((p) => p.rps));
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = 'rgba(198, 40, 40, 0.6)';
    history.forEach((p, i) => {
      if (p.errors > 0) ctx.fillRect(x0 + i * step - 1, h - p.errors * h, 2, p.errors * h);
    });
    ctx.strokeStyle = '#1f6feb';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    history.forEach((p, i) => {
      const y = h - 2 - (p.rps / max) * (h - 4);
      if (i === 0) ctx.moveTo(x0, y); else ctx.lineTo(x0 + i * step, y);
    });
    ctx.stroke();
  }

  function logEvent(msg) {
    const li = document.createElement('li');
    li.dataset.version = msg.version;
    li.dataset.cause = msg.cause;
    const time = document.createElement('span');
    time.className = 'time';
    time.textContent = new Date().toLocaleTimeString();
    const cause = document.createElement('span');
    cause.className = 'cause';
    cause.textContent = msg.cause + ' \u2192 version ' + msg.version;
    li.append(time, cause);
    const parts = [];
    [['added', msg.added], ['changed', msg.changed], ['removed', msg.removed]].forEach(([what, names]) => {
      if (names && names.length) parts.push(what + ' ' + names.join(', '));
    });
    li.append(': ' + (parts.length ? parts.join('; ') : 'no service changed'));
    const list = $('events');
    list.insertBefore(li, list.firstChild);
    while (list.children.length > EVENTS_SHOWN) list.lastChild.remove();
    $('version').textContent = msg.version;
  }

  // ---- editing the registry through the admin API ----

  const inputId = (option) => 'edit-' + option.replace(/_/g, '-');

  function clearErrors() {
    $('edit-error').textContent = '';
    $('edit-message').textContent = '';
    document.querySelectorAll('#edit-form input').forEach((i) => {
      i.classList.remove('invalid');
      i.removeAttribute('aria-invalid');
    });
  }

  function newService() {
    editing = null;
    clearErrors();
    $('edit-form').reset();
    $('edit-title').textContent = 'Add a service';
    $('edit-name').readOnly = false;
    $('edit-delete').hidden = true;
    disarmDelete();
  }

  function edit(name) {
    clearErrors();
    api('GET', '/services/' + encodeURIComponent(name)).then((res) => {
      if (!res.ok) {
        showError(res);
        return;
      }
      editing = { name, etag: res.etag };
      $('edit-title').textContent = 'Edit ' + name;
      $('edit-name').value = name;
      $('edit-name').readOnly = true;
      TEXT_OPTIONS.forEach((o) => { $(inputId(o)).value = res.json[o] || ''; });
      BOOLEAN_OPTIONS.forEach((o) => {
        $(inputId(o)).checked = o in res.json ? res.json[o] === true : !!BOOLEAN_DEFAULTS[o];
      });
      $('edit-delete').hidden = false;
      disarmDelete();
    });
  }

  function showError(res) {
    const msg = res.json && res.json.error ? res.json.error : 'HTTP ' + res.status;
    $('edit-error').textContent = msg;
    const field = res.json && res.json.field;
    if (field === 'name' || TEXT_OPTIONS.includes(field) || BOOLEAN_OPTIONS.includes(field)) {
      const input = $(inputId(field));
      input.classList.add('invalid');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  }

  function formBody() {
    const body = {};
    TEXT_OPTIONS.forEach((o) => {
      const v = $(inputId(o)).value.trim();
      if (v !== '') body[o] = v;
    });
    BOOLEAN_OPTIONS.forEach((o) => { body[o] = $(inputId(o)).checked; });
    return body;
  }

  function save(e) {
    e.preventDefault();
    clearErrors();
    const name = $('edit-name').value.trim();
    if (name === '') {
      showError({ status: 400, json: { error: 'name: required', field: 'name' } });
      return;
    }
    // an edit applies only to the registry version it was read from: 412 means someone else changed it first
    const headers = editing ? { 'If-Match': editing.etag } : undefined;
    api('PUT', '/services/' + encodeURIComponent(name), formBody(), headers).then((res) => {
      if (!res.ok) {
        showError(res);
        return;
      }
      $('edit-message').textContent = (res.status === 201 ? 'Created ' : 'Saved ') + name + ' (version ' +
        (res.etag || '').replace(/"/g, '') + ')';
      editing = { name, etag: res.etag };
      $('edit-name').readOnly = true;
      $('edit-title').textContent = 'Edit ' + name;
      $('edit-delete').hidden = false;
    });
  }

  // Delete asks twice: the first click arms the button for five seconds.
  let armTimer = null;
  function disarmDelete() {
    clearTimeout(armTimer);
    $('edit-delete').classList.remove('armed');
    $('edit-delete').textContent = 'Delete';
  }

  function remove() {
    if (!editing) return;
    const b = $('edit-delete');
    if (!b.classList.contains('armed')) {
      b.classList.add('armed');
      b.textContent = 'Delete ' + editing.name + '?';
      armTimer = setTimeout(disarmDelete, 5000);
      return;
    }
    disarmDelete();
    clearErrors();
    const name = editing.name;
    api('DELETE', '/services/' + encodeURIComponent(name), undefined, { 'If-Match': editing.etag }).then((res) => {
      if (!res.ok) {
        showError(res);
        return;
      }
      newService();
      $('edit-message').textContent = 'Deleted ' + name;
    });
  }

  // ---- start ----

  document.addEventListener('DOMContentLoaded', () => {
    $('login').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('token').value;
      if (t === '') return;
      sessionStorage.setItem(TOKEN_KEY, t);
      $('token').value = '';
      start();
    });
    $('logout').addEventListener('click', () => forget(''));
    $('edit-form').addEventListener('submit', save);
    $('edit-new').addEventListener('click', newService);
    $('edit-delete').addEventListener('click', remove);
    if (token()) start(); else showLogin('');
  });
}());
