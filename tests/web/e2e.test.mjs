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
const SHOT = process.env.EARSHOT_SCREENSHOT;  // docs/screenshot.png; the others go next to it
let browser;
const contexts = [];

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
});

after(async () => {
  if (browser) await browser.close();
});

// Each test gets its own page (and context); script errors and dialogs are collected and
// checked by done().
async function newPage({url = URL, viewport = {width: 1280, height: 900}, path: at = '/', hasTouch = false} = {}) {
  const context = await browser.newContext({acceptDownloads: true, viewport, hasTouch});
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.dialogs = [];
  page.on('dialog', (d) => {
    page.dialogs.push(d.message());
    d.dismiss();
  });
  await page.goto(url + at);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

async function done(page) {
  assert.deepEqual(page.errors, [], 'script errors on the page');
  assert.deepEqual(page.dialogs, [], 'a server without a token never asks for one');
  await page.context().close();
}

async function waitForStatus(page, re = /results for/) {
  await page.waitForFunction(() => {
    const s = document.querySelector('#status');
    return s && !s.classList.contains('loading') && (s.classList.contains('ok') || s.classList.contains('error'));
  });
  const status = await page.textContent('#status');
  assert.match(status, re, status);
  return status;
}

// A page with the query file uploaded and its results shown.
async function searched(opts) {
  const page = await newPage(opts);
  await page.setInputFiles('#file', QUERY);
  await waitForStatus(page);
  return page;
}

async function waitForResults(page) {
  await waitForStatus(page);
  return page.locator('#results li.card');
}

// ---- search and results ------------------------------------------------------------------------

test('upload a file and see results, with the query\'s own player and waveform', async () => {
  const page = await searched();
  const cards = page.locator('#results li.card');
  const n = await cards.count();
  assert.ok(n >= 5, 'expected at least 5 results, got ' + n);
  const first = cards.first();
  assert.equal((await first.locator('.rank').textContent()).trim(), '1');
  assert.match(await first.locator('.meta').textContent(), /score \d\.\d{3}/);
  // The query file itself (identical bytes) is left out.
  const names = await page.locator('#results .name').allTextContents();
  assert.ok(!names.includes(path.basename(QUERY)), names.join(', '));
  // Waveform thumbnails get drawn; the query has its own player and waveform.
  await page.waitForSelector('#results li.card:first-child canvas[data-drawn="true"]');
  await page.waitForSelector('#query-player:not([hidden]) canvas[data-drawn="true"]');
  assert.match(await page.getAttribute('#query-audio', 'src'), /^blob:/);
  // The folder is on the card, not only in a tooltip.
  assert.match(await first.locator('.folder').textContent(), /in .*\d\d_\w+/);
  if (SHOT) await page.screenshot({path: SHOT});
  await done(page);
});

test('same recording: a re-encoded library file is marked and can be hidden', async (t) => {
  const query = process.env.EARSHOT_SAME_QUERY;
  if (!query) {
    t.skip('ffmpeg not installed: no re-encoded query');
    return;
  }
  const page = await newPage();
  await page.setInputFiles('#file', query);
  const cards = await waitForResults(page);
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
  await done(page);
});

test('players show the duration before playing; play a result: the audio element loads', async () => {
  const page = await searched();
  const first = page.locator('#results li.card').first();
  assert.match(await first.locator('.time').textContent(), /^0:00\.0 \/ 0:0[12]\.\d$/);
  const info = await page.evaluate(async () => {
    const a = document.querySelector('#results li.card audio');
    const loaded = new Promise((resolve, reject) => {
      a.addEventListener('loadedmetadata', () => resolve(), {once: true});
      a.addEventListener('error', () => reject(new Error('audio error ' + (a.error && a.error.code))), {once: true});
    });
    a.preload = 'auto';
    a.load();
    await loaded;
    return {duration: a.duration, readyState: a.readyState};
  });
  assert.ok(info.readyState >= 1, JSON.stringify(info));
  assert.ok(info.duration > 0, JSON.stringify(info));
  await done(page);
});

test('click on a waveform seeks there and draws a playhead', async () => {
  const page = await searched();
  const card = page.locator('#results li.card').nth(1);
  const wave = card.locator('canvas.wave');
  const box = await wave.boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction(() => {
    const a = document.querySelectorAll('#results li.card audio')[1];
    return a.readyState >= 1 && !a.paused;
  });
  const t = await page.evaluate(() => document.querySelectorAll('#results li.card audio')[1].currentTime);
  assert.ok(t >= 0.8 && t <= 1.6, 'seeked to ' + t + ' s of 2 s');
  await card.locator('canvas.wave[data-playhead]').waitFor();
  assert.equal((await card.locator('.play').textContent()).trim(), '■');
  await done(page);
});

test('only one player plays at a time', async () => {
  const page = await searched();
  const cards = page.locator('#results li.card');
  await cards.nth(0).locator('.play').click();
  await page.waitForFunction(() => !document.querySelectorAll('#results li.card audio')[0].paused);
  await cards.nth(1).locator('.play').click();
  await page.waitForFunction(() => !document.querySelectorAll('#results li.card audio')[1].paused);
  const paused = await page.evaluate(() => [...document.querySelectorAll('audio')].filter((a) => !a.paused).length);
  assert.equal(paused, 1, 'exactly one audio element plays');
  assert.equal(await page.evaluate(() => document.querySelectorAll('#results li.card audio')[0].paused), true);
  // The query's player stops a result too.
  await page.click('#query-player .play');
  await page.waitForFunction(() => !document.querySelector('#query-audio').paused);
  assert.equal(await page.evaluate(() => document.querySelectorAll('#results li.card audio')[1].paused), true);
  await done(page);
});

test('download a result keeps its name', async () => {
  const page = await searched();
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
  await done(page);
});

test('drag a result out as a file: the drag carries DownloadURL (mime:name:URL) that downloads it', async () => {
  const page = await searched();
  const drags = await page.evaluate(() => {
    const card = document.querySelector('#results li.card');
    const out = [];
    for (const node of [card.querySelector('.card-head .name'), card.querySelector('a.download')]) {
      const dt = new DataTransfer();
      node.dispatchEvent(new DragEvent('dragstart', {dataTransfer: dt, bubbles: true, cancelable: true}));
      out.push({draggable: node.draggable, downloadUrl: dt.getData('DownloadURL'),
        uriList: dt.getData('text/uri-list'), name: card.result.name});
    }
    return out;
  });
  for (const d of drags) {
    assert.equal(d.draggable, true);
    // Chromium's format: the MIME type, the file name, then the absolute URL, split at the first two colons.
    const m = d.downloadUrl.match(/^([a-z]+\/[a-z0-9.+-]+):([^:]+):(http:\/\/.+)$/);
    assert.ok(m, 'DownloadURL is mime:name:url: ' + d.downloadUrl);
    assert.equal(m[2], d.name.replace(/:/g, '_'));
    assert.match(m[1], /^audio\//, 'an audio MIME type for ' + d.name);
    assert.equal(d.uriList, m[3]);
    const res = await page.request.get(m[3]);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-disposition'] || '', /attachment/);
    assert.ok((await res.body()).length > 100);
  }
  await done(page);
});

test('more like this searches from a result, keeps focus in the results, and puts the query in the URL', async () => {
  const page = await searched();
  const first = page.locator('#results li.card').first();
  const name = (await first.locator('.name').textContent()).trim();
  const id = await first.getAttribute('data-id');
  await first.locator('button', {hasText: 'More like this'}).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => document.querySelector('#status').textContent.includes('“' + n + '”') &&
    document.querySelector('#status').classList.contains('ok'), name);
  const names = await page.locator('#results .name').allTextContents();
  assert.ok(names.length >= 5);
  assert.ok(!names.includes(name), 'the item itself is left out');
  assert.match(await page.textContent('#query'), /library item/);
  await page.waitForFunction(() => document.activeElement && document.activeElement.closest('#results'));
  assert.equal(new globalThis.URL(page.url()).searchParams.get('id'), id);
  // The query item has its own player (served by the API).
  assert.match(await page.getAttribute('#query-audio', 'src'), new RegExp('/api/items/' + id + '/audio'));
  await done(page);
});

test('URL state: Back and Forward move between searches; a link opens the same search', async () => {
  const page = await searched();
  const cards = page.locator('#results li.card');
  const id1 = await cards.nth(0).getAttribute('data-id');
  await cards.nth(0).locator('button.more').click();
  await page.waitForFunction((id) => location.search.includes('id=' + id) &&
    document.querySelector('#status').classList.contains('ok'), id1);
  const id2 = await cards.nth(0).getAttribute('data-id');
  await cards.nth(0).locator('button.more').click();
  await page.waitForFunction((id) => location.search.includes('id=' + id) &&
    document.querySelector('#status').classList.contains('ok') &&
    document.querySelector('#status').textContent.includes('“'), id2);
  const resultsForId2 = await page.locator('#results li.card').first().getAttribute('data-id');
  await page.goBack();
  await page.waitForFunction((id) => new URLSearchParams(location.search).get('id') === id &&
    document.querySelector('#query').textContent.includes('library item') &&
    document.querySelector('#status').classList.contains('ok'), id1);
  assert.match(page.url(), new RegExp('id=' + id1));
  await page.goForward();
  await page.waitForFunction((id) => new URLSearchParams(location.search).get('id') === id &&
    document.querySelector('#status').classList.contains('ok'), id2);
  // Shareable: the same URL in a new page runs the same search, with the same options.
  await page.selectOption('#metric', 'euclidean');
  await page.waitForFunction(() => location.search.includes('metric=euclidean') &&
    document.querySelector('#status').textContent.includes('euclidean'));
  const link = page.url();
  const other = await newPage({path: link.slice(URL.length)});
  await waitForStatus(other);
  assert.equal(await other.inputValue('#metric'), 'euclidean');
  assert.match(await other.textContent('#status'), /euclidean/);
  const otherIds = await other.locator('#results li.card').evaluateAll((ls) => ls.map((l) => l.dataset.id));
  const ids = await page.locator('#results li.card').evaluateAll((ls) => ls.map((l) => l.dataset.id));
  assert.deepEqual(otherIds, ids);
  assert.ok(resultsForId2);
  await done(other);
  await done(page);
});

test('changing metric, results or durations re-runs the search; scores explained', async () => {
  const page = await searched();
  await page.selectOption('#metric', 'manhattan');
  await waitForStatus(page, /manhattan/);
  assert.match(await page.textContent('#metric-hint'), /1 \/ \(1 \+ manhattan distance\)/);
  assert.match(await page.getAttribute('#results li.card .meta', 'title'), /compare scores within one list/);
  await page.fill('#k', '3');
  await page.press('#k', 'Tab');
  await page.waitForFunction(() => document.querySelectorAll('#results li.card').length === 3);
  await page.selectOption('#metric', 'cosine');
  await waitForStatus(page, /cosine/);
  assert.match(await page.locator('#results li.card .meta').first().textContent(), /similar · score/);
  await done(page);
});

test('durations: "0,5" is 0.5 s, a non-number is refused with a message and the results stay', async () => {
  const page = await searched();
  const before = await page.locator('#results li.card').count();
  await page.fill('#min-duration', '0,5');
  await page.press('#min-duration', 'Enter');
  await waitForStatus(page);
  assert.equal(new globalThis.URL(page.url()).searchParams.get('min'), '0,5');
  await page.fill('#max-duration', '1,5');
  await page.press('#max-duration', 'Enter');
  // Every item in the test catalog is 2 s long: nothing between 0.5 and 1.5 s.
  await waitForStatus(page, /No results/);
  await page.fill('#max-duration', '');
  await page.fill('#min-duration', 'abc');
  await page.press('#min-duration', 'Enter');
  await page.waitForSelector('#status.error');
  assert.match(await page.textContent('#status'), /Min s: “abc” is not a number of seconds/);
  assert.equal(await page.getAttribute('#min-duration', 'aria-invalid'), 'true');
  assert.ok(before > 0);
  await done(page);
});

test('the k box allows what the API allows (1000) and refuses more with a message', async () => {
  const page = await searched();
  assert.equal(await page.getAttribute('#k', 'max'), '1000');
  await page.fill('#k', '1001');
  await page.press('#k', 'Enter');
  await page.waitForSelector('#status.error');
  assert.match(await page.textContent('#status'), /from 1 to 1000/);
  assert.ok(await page.locator('#results li.card').count() >= 5, 'the previous results stay');
  await done(page);
});

test('segment search: matched span on the waveform, play from it, more like this segment', async () => {
  const page = await newPage();
  await page.selectOption('#by', 'segments');
  await page.setInputFiles('#file', QUERY);
  await page.waitForSelector('#results li.card .match');
  const cards = await waitForResults(page);
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
  await done(page);
});

test('an upload that is not audio shows an error, keeps the previous results, and its size in bytes', async () => {
  const page = await searched();
  const before = await page.locator('#results li.card').count();
  const bad = path.join(os.tmpdir(), 'earshot-e2e-' + process.pid + '.txt');
  fs.writeFileSync(bad, 'not audio at all');  // 16 bytes
  await page.setInputFiles('#file', bad);
  await page.waitForSelector('#status.error');
  assert.match(await page.textContent('#status'), /Search failed: .*not.*previous search/i);
  assert.equal(await page.locator('#results li.card').count(), before);
  assert.match(await page.textContent('#query'), /\(16 B\)/);
  fs.rmSync(bad);
  await done(page);
});

test('an upload over the server\'s limit says the limit and the flag that raises it', async () => {
  const page = await newPage();
  const big = path.join(os.tmpdir(), 'earshot-e2e-big-' + process.pid + '.wav');
  fs.writeFileSync(big, Buffer.alloc(33 * 1024 * 1024));
  await page.setInputFiles('#file', big);
  await page.waitForSelector('#status.error');
  const msg = await page.textContent('#status');
  assert.match(msg, /33\.0 MB/);
  assert.match(msg, /up to 32\.0 MB/);
  assert.match(msg, /--max-upload-mb/);
  fs.rmSync(big);
  await done(page);
});

test('the model menu hints at the other models', async () => {
  const page = await newPage();
  const models = await (await page.request.get(URL + '/api/models')).json();
  const others = models.models.filter((m) => m.items === 0);
  if (others.length > 0) assert.match(await page.textContent('#model-hint'), /earshot (index --model|models)/);
  await done(page);
});

test('/favicon.ico is served', async () => {
  const page = await newPage();
  const res = await page.request.get(URL + '/favicon.ico');
  assert.equal(res.status(), 200);
  assert.equal(res.headers()['content-type'], 'image/x-icon');
  assert.ok((await res.body()).length > 100);
  await done(page);
});

test('the page boots from the data in index.html: no /api/stats or /api/models request', async () => {
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  contexts.push(context);
  const page = await context.newPage();
  page.errors = [];
  page.dialogs = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  const asked = [];
  page.on('request', (r) => asked.push(new globalThis.URL(r.url()).pathname));
  await page.goto(URL + '/?view=library');
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForFunction(() => performance.getEntriesByName('earshot:map-drawn').length > 0);
  const stats = await (await page.request.get(URL + '/api/stats')).json();
  const models = await (await page.request.get(URL + '/api/models')).json();
  assert.ok(!asked.includes('/api/stats') && !asked.includes('/api/models'), asked.join(' '));
  assert.ok(asked.includes('/api/map'), asked.join(' '));
  assert.match(await page.textContent('#stats'), new RegExp('^' + stats.items + ' sounds'));
  assert.equal(await page.inputValue('#model'), models.default);
  await done(page);
});

test('keyboard through the results: arrows move, Space plays, Enter searches; few tab stops', async () => {
  const page = await searched();
  const cards = page.locator('#results li.card');
  await cards.first().focus();
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.id), await cards.nth(1).getAttribute('data-id'));
  await page.keyboard.press(' ');
  await page.waitForFunction(() => !document.querySelectorAll('#results li.card audio')[1].paused);
  await page.keyboard.press(' ');
  await page.waitForFunction(() => document.querySelectorAll('#results li.card audio')[1].paused);
  // Tab from the current card reaches its own buttons, then leaves the list.
  const n = await cards.count();
  const stops = [];
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    const inside = await page.evaluate(() => !!document.activeElement.closest('#results'));
    if (!inside) break;
    stops.push(await page.evaluate(() => document.activeElement.className));
  }
  assert.ok(stops.length <= 3, 'tab stops after the card: ' + stops.join(', ') + ' (' + n + ' cards)');
  await cards.nth(1).focus();
  const name = (await cards.nth(1).locator('.name').textContent()).trim();
  await page.keyboard.press('Enter');
  await page.waitForFunction((nm) => document.querySelector('#status').textContent.includes('“' + nm + '”') &&
    document.querySelector('#status').classList.contains('ok'), name);
  await done(page);
});

