// facerec web page: webcam frames over the WebSocket stream, boxes and names
// drawn over the video, enrolment, the people list and photo upload.
// Plain browser JavaScript, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const video = $('video'), overlay = $('overlay'), keyInput = $('key');
const grab = document.createElement('canvas'); // frames are encoded here
const MAX_IN_FLIGHT = 2;     // frames sent but not answered; the server drops stale ones
const FRAME_WIDTH = 640;     // frames are scaled to at most this width before sending
const FPS_WINDOW_MS = 2000;  // the FPS readout counts the results of this recent stretch of time
const HEALTH_EVERY_MS = 5000; // how often the header re-reads the gallery counts (other clients change them)

// A key in the address wins over the remembered one: opening a link with
// ?key= is an explicit choice, the stored key may be stale.
keyInput.value = new URLSearchParams(location.search).get('key') || localStorage.getItem('facerec-key') || '';
keyInput.addEventListener('change', () => {
  localStorage.setItem('facerec-key', keyInput.value);
  refreshAll();
  // The stream authenticates once, at the handshake: reconnect with the new key.
  if (stream) openSocket();
});

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

// ---- the header and the people list ----------------------------------------------------

const plural = (n, one, many) => n + ' ' + (n === 1 ? one : many);
let shownCounts = '';

// Health needs no key, so the header works before a key is typed.
async function refreshHealth() {
  try {
    const res = await fetch('/api/v1/health', { cache: 'no-store' });
    if (!res.ok) { // e.g. 503 while the server shuts down
      $('health').textContent = 'server unavailable (' + res.status + ')';
      return null;
    }
    const h = await res.json();
    $('health').textContent = 'server ok: ' + plural(h.people, 'person', 'people') + ', ' +
      plural(h.faces, 'face', 'faces') + ', ' + plural(h.workers, 'worker', 'workers');
    return h.people + '/' + h.faces;
  } catch (e) {
    $('health').textContent = 'server unreachable';
    return null;
  }
}

function refreshAll() {
  return Promise.all([refreshPeople(), refreshHealth().then((c) => { if (c) shownCounts = c; })]);
}

// Other clients enrol and delete too: poll the cheap health counts and reload
// the people list only when they changed.
setInterval(async () => {
  const c = await refreshHealth();
  if (c && c !== shownCounts) { shownCounts = c; refreshPeople(); }
  // The server is back: retry a stream that waits for its next attempt now.
  if (c && stream && !ws && wsTimer) openSocket();
}, HEALTH_EVERY_MS);

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
        refreshAll();
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
$('refresh').onclick = refreshAll;

// ---- the live stream ------------------------------------------------------------------

let ws = null, stream = null, seq = 0, inFlight = 0, sentAt = new Map();
let answered = 0, dropped = 0, errors = 0, lastError = '', latency = 0;
let resultTimes = [];           // when the recent results arrived, oldest first
let wsRetry = 0, wsTimer = null, tick = null;

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
  // A reconnect during the encoding resets inFlight to 0: never count below it.
  if (!blob || !ws || ws.readyState !== WebSocket.OPEN) { inFlight = Math.max(0, inFlight - 1); return; }
  const n = seq++;
  sentAt.set(n, performance.now());
  ws.send(new Blob([frameHeader(n), blob]));
}

