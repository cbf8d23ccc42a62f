// The desk and the teacher's console in Debian's Chromium, against the real release binary on
// a free loopback port with a temporary database. Run through ./run (it installs what is missing).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BIN = process.env.FINLEARN_BIN;
const ADMIN = 'the teacher token of this test run, 32+ characters';
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** Chromium flags for a machine with no network but loopback (see the machine notes). */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Bounds on waiting for things that happen by themselves (ticks every 2-3 s). */
const TICK_WAIT_MS = 5000;
const START_WAIT_MS = 60_000;

let dir;
let port;
let base;
let server;
let browser;
/** Console errors and uncaught exceptions, per page, for the no-error checks. */
const errors = new Map();

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address();
      probe.close(() => resolve(p));
    });
  });
}

async function waitForHealth(deadline, url = base) {
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the server did not come up');
}

async function startServer() {
  server = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', join(dir, 'desk.duckdb'), '--seed', '7'], {
    cwd: dir,
    env: { ...process.env, FINLEARN_SIMULATION__SEED_DAYS: '0.3', FINLEARN_ADMIN__TOKEN: ADMIN, RUST_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((_, reject) => server.once('exit', (code) => reject(new Error(`server exited: ${code}`))));
  await Promise.race([waitForHealth(Date.now() + START_WAIT_MS), exited]);
}

/** A second server in another identity mode, on its own port and file. */
async function modeServer(name, env) {
  const p = await freePort();
  const url = `http://127.0.0.1:${p}`;
  const child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${p}`, '--data', join(dir, `${name}.duckdb`), '--seed', '9'], {
    cwd: dir,
    env: { ...process.env, FINLEARN_SIMULATION__SEED_DAYS: '0.01', RUST_LOG: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`${name} server exited: ${code}`))));
  await Promise.race([waitForHealth(Date.now() + START_WAIT_MS, url), exited]);
  return {
    url,
    stop: async () => {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}

async function stopServer() {
  const done = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await done;
}

async function open(path, name, viewport = { width: 1440, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const list = [];
  errors.set(name, list);
  page.on('console', (m) => m.type() === 'error' && list.push(`${m.text()} @ ${m.location().url}`));
  page.on('pageerror', (e) => list.push(`uncaught: ${e.message}`));
  const started = Date.now();
  await page.goto(`${base}${path}`);
  await page.waitForSelector('body[data-ready]');
  const ready = Number(await page.getAttribute('body', 'data-ready'));
  console.log(`# ${name}: interactive ${ready} ms after navigation start (${Date.now() - started} ms wall)`);
  return page;
}

/** The price texts of the board, by symbol. */
function prices(page, table = '#board') {
  return page.$$eval(`${table} tbody tr`, (rows) => Object.fromEntries(rows.map((r) => [r.dataset.symbol,
    r.querySelector('.price').textContent])));
}

/** Pixels of the candle colours drawn on the chart's canvases. */
function candlePixels(page) {
  return page.$$eval('#chart canvas', (canvases) => canvases.reduce((sum, c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
      if ((Math.abs(r - 0x1a) < 8 && Math.abs(g - 0x9c) < 8 && Math.abs(b - 0x6c) < 8)
        || (Math.abs(r - 0xd9) < 8 && Math.abs(g - 0x43) < 8 && Math.abs(b - 0x4b) < 8)) n++;
    }
    return sum + n;
  }, 0));
}

