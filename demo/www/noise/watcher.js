// watcher.js: the live page: counts every reading from "live" in #count, notes gaps in #missed, draws the last 30 s on #chart.
'use strict';

(() => {
  const HISTORY = 300; // 30 s of readings at 10 a second
  const FLOOR_DB = -80; // the chart's bottom line
  const count = document.getElementById('count');
  const missed = document.getElementById('missed');
  const db = document.getElementById('db');
  const source = document.getElementById('source');
  const canvas = document.getElementById('chart');
  const levels = [];
  let received = 0;
  let gaps = 0;
  let lastN = null; // the server numbers readings: n must count up by one
  let drawPending = false;

  function height(level) {
    const fraction = (levelToDb(level) - FLOOR_DB) / -FLOOR_DB;
    return Math.max(0, Math.min(1, fraction)) * canvas.height;
  }

  function draw() {
    drawPending = false;
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.strokeStyle = '#e5e7eb';
    g.fillStyle = '#9ca3af';
    g.font = '11px system-ui, sans-serif';
    for (let mark = 0; mark >= FLOOR_DB; mark -= 20) { // a grid line every 20 dB
      const y = canvas.height - height(Math.pow(10, mark / 20));
      g.beginPath();
      g.moveTo(0, y);
      g.lineTo(canvas.width, y);
      g.stroke();
      g.fillText(`${mark} dB`, 4, Math.max(11, y - 2));
    }
    g.strokeStyle = '#2563eb';
    g.lineWidth = 2;
    g.beginPath();
    levels.forEach((level, i) => {
      const x = (i + HISTORY - levels.length) * canvas.width / (HISTORY - 1);
      const y = canvas.height - height(level);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }

  function onReading(text) {
    let reading;
    try {
      reading = JSON.parse(text);
    } catch (e) {
      return; // the server sends JSON only; nothing else is worth showing
    }
    received += 1;
    count.textContent = String(received);
    if (lastN !== null && reading.n > lastN + 1) {
      gaps += reading.n - lastN - 1;
      missed.textContent = String(gaps);
    }
    lastN = reading.n;
    db.textContent = levelToDb(reading.level).toFixed(1);
    source.textContent = reading.source;
    levels.push(reading.level);
    if (levels.length > HISTORY) levels.shift();
    if (!drawPending) {
      drawPending = true;
      requestAnimationFrame(draw);
    }
  }

  liveSocket('live', onReading);
  draw();
})();
