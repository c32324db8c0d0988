// producer.js: the producer page: every 100 ms (ticker.js keeps time) one reading {"seq", "level", "source"} to "sensor".
// The level is the RMS of the microphone's samples (Web Audio AnalyserNode); without a microphone (none, refused,
// headless, plain http on another host) it is a generated signal, so that the demo runs anywhere.
'use strict';

(() => {
  const INTERVAL_MS = 100;
  const sent = document.getElementById('sent');
  const db = document.getElementById('db');
  const source = document.getElementById('source');
  const meter = document.getElementById('meter');
  const micButton = document.getElementById('mic');
  const micNote = document.getElementById('mic-note');
  const send = liveSocket('sensor');
  let seq = 0; // counts up for the life of the page: the server refuses a reading that does not
  let numSent = 0;
  let analyser = null; // set once the microphone runs
  let audio = null;
  let samples = null;

  // A slow wave with some jitter, between about -50 and -10 dBFS: looks like a room with people talking.
  function generatedLevel(nowMs) {
    const dB = -30 + 15 * Math.sin(nowMs / 2000 * Math.PI) + 5 * (Math.random() - 0.5);
    return Math.pow(10, dB / 20);
  }

  function micLevel() {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    return Math.min(1, Math.sqrt(sum / samples.length));
  }

  function tick() {
    const useMic = analyser !== null && audio.state === 'running';
    const level = useMic ? micLevel() : generatedLevel(performance.now());
    const from = useMic ? 'mic' : 'generated';
    seq += 1;
    if (send(JSON.stringify({seq: seq, level: level, source: from}))) {
      numSent += 1;
      sent.textContent = String(numSent);
    }
    db.textContent = levelToDb(level).toFixed(1);
    source.textContent = from;
    meter.value = level;
  }

  async function startMic() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      micNote.textContent = 'no microphone here (it needs https or localhost): using a generated signal';
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({audio: true});
      audio = audio || new AudioContext();
      const node = audio.createAnalyser();
      node.fftSize = 2048;
      audio.createMediaStreamSource(stream).connect(node);
      samples = new Float32Array(node.fftSize);
      analyser = node;
      await audio.resume(); // browsers start audio only after a click: the button is one
      micNote.textContent = audio.state === 'running' ? 'microphone on' : 'click "Use the microphone" to start it';
    } catch (e) {
      micNote.textContent = `no microphone (${e.name}): using a generated signal`;
    }
  }

  micButton.addEventListener('click', () => (audio && analyser ? audio.resume().then(() => {
    micNote.textContent = 'microphone on';
  }) : startMic()));
  startMic();
  // the beat comes from a worker: this page's own timers would slow to one a second once its tab is in the background
  const ticker = new Worker('ticker.js');
  ticker.onmessage = tick;
  ticker.postMessage(INTERVAL_MS);
})();