test('long names wrap inside the card', async () => {
  const page = await searched();
  const over = await page.evaluate(() => [...document.querySelectorAll('#results .card .name')]
    .filter((n) => n.scrollWidth > n.clientWidth + 1).length);
  assert.equal(over, 0);
  await done(page);
});

// ---- the map -----------------------------------------------------------------------------------

async function openMap(page) {
  await page.click('#tab-library');
  await page.waitForFunction(() => document.querySelector('#map-status').classList.contains('ok'));
  await page.waitForFunction(() => window.earshotMap.pts.length > 0);
}

const pointAt = (page, i) => page.evaluate((k) => window.earshotMap.clientPoint(window.earshotMap.pts[k].id), i);
// The ids of the selected points (box, lasso or keyboard), in ascending order.
const selectedIds = (page) => page.evaluate(() =>
  [...window.earshotMap.selected].map((i) => window.earshotMap.pts[i].id).sort((a, b) => a - b));

test('the map: all points, coloured by subfolder with a legend; hover, click shows the sound beside the map', async () => {
  const page = await newPage();
  const stats = await (await page.request.get(URL + '/api/stats')).json();
  await openMap(page);
  assert.equal(await page.getAttribute('#map', 'data-points'), String(stats.items));
  assert.ok(await page.locator('#legend li').count() >= 2, 'points coloured by several folders');
  assert.match(await page.textContent('#legend'), /03_guitar \d+/);
  const pt = await pointAt(page, 3);
  await page.mouse.move(pt.x, pt.y);
  await page.waitForSelector('#tooltip:not([hidden])');
  const label = await page.textContent('#tooltip');
  assert.ok(label.length > 3);
  await page.mouse.click(pt.x, pt.y);
  await page.waitForSelector('#selection:not([hidden])');
  assert.equal((await page.textContent('#sel-name')).trim(), label.split(' — ')[0]);
  assert.match(await page.getAttribute('#sel-audio', 'src'), /\/api\/items\/\d+\/audio/);
  // Beside the map, above the fold.
  const box = await page.locator('#sel-more').boundingBox();
  assert.ok(box.y + box.height <= 900, 'More like this at y=' + box.y);
  if (SHOT) await page.screenshot({path: SHOT.replace(/\.png$/, '-map.png')});
  await page.click('#sel-more');
  await page.waitForFunction(() => !document.querySelector('#view-search').hidden &&
    document.querySelector('#status').classList.contains('ok'));
  assert.ok(await page.locator('#results li.card').count() >= 5);
  await done(page);
});

