// dashboard/dashboard.js: proxyd's live dashboard: the login, the /events connection and its status, the registry
// changes. The token is sent as a WebSocket subprotocol or as /events' first message, never in a URL (api.js keeps it).

import { api, forgetToken, keepToken, token } from './api.js';
import { clear, render } from './services.js';
import { edit, initEditor } from './editor.js';

const $ = (id) => document.getElementById(id);
const EVENTS_SHOWN = 50;
const MAX_RETRY_S = 5; // the admin listener is local: an operator wants the numbers back soon after a restart
// RFC 7230 token characters: what a subprotocol, and so "bearer.<token>", may hold
const SUBPROTOCOL_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

let ws = null;
let retries = 0;
let retryTimer = null;

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
  // numbers from before a disconnection are kept, dimmed: they are no longer live
  $('dashboard').classList.toggle('stale', state !== 'connected');
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

function closeSocket() {
  if (ws) {
    ws.onclose = null;
    ws.close(1000);
    ws = null;
  }
}

function forget(message) {
  forgetToken();
  closeSocket();
  clearTimeout(retryTimer);
  clear();
  setStatus('disconnected', 'not connected');
  showLogin(message);
}

function retryLater(why) {
  clearTimeout(retryTimer);
  retries++;
  const seconds = Math.min(retries, MAX_RETRY_S);
  setStatus('disconnected', why + ', reconnecting in ' + seconds + ' s');
  retryTimer = setTimeout(start, seconds * 1000);
}

// The token is tried on /services first (/health needs none): a browser cannot read why a WebSocket handshake failed.
function start() {
  setStatus('connecting', 'checking the token');
  api('GET', '/services').then((res) => {
    if (res.status === 401) {
      forget('The admin token was refused.');
      return;
    }
    if (!res.ok) throw new Error('HTTP ' + res.status);
    showDashboard();
    connect();
  }).catch((e) => retryLater('admin listener unreachable (' + e.message + ')'));
}

function connect() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/events';
  const t = token();
  const inSubprotocol = SUBPROTOCOL_CHARS.test(t);
  closeSocket();
  setStatus('connecting', 'connecting');
  ws = new WebSocket(url, inSubprotocol ? ['proxyd-events', 'bearer.' + t] : ['proxyd-events']);
  ws.onopen = () => {
    if (!inSubprotocol) ws.send(JSON.stringify({ token: t }));
  };
  ws.onmessage = (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch (err) {
      return;
    }
    if (msg.type === 'hello') {
      retries = 0;
      setStatus('connected', 'connected');
    } else if (msg.type === 'snapshot') {
      render(msg, edit);
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
    retryLater('disconnected' + (e.code && e.code !== 1006 ? ' (' + e.code + ')' : ''));
  };
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

function init() {
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token').value;
    if (t === '') return;
    keepToken(t);
    $('token').value = '';
    clearTimeout(retryTimer);
    start();
  });
  $('logout').addEventListener('click', () => forget(''));
  initEditor();
  if (token()) start(); else showLogin('');
}

// a module runs once the document is parsed
init();
