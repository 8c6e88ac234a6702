// Browser tests of the earshot web page: Playwright (playwright-core) drives Debian's Chromium,
// headless, against `earshot serve` started by run_e2e.sh on a small ../shared catalog.
// Env: EARSHOT_URL (server), EARSHOT_TOKEN_URL and EARSHOT_TOKEN (a second server that needs
// that token), EARSHOT_QUERY (an audio file to upload), EARSHOT_SCREENSHOT (optional:
// where to save the README screenshot), CHROMIUM (default /usr/bin/chromium).
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const URL = process.env.EARSHOT_URL;
const QUERY = process.env.EARSHOT_QUERY;
let browser;
let context;
let page;

before(async () => {
  assert.ok(URL, 'EARSHOT_URL is not set (run through run_e2e.sh)');
  assert.ok(QUERY && fs.existsSync(QUERY), 'EARSHOT_QUERY is not an existing file');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic', '--autoplay-policy=no-user-gesture-required'],
  });
  context = await browser.newContext({acceptDownloads: true, viewport: {width: 1280, height: 900}});
  page = await context.newPage();
  page.setDefaultTimeout(30000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.errors = errors;
  const dialogs = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss();
  });
  page.dialogs = dialogs;
  await page.goto(URL);
  await page.waitForSelector('body[data-ready="true"]');
});

after(async () => {
  if (browser) await browser.close();
});

async function waitForResults() {
  await page.waitForFunction(() => {
    const s = document.querySelector('#status');
    return s && (s.classList.contains('ok') || s.classList.contains('error'));
  });
  const status = await page.textContent('#status');
  assert.match(status, /results for/, status);
  return page.locator('#results li.card');
}

test('upload a file and see results', async () => {
  await page.setInputFiles('#file', QUERY);
  const cards = await waitForResults();
  const n = await cards.count();
  assert.ok(n >= 5, 'expected at least 5 results, got ' + n);
  const first = cards.first();
  assert.equal((await first.locator('.rank').textContent()).trim(), '1');
  assert.match(await first.locator('.meta').textContent(), /score \d\.\d{3}/);
  // The query file itself (identical bytes) is left out.
  const names = await page.locator('#results .name').allTextContents();
  assert.ok(!names.includes(path.basename(QUERY)), names.join(', '));
  // Waveform thumbnails get drawn.
  await page.waitForSelector('#results li.card:first-child canvas[data-drawn="true"]');
  if (process.env.EARSHOT_SCREENSHOT) {
    await page.screenshot({path: process.env.EARSHOT_SCREENSHOT});
  }
});

test('same recording: a re-encoded library file is marked and can be hidden', async (t) => {
  const query = process.env.EARSHOT_SAME_QUERY;
  if (!query) {
    t.skip('ffmpeg not installed: no re-encoded query');
    return;
  }
  await page.setInputFiles('#file', query);
  const cards = await waitForResults();
  const total = await cards.count();
  const same = page.locator('#results li.card.same-recording');
  const names = await same.locator('.name').allTextContents();
  const source = path.basename(process.env.EARSHOT_SAME_SOURCE);
  assert.ok(names.includes(source), 'marked: ' + names.join(', ') + '; expected ' + source);
  // Only that note is marked (its other velocity layer may be: the soundfont plays one sample
  // at two gains, docs/dedup.md); the other notes are not.
  const note = source.match(/_n\d+_/)[0];
  for (const n of names) assert.ok(n.includes(note), n + ' marked as the same recording as ' + source);
  assert.ok(names.length < total);
  assert.equal((await same.first().locator('.badge.same-rec').textContent()).trim(), 'same recording');
  await page.check('#hide-same');
  assert.equal(await same.first().isVisible(), false);
  assert.equal(await page.locator('#results li.card:not(.same-recording)').first().isVisible(), true);
  await page.uncheck('#hide-same');
  assert.equal(await same.first().isVisible(), true);
});

test('play a result: the audio element loads', async () => {
  const info = await page.evaluate(async () => {
    const a = document.querySelector('#results li.card audio');
    const loaded = new Promise((resolve, reject) => {
      a.addEventListener('loadedmetadata', () => resolve(), {once: true});
      a.addEventListener('error', () => reject(new Error('audio error ' + (a.error && a.error.code))), {once: true});
    });
    a.preload = 'auto';
    a.load();
    await loaded;
    let played = false;
    try {
      await a.play();
      played = true;
    } catch (e) {
      played = false;
    }
    return {duration: a.duration, readyState: a.readyState, played};
  });
  assert.ok(info.readyState >= 1, JSON.stringify(info));
  assert.ok(info.duration > 0, JSON.stringify(info));
});