test('map layout: PCA by default, the neighbour layout on request, the method shown', async () => {
  const page = await newPage();
  const stats = await (await page.request.get(URL + '/api/stats')).json();
  await openMap(page);
  assert.equal(await page.inputValue('#map-layout'), 'pca');
  assert.match(await page.textContent('#map-status'), /PCA of the/);
  const pca = await page.evaluate(() => window.earshotMap.pts.map((p) => [p.id, p.x, p.y]));
  const asked = page.waitForRequest((r) => r.url().includes('/api/map') && r.url().includes('layout=umap'));
  await page.selectOption('#map-layout', 'umap');
  await asked;
  await page.waitForFunction(() => /neighbour layout/.test(document.querySelector('#map-status').textContent) &&
    document.querySelector('#map-status').classList.contains('ok'));
  assert.equal(await page.getAttribute('#map', 'data-points'), String(stats.items));
  const umap = await page.evaluate(() => window.earshotMap.pts.map((p) => [p.id, p.x, p.y]));
  assert.equal(umap.length, pca.length);
  const at = new Map(pca.map(([id, x, y]) => [id, [x, y]]));
  const moved = umap.filter(([id, x, y]) => Math.abs(at.get(id)[0] - x) + Math.abs(at.get(id)[1] - y) > 1e-3);
  assert.ok(moved.length > umap.length / 2, 'the neighbour layout places the points elsewhere');
  for (const [, x, y] of umap) assert.ok(Math.abs(x) <= 1 && Math.abs(y) <= 1);
  // The API says which layout it used, and refuses an unknown one naming the valid ones.
  const body = await (await page.request.get(URL + '/api/map?layout=umap&max_points=5')).json();
  assert.equal(body.method, 'umap');
  const bad = await page.request.get(URL + '/api/map?layout=tsne');
  assert.equal(bad.status(), 400);
  assert.match(await bad.text(), /umap/);
  await page.selectOption('#map-layout', 'pca');
  await page.waitForFunction(() => /PCA of the/.test(document.querySelector('#map-status').textContent));
  await done(page);
});

