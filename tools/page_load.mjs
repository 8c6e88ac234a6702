// Page load of the web page on a big synthetic catalog (docs/performance.md "Page load").
//
//   node tools/page_load.mjs gen DIR [N]      # DIR/vec.npy + vec.jsonl: N (100000) mn04-sized
//                                             # (384-d) vectors in 40 clusters, 8 x 5 folders
//   earshot import DIR/vec.npy --space mn04 --db DIR/lib.earshot
//   sqlite3 DIR/lib.earshot "INSERT OR IGNORE INTO item_tags SELECT id, 'Tag ' || ((id*7) % 200), 0.6 FROM items;
//     INSERT OR IGNORE INTO item_tags SELECT id, 'Tag ' || ((id*13+5) % 200), 0.4 FROM items;
//     INSERT OR IGNORE INTO item_tags SELECT id, 'Music', 0.3 FROM items WHERE id % 3 = 0"
//   earshot serve --db DIR/lib.earshot --port 8080 &
//   node tools/page_load.mjs measure http://127.0.0.1:8080 [RUNS]
//   node tools/page_load.mjs measure http://127.0.0.1:8080,http://127.0.0.1:8081 [RUNS]
//
// measure opens each view RUNS (5) times in a fresh browser context (Debian's Chromium through
// tests/web's playwright-core) and prints the median time from navigation start to the page's
// own performance mark (earshot:map-drawn, earshot:results-shown, earshot:facets-shown), with
// DOMContentLoaded and the API requests of the median run (start-end ms, bytes on the wire).
// Several servers (comma-separated; e.g. an old and a new binary on the same catalog) are
// measured side by side: their runs alternate, so they share the machine's load. The server
// computes the first map at start; wait for it (GET /api/map answers) before measuring.
import fs from 'node:fs';

const [mode, arg, arg2] = process.argv.slice(2);

if (mode === 'gen') {
  const dir = arg;
  const n = Number(arg2 || 100000);
  const d = 384;
  const k = 40;
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const cents = Array.from({length: k}, () => Float32Array.from({length: d}, () => gauss()));
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + n + ', ' + d + '), }';
  const h = header + ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(h.length, 8);
  fs.mkdirSync(dir, {recursive: true});
  const fd = fs.openSync(dir + '/vec.npy', 'w');
  fs.writeSync(fd, pre);
  fs.writeSync(fd, Buffer.from(h, 'latin1'));
  const meta = [];
  const tops = ['drums', 'bass', 'keys', 'guitar', 'fx', 'vox', 'brass', 'strings'];
  const row = new Float32Array(d);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    for (let j = 0; j < d; j++) row[j] = cents[c][j] + 0.6 * gauss();
    fs.writeSync(fd, Buffer.from(row.buffer));
    const top = tops[c % 8];
    const sub = 'kit' + Math.floor(c / 8);
    meta.push(JSON.stringify({path: '/data/lib/' + top + '/' + sub + '/' + top + '_' + sub + '_' + i + '.wav',
      name: top + '_' + sub + '_' + i + '.wav', duration_s: 0.5 + (i % 37) / 10}));
  }
  fs.closeSync(fd);
  fs.writeFileSync(dir + '/vec.jsonl', meta.join('\n') + '\n');
} else if (mode === 'measure') {
  const {chromium} = await import(new URL('../tests/web/node_modules/playwright-core/index.mjs', import.meta.url));
  const bases = arg.split(',');
  const runs = Number(arg2 || 5);
  const browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu']});
  const once = async (base, path, mark) => {
    const ctx = await browser.newContext({viewport: {width: 1280, height: 900}});
    const p = await ctx.newPage();
    await p.goto(base + path);
    await p.waitForFunction((m) => performance.getEntriesByName('earshot:' + m).length > 0, mark, {timeout: 120000});
    const r = await p.evaluate((m) => {
      const t = Math.round(performance.getEntriesByName('earshot:' + m)[0].startTime);
      const nav = performance.getEntriesByType('navigation')[0];
      const parts = ['DOMContentLoaded ' + Math.round(nav.domContentLoadedEventEnd)];
      for (const e of performance.getEntriesByType('resource')) {
        const u = e.name.replace(/^https?:\/\/[^/]+/, '');
        if (!u.startsWith('/api/') || u.includes('/waveform') || u.includes('/audio') || e.startTime > t) continue;
        const pts = u.match(/max_points=(\d+)/);
        parts.push(u.split('?')[0] + (pts ? '(' + pts[1] + ')' : '') + ' ' + Math.round(e.startTime) + '-' +
          Math.round(e.responseEnd) + (e.encodedBodySize ? ' ' + Math.round(e.encodedBodySize / 1024) + ' KB' : ''));
      }
      return {t, parts};
    }, mark);
    await ctx.close();
    return r;
  };
  for (const [label, path, mark] of [
    ['library view: first map drawn', '/?view=library', 'map-drawn'],
    ['library view: 50k-point map drawn', '/?view=library', 'map-complete'],
    ['search by id: results shown', '/?id=4242', 'results-shown'],
    ['search by id + tag: results shown', '/?id=4242&tag=Tag%2017', 'results-shown'],
    ['find box listing: results shown', '/?q=kit3', 'results-shown'],
    ['start page: facets shown', '/', 'facets-shown'],
    ['library + tag filter: map drawn', '/?view=library&tag=Tag%2017', 'map-drawn'],
  ]) {
    const rs = bases.map(() => []);
    for (let i = 0; i < runs; i++) {
      for (let b = 0; b < bases.length; b++) rs[b].push(await once(bases[b], path, mark));
    }
    for (let b = 0; b < bases.length; b++) {
      rs[b].sort((x, y) => x.t - y.t);
      const med = rs[b][Math.floor(rs[b].length / 2)];
      console.log((bases.length > 1 ? bases[b] + ' ' : '') + label.padEnd(36), 'median', String(med.t).padStart(5),
        'ms; all', rs[b].map((r) => r.t).join(' '));
      console.log('    ' + med.parts.join(' | '));
    }
  }
  await browser.close();
} else {
  console.error('usage: node tools/page_load.mjs gen DIR [N] | measure URL [RUNS]');
  process.exit(2);
}
