// Loads the facerec web page in Debian's headless Chromium with a fake camera
// playing a face, enrols that face through the page, and waits until the
// page draws a box named after it. Prints check lines and the summary line
// "N passed, N failed"; saves a screenshot.
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
    await page.goto(base + '/?key=' + encodeURIComponent(key));
    await page.waitForFunction(() => document.getElementById('health').textContent.startsWith('server ok'),
      null, { timeout: 20000 });
    check(true, 'page loaded and reached the server');
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
    await page.screenshot({ path: shot });
    check(fs.existsSync(shot), 'screenshot saved to ' + shot);
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
