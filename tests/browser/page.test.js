// Loads the facerec web page in Debian's headless Chromium with a fake camera
// playing a face, enrols that face through the page, and waits until the
// page draws a box named after it. Also checks that the header's people count
// follows an enrolment from the page and a removal by another client, that
// the FPS readout shows a dash before two results and a positive rate from
// then on, and that a wrong key is reported. Prints check lines and the
// summary line "N passed, N failed"; saves a screenshot.
// usage: node page.test.js BASE_URL ADMIN_KEY VIDEO.y4m SCREENSHOT.png
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, key, video, shot] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) { passed++; console.log('ok   ' + what); }
  else { failed++; console.log('FAIL ' + what + (detail ? ': ' + detail : '')); }
}

// The people count shown in the header ("server ok: 3 people, ..."), or null.
async function headerCount(page) {
  const m = /(\d+) (?:person|people)\b/.exec(await page.textContent('#health'));
  return m ? Number(m[1]) : null;
}

// Waits until the header shows `want` people; false when it does not within ms.
async function waitCount(page, want, ms) {
  try {
    await page.waitForFunction((n) => new RegExp('\\b' + n + ' (?:person|people)\\b')
      .test(document.getElementById('health').textContent), want, { timeout: ms });
    return true;
  } catch (e) { return false; }
}