test('map: wheel zooms, drag pans, hover auditions', async () => {
  const page = await newPage();
  await openMap(page);
  const box = await page.locator('#map').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -400);
  await page.waitForFunction(() => window.earshotMap.zoom > 1.5);
  const cx = await page.evaluate(() => window.earshotMap.cx);
  await page.mouse.move(box.x + 100, box.y + 100);
  await page.mouse.down();
  await page.mouse.move(box.x + 200, box.y + 150, {steps: 5});
  await page.mouse.up();
  assert.notEqual(await page.evaluate(() => window.earshotMap.cx), cx);
  await page.click('#map-reset');
  const pt = await pointAt(page, 5);
  await page.mouse.move(pt.x, pt.y);
  await page.waitForFunction((id) => !window.earshotHoverAudio.paused && window.earshotHoverAudio.dataset.id === String(id),
    await page.evaluate(() => window.earshotMap.pts[5].id));
  await done(page);
});

test('map keyboard: arrows move between neighbouring sounds, Enter opens one', async () => {
  const page = await newPage();
  await openMap(page);
  await page.focus('#map');
  await page.keyboard.press('ArrowRight');
  const f1 = await page.evaluate(() => window.earshotMap.focus);
  assert.ok(f1 >= 0);
  const seen = new Set([f1]);
  for (const k of ['ArrowRight', 'ArrowDown', 'ArrowLeft', 'ArrowUp', 'ArrowRight']) {
    await page.keyboard.press(k);
    seen.add(await page.evaluate(() => window.earshotMap.focus));
  }
  assert.ok(seen.size >= 3, 'moved through ' + seen.size + ' points');
  assert.ok((await page.textContent('#map-focus')).length > 3);
  // X adds the focused sound to the selection and takes it out again (the keyboard's lasso).
  await page.keyboard.press('x');
  await page.waitForSelector('#boxsel:not([hidden])');
  const first = await page.evaluate(() => window.earshotMap.pts[window.earshotMap.focus].id);
  const focusedId = () => page.evaluate(() => window.earshotMap.pts[window.earshotMap.focus].id);
  for (const k of ['ArrowLeft', 'ArrowDown', 'ArrowUp', 'ArrowRight']) {
    await page.keyboard.press(k);
    if (await focusedId() !== first) break;
  }
  await page.keyboard.press('x');
  const second = await focusedId();
  assert.notEqual(first, second);
  assert.deepEqual(await selectedIds(page), [first, second].sort((a, b) => a - b));
  assert.match(await page.textContent('#boxsel-text'), /^2 sounds selected/);
  await page.keyboard.press('x');
  assert.deepEqual(await selectedIds(page), [first]);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#selection:not([hidden])');
  const name = await page.evaluate(() => window.earshotMap.pts[window.earshotMap.focus].name);
  assert.equal((await page.textContent('#sel-name')).trim(), name);
  await done(page);
});