before(async () => {
  assert.ok(BIN, 'FINLEARN_BIN names the release binary');
  dir = mkdtempSync(join(tmpdir(), 'finlearn-browser-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) await stopServer();
  rmSync(dir, { recursive: true, force: true });
});

let desk;

test('the board shows every instrument and prices change within 5 s', async () => {
  desk = await open('/desk', 'desk');
  const instruments = await (await fetch(`${base}/api/v1/market/instruments`)).json();
  const shown = await prices(desk);
  assert.deepEqual(Object.keys(shown).sort(), instruments.map((i) => i.symbol).sort());
  await desk.waitForFunction((before) => [...document.querySelectorAll('#board tbody tr')]
    .some((r) => r.querySelector('.price').textContent !== before[r.dataset.symbol]), shown, { timeout: TICK_WAIT_MS });
});

test('the chart draws candles for two timeframes', async () => {
  await desk.click('#board button.link >> text=AAPL');
  for (const tf of ['1m', '1h']) {
    await desk.click(`#timeframes button[data-tf="${tf}"]`);
    await desk.waitForSelector(`#chart[data-symbol="AAPL"][data-timeframe="${tf}"]`);
    const candles = Number(await desk.getAttribute('#chart', 'data-candles'));
    assert.ok(candles > 1, `${tf}: ${candles} candles`);
    await desk.waitForFunction(() => document.querySelector('#chart canvas'));
    await desk.waitForTimeout(200); // the library draws on the next animation frame
    const pixels = await candlePixels(desk);
    assert.ok(pixels > 100, `${tf}: ${pixels} candle pixels drawn`);
  }
});

test('a market buy through the ticket changes the balance and the position', async () => {
  await desk.waitForSelector('#balances [data-balance="usa"]');
  const before = await desk.textContent('#balances [data-balance="usa"] strong');
  await desk.fill('#t-qty', '3');
  await desk.check('input[name="side"][value="buy"]');
  await desk.click('#t-submit');
  await desk.waitForSelector('#t-result[data-kind="ok"]');
  assert.match(await desk.textContent('#t-result'), /Bought 3 AAPL/);
  await desk.waitForFunction((b) => document.querySelector('#balances [data-balance="usa"] strong').textContent !== b, before);
  const row = await desk.waitForSelector('#positions tr[data-symbol="AAPL"]');
  assert.equal(await row.$eval('td:nth-child(2)', (td) => td.textContent), '3');
  await desk.waitForSelector('#orders tbody tr >> text=AAPL');
  // The class's standings: the buyer ranks on the leaderboard, and their performance is shown.
  await desk.waitForSelector('#leaders-panel:not([hidden]) #leaders tbody tr td >> text=/^Trader-|^[A-Za-z0-9]/');
  await desk.waitForFunction(() => /Value [0-9.]+ USD · return/.test(document.querySelector('#perf-note').textContent));
  assert.ok(await desk.$('#perf canvas'), 'the performance chart is drawn');
  await desk.screenshot({ path: join(ARTIFACTS, 'desk.png') });
  assert.deepEqual(errors.get('desk'), [], 'no errors in the console');
});

test('a refused order shows the server\'s reason as it is', async () => {
  await desk.fill('#t-qty', '100000000');
  const [response] = await Promise.all([
    desk.waitForResponse((r) => r.url().endsWith('/api/v1/orders/place')),
    desk.click('#t-submit'),
  ]);
  assert.equal(response.status(), 400);
  const { detail } = await response.json();
  await desk.waitForSelector('#t-result[data-kind="error"]');
  assert.equal(await desk.textContent('#t-result'), detail);
  const unexpected = errors.get('desk').filter((e) => !/status of 400/.test(e));
  assert.deepEqual(unexpected, [], 'only the refused request is in the console');
});

test('the nickname is the class\'s: saved on the server, a taken one refused with its reason', async () => {
  const put = (uid, username) => fetch(`${base}/api/v1/social/profile/${encodeURIComponent(uid)}`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username }) });
  assert.equal((await put('someone-else', 'Taken_Name')).status, 200);
  const commit = (value) => desk.$eval('#nickname', (input, v) => {
    input.value = v;
    input.dispatchEvent(new Event('change'));
  }, value);
  await commit('taken_name');
  await desk.waitForSelector('#who-status[data-kind="error"]');
  assert.equal(await desk.textContent('#who-status'), 'Username already taken');
  await commit(' Desk_Student ');
  await desk.waitForSelector('#who-status[data-kind="ok"]');
  assert.equal(await desk.inputValue('#nickname'), 'Desk_Student');
  const uid = await desk.inputValue('#uid');
  const profile = await (await fetch(`${base}/api/v1/social/profile/${encodeURIComponent(uid)}`)).json();
  assert.equal(profile.username, 'Desk_Student');
  // The server's nickname wins over the browser's copy.
  assert.equal((await put(uid, 'Renamed_By_App')).status, 200);
  await desk.reload();
  await desk.waitForSelector('body[data-ready]');
  await desk.waitForFunction(() => document.querySelector('#nickname').value === 'Renamed_By_App');
  const unexpected = errors.get('desk').filter((e) => !/status of 400/.test(e));
  assert.deepEqual(unexpected, [], 'only the refused requests are in the console');
});

