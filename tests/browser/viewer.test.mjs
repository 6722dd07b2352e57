// The viewer (web/) in a real browser: Debian's Chromium, headless, driven by playwright-core,
// against a real `kiln serve --demo` on a loopback port. What the page draws is checked against
// what the server's API answers for the same image (its mask and its regions), decoded by the
// browser's own PNG decoder, not by the page's code.
//
//   cd tests/browser && npm ci && node --test viewer.test.mjs
//
// Environment: KILN (the kiln binary, default build/kiln of the repository), CHROMIUM (default
// /usr/bin/chromium), SCREENSHOTS (folder, default build/viewer-screenshots).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const KILN = process.env.KILN ? resolve(process.env.KILN) : join(root, 'build/kiln');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOTS ? resolve(process.env.SCREENSHOTS) : join(root, 'build/viewer-screenshots');
const TOKEN = 'viewer-test-token';

let server, base, browser, page;
const consoleErrors = [];
const segmentRequests = [];

function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-viewer-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, TOKEN);
  const child = spawn(KILN, ['serve', '--demo', '--http', '127.0.0.1:0', '--grpc', '', '--model-control', 'explicit',
    '--admin-token-file', tokenFile, '--web', 'web'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  return new Promise((resolvePort, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`kiln serve did not say its port in 60 s:\n${out}\n${log}`)), 60000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http on port (\d+)/);
      if (m) {
        clearTimeout(timer);
        resolvePort({ child, port: Number(m[1]), log: () => log });
      }
    });
    child.on('error', (e) => reject(new Error(`cannot start ${KILN}: ${e.message}`)));
    child.on('exit', (code) => reject(new Error(`kiln serve exited (${code}) before listening:\n${log}`)));
  });
}

async function waitFor(what, check, seconds) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await check().catch(() => false);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function apiJson(path, options) {
  const res = await fetch(base + path, options);
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return res.json();
}

// The page's main-view result has come for `model` (the caption names it).
async function resultFor(model) {
  await page.waitForFunction((m) => document.getElementById('viewport-main').dataset.model === m, model, { timeout: 120000 });
}

const overlayCount = () => page.evaluate(() => Number(document.getElementById('viewport-main').dataset.overlayPixels));

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer();
  base = `http://127.0.0.1:${server.port}`;
  await waitFor('kiln serve to be ready', async () => (await fetch(`${base}/v2/health/ready`)).status === 200, 300);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // This machine's network is closed: without these Chromium keeps trying Google's hosts.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (r) => r.url().includes('/segment') && segmentRequests.push(r.url()));
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.child.kill('SIGTERM');
});

test('the page loads with no console errors and lists every model with its state and plan', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('#models li[data-state=ready]');
  const api = await apiJson('/kiln/v1/models');
  const rows = await page.$$eval('#models li', (lis) => lis.map((li) => ({ name: li.dataset.name, state: li.dataset.state, text: li.textContent })));
  assert.deepEqual(rows.map((r) => r.name), api.map((m) => m.name));
  assert.deepEqual(rows.map((r) => r.state), api.map((m) => m.state));
  assert.equal(api.length, 6);
  for (const r of rows) assert.match(r.text, /plan A \(shared by 6\)/, `${r.name} should show the one shared plan`);
  assert.match(await page.textContent('#server-status'), /6 models, 6 ready/);
  assert.deepEqual(consoleErrors, []);
});

