// Cross-origin attacks on `facerec serve` from a page in Debian's headless
// Chromium. The server runs in open mode (--no-auth, loopback only), which is
// exactly when a web page the user happens to visit is the remaining danger:
// the browser will send it requests to 127.0.0.1 on the page's behalf, so the
// server itself must refuse what comes from a foreign Origin.
//
// The attacker's page is served by a small node HTTP server started here, on
// another loopback port (so another origin). The attack code runs in that
// page (page.evaluate runs it in the page's own origin, as the page's script
// would), and tries:
//   - a JSON POST /api/v1/subjects (needs a CORS preflight),
//   - a "simple" no-cors POST with a text/plain body that is JSON,
//   - a cross-origin DELETE /api/v1/subjects/victim,
//   - an HTML <form enctype=text/plain> POST whose body is JSON,
//   - reading GET /api/v1/subjects (it must stay unreadable),
//   - enrolling a face PNG to 'victim' (no-cors and with a preflight),
//   - opening the WebSocket /api/v1/stream (it must not open).
// Between the attacks the server's state is read from outside the browser
// (node's http, no Origin header, as curl would). The same functions then run
// on the page the server itself serves (the positive control: a same-origin
// page CAN do all of this, so the refusals above are not an accident of the
// test), and DNS rebinding is tried both directly (Host: rebind.example) and
// in the browser (rebind.example mapped to 127.0.0.1 by Chromium's resolver
// rules, so the page's origin and the Host header agree and only the Host
// check can stop it).
// Prints "ok"/"FAIL" lines and the summary line "N passed, N failed".
// usage: node cross_origin.test.js BASE_URL FACE.png
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { chromium } = require('playwright-core');

const [base, facePng] = process.argv.slice(2);
const target = new URL(base);
let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) { passed++; console.log('ok   ' + what); }
  else { failed++; console.log('FAIL ' + what + (detail !== undefined ? ': ' + detail : '')); }
}

// ---- requests from outside the browser ----------------------------------------------