// Draws boxes and names; a box at (x, y) in image pixels lands at
// (ox + x * sx, oy + y * sy) on the canvas, and `unit` canvas pixels make one
// screen pixel, so lines and text keep their on-screen size.
function drawFaces(ctx, faces, sx, sy, ox, oy, unit) {
  ctx.lineWidth = 3 * unit;
  ctx.font = Math.round(16 * unit) + 'px system-ui, sans-serif';
  const lh = 20 * unit;
  for (const f of faces) {
    const b = f.box, color = f.known ? '#22c55e' : '#f59e0b';
    const x = ox + b.x * sx, y = oy + b.y * sy, w = b.width * sx, h = b.height * sy;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    const label = f.known ? f.name + ' (' + f.distance.toFixed(2) + ')' : 'unknown';
    const tw = ctx.measureText(label).width + 8 * unit;
    // The label sits above the box, or inside it when the face touches the top edge.
    const ly = y >= lh ? y - lh : y;
    ctx.fillStyle = color;
    ctx.fillRect(x, ly, tw, lh);
    ctx.fillStyle = '#000';
    ctx.fillText(label, x + 4 * unit, ly + lh - 5 * unit);
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

// The video is shown with object-fit: contain, so a camera whose shape is not
// the stage's is letterboxed: boxes must be mapped onto the picture, not onto
// the whole stage.
function drawOverlay(a) {
  const rect = overlay.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
  overlay.width = Math.round(rect.width * dpr); overlay.height = Math.round(rect.height * dpr);
  const ctx = overlay.getContext('2d');
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const vw = video.videoWidth || a.width, vh = video.videoHeight || a.height;
  const scale = Math.min(overlay.width / vw, overlay.height / vh);
  const pw = vw * scale, ph = vh * scale;
  drawFaces(ctx, a.faces, pw / a.width, ph / a.height, (overlay.width - pw) / 2, (overlay.height - ph) / 2, dpr);
}

function clearOverlay() {
  overlay.getContext('2d').clearRect(0, 0, overlay.width, overlay.height);
  overlay.dataset.names = '';
  $('detections').replaceChildren();
}

// Frames per second over the last FPS_WINDOW_MS, but from at least the last
// two results, so a server slower than one frame per window still gets a
// rate; a dash until two results have arrived.
function noteResult(now) {
  resultTimes.push(now);
  while (resultTimes.length > 2 && now - resultTimes[0] > FPS_WINDOW_MS) resultTimes.shift();
}

function fpsText() {
  const n = resultTimes.length;
  if (n < 2) return '\u2014';
  const span = resultTimes[n - 1] - resultTimes[0];
  return span > 0 ? ((n - 1) * 1000 / span).toFixed(1) : '\u2014';
}

function showStats() {
  $('stats').textContent = fpsText() + ' FPS, latency ' + latency.toFixed(0) + ' ms, ' +
    answered + ' answered, ' + dropped + ' dropped' +
    (errors ? ', ' + errors + ' errors (last: ' + lastError + ')' : '');
}

function onAnswer(ev) {
  const a = JSON.parse(ev.data);
  inFlight = Math.max(0, inFlight - 1);
  const t0 = sentAt.get(a.seq);
  sentAt.delete(a.seq);
  const now = performance.now();
  if (a.dropped) { dropped++; }
  else if (a.error) { errors++; lastError = a.error.message; }
  else {
    answered++;
    noteResult(now);
    if (t0 !== undefined) latency = now - t0;
    drawOverlay(a);
    listFaces($('detections'), a.faces);
    overlay.dataset.names = a.faces.filter((f) => f.known).map((f) => f.name).join(',');
  }
  showStats();
  sendFrame();
}

// Opens (or reopens) the stream. A stream that closes while the camera runs
// (server restart, network loss, wrong key) is retried with a growing pause.
function openSocket() {
  clearTimeout(wsTimer); wsTimer = null;
  if (ws) { const old = ws; ws = null; old.close(); }
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
    '/api/v1/stream?key=' + encodeURIComponent(keyInput.value);
  const sock = new WebSocket(url);
  let opened = false;
  ws = sock;
  sock.binaryType = 'arraybuffer';
  sock.onmessage = (ev) => { if (ws === sock) onAnswer(ev); };
  sock.onopen = () => {
    if (ws !== sock) return;
    opened = true; wsRetry = 0;
    inFlight = 0; sentAt.clear(); resultTimes = [];
    $('stats').textContent = 'streaming...';
    sendFrame();
  };
  sock.onclose = () => {
    if (ws !== sock) return; // replaced or stopped on purpose
    ws = null;
    if (!stream) return;
    const wait = Math.min(10, 2 ** wsRetry++);
    $('stats').textContent = (opened ? 'stream closed' : 'stream refused (wrong API key or server down?)') +
      '; retrying in ' + wait + ' s';
    wsTimer = setTimeout(openSocket, wait * 1000);
  };
}

$('start').onclick = async () => {
  $('start').disabled = true; // a second click while the camera opens would open a second one
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    $('stats').textContent = 'camera: ' + e.message;
    $('start').disabled = false;
    return;
  }
  video.srcObject = stream;
  await video.play();
  $('stop').disabled = false; $('enrol').disabled = false;
  wsRetry = 0;
  openSocket();
  // Frames go out as answers come back; this tick restarts the loop after a
  // dropped or lost answer.
  clearInterval(tick);
  tick = setInterval(sendFrame, 250);
};

$('stop').onclick = () => {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  clearInterval(tick); tick = null;
  clearTimeout(wsTimer); wsTimer = null;
  if (ws) { const old = ws; ws = null; old.close(); }
  clearOverlay();
  $('start').disabled = false; $('stop').disabled = true; $('enrol').disabled = true;
  $('stats').textContent = 'not streaming';
};

$('enrol').onclick = async () => {
  const name = $('enrol-name').value.trim();
  if (!name) { $('enrol-status').textContent = 'type a name first'; return; }
  if (!video.videoWidth) { $('enrol-status').textContent = 'no camera picture yet'; return; }
  const blob = await encodeFrame('image/png'); // lossless: the server hashes what it stores
  $('enrol-status').textContent = 'enrolling ' + name + '...';
  try {
    const r = await api('POST', '/api/v1/subjects/' + encodeURIComponent(name) + '/faces', blob, 'image/png');
    $('enrol-status').textContent = 'enrolled ' + r.name + (r.duplicate ? ' (already had this image)' : '');
  } catch (e) {
    $('enrol-status').textContent = e.message;
  }
  refreshAll();
};

// ---- photo upload ----------------------------------------------------------------------

$('photo').onchange = async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  const faces = $('photo-faces');
  const img = new Image();
  img.src = URL.createObjectURL(file);
  try { await img.decode(); }
  catch (e) {
    faces.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'not an image this browser reads' }));
    return;
  } finally { URL.revokeObjectURL(img.src); }
  const c = $('photo-canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  try {
    const r = await api('POST', '/api/v1/recognize', file, file.type || 'image/jpeg');
    // A large photo is shown scaled down: draw lines and text in screen pixels.
    const unit = c.clientWidth ? c.width / c.clientWidth : 1;
    drawFaces(ctx, r.faces, 1, 1, 0, 0, unit);
    listFaces(faces, r.faces);
  } catch (e) {
    faces.replaceChildren(Object.assign(document.createElement('li'), { textContent: e.message }));
  }
};

// ---- start ----------------------------------------------------------------------------

refreshAll();