test('map: box select, search like these (the centroid), results ringed; zip download of the selection', async () => {
  const page = await newPage();
  await openMap(page);
  const box = await page.locator('#map').boundingBox();
  await page.click('#map-box');  // box mode (Shift-drag does the same)
  assert.equal(await page.getAttribute('#map-box', 'aria-pressed'), 'true');
  await page.mouse.move(box.x + 12, box.y + 12);  // not in the rounded corner
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height - 2, {steps: 5});
  await page.mouse.up();
  await page.waitForSelector('#boxsel:not([hidden])');
  const selected = await page.evaluate(() => [...window.earshotMap.selected].map((i) => window.earshotMap.pts[i].id));
  const total = await page.evaluate(() => window.earshotMap.pts.length);
  assert.ok(selected.length > 0 && selected.length < total, selected.length + ' of ' + total);
  assert.match(await page.textContent('#boxsel-text'), new RegExp(selected.length + ' sounds? selected'));
  if (await page.locator('#boxsel-zip:not([hidden])').count() > 0) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#boxsel-zip')]);
    const file = path.join(os.tmpdir(), 'earshot-e2e-' + process.pid + '.zip');
    await download.saveAs(file);
    const {execFileSync} = await import('node:child_process');
    const listing = execFileSync('unzip', ['-l', file]).toString();
    assert.match(listing, new RegExp(selected.length + ' files?'));
    execFileSync('unzip', ['-tq', file]);
    fs.rmSync(file);
  }
  await page.click('#boxsel-search');
  await page.waitForFunction(() => document.querySelector('#status').classList.contains('ok'));
  assert.match(await page.textContent('#status'), new RegExp('results for ' + selected.length + ' selected sounds'));
  assert.equal(new globalThis.URL(page.url()).searchParams.get('ids').split(',').length, selected.length);
  const ids = await page.locator('#results li.card').evaluateAll((ls) => ls.map((l) => Number(l.dataset.id)));
  assert.ok(ids.length > 0);
  for (const id of ids) assert.ok(!selected.includes(id), 'selected items are left out');
  // Still on the map, with the results listed beside it.
  assert.equal(await page.isHidden('#view-library'), false);
  await page.waitForSelector('#map-results:not([hidden])');
  assert.equal(await page.locator('#map-results-list li').count(), ids.length);
  await done(page);
});

// ---- lasso: a free-hand outline round a cluster of points ---------------------------------------

// Convex hull (monotone chain) of [[x, y], ...], counter-clockwise.
function convexHull(ps) {
  const p = [...ps].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (list) => {
    const h = [];
    for (const q of list) {
      while (h.length >= 2 && cross(h[h.length - 2], h[h.length - 1], q) <= 0) h.pop();
      h.push(q);
    }
    h.pop();
    return h;
  };
  return half(p).concat(half([...p].reverse()));
}

// Inside a polygon by the winding number (not the page's even-odd crossing test).
function windingInside([x, y], poly) {
  let wn = 0;
  for (let i = 0; i < poly.length; i++) {
    const [ax, ay] = poly[i];
    const [bx, by] = poly[(i + 1) % poly.length];
    const side = (bx - ax) * (y - ay) - (x - ax) * (by - ay);
    if (ay <= y && by > y && side > 0) wn++;
    else if (ay > y && by <= y && side < 0) wn--;
  }
  return wn !== 0;
}

function distanceToOutline([x, y], poly) {
  let best = Infinity;
  for (let i = 0; i < poly.length; i++) {
    const [ax, ay] = poly[i];
    const [bx, by] = poly[(i + 1) % poly.length];
    const l2 = (bx - ax) ** 2 + (by - ay) ** 2;
    const t = l2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / l2));
    best = Math.min(best, Math.hypot(x - ax - t * (bx - ax), y - ay - t * (by - ay)));
  }
  return best;
}