// One HTTP request to the server with node's http (no Origin unless given);
// resolves to { status, headers, body } or { error } (never rejects).
function request(method, urlPath, opts) {
  opts = opts || {};
  return new Promise((resolve) => {
    const req = http.request({
      host: target.hostname, port: target.port, method, path: urlPath,
      headers: opts.headers || {}, agent: false, timeout: 10000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve({ error: e.message }));
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

// The gallery's subjects as read from outside: { name: faces } or null.
async function subjects() {
  const r = await request('GET', '/api/v1/subjects');
  try {
    const out = {};
    for (const s of JSON.parse(r.body).subjects) out[s.name] = s.faces;
    return out;
  } catch (e) { return null; }
}

// The Access-Control-* headers of a response, as "name: value" strings.
const corsHeaders = (r) => Object.entries(r.headers || {})
  .filter(([k]) => k.startsWith('access-control-')).map(([k, v]) => k + ': ' + v);

// ---- the attacks, run inside a page (whatever its origin) ----------------------------
// attack() is serialised by page.evaluate and runs in the page, so its
// requests carry the page's Origin exactly as the page's own script's would.
// It is one self-contained function (no eval of shared helpers) because the
// server's own page may forbid eval in its Content-Security-Policy.
// t is the server's base URL ('' for the page's own origin), kind names the
// attack. It resolves to a plain object describing what the page could see
// and never rejects.
function attack([t, kind, name, b64]) {
  // fetch() with the outcome as data: { status, type, body } if the promise
  // resolved (body only when readable), { rejected: message } if it rejected.
  const go = async (url, init) => {
    try {
      const res = await fetch(url, init);
      let body = null;
      if (res.type !== 'opaque') { try { body = await res.text(); } catch (e) { body = null; } }
      return { status: res.status, type: res.type, body };
    } catch (e) { return { rejected: String((e && e.message) || e) }; }
  };
  const subjects = t + '/api/v1/subjects';
  switch (kind) {
    // A JSON POST: application/json is not a CORS-safelisted type, so the
    // browser asks the server first (OPTIONS preflight) and sends the POST
    // only if the preflight's answer allows this origin.
    case 'json':
      return go(subjects, { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name }) });
    // A "simple" request: text/plain needs no preflight, the browser sends it
    // straight away and only hides the answer (opaque) from the page.
    case 'simple':
      return go(subjects, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' },
        body: JSON.stringify({ name }) });
    // A cross-origin DELETE always needs a preflight (and no-cors forbids it).
    case 'delete':
      return go(subjects + '/' + encodeURIComponent(name), { method: 'DELETE' });
    // Reading the gallery: a CORS read must reject without an
    // Access-Control-Allow-Origin for this origin; a no-cors read is opaque.
    case 'read':
      return Promise.all([go(subjects, {}), go(subjects, { mode: 'no-cors' })])
        .then(([cors, nocors]) => ({ cors, nocors }));
    // Enrolling a face: the PNG's bytes come in as base64 (from the attacker's
    // own origin in a real attack); as a Blob of type image/png in no-cors
    // mode (the browser may drop the non-safelisted Content-Type then) and
    // with an explicit image/png Content-Type in cors mode (preflighted).
    case 'faces': {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const url = subjects + '/' + encodeURIComponent(name) + '/faces';
      return go(url, { method: 'POST', mode: 'no-cors', body: new Blob([bytes], { type: 'image/png' }) })
        .then((nocors) => go(url, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: bytes })
          .then((cors) => ({ nocors, cors })));
    }
    // An HTML form with enctype=text/plain sends "NAME=VALUE\r\n": with the
    // name '{"name":"X","pad":"' and the value '"}' the body is valid JSON.
    // Form submissions are never preflighted. The answer goes into a hidden
    // iframe; the result says whether it loaded (a refused frame may not).
    case 'form':
      return new Promise((resolve) => {
        const frame = document.createElement('iframe');
        frame.name = 'sink-' + name;
        frame.style.display = 'none';
        const form = document.createElement('form');
        form.method = 'POST';
        form.enctype = 'text/plain';
        form.action = subjects;
        form.target = frame.name;
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = '{"name":"' + name + '","pad":"';
        input.value = '"}';
        form.appendChild(input);
        document.body.appendChild(frame);
        document.body.appendChild(form);
        let done = false;
        const finish = (loaded) => { if (!done) { done = true; resolve({ loaded }); } };
        // Listened for only now, after the iframe's initial about:blank load.
        setTimeout(() => {
          frame.addEventListener('load', () => setTimeout(() => finish(true), 200));
          form.submit();
        }, 0);
        setTimeout(() => finish(false), 8000);
      });
    // The WebSocket handshake carries the page's Origin; a refused handshake
    // shows up as onerror/onclose without onopen.
    case 'ws':
      return new Promise((resolve) => {
        const r = { opened: false, error: false, closed: false, code: null };
        const url = (t || location.origin).replace(/^http/, 'ws') + '/api/v1/stream';
        let sock;
        try { sock = new WebSocket(url); } catch (e) { r.thrown = String(e); resolve(r); return; }
        const timer = setTimeout(() => { r.timeout = true; resolve(r); }, 10000);
        sock.onopen = () => { r.opened = true; sock.close(); };
        sock.onerror = () => { r.error = true; };
        sock.onclose = (e) => { r.closed = true; r.code = e.code; clearTimeout(timer); resolve(r); };
      });
    default:
      return Promise.resolve({ rejected: 'unknown attack ' + kind });
  }
}

// ---- the attacker's web server ---------------------------------------------------

// Serves a blank page at / on 127.0.0.1:<any port>: a different origin from
// the facerec server's although on the same host.
function attackerServer() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><meta charset=utf-8><title>not facerec</title><p>nothing to see here</p>');
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

