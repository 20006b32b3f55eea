// facerec web page: webcam frames over the WebSocket stream, boxes and names
// drawn over the video, enrolment, the people list and photo upload.
// Plain browser JavaScript, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const video = $('video'), overlay = $('overlay'), keyInput = $('key');
const grab = document.createElement('canvas'); // frames are encoded here
const MAX_IN_FLIGHT = 2;     // frames sent but not answered; the server drops stale ones
const FRAME_WIDTH = 640;     // frames are scaled to at most this width before sending

keyInput.value = localStorage.getItem('facerec-key') || new URLSearchParams(location.search).get('key') || '';
keyInput.addEventListener('change', () => { localStorage.setItem('facerec-key', keyInput.value); refreshPeople(); });

function headers(extra) {
  return Object.assign({ 'X-API-Key': keyInput.value }, extra || {});
}

async function api(method, path, body, type) {
  const init = { method, headers: headers(type ? { 'Content-Type': type } : {}) };
  if (body !== undefined) init.body = body;
  const res = await fetch(path, init);
  let json = null;
  try { json = await res.json(); } catch (e) { json = null; }
  if (!res.ok) {
    const msg = json && json.error ? json.error.message : res.statusText;
    throw new Error(res.status + ': ' + msg);
  }
  return json;
}

// ---- people ---------------------------------------------------------------------

async function refreshPeople() {
  const list = $('people');
  try {
    const data = await api('GET', '/api/v1/subjects');
    list.replaceChildren(...data.subjects.map((p) => {
      const li = document.createElement('li');
      li.dataset.name = p.name;
      const label = document.createElement('span');
      label.textContent = p.name + ' (' + p.faces + ')';
      const del = document.createElement('button');
      del.textContent = 'Delete';
      del.onclick = async () => {
        if (!confirm('Delete ' + p.name + ' and all their faces?')) return;
        try { await api('DELETE', '/api/v1/subjects/' + encodeURIComponent(p.name)); }
        catch (e) { alert(e.message); }
        refreshPeople();
      };
      li.append(label, del);
      return li;
    }));
  } catch (e) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = e.message;
    list.replaceChildren(li);
  }
}
$('refresh').onclick = refreshPeople;

// ---- the live stream ------------------------------------------------------------------

let ws = null, stream = null, seq = 0, inFlight = 0, sentAt = new Map();
let answered = 0, dropped = 0, fpsCount = 0, fpsSince = performance.now(), fps = 0, latency = 0;

function frameHeader(n) {
  const h = new DataView(new ArrayBuffer(24));
  'FRF1'.split('').forEach((c, i) => h.setUint8(i, c.charCodeAt(0)));
  h.setUint32(4, n, true); // seq; width, height, stride 0 and format 0: an encoded image follows
  return h.buffer;
}

function encodeFrame(type) {
  const w = Math.min(FRAME_WIDTH, video.videoWidth), h = Math.round(video.videoHeight * w / video.videoWidth);
  grab.width = w; grab.height = h;
  grab.getContext('2d').drawImage(video, 0, 0, w, h);
  return new Promise((resolve) => grab.toBlob(resolve, type || 'image/jpeg', 0.85));
}

async function sendFrame() {
  if (!ws || ws.readyState !== WebSocket.OPEN || inFlight >= MAX_IN_FLIGHT || !video.videoWidth) return;
  inFlight++;
  const blob = await encodeFrame();
  if (!blob || !ws || ws.readyState !== WebSocket.OPEN) { inFlight--; return; }
  const n = seq++;
  sentAt.set(n, performance.now());
  ws.send(new Blob([frameHeader(n), blob]));
}

function drawFaces(ctx, faces, sx, sy) {
  ctx.lineWidth = 3;
  ctx.font = '16px system-ui, sans-serif';
  for (const f of faces) {
    const b = f.box, color = f.known ? '#22c55e' : '#f59e0b';
    ctx.strokeStyle = color;
    ctx.strokeRect(b.x * sx, b.y * sy, b.width * sx, b.height * sy);
    const label = f.known ? f.name + ' (' + f.distance.toFixed(2) + ')' : 'unknown';
    const tw = ctx.measureText(label).width + 8;
    ctx.fillStyle = color;
    ctx.fillRect(b.x * sx, b.y * sy - 20, tw, 20);
    ctx.fillStyle = '#000';
    ctx.fillText(label, b.x * sx + 4, b.y * sy - 5);
  }
}