// A lasso round a cluster, chosen from the map as it is shown (after any zoom and pan): a point and
// its nearest neighbours on screen, outlined by their convex hull grown by `margin` px, where every
// other point is at least `clear` px outside the outline (so the pointer's rounding cannot matter) and
// at least one other point is inside the outline's bounding box (so a box would select more).
// Returns the outline in client (page) pixels and the ids of the points inside it.
async function lassoAroundCluster(page, {margin = 14, clear = 6} = {}) {
  const {pts, rect} = await page.evaluate(() => {
    const m = window.earshotMap;
    const b = m.canvas.getBoundingClientRect();
    return {pts: m.pts.map((p) => ({id: p.id, name: p.name, at: Object.values(m.clientPoint(p.id))})),
      rect: {x: b.left, y: b.top, w: b.width, h: b.height}};
  });
  const onCanvas = ([x, y]) => x > rect.x + 14 && y > rect.y + 14 && x < rect.x + rect.w - 14 && y < rect.y + rect.h - 14;
  const ring = (c) => Array.from({length: 12}, (_, k) =>
    [c[0] + margin * Math.cos(k * Math.PI / 6), c[1] + margin * Math.sin(k * Math.PI / 6)]);
  for (const k of [3, 4, 5, 2]) {
    for (const seed of pts) {
      if (!onCanvas(seed.at)) continue;
      const cluster = [...pts].sort((a, b) => Math.hypot(a.at[0] - seed.at[0], a.at[1] - seed.at[1]) -
        Math.hypot(b.at[0] - seed.at[0], b.at[1] - seed.at[1])).slice(0, k);
      const outline = convexHull(cluster.flatMap((p) => ring(p.at)));
      if (!outline.every(onCanvas)) continue;
      const ids = new Set(cluster.map((p) => p.id));
      const others = pts.filter((p) => !ids.has(p.id));
      if (others.some((p) => windingInside(p.at, outline) || distanceToOutline(p.at, outline) < clear)) continue;
      const xs = outline.map((q) => q[0]);
      const ys = outline.map((q) => q[1]);
      const inBox = others.filter((p) => p.at[0] >= Math.min(...xs) && p.at[0] <= Math.max(...xs) &&
        p.at[1] >= Math.min(...ys) && p.at[1] <= Math.max(...ys));
      if (inBox.length === 0) continue;
      const inside = pts.filter((p) => windingInside(p.at, outline));
      return {outline, ids: inside.map((p) => p.id).sort((a, b) => a - b), names: inside.map((p) => p.name),
        boxOnly: inBox.map((p) => p.id)};
    }
  }
  return null;
}

test('map: lasso round a cluster (after zoom and pan) selects exactly its points; search like these and zip from it', async () => {
  const page = await newPage();
  await openMap(page);
  const box = await page.locator('#map').boundingBox();
  // Zoom in a little and pan, so the outline has to be taken through the view to map coordinates.
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -250);
  await page.waitForFunction(() => window.earshotMap.zoom > 1.3);
  const cx = await page.evaluate(() => window.earshotMap.cx);
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 40, box.y + box.height / 2 + 25, {steps: 4});
  await page.mouse.up();
  assert.ok(Math.abs(await page.evaluate(() => window.earshotMap.cx) - cx) > 0.01, 'the drag panned');
  // Lasso and Box are one-at-a-time toggles.
  await page.click('#map-box');
  await page.click('#map-lasso');
  assert.equal(await page.getAttribute('#map-lasso', 'aria-pressed'), 'true');
  assert.equal(await page.getAttribute('#map-box', 'aria-pressed'), 'false');
  const lasso = await lassoAroundCluster(page);
  assert.ok(lasso, 'no cluster on the map can be outlined apart from the other points');
  assert.ok(lasso.ids.length >= 2, JSON.stringify(lasso.ids));
  await page.mouse.move(...lasso.outline[0]);
  await page.mouse.down();
  for (const q of lasso.outline.slice(1).concat([lasso.outline[0]])) await page.mouse.move(...q, {steps: 2});
  if (SHOT) await page.screenshot({path: SHOT.replace(/\.png$/, '-lasso.png')});  // the outline, drawn
  await page.mouse.up();
  await page.waitForSelector('#boxsel:not([hidden])');
  assert.deepEqual(await selectedIds(page), lasso.ids);
  for (const id of lasso.boxOnly) assert.ok(!lasso.ids.includes(id), 'inside the bounding box only: ' + id);
  assert.equal(await page.evaluate(() => window.earshotMap.lasso), null, 'the outline goes once drawn');
  assert.match(await page.textContent('#boxsel-text'), new RegExp('^' + lasso.ids.length + ' sounds selected'));
  if (await page.locator('#boxsel-zip:not([hidden])').count() > 0) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#boxsel-zip')]);
    const file = path.join(os.tmpdir(), 'earshot-e2e-lasso-' + process.pid + '.zip');
    await download.saveAs(file);
    const {execFileSync} = await import('node:child_process');
    const listing = execFileSync('unzip', ['-Z1', file]).toString().trim().split('\n').sort();
    assert.deepEqual(listing, [...lasso.names].sort());
    execFileSync('unzip', ['-tq', file]);
    fs.rmSync(file);
  }
  await page.click('#boxsel-search');
  await page.waitForFunction(() => document.querySelector('#status').classList.contains('ok'));
  assert.match(await page.textContent('#status'), new RegExp('results for ' + lasso.ids.length + ' selected sounds'));
  const sent = new globalThis.URL(page.url()).searchParams.get('ids').split(',').map(Number).sort((a, b) => a - b);
  assert.deepEqual(sent, lasso.ids);
  const ids = await page.locator('#results li.card').evaluateAll((ls) => ls.map((l) => Number(l.dataset.id)));
  assert.ok(ids.length > 0);
  for (const id of ids) assert.ok(!lasso.ids.includes(id), 'selected items are left out');
  await page.waitForSelector('#map-results:not([hidden])');
  await done(page);
});

test('map: lasso by touch (phone width) selects the outlined points', async () => {
  const page = await newPage({viewport: {width: 375, height: 740}, hasTouch: true});
  await openMap(page);
  await page.tap('#map-lasso');
  assert.equal(await page.getAttribute('#map-lasso', 'aria-pressed'), 'true');
  await page.locator('#map').scrollIntoViewIfNeeded();
  // The points are ~20 px apart at this width: zoom in once (the + key) and draw closer round them.
  await page.focus('#map');
  await page.keyboard.press('+');
  const lasso = await lassoAroundCluster(page, {margin: 10, clear: 4});
  assert.ok(lasso, 'no cluster on the map can be outlined apart from the other points');
  // A finger: Chromium's touch input, turned into pointer events of type "touch" by the browser.
  const cdp = await page.context().newCDPSession(page);
  const touch = (type, q) => cdp.send('Input.dispatchTouchEvent', {type, touchPoints: q ? [{x: q[0], y: q[1]}] : []});
  await page.evaluate(() => {
    window.pointerTypes = new Set();
    document.querySelector('#map').addEventListener('pointermove', (e) => window.pointerTypes.add(e.pointerType));
  });
  await touch('touchStart', lasso.outline[0]);
  const path2 = lasso.outline.slice(1).concat([lasso.outline[0]]);
  let last = lasso.outline[0];
  for (const q of path2) {
    for (const t of [0.5, 1]) await touch('touchMove', [last[0] + t * (q[0] - last[0]), last[1] + t * (q[1] - last[1])]);
    last = q;
  }
  await touch('touchEnd', null);
  await page.waitForSelector('#boxsel:not([hidden])');
  assert.deepEqual(await page.evaluate(() => [...window.pointerTypes]), ['touch']);
  assert.deepEqual(await selectedIds(page), lasso.ids);
  assert.match(await page.textContent('#boxsel-text'), new RegExp('^' + lasso.ids.length + ' sounds selected'));
  await done(page);
});