// The FPS field and the answered count of one stats line, or null for other lines.
function parseStats(text) {
  const m = /^(\S+) FPS, .* (\d+) answered/.exec(text);
  return m ? { fps: m[1], answered: Number(m[2]) } : null;
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'facerec-chromium-'));
  let ctx = null;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
        '--use-file-for-fake-video-capture=' + video],
      viewport: { width: 1100, height: 800 },
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', (d) => d.accept());
    // The stream's answers as the page gets them (the boxes drawn come from these).
    let lastFaces = null;
    page.on('websocket', (sock) => sock.on('framereceived', (f) => {
      try { const a = JSON.parse(f.payload); if (a.faces && a.faces.length) lastFaces = a; } catch (e) { /* binary */ }
    }));
    // Every text the stats line shows, recorded in the page as it changes, so
    // that the first readouts (one result, two results) can be checked after.
    await page.addInitScript(() => {
      window.statsSeen = [];
      document.addEventListener('DOMContentLoaded', () => {
        const el = document.getElementById('stats');
        new MutationObserver(() => window.statsSeen.push(el.textContent))
          .observe(el, { childList: true, characterData: true, subtree: true });
      });
    });
    await page.goto(base + '/?key=' + encodeURIComponent(key));
    await page.waitForFunction(() => document.getElementById('health').textContent.startsWith('server ok'),
      null, { timeout: 20000 });
    check(true, 'page loaded and reached the server');
    const before = await headerCount(page);
    check(before === 0, 'the header counts 0 people in the new gallery', await page.textContent('#health'));
    await page.click('#start');
    await page.waitForFunction(() => /answered/.test(document.getElementById('stats').textContent),
      null, { timeout: 60000 });
    check(true, 'frames stream over the WebSocket');
    // The face is not known yet: enrol it from the current frame.
    await page.fill('#enrol-name', 'sheldon');
    await page.click('#enrol');
    await page.waitForFunction(() => /^enrolled|\d{3}:/.test(document.getElementById('enrol-status').textContent),
      null, { timeout: 60000 });
    const status = await page.textContent('#enrol-status');
    check(status.startsWith('enrolled sheldon'), 'enrol the current face', status);
    await page.waitForSelector('#people li[data-name="sheldon"]', { timeout: 20000 });
    check(true, 'the people list shows the new person');
    // Right after the enrolment, well before the page's periodic refresh (5 s).
    check(await waitCount(page, 1, 3000), 'the header count reads 1 person after the enrolment',
      await page.textContent('#health'));
    let named = true;
    try {
      await page.waitForFunction(() => (document.getElementById('overlay').dataset.names || '').split(',').includes('sheldon'),
        null, { timeout: 60000 });
    } catch (e) { named = false; }
    check(named, 'a box named sheldon is drawn over the live video',
      await page.textContent('#stats'));
    const li = await page.$('#detections li.known[data-name="sheldon"]');
    check(li !== null, 'the detection list names sheldon');
    const stats = await page.textContent('#stats');
    check(/FPS, latency \d+ ms/.test(stats), 'FPS and latency are shown', stats);
    const seen = (await page.evaluate(() => window.statsSeen)).map(parseStats).filter((x) => x);
    const first = seen.find((x) => x.answered === 1);
    check(first && !/\d/.test(first.fps), 'the FPS readout shows no number after the first result',
      first && first.fps);
    const later = seen.filter((x) => x.answered >= 2);
    const bad = later.find((x) => !(Number(x.fps) > 0));
    check(later.length > 0 && !bad, 'the FPS readout is a positive number from the second result on',
      bad ? bad.fps + ' FPS at ' + bad.answered + ' answered' : 'no second result');
    // A stage wider than the camera picture letterboxes the video: the boxes
    // must still land on the face, i.e. on the picture's part of the stage.
    // (Set through the CSSOM: the page's Content-Security-Policy refuses
    // injected <style> elements, as it should.)
    await page.evaluate(() => { document.querySelector('.stage').style.aspectRatio = '16 / 9'; });
    const n0 = parseStats(await page.textContent('#stats')).answered;
    await page.waitForFunction((n) => Number((/ (\d+) answered/.exec(document.getElementById('stats').textContent) ||
      [0, 0])[1]) > n + 2, n0, { timeout: 30000 });
    const edges = !lastFaces ? { error: 'no answer with a face seen' } : await page.evaluate((a) => {
      const v = document.getElementById('video'), o = document.getElementById('overlay');
      const r = o.getBoundingClientRect(), k = o.width / r.width;
      const scale = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
      const ox = (r.width - v.videoWidth * scale) / 2, oy = (r.height - v.videoHeight * scale) / 2;
      const b = a.faces[0].box, s = v.videoWidth * scale / a.width;
      const y = Math.round((oy + (b.y + b.height / 2) * s) * k), ctx = o.getContext('2d');
      // Is a box line drawn within 3 pixels of this x on the middle row of the face?
      const line = (x) => {
        const d = ctx.getImageData(Math.round(x * k) - 3, y, 7, 1).data;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && d[i + 1] > 150) return true;
        return false;
      };
      return { left: line(ox + b.x * s), right: line(ox + (b.x + b.width) * s), letterbox: ox };
    }, lastFaces);
    check(edges.letterbox > 0 && edges.left && edges.right, 'boxes stay on the face when the video is letterboxed',
      JSON.stringify(edges));

    // Another client removes the person: the periodic refresh must show it
    // (the header must have shown the person first, or this proves nothing).
    const had = await headerCount(page);
    const del = await fetch(base + '/api/v1/subjects/sheldon', { method: 'DELETE', headers: { 'X-API-Key': key } });
    check(del.ok, 'another client deletes sheldon', String(del.status));
    check(had === 1 && await waitCount(page, 0, 15000), 'the header count follows a removal by another client',
      had + ' before, now: ' + await page.textContent('#health'));
    let gone = true;
    try { await page.waitForSelector('#people li[data-name="sheldon"]', { state: 'detached', timeout: 5000 }); }
    catch (e) { gone = false; }
    check(gone, 'the people list drops the removed person');
    await page.screenshot({ path: shot });
    check(fs.existsSync(shot), 'screenshot saved to ' + shot);
    // A wrong key: the people list and the stream must say so.
    await page.fill('#key', 'not-the-key');
    await page.dispatchEvent('#key', 'change');
    let said = true;
    try {
      await page.waitForFunction(() => /^401: /.test(document.getElementById('people').textContent) &&
        /wrong API key/.test(document.getElementById('stats').textContent), null, { timeout: 15000 });
    } catch (e) { said = false; }
    check(said, 'a wrong key is reported in the people list and the stream status',
      (await page.textContent('#people')) + ' | ' + (await page.textContent('#stats')));
    check(errors.length === 0, 'no JavaScript errors', errors.join('; '));
  } catch (e) {
    check(false, 'browser run', e.message);
  } finally {
    if (ctx) await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(failed ? 1 : 0);
})();
