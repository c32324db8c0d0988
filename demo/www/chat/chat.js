// chat.js: the chat page's one WebSocket ("chatsocket", beside the page): what anyone sends, everyone sees in #messages.
'use strict';

(() => {
  const MAX_BYTES = 4096; // demo/chat's --max-message default: a longer message would cost the connection
  const MAX_SHOWN = 500; // older messages leave the list, so a long session does not grow the page without bound
  const list = document.getElementById('messages');
  const form = document.getElementById('chat-form');
  const input = document.getElementById('message');
  const status = document.getElementById('status');
  let socket = null;
  let retryMs = 1000;

  // ws:// or wss:// as the page came, resolved against the page: behind a prefix (http://host/chat/) and on its own host
  // (http://chat.host/) alike. The query goes along: it may carry the key the proxy's auth wants.
  function socketUrl(name) {
    const url = new URL(name, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = location.search;
    url.hash = '';
    return url.href;
  }

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  // Text only (textContent): a message is never markup.
  function show(text) {
    const item = document.createElement('li');
    const time = document.createElement('time');
    const body = document.createElement('span');
    time.textContent = new Date().toLocaleTimeString();
    body.className = 'text';
    body.textContent = text;
    item.append(time, body);
    list.append(item);
    while (list.children.length > MAX_SHOWN) list.firstElementChild.remove();
    item.scrollIntoView({block: 'end'});
  }

  function connect() {
    setStatus('connecting', 'connecting…');
    socket = new WebSocket(socketUrl('chatsocket'));
    socket.onopen = () => {
      retryMs = 1000;
      setStatus('open', 'connected');
    };
    socket.onmessage = (event) => show(event.data);
    socket.onclose = (event) => {
      setStatus('closed', `disconnected (${event.code}${event.reason ? ': ' + event.reason : ''}), retrying in ${retryMs / 1000} s`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text === '') return;
    if (new TextEncoder().encode(text).length > MAX_BYTES) {
      setStatus(status.dataset.state, `too long: at most ${MAX_BYTES} bytes`);
      return;
    }
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      setStatus(status.dataset.state, 'not connected: try again in a moment');
      return;
    }
    socket.send(text);
    input.value = '';
    input.focus();
  });

  connect();
})();