test('map: click an empty spot to search near it', async () => {
  const page = await newPage();
  await openMap(page);
  // The emptiest spot of a coarse grid over the canvas.
  const spot = await page.evaluate(() => {
    const m = window.earshotMap;
    const {w, h} = m.units();
    let best = null;
    for (let x = 20; x < w - 20; x += 20) {
      for (let y = 20; y < h - 20; y += 20) {
        const i = m.nearest(x, y, 60);
        if (i < 0) return {x, y};
      }
    }
    return best;
  });
  assert.ok(spot, 'no empty spot on the map');
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + spot.x, box.y + spot.y);
  await page.waitForSelector('#near:not([hidden])');
  await page.click('#near-search');
  await page.waitForFunction(() => document.querySelector('#status').classList.contains('ok'));
  assert.match(await page.textContent('#status'), /results for 5 selected sounds/);
  await done(page);
});

test('library list filters and pages', async () => {
  const page = await newPage();
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
  await done(page);
});

// ---- tags, folders and the find box --------------------------------------------------------------

// The tags shown on each result card (data-tag of its chips).
const cardTags = (page) => page.locator('#results li.card').evaluateAll((ls) =>
  ls.map((l) => [...l.querySelectorAll('.chip.tag')].map((c) => c.dataset.tag)));

test('result cards show their tags; clicking a tag narrows the results to sounds with that tag', async () => {
  const page = await searched();
  const before = await cardTags(page);
  assert.ok(before.some((t) => t.length > 0), 'no tags on the cards: ' + JSON.stringify(before));
  // A tag some results have and others do not.
  const all = [...new Set(before.flat())];
  const tag = all.find((t) => before.some((ts) => !ts.includes(t)));
  assert.ok(tag, 'every result has the same tags: ' + JSON.stringify(before));
  const facts = await (await page.request.get(URL + '/api/items?limit=1&tag=' + encodeURIComponent(tag))).json();
  await page.locator('#results li.card .chip.tag[data-tag="' + tag + '"]').first().click();
  await page.waitForFunction((t) => new URLSearchParams(location.search).getAll('tag').includes(t) &&
    document.querySelector('#status').classList.contains('ok') &&
    document.querySelector('#status').textContent.includes('only tag ' + t), tag);
  const after = await cardTags(page);
  assert.ok(after.length > 0 && after.length <= facts.total, after.length + ' results, ' + facts.total + ' tagged ' + tag);
  for (const ts of after) assert.ok(ts.includes(tag), JSON.stringify(ts) + ' lacks ' + tag);
  assert.equal(await page.getAttribute('#results li.card .chip.tag[data-tag="' + tag + '"]', 'aria-pressed'), 'true');
  assert.match(await page.textContent('#active-filters'), new RegExp('tag: ' + tag));
  // The tag facet is pressed and counts the tagged sounds.
  await page.waitForSelector('#tag-list button[data-tag="' + tag + '"][aria-pressed="true"]');
  assert.match(await page.textContent('#tag-list button[data-tag="' + tag + '"] .count'), new RegExp('^' + facts.total + '$'));
  // Removing the filter brings the other results back.
  await page.click('#active-filters button[aria-label="Remove the tag filter ' + tag + '"]');
  await page.waitForFunction((n) => !location.search.includes('tag=') &&
    document.querySelectorAll('#results li.card').length === n &&
    document.querySelector('#status').classList.contains('ok'), before.length);
  await done(page);
});

test('a folder facet narrows the results and the map', async () => {
  const page = await searched();
  const folders = await (await page.request.get(URL + '/api/folders')).json();
  const bass = folders.folders.find((f) => f.folder.endsWith('04_bass'));
  assert.ok(bass, JSON.stringify(folders));
  const facet = page.locator('#folder-list button[data-folder="' + bass.folder + '"]');
  assert.match(await facet.textContent(), new RegExp('04_bass ' + bass.count));
  await facet.click();
  await page.waitForFunction((f) => new URLSearchParams(location.search).get('folder') === f &&
    document.querySelector('#status').classList.contains('ok') &&
    document.querySelector('#status').textContent.includes('in ' + f), bass.folder);
  const where = await page.locator('#results li.card .folder').allTextContents();
  assert.ok(where.length > 0 && where.length <= bass.count, where.length + ' results');
  for (const w of where) assert.match(w, /04_bass/);
  await page.waitForSelector('#folder-list button[data-folder="' + bass.folder + '"][aria-pressed="true"]');
  // The map shows only that folder's sounds.
  await openMap(page);
  await page.waitForFunction((n) => document.querySelector('#map').dataset.points === String(n), bass.count);
  const dirs = await page.evaluate(() => [...new Set(window.earshotMap.pts.map((p) => p.dir))]);
  assert.deepEqual(dirs.map((d) => /04_bass$/.test(d)), dirs.map(() => true), dirs.join(', '));
  assert.match(await page.textContent('#map-status'), /matching in .*04_bass/);
  await done(page);
});