test('download a result keeps its name', async () => {
  const first = page.locator('#results li.card').first();
  const name = (await first.locator('.name').textContent()).trim();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    first.locator('a', {hasText: 'Download'}).click(),
  ]);
  assert.equal(download.suggestedFilename(), name);
  const file = path.join(os.tmpdir(), 'earshot-e2e-' + process.pid + '-' + name);
  await download.saveAs(file);
  assert.ok(fs.statSync(file).size > 100);
  fs.rmSync(file);
});

test('more like this searches from a result', async () => {
  const first = page.locator('#results li.card').first();
  const name = (await first.locator('.name').textContent()).trim();
  await first.locator('button', {hasText: 'More like this'}).click();
  await page.waitForFunction((n) => document.querySelector('#status').textContent.includes('“' + n + '”') &&
    document.querySelector('#status').classList.contains('ok'), name);
  const names = await page.locator('#results .name').allTextContents();
  assert.ok(names.length >= 5);
  assert.ok(!names.includes(name), 'the item itself is left out');
  assert.match(await page.textContent('#query'), /library item/);
});

test('segment search: matched span on the waveform, play from it, more like this segment', async () => {
  await page.click('#tab-search');
  await page.selectOption('#by', 'segments');
  await page.setInputFiles('#file', QUERY);
  await page.click('#search-btn');  // the same file again may not fire `change`
  await page.waitForSelector('#results li.card .match');
  const cards = await waitForResults();
  assert.ok(await cards.count() >= 5);
  const first = cards.first();
  const name = (await first.locator('.name').textContent()).trim();
  // The span is drawn (data-span on the canvas) and said in words.
  await first.locator('canvas.wave[data-span]').waitFor();
  assert.match(await first.locator('.match').textContent(),
    /matched \d+\.\d–\d+\.\d s \(query \d+\.\d–\d+\.\d s\)/);
  const span = (await first.locator('canvas.wave').getAttribute('data-span')).split('-').map(Number);
  assert.ok(span[1] > span[0], span.join('-'));
  // Play from the match: the player seeks to the span's start and plays.
  await first.locator('button.play-match').click();
  await page.waitForFunction((start) => {
    const a = document.querySelector('#results li.card audio');
    return a.readyState >= 1 && !a.paused && a.currentTime >= start - 0.05;
  }, span[0]);
  await page.evaluate(() => document.querySelector('#results li.card audio').pause());
  // More like this segment: searches by the item's segments over that span, item left out.
  await first.locator('button.more-span').click();
  await page.waitForFunction((n) => document.querySelector('#status').textContent.includes(n) &&
    document.querySelector('#status').classList.contains('ok'), name);
  assert.match(await page.textContent('#query'), /library item .*, \d+\.\d–\d+\.\d s/);
  const names = await page.locator('#results .name').allTextContents();
  assert.ok(names.length >= 5);
  assert.ok(!names.includes(name), 'the item itself is left out');
  assert.ok(await page.locator('#results .match').count() >= 5, 'every result says where');
  await page.selectOption('#by', 'items');
});

test('an upload that is not audio shows an error', async () => {
  const bad = path.join(os.tmpdir(), 'earshot-e2e-' + process.pid + '.txt');
  fs.writeFileSync(bad, 'this is not audio\n');
  await page.setInputFiles('#file', bad);
  await page.waitForSelector('#status.error');
  assert.match(await page.textContent('#status'), /Search failed: .*not/i);
  fs.rmSync(bad);
});