const short = (o) => JSON.stringify(o).slice(0, 200);
// Did a fetch get through in a way the page could see (any resolved cors answer)?
const readable = (o) => !o.rejected && o.type !== 'opaque';

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'facerec-chromium-'));
  const b64 = fs.readFileSync(facePng).toString('base64');
  let ctx = null, srv = null;
  try {
    // Set up from outside: the victim exists, with no face.
    const made = await request('POST', '/api/v1/subjects', { headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'victim' }) });
    check(made.status === 201, "set-up: 'victim' created from outside the browser (no Origin)",
      made.status + ' ' + (made.body || made.error));

    // Straight to the server, no browser: what a preflight gets, whether a
    // GET with a foreign Origin carries CORS headers, and the Host check.
    srv = await attackerServer();
    const evil = 'http://127.0.0.1:' + srv.address().port;
    const pre = await request('OPTIONS', '/api/v1/subjects', { headers: { Origin: evil,
      'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } });
    check(pre.status === 403 && corsHeaders(pre).length === 0,
      'a preflight from a foreign origin gets 403 and no Access-Control-* headers',
      pre.status + ' ' + corsHeaders(pre).join(', '));
    const get = await request('GET', '/api/v1/subjects', { headers: { Origin: evil } });
    check(corsHeaders(get).length === 0, 'a GET with a foreign Origin gets no Access-Control-* headers',
      corsHeaders(get).join(', '));
    for (const host of ['rebind.example', 'rebind.example:' + target.port]) {
      const r = await request('GET', '/api/v1/subjects', { headers: { Host: host } });
      check(r.status === 400, 'DNS rebinding: Host: ' + host + ' gets 400', r.status + ' ' + (r.body || r.error));
    }

    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        // Only for the rebinding check: this name resolves to the server.
        '--host-resolver-rules=MAP rebind.example 127.0.0.1'],
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    // Runs one attack in the current page against the server's full URL.
    const run = (kind, name, data) => page.evaluate(attack, [base, kind, name, data]);

    // ---- the attacks, from the other origin ----
    await page.goto(evil + '/');
    check(await page.evaluate(() => location.origin) === evil, 'the attacker page is loaded from ' + evil);

    // What the page sees of a write (a rejected fetch) proves nothing: a
    // server that allows the preflight but sends no CORS header with the
    // answer has done the write all the same. So writes are judged by the
    // gallery as read from outside, the page's view only goes in the details.
    const json = await run('json', 'evil_cors');
    const simple = await run('simple', 'evil');
    const form = await run('form', 'evil_form');
    const read = await run('read');
    check(!!read.cors.rejected && !readable(read.nocors),
      'GET /api/v1/subjects is not readable from the other origin (cors rejects, no-cors is opaque)', short(read));
    const faces = await run('faces', 'victim', b64);
    let after = await subjects();
    check(after !== null && after.victim === 0,
      "'victim' still has 0 faces after the enrol attempts (no-cors Blob and preflighted image/png)",
      short(after) + ' page saw ' + short(faces));
    const ws = await run('ws');
    check(!ws.opened && (ws.error || ws.closed), 'a cross-origin WebSocket to /api/v1/stream does not open',
      short(ws));
    const del = await run('delete', 'victim');
    after = await subjects();
    check(after !== null && 'victim' in after, "'victim' still exists after the cross-origin DELETE",
      short(after) + ' page saw ' + short(del));
    check(after !== null && !('evil_cors' in after), "no subject 'evil_cors' (JSON POST with preflight)", short(json));
    check(after !== null && !('evil' in after), "no subject 'evil' (no-cors text/plain POST)", short(simple));
    check(after !== null && !('evil_form' in after), "no subject 'evil_form' (form POST, enctype=text/plain)",
      short(form));

    // ---- DNS rebinding in the browser: the page's origin and the Host header
    // both say rebind.example:PORT, so the Origin check cannot tell; the Host
    // check must. (The page load itself may be a 400: that is the point.)
    const rebindBase = 'http://rebind.example:' + target.port;
    let rebind;
    try {
      await page.goto(rebindBase + '/');
      rebind = await page.evaluate(attack, ['', 'json', 'evil_rebind']);
    } catch (e) { rebind = { rejected: 'navigation: ' + e.message }; }
    check(rebind.status !== 201, 'a rebound page (Host: rebind.example) cannot create a subject', short(rebind));
    after = await subjects();
    check(after !== null && !('evil_rebind' in after), "no subject 'evil_rebind'", short(after));

    // ---- positive control: the same code on the server's own page ----
    await page.goto(base + '/');
    check(await page.evaluate(() => location.origin) === target.origin, 'the server\'s own page is loaded from ' +
      target.origin);
    const own = await run('json', 'friend');
    check(own.status === 201, 'control: the same-origin page creates a subject with the same JSON POST',
      short(own));
    const ownRead = await run('read');
    check(ownRead.cors.status === 200 && /"friend"/.test(ownRead.cors.body || ''),
      'control: the same-origin page reads GET /api/v1/subjects', short(ownRead.cors));
    const ownFaces = await run('faces', 'friend', b64);
    check(ownFaces.cors.status === 200, 'control: the same-origin page enrols a face (image/png POST)',
      short(ownFaces.cors));
    const ownWs = await run('ws');
    check(ownWs.opened, 'control: the same-origin page opens the WebSocket', short(ownWs));
    after = await subjects();
    check(after !== null && after.friend >= 1, "control: 'friend' exists (seen from outside) with a face",
      short(after));
    const ownDel = await run('delete', 'friend');
    check(ownDel.status === 200, 'control: the same-origin page deletes a subject', short(ownDel));
  } catch (e) {
    check(false, 'browser run', e.message);
  } finally {
    if (ctx) await ctx.close();
    if (srv) srv.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(failed ? 1 : 0);
})();
