// ticker.js: the producer page's clock, in a worker: told an interval in milliseconds, it posts a message at that pace.
// Browsers run the timers of a tab in the background once a second (once a minute after five minutes), a worker's as
// asked, and the producer is meant to run in a tab of its own.
'use strict';

let timer = null;

onmessage = (event) => {
  clearInterval(timer);
  timer = setInterval(() => postMessage(null), event.data);
};