test('an image run draws the server\'s mask and lists the server\'s regions', async () => {
  await page.click('#models li[data-name=leather]');
  await page.selectOption('#gen-class', 'leather');
  await page.fill('#gen-seed', '3');
  await page.selectOption('#gen-size', '512');
  await page.click('#generate');
  await resultFor('leather');
  await page.waitForFunction(() => document.querySelectorAll('#regions li').length > 0);

  // The same image straight from the API, with the server's own mask at its threshold.
  const png = await (await fetch(`${base}/kiln/v1/generate?class=leather&seed=3&size=512`)).arrayBuffer();
  const answer = await apiJson('/kiln/v1/models/leather/segment?mask=binary', {
    method: 'POST', headers: { 'Content-Type': 'image/png' }, body: Buffer.from(png),
  });
  const compared = await page.evaluate(async (maskPng) => {
    const img = new Image();
    img.src = `data:image/png;base64,${maskPng}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const server = ctx.getImageData(0, 0, c.width, c.height).data;
    const overlay = document.querySelector('#viewport-main canvas.overlay');
    const drawn = overlay.getContext('2d').getImageData(0, 0, overlay.width, overlay.height).data;
    let serverPixels = 0, drawnPixels = 0, differ = 0;
    for (let i = 0; i < server.length; i += 4) {
      const s = server[i] > 127, d = drawn[i + 3] > 0;
      serverPixels += s;
      drawnPixels += d;
      differ += s !== d;
    }
    return { width: c.width, height: c.height, overlayWidth: overlay.width, serverPixels, drawnPixels, differ };
  }, answer.mask_png);
  assert.equal(compared.overlayWidth, compared.width);
  assert.ok(compared.serverPixels > 100, `the server found defect pixels (${compared.serverPixels})`);
  // The page thresholds the 8-bit score map; the server the float scores: they may differ
  // only on pixels within 1/255 of the threshold.
  assert.ok(compared.differ <= Math.max(2, compared.serverPixels * 0.005),
    `overlay ${compared.drawnPixels} px vs server mask ${compared.serverPixels} px, ${compared.differ} differ`);

  const listed = await page.$$eval('#regions li', (lis) => lis.map((li) => li.dataset.box));
  assert.deepEqual(listed, answer.regions.map((r) => r.box.join(',')));
  await page.screenshot({ path: join(SHOTS, 'viewer-leather.png') });
});

test('the threshold slider redraws the mask without a request', async () => {
  const before = await overlayCount();
  const requests = segmentRequests.length;
  await page.fill('#threshold', '0.2');
  await page.waitForFunction((n) => Number(document.getElementById('viewport-main').dataset.overlayPixels) !== n, before);
  const lower = await overlayCount();
  assert.ok(lower > before, `a lower threshold paints more pixels (${before} -> ${lower})`);
  await page.fill('#opacity', '0.9');
  await page.fill('#threshold', '0.5');
  await page.waitForFunction((n) => Number(document.getElementById('viewport-main').dataset.overlayPixels) === n, before);
  assert.equal(segmentRequests.length, requests, 'no segment request while the sliders moved');
});

test('clicking a region zooms there', async () => {
  const box = (await page.$eval('#regions li', (li) => li.dataset.box)).split(',').map(Number);
  await page.click('#regions li >> nth=0');
  const view = await page.$eval('#viewport-main', (v) => {
    const m = v.querySelector('.stage').style.transform.match(/translate\(([-\d.]+)px, ([-\d.]+)px\) scale\(([\d.]+)\)/);
    return { w: v.clientWidth, h: v.clientHeight, x: Number(m[1]), y: Number(m[2]), scale: Number(m[3]) };
  });
  // The region's centre is now the view's centre, and the region fills a good part of it.
  const cx = view.x + ((box[0] + box[2] + 1) / 2) * view.scale, cy = view.y + ((box[1] + box[3] + 1) / 2) * view.scale;
  assert.ok(Math.abs(cx - view.w / 2) < 2 && Math.abs(cy - view.h / 2) < 2, `centre ${cx},${cy} of ${view.w}x${view.h}`);
  const side = Math.max(box[2] - box[0] + 1, box[3] - box[1] + 1) * view.scale;
  assert.ok(side > Math.min(view.w, view.h) / 4, `the region spans ${side} px on screen`);
  assert.equal(await page.$eval('#regions li.selected', (li) => li.dataset.box), box.join(','));
  await page.dblclick('#viewport-main');
});

test('switching models re-runs at once, changes the result and shows the switch cost', async () => {
  const leather = await overlayCount();
  const requests = segmentRequests.length;
  await page.click('#models li[data-name=wood_grain]');
  await resultFor('wood_grain');
  assert.equal(segmentRequests.length, requests + 1);
  const wood = await overlayCount();
  const api = await apiJson('/kiln/v1/models/wood_grain/segment?mask=none', {
    method: 'POST', headers: { 'Content-Type': 'image/png' },
    body: Buffer.from(await (await fetch(`${base}/kiln/v1/generate?class=leather&seed=3&size=512`)).arrayBuffer()),
  });
  assert.notEqual(wood, leather, 'another model, another mask');
  const listed = await page.$$eval('#regions li', (lis) => lis.map((li) => li.dataset.box));
  assert.deepEqual(listed, api.regions.map((r) => r.box.join(',')));
  assert.match(await page.textContent('#switch-cost'), /Switched from leather/);
});

test('two models side by side on the same image', async () => {
  await page.selectOption('#compare', 'leather');
  await page.waitForFunction(() => document.getElementById('viewport-compare').dataset.model === 'leather', null, { timeout: 60000 });
  const shown = await page.isVisible('#view-compare');
  assert.ok(shown);
  await page.screenshot({ path: join(SHOTS, 'viewer-side-by-side.png') });
  await page.selectOption('#compare', '');
  assert.equal(await page.isVisible('#view-compare'), false);
});

test('a 4096x4096 image goes through tiles and pans and zooms', async () => {
  await page.click('#models li[data-name=concrete]');
  await resultFor('concrete');
  await page.selectOption('#gen-class', 'concrete');
  await page.selectOption('#gen-size', '4096');
  await page.click('#generate');
  await page.waitForFunction(() => /tiles/.test(document.getElementById('timings').textContent), null, { timeout: 180000 });
  assert.equal(await page.$eval('#viewport-main canvas.overlay', (c) => c.width), 4096);
  assert.match(await page.textContent('#timings'), /tiles/);
  const box = await page.locator('#viewport-main').boundingBox();
  const before = await page.$eval('#viewport-main .stage', (s) => s.style.transform);
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -600);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 80, { steps: 4 });
  await page.mouse.up();
  const afterMove = await page.$eval('#viewport-main .stage', (s) => s.style.transform);
  assert.notEqual(afterMove, before);
  await page.selectOption('#gen-size', '512');
});

test('a corrupt upload is shown in words', async () => {
  await page.setInputFiles('#file', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('this is not a PNG') });
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error-text'), /broken\.png is not an image/);
  await page.click('#error-close');
});

test('unload then prepare brings a model back', async () => {
  await page.fill('#token', TOKEN);
  await page.click('#models li[data-name=speckle] button:has-text("Unload")');
  await page.waitForSelector('#models li[data-name=speckle][data-state=unloaded]', { timeout: 30000 });
  const index = await apiJson('/v2/repository/index', { method: 'POST', body: '{}' });
  assert.deepEqual(index.find((m) => m.name === 'speckle'), { name: 'speckle', state: 'UNAVAILABLE', reason: 'unloaded' });
  await page.click('#models li[data-name=speckle] button:has-text("Prepare")');
  await page.waitForSelector('#models li[data-name=speckle][data-state=ready]', { timeout: 120000 });
  assert.equal((await fetch(`${base}/v2/models/speckle/ready`)).status, 200);
});

test('a wrong admin token is refused in words', async () => {
  await page.fill('#token', 'wrong');
  await page.click('#models li[data-name=speckle] button:has-text("Unload")');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error-text'), /admin token/);
  await page.click('#error-close');
  assert.equal((await fetch(`${base}/v2/models/speckle/ready`)).status, 200);
});

test('the server gone is shown in words', async () => {
  assert.deepEqual(consoleErrors.filter((e) => !/Failed to load resource/.test(e)), []);
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
  await page.waitForFunction(() => document.getElementById('server-status').textContent === 'server gone', null, { timeout: 10000 });
  assert.match(await page.textContent('#error-text'), /Cannot reach kiln serve/);
  server = null;
});