function listFaces(ul, faces) {
  ul.replaceChildren(...faces.map((f) => {
    const li = document.createElement('li');
    li.className = f.known ? 'known' : 'unknown';
    li.dataset.name = f.known ? f.name : '';
    li.textContent = (f.known ? f.name : 'unknown') +
      (f.distance !== undefined ? ' - distance ' + f.distance.toFixed(3) : '') + ' - score ' + f.score.toFixed(2);
    return li;
  }));
}

function onAnswer(ev) {
  const a = JSON.parse(ev.data);
  inFlight = Math.max(0, inFlight - 1);
  const t0 = sentAt.get(a.seq);
  sentAt.delete(a.seq);
  if (a.dropped) { dropped++; }
  else if (a.error) { $('stats').textContent = 'error: ' + a.error.message; }
  else {
    answered++; fpsCount++;
    if (t0 !== undefined) latency = performance.now() - t0;
    const rect = overlay.getBoundingClientRect();
    overlay.width = rect.width; overlay.height = rect.height;
    const ctx = overlay.getContext('2d');
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    drawFaces(ctx, a.faces, overlay.width / a.width, overlay.height / a.height);
    listFaces($('detections'), a.faces);
    overlay.dataset.names = a.faces.filter((f) => f.known).map((f) => f.name).join(',');
  }
  const now = performance.now();
  if (now - fpsSince >= 1000) { fps = fpsCount * 1000 / (now - fpsSince); fpsCount = 0; fpsSince = now; }
  $('stats').textContent = fps.toFixed(1) + ' FPS, latency ' + latency.toFixed(0) + ' ms, ' +
    answered + ' answered, ' + dropped + ' dropped';
  sendFrame();
}

function openSocket() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
    '/api/v1/stream?key=' + encodeURIComponent(keyInput.value);
  ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = onAnswer;
  ws.onopen = () => { inFlight = 0; sendFrame(); };
  ws.onclose = () => { if (stream) $('stats').textContent = 'stream closed (wrong key?)'; ws = null; };
}

$('start').onclick = async () => {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    $('stats').textContent = 'camera: ' + e.message;
    return;
  }
  video.srcObject = stream;
  await video.play();
  $('start').disabled = true; $('stop').disabled = false; $('enrol').disabled = false;
  openSocket();
  // Frames go out as answers come back; this tick restarts the loop after a
  // dropped or lost answer.
  setInterval(sendFrame, 250);
};

$('stop').onclick = () => {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  if (ws) ws.close();
  $('start').disabled = false; $('stop').disabled = true; $('enrol').disabled = true;
  $('stats').textContent = 'not streaming';
};

$('enrol').onclick = async () => {
  const name = $('enrol-name').value.trim();
  if (!name) { $('enrol-status').textContent = 'type a name first'; return; }
  const blob = await encodeFrame('image/png'); // lossless: the server hashes what it stores
  try {
    const r = await api('POST', '/api/v1/subjects/' + encodeURIComponent(name) + '/faces', blob, 'image/png');
    $('enrol-status').textContent = 'enrolled ' + r.name + (r.duplicate ? ' (already had this image)' : '');
  } catch (e) {
    $('enrol-status').textContent = e.message;
  }
  refreshPeople();
};

// ---- photo upload ----------------------------------------------------------------------

$('photo').onchange = async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  const img = new Image();
  img.src = URL.createObjectURL(file);
  await img.decode();
  const c = $('photo-canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  try {
    const r = await api('POST', '/api/v1/recognize', file, file.type || 'image/jpeg');
    drawFaces(ctx, r.faces, 1, 1);
    listFaces($('photo-faces'), r.faces);
  } catch (e) {
    $('photo-faces').replaceChildren(Object.assign(document.createElement('li'), { textContent: e.message }));
  }
};

// ---- start ----------------------------------------------------------------------------

fetch('/api/v1/health').then((r) => r.json()).then((h) => {
  $('health').textContent = 'server ok: ' + h.people + ' people, ' + h.faces + ' faces, ' + h.workers + ' workers';
}).catch(() => { $('health').textContent = 'server unreachable'; });
refreshPeople();