test('the desk fits a phone-sized screen', async () => {
  const phone = await open('/desk', 'phone', { width: 390, height: 844 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
  await phone.screenshot({ path: join(ARTIFACTS, 'desk-phone.png'), fullPage: false });
  assert.deepEqual(errors.get('phone'), []);
  await phone.close();
});

test('the teacher console refuses a wrong token and opens with the right one', async () => {
  const console_ = await open('/teacher', 'teacher');
  await console_.fill('#admin-token', 'not the token');
  await console_.click('#login button[type="submit"]');
  await console_.waitForSelector('#login-result[data-kind="error"]');
  assert.match(await console_.textContent('#login-result'), /Wrong admin token/);
  assert.equal(await console_.isHidden('#controls-panel'), true);

  await console_.fill('#admin-token', ADMIN);
  await console_.click('#login button[type="submit"]');
  await console_.waitForSelector('#controls-panel:not([hidden])');
  await console_.waitForSelector('#status dd');
  const rows = await console_.$$eval('#mini tbody tr', (r) => r.length);
  assert.ok(rows > 0, 'the live view lists the market');
  await console_.screenshot({ path: join(ARTIFACTS, 'teacher.png') });
  const unexpected = errors.get('teacher').filter((e) => !/status of 403/.test(e));
  assert.deepEqual(unexpected, []);
  await console_.close();
});

test('a crash ordered in the console is seen on the student desk', async (t) => {
  const console_ = await open('/teacher', 'crash');
  await console_.fill('#admin-token', ADMIN);
  await console_.click('#login button[type="submit"]');
  await console_.waitForSelector('#controls-panel:not([hidden])');
  const op = console_.locator('details[data-op="post /api/v1/admin/regimes"]');
  if (!(await op.count()) || !(await op.locator('select[name="kind"] option[value="crash"]').count())) {
    t.skip('this server has no regime control yet');
    await console_.close();
    return;
  }
  const average = () => desk.$$eval('#board tbody tr', (rows) => {
    const values = rows.map((r) => Number(r.querySelector('.price').textContent.replace(/[^0-9.]/g, '')));
    return values.reduce((a, b) => a + Math.log(b), 0) / values.length;
  });
  const before = await average();
  await op.locator('summary').click();
  await op.locator('select[name="kind"]').selectOption('crash');
  await op.locator('select[name="all"]').selectOption('true');
  // A fall of 20 % over a minute; parameters the server does not have are left out.
  for (const [name, value] of [['duration_minutes', '30'], ['depth_percent', '20'], ['fall_minutes', '1']]) {
    const input = op.locator(`input[name="${name}"]`);
    if (await input.count()) await input.fill(value);
  }
  await op.locator('button[type="submit"]').click();
  await op.locator('.result pre, .result[data-kind="error"]').waitFor();
  assert.equal(await op.locator('.result[data-kind="error"]').count(), 0, await op.locator('.result').textContent());
  // The whole market falls: the mean log price of the board drops by more than 3 %.
  await desk.waitForFunction((b) => {
    const rows = [...document.querySelectorAll('#board tbody tr')];
    const values = rows.map((r) => Number(r.querySelector('.price').textContent.replace(/[^0-9.]/g, '')));
    return values.reduce((a, v) => a + Math.log(v), 0) / values.length < b - 0.03;
  }, before, { timeout: 60_000, polling: 500 });
  console.log(`# crash: the board's mean log price fell by ${(before - (await average())).toFixed(3)}`);
  await desk.screenshot({ path: join(ARTIFACTS, 'desk-crash.png') });
  await console_.close();
});

/** Sends a console operation that takes a confirming second click; answers what it showed. */
async function confirmOp(console_, op) {
  const form = console_.locator(`details[data-op="${op}"]`);
  await form.locator('summary').click();
  await form.locator('button[type="submit"]').click();
  await form.locator('.result >> text=Click again to confirm.').waitFor();
  await form.locator('button[type="submit"]').click();
  await form.locator('.result pre, .result[data-kind="error"]').waitFor();
  return form.locator('.result').textContent();
}

test('a season reset in the console starts the desk afresh, and its undo brings the season back', async () => {
  const console_ = await open('/teacher', 'season');
  await console_.fill('#admin-token', ADMIN);
  await console_.click('#login button[type="submit"]');
  await console_.waitForSelector('#controls-panel:not([hidden])');
  await desk.waitForSelector('#positions tr[data-symbol="AAPL"]');

  assert.match(await confirmOp(console_, 'post /api/v1/admin/season'), /"archived": 1/);
  await desk.waitForFunction(() => /Season 2 started/.test(document.querySelector('#market-note').textContent));
  await desk.waitForFunction(() => /season 2 ·/.test(document.querySelector('#leaders-sub').textContent), null,
    { timeout: 30_000, polling: 500 });
  await desk.waitForFunction(() => !document.querySelector('#positions tr[data-symbol="AAPL"]'), null,
    { timeout: 30_000, polling: 500 });
  // Last season's final standings stay one choice away.
  await desk.waitForSelector('#season-pick:not([hidden])');
  await desk.selectOption('#season-select', '1');
  await desk.waitForFunction(() => /season 1 ·/.test(document.querySelector('#leaders-sub').textContent));
  assert.ok(await desk.$$eval('#leaders tbody tr', (rows) => rows.length) > 0, 'season 1 has its standings');
  await desk.screenshot({ path: join(ARTIFACTS, 'desk-season-2.png') });
  await desk.selectOption('#season-select', '');
  await desk.waitForFunction(() => /season 2 ·/.test(document.querySelector('#leaders-sub').textContent));

  assert.match(await confirmOp(console_, 'post /api/v1/admin/season/undo'), /"discarded": 2/);
  await desk.waitForSelector('#positions tr[data-symbol="AAPL"]', { timeout: 30_000 });
  await desk.waitForFunction(() => /season 1 ·/.test(document.querySelector('#leaders-sub').textContent), null,
    { timeout: 30_000, polling: 500 });
  assert.deepEqual(errors.get('season'), [], 'no errors in the console');
  await console_.close();
});

test('the desk says the server is unreachable, then reconnects when it is back', async () => {
  await stopServer();
  await desk.waitForFunction(() => {
    const banner = document.querySelector('#banner');
    return !banner.hidden && /unreachable/.test(banner.textContent)
      && document.querySelector('#conn').textContent === 'Offline';
  }, null, { timeout: 10_000, polling: 100 });
  await desk.screenshot({ path: join(ARTIFACTS, 'desk-offline.png') });

  await startServer();
  await desk.waitForSelector('#conn[data-state="live"]', { timeout: 20_000 });
  assert.equal(await desk.isHidden('#banner'), true);
  const shown = await prices(desk);
  await desk.waitForFunction((before) => [...document.querySelectorAll('#board tbody tr')]
    .some((r) => r.querySelector('.price').textContent !== before[r.dataset.symbol]), shown, { timeout: TICK_WAIT_MS });
});

test('in shared-secret mode the desk asks for the teacher\'s token and trades as its student', async () => {
  const secret = 'the shared secret of this browser test run, 32+ chars';
  const env = { FINLEARN_AUTH__MODE: 'shared-secret', FINLEARN_AUTH__SECRET: secret };
  const s = await modeServer('secret', env);
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const list = [];
  page.on('pageerror', (e) => list.push(`uncaught: ${e.message}`));
  try {
    const token = execFileSync(BIN, ['token', '--uid', 'student-7'], { cwd: dir, env: { ...process.env, ...env } })
      .toString().trim();
    await page.goto(`${s.url}/desk?symbol=AAPL`);
    await page.waitForSelector('body[data-ready]');
    assert.match(await page.textContent('#who-status'), /Paste the token your teacher handed out/);
    await page.fill('#token', token);
    await page.dispatchEvent('#token', 'change');
    await page.waitForFunction(() => /Signed in as student-7/.test(document.querySelector('#who-status').textContent));
    await page.fill('#t-qty', '1');
    await page.check('input[name="side"][value="buy"]');
    await page.click('#t-submit');
    await page.waitForSelector('#t-result[data-kind="ok"]');
    assert.match(await page.textContent('#t-result'), /Bought 1 AAPL/);
    const headers = { Authorization: `Bearer ${token}` };
    const held = await (await fetch(`${s.url}/api/v1/portfolio/positions/student-7`, { headers })).json();
    assert.deepEqual(held.positions.map((p) => [p.symbol, p.quantity]), [['AAPL', 1]], 'the order was the token\'s student\'s');
    assert.deepEqual(list, [], 'no uncaught errors');
  } finally {
    await page.close();
    await s.stop();
  }
});

test('in firebase mode the desk shows the board read-only and sends students to the app', async () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] }));
  const s = await modeServer('firebase', {
    FINLEARN_AUTH__MODE: 'firebase', FINLEARN_AUTH__FIREBASE_PROJECT_ID: 'finlearn-test', FINLEARN_AUTH__JWKS: jwks,
  });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  try {
    await page.goto(`${s.url}/desk`);
    await page.waitForSelector('body[data-ready]');
    assert.match(await page.textContent('#who'), /Read-only: trading on this server is in the FinLearn app/);
    assert.equal(await page.isHidden('#ticket-panel'), true, 'no order ticket');
    assert.equal(await page.isHidden('#portfolio-panel'), true, 'no portfolio');
    assert.ok((await page.$$('#board tbody tr')).length > 0, 'the board is shown');
  } finally {
    await page.close();
    await s.stop();
  }
});