test('open the map: points, hover, click to play, search from an item', async () => {
  const stats = await (await page.request.get(URL + '/api/stats')).json();
  await page.click('#tab-library');
  await page.waitForSelector('#map circle');
  await page.waitForFunction(() => document.querySelector('#map-status').classList.contains('ok'));
  assert.equal(await page.locator('#map circle').count(), stats.items);
  assert.ok(await page.locator('#legend li').count() >= 2, 'points coloured by several folders');
  const point = page.locator('#map circle').nth(3);
  await point.hover();
  await page.waitForSelector('#tooltip:not([hidden])');
  const label = await page.textContent('#tooltip');
  assert.ok(label.length > 3);
  await point.click();
  await page.waitForSelector('#selection:not([hidden])');
  assert.equal((await page.textContent('#sel-name')).trim(), label.split(' — ')[0]);
  assert.match(await page.getAttribute('#sel-audio', 'src'), /\/api\/items\/\d+\/audio/);
  await page.click('#sel-more');
  await page.waitForFunction(() => !document.querySelector('#view-search').hidden &&
    document.querySelector('#status').classList.contains('ok'));
  assert.ok(await page.locator('#results li.card').count() >= 5);
});

test('library list filters and pages', async () => {
  await page.click('#tab-library');
  await page.fill('#filter', '03_guitar');
  await page.press('#filter', 'Enter');
  await page.waitForFunction(() => {
    const names = [...document.querySelectorAll('#items .name')].map((e) => e.textContent);
    return names.length > 0 && names.every((n) => /guitar/i.test(n));
  });
  assert.match(await page.textContent('#page-info'), /1–8 of 8/);
  const names = await page.locator('#items .name').allTextContents();
  assert.ok(names.length > 0);
  for (const n of names) assert.match(n, /guitar/i);
});

test('keyboard: tabs switch with the arrow keys and controls are reachable', async () => {
  await page.focus('#tab-library');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute('#tab-search', 'aria-selected'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-search');
  // Tab order reaches the file picker and the search button.
  const seen = new Set();
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press('Tab');
    seen.add(await page.evaluate(() => document.activeElement.id));
  }
  assert.ok(seen.has('pick') && seen.has('search-btn'), [...seen].join(','));
});

// Elements sticking out of the viewport on the right (for the failure message).
const tooWide = () => page.evaluate(() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getClientRects().length > 0 && e.getBoundingClientRect().right > window.innerWidth + 1)
  .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))
  .slice(0, 8));

test('phone width: no horizontal scrolling', async () => {
  await page.setViewportSize({width: 375, height: 740});
  await page.click('#tab-search');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, 'page is ' + overflow + ' px wider than the screen: ' + (await tooWide()).join(', '));
  await page.click('#tab-library');
  const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow2 <= 1, 'library view is ' + overflow2 + ' px wider than the screen: ' + (await tooWide()).join(', '));
  await page.setViewportSize({width: 1280, height: 900});
});

test('no script errors on the page', () => {
  assert.deepEqual(page.errors, []);
});

test('a server without a token never asks for one', () => {
  assert.deepEqual(page.dialogs, []);
});

test('a server with a token: the page asks once, keeps it, and plays audio with it', async () => {
  const tokenUrl = process.env.EARSHOT_TOKEN_URL;
  const token = process.env.EARSHOT_TOKEN;
  assert.ok(tokenUrl && token, 'EARSHOT_TOKEN_URL / EARSHOT_TOKEN not set (run through run_e2e.sh)');
  const ctx = await browser.newContext({viewport: {width: 1280, height: 900}});
  const p = await ctx.newPage();
  p.setDefaultTimeout(30000);
  const asked = [];
  p.on('dialog', (d) => {
    asked.push(d.type());
    d.accept(token);
  });
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  await p.goto(tokenUrl);
  await p.waitForSelector('body[data-ready="true"]');
  assert.deepEqual(asked, ['prompt']);
  assert.equal(await p.evaluate(() => localStorage.getItem('earshot.token')), token);
  // Search and play with it: the audio source carries the token as access_token.
  await p.setInputFiles('#file', QUERY);
  await p.waitForFunction(() => {
    const s = document.querySelector('#status');
    return s && (s.classList.contains('ok') || s.classList.contains('error'));
  });
  assert.match(await p.textContent('#status'), /results for/);
  const src = await p.getAttribute('#results li.card audio', 'src');
  assert.match(src, /\/api\/items\/\d+\/audio\?access_token=/);
  const status = await p.evaluate(async (u) => (await fetch(u, {headers: {Range: 'bytes=0-99'}})).status, src);
  assert.equal(status, 206);
  // A reload asks no more.
  await p.reload();
  await p.waitForSelector('body[data-ready="true"]');
  assert.deepEqual(asked, ['prompt']);
  assert.deepEqual(errors, []);
  await ctx.close();
});
