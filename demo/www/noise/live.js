// live.js: what the noise pages share: WebSocket URLs beside the page, a socket that reconnects, and levels in dBFS.
'use strict';

// ws:// or wss:// as the page came, resolved against the page: behind a prefix (http://host/noise/) and on its own host
// (http://noise.host/) alike. The query goes along: it may carry the key the proxy's auth wants.
function liveSocketUrl(name) {
  const url = new URL(name, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = location.search;
  url.hash = '';
  return url.href;
}

// Opens the socket `name` and opens it again (1 s, 2 s, ... 10 s later) whenever it closes. #status shows its state.
// Returns send(text): false while the socket is not open.
function liveSocket(name, onMessage) {
  const status = document.getElementById('status');
  let socket = null;
  let retryMs = 1000;

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function connect() {
    setStatus('connecting', 'connecting…');
    socket = new WebSocket(liveSocketUrl(name));
    socket.onopen = () => {
      retryMs = 1000;
      setStatus('open', 'connected');
    };
    socket.onmessage = (event) => onMessage && onMessage(event.data);
    socket.onclose = (event) => {
      setStatus('closed', `disconnected (${event.code}${event.reason ? ': ' + event.reason : ''}), retrying in ${retryMs / 1000} s`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  connect();
  // a socket that cannot keep up is not fed more: live readings are worth nothing late
  return (text) => {
    if (!socket || socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > 65536) return false;
    socket.send(text);
    return true;
  };
}

// 20·log10 of an RMS level (0..1), floored at -100 dBFS (silence).
function levelToDb(level) {
  return level > 1e-5 ? 20 * Math.log10(level) : -100;
}