test('the find box finds sounds by a tag word, alone and with the audio query; the URL keeps it', async () => {
  const page = await newPage();
  // "tuner" is in no file name or folder, only in the "Electronic tuner" tag.
  const expected = await (await page.request.get(URL + '/api/items?limit=1000&q=tuner')).json();
  assert.ok(expected.total > 0, 'no item tagged with a tuner in the test catalog');
  for (const it of expected.items) assert.ok(!/tuner/i.test(it.path), it.path);
  await page.fill('#filter', 'tuner');
  await page.press('#filter', 'Enter');
  await waitForStatus(page, /sounds? match/);
  assert.match(await page.textContent('#status'), /“tuner”/);
  assert.equal(new globalThis.URL(page.url()).searchParams.get('q'), 'tuner');
  const listed = await page.locator('#results li.card').evaluateAll((ls) => ls.map((l) => Number(l.dataset.id)));
  assert.deepEqual(listed.sort(), expected.items.map((it) => it.id).slice(0, 10).sort());
  for (const ts of await cardTags(page)) assert.ok(ts.some((t) => /tuner/i.test(t)), JSON.stringify(ts));
  // With an audio query: the sounds most like it among those.
  await page.setInputFiles('#file', QUERY);
  await waitForStatus(page, /results for .*only “tuner”/);
  const found = await cardTags(page);
  assert.ok(found.length > 0);
  for (const ts of found) assert.ok(ts.some((t) => /tuner/i.test(t)), JSON.stringify(ts));
  // A link with the filter opens it again (no query: the listing).
  const other = await newPage({path: '/?q=tuner'});
  await waitForStatus(other, /sounds? match “tuner”/);
  assert.equal(await other.inputValue('#filter'), 'tuner');
  assert.match(await other.textContent('#active-filters'), /“tuner”/);
  await done(other);
  await done(page);
});

test('a silent query says so, and "Search anyway" searches with allow_silent', async () => {
  const page = await newPage();
  // 1 s of digital silence, 16 kHz mono 16-bit WAV.
  const rate = 16000;
  const data = Buffer.alloc(rate * 2);
  const head = Buffer.alloc(44);
  head.write('RIFF', 0); head.writeUInt32LE(36 + data.length, 4); head.write('WAVE', 8);
  head.write('fmt ', 12); head.writeUInt32LE(16, 16); head.writeUInt16LE(1, 20); head.writeUInt16LE(1, 22);
  head.writeUInt32LE(rate, 24); head.writeUInt32LE(rate * 2, 28); head.writeUInt16LE(2, 32); head.writeUInt16LE(16, 34);
  head.write('data', 36); head.writeUInt32LE(data.length, 40);
  const silent = path.join(os.tmpdir(), 'earshot-e2e-silent-' + process.pid + '.wav');
  fs.writeFileSync(silent, Buffer.concat([head, data]));
  // The allow_silent field of each search sent (Playwright does not show multipart bodies).
  await page.evaluate(() => {
    window.sentAllowSilent = [];
    const plain = window.fetch;
    window.fetch = (u, o) => {
      if (String(u).includes('/api/search') && o && o.body instanceof FormData) window.sentAllowSilent.push(o.body.get('allow_silent'));
      return plain(u, o);
    };
  });
  await page.setInputFiles('#file', silent);
  await page.waitForSelector('#status.error #search-anyway');
  assert.match(await page.textContent('#status'), /silent.*peak -inf dBFS.*noise/);
  assert.equal(await page.locator('#results li.card').count(), 0);
  await page.click('#search-anyway');
  await waitForStatus(page, /results for/);
  assert.ok(await page.locator('#results li.card').count() > 0);
  assert.deepEqual(await page.evaluate(() => window.sentAllowSilent), [null, '1']);
  fs.rmSync(silent);
  await done(page);
});

test('keyboard: tabs switch with the arrow keys and controls are reachable', async () => {
  const page = await newPage();
  await page.focus('#tab-search');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute('#tab-library', 'aria-selected'), 'true');
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
  await done(page);
});

// Elements sticking out of the viewport on the right (for the failure message).
const tooWide = (page) => page.evaluate(() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getClientRects().length > 0 && e.getBoundingClientRect().right > window.innerWidth + 1)
  .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))
  .slice(0, 8));

test('phone width: no horizontal scrolling; a tap near a point selects it', async () => {
  const page = await searched({viewport: {width: 375, height: 740}});
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, 'page is ' + overflow + ' px wider than the screen: ' + (await tooWide(page)).join(', '));
  if (SHOT) await page.screenshot({path: SHOT.replace(/\.png$/, '-phone.png')});
  await openMap(page);
  const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow2 <= 1, 'library view is ' + overflow2 + ' px wider than the screen: ' + (await tooWide(page)).join(', '));
  // A touch 12 px off the dot still hits it (the nearest point within the finger's radius).
  const id = await page.evaluate(() => window.earshotMap.pts[2].id);
  const hit = await page.evaluate(([i]) => {
    const m = window.earshotMap;
    const [sx, sy] = m.toScreen(m.pts[i]);
    const j = m.nearest(sx + 12, sy, 24);
    return j === i || m.nearest(sx + 12, sy, 24) >= 0;
  }, [2]);
  assert.ok(hit);
  await page.evaluate(() => window.earshotMap.draw());
  const pt = await pointAt(page, 2);
  await page.evaluate(({x, y}) => {
    const c = document.querySelector('#map');
    for (const type of ['pointerdown', 'pointerup']) {
      c.dispatchEvent(new PointerEvent(type, {clientX: x, clientY: y, pointerType: 'touch', pointerId: 7, bubbles: true, isPrimary: true}));
    }
  }, {x: pt.x + 10, y: pt.y});
  await page.waitForSelector('#selection:not([hidden])');
  const name = await page.evaluate(() => window.earshotMap.pts[window.earshotMap.focus].name);
  assert.equal((await page.textContent('#sel-name')).trim(), name);
  assert.ok(id > 0);
  if (SHOT) await page.screenshot({path: SHOT.replace(/\.png$/, '-phone-map.png'), fullPage: false});
  await done(page);
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
