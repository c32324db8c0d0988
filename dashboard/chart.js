// dashboard/chart.js: a service's last minutes on a small canvas: requests per second as a blue line, the 5xx share as
// red bars. Points are placed by the snapshot's time, so a time the page was disconnected shows as a gap.

export const WINDOW_MS = 3 * 60 * 1000;
const GAP_MS = 2500; // snapshots come every second: farther apart, the line is broken
const LINE = '#1f6feb';
const ERRORS = 'rgba(198, 40, 40, 0.7)';
const AXIS = '#d9dee3';

// One service's points, oldest first: { t, rps, errors }; rps null when the snapshot could not tell.
export class History {
  constructor() {
    this.points = [];
  }

  add(t, rps, errors) {
    const last = this.points[this.points.length - 1];
    if (last && last.t >= t) return; // a reconnection is greeted with the snapshot already seen
    this.points.push({ t, rps, errors: errors || 0 });
    while (this.points.length && this.points[0].t < t - WINDOW_MS) this.points.shift();
  }

  peak() {
    return Math.max(0, ...this.points.map((p) => p.rps || 0));
  }
}

// The canvas's backing store at the screen's pixel ratio, so that lines stay sharp.
function fit(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 200;
  const h = canvas.clientHeight || 40;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, w, h };
}

// Draws `history` as of `now` (the latest snapshot's time, ms).
export function draw(canvas, history, now) {
  const { ctx, w, h } = fit(canvas);
  const x = (t) => w * (1 - (now - t) / WINDOW_MS);
  const max = Math.max(1, history.peak());
  const y = (rps) => h - 2 - (rps / max) * (h - 4);
  const barWidth = Math.max(2, (w * 1000) / WINDOW_MS);

  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = AXIS;
  ctx.fillRect(0, h - 1, w, 1);
  ctx.fillStyle = ERRORS;
  for (const p of history.points) {
    if (p.errors > 0) ctx.fillRect(x(p.t) - barWidth / 2, h - p.errors * h, barWidth, p.errors * h);
  }
  ctx.strokeStyle = LINE;
  ctx.fillStyle = LINE;
  ctx.lineWidth = 1.5;
  let prev = null;
  for (const p of history.points) {
    if (p.rps == null) {
      prev = null;
      continue;
    }
    if (prev === null || p.t - prev.t > GAP_MS) {
      ctx.fillRect(x(p.t) - 1, y(p.rps) - 1, 2, 2); // a lone point is still seen
    } else {
      ctx.beginPath();
      ctx.moveTo(x(prev.t), y(prev.rps));
      ctx.lineTo(x(p.t), y(p.rps));
      ctx.stroke();
    }
    prev = p;
  }
  canvas.title = 'peak ' + history.peak().toFixed(1) + ' requests/s in the last 3 minutes';
}
