// earshot web page: search by file / recording / library item / several items, results with
// waveform players (one plays at a time, click to seek), download (or drag out as a file) and
// "more like this"; the query in the URL (Back/Forward, shareable links); a library map on a
// canvas (zoom, pan, box and lasso select, search near a spot, hover to audition, keyboard) and a
// paged item list.
// Plain ES2020, no build step. The JSON API is documented in docs/http-api.md.
'use strict';

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) e.append(c);
  return e;
};

const state = {
  query: null,        // {kind: 'file', file: File} | {kind: 'id', id, name}
  models: [],
  defaultModel: '',
  page: {offset: 0, limit: 20, total: 0},
  itemsKey: null,     // the filters of the item list shown
  map: null,          // last /api/map response
  names: new Map(),   // item id -> name, from everything seen so far
  results: [],        // the current results (ringed on the map)
  tab: 'search',
  maxUpload: 0,       // the server's upload limit in bytes (0 = unknown)
  zip: true,          // the server zips a selection (GET /api/zip)
  // Filters on every list: text (name, path or tag), tags (all of them), one folder (relative to
  // the library root). They narrow the audio search (inside it), the listing, the map and the list.
  filters: {q: '', tags: [], folder: ''},
  mapKey: '',         // model and filters of the map shown
  facetsOpen: {},     // per view: the facet lists opened or folded by the user
};

// Performance marks (earshot:map-drawn, earshot:results-shown, ...), the first of each kind
// since the page opened: how long a page load took (docs/performance.md "Page load").
function mark(name) {
  if (performance.getEntriesByName('earshot:' + name).length === 0) performance.mark('earshot:' + name);
}

const hasFilters = (f = state.filters) => f.q !== '' || f.tags.length > 0 || f.folder !== '';

// The filters as API parameters (tag repeated: tag names may contain commas).
function filterParams(f = state.filters, {folder = true} = {}) {
  const u = new URLSearchParams();
  if (f.q) u.set('q', f.q);
  for (const t of f.tags) u.append('tag', t);
  if (folder && f.folder) u.set('folder', f.folder);
  return u;
}

// The filters in words: “tuner”, tag Guitar, in 04_bass.
function describeFilters(f = state.filters) {
  const parts = [];
  if (f.q) parts.push('“' + f.q + '”');
  for (const t of f.tags) parts.push('tag ' + t);
  if (f.folder) parts.push('in ' + f.folder);
  return parts.join(', ');
}

// Access token: a server started with --token-file answers 401 to /api/ requests without
// "Authorization: Bearer <token>". The page then asks once and keeps the token in localStorage;
// audio and download links carry it as ?access_token= (media elements cannot send headers).
// A server without a token never answers 401, so nothing is asked.
const TOKEN_KEY = 'earshot.token';
let token = '';
try {
  token = localStorage.getItem(TOKEN_KEY) || '';
} catch (e) {
  token = '';
}
let tokenPrompt = null;

function askToken(wrong) {
  if (!tokenPrompt) {
    tokenPrompt = new Promise((resolve) => setTimeout(() => {
      const t = window.prompt(wrong ? 'That token was refused. Access token for this earshot server:'
                                    : 'This earshot server needs an access token:', '');
      tokenPrompt = null;
      resolve(t ? t.trim() : '');
    }, 0));
  }
  return tokenPrompt;
}

function mediaUrl(id, kind) {
  const url = '/api/items/' + id + '/' + kind;
  return token ? url + '?access_token=' + encodeURIComponent(token) : url;
}

// Drag a sound out of the browser as a file (onto the desktop, a folder or a DAW): Chromium
// saves a drag carrying "DownloadURL" (mime:name:absolute URL) as that file; other browsers get
// the link (text/uri-list). ':' cannot stand in the name part, so it becomes '_'.
const AUDIO_MIME = {wav: 'audio/wav', flac: 'audio/flac', mp3: 'audio/mpeg', ogg: 'audio/ogg',
  oga: 'audio/ogg', opus: 'audio/ogg', m4a: 'audio/mp4', aac: 'audio/aac', aif: 'audio/aiff',
  aiff: 'audio/aiff'};

function dragAsFile(node, id, name) {
  node.setAttribute('draggable', 'true');
  node.addEventListener('dragstart', (e) => {
    const url = new URL(mediaUrl(id, 'download'), location.href).href;
    const ext = (name.match(/\.([A-Za-z0-9]+)$/) || [])[1];
    const mime = AUDIO_MIME[(ext || '').toLowerCase()] || 'application/octet-stream';
    e.dataTransfer.setData('DownloadURL', mime + ':' + name.replace(/:/g, '_') + ':' + url);
    e.dataTransfer.setData('text/uri-list', url);
    e.dataTransfer.setData('text/plain', url);
    e.dataTransfer.effectAllowed = 'copy';
  });
}

async function api(path, options = {}) {
  let res;
  for (let attempt = 0; ; attempt++) {
    const sent = token;
    const opts = Object.assign({}, options, {headers: Object.assign({}, options.headers || {})});
    if (sent) opts.headers['Authorization'] = 'Bearer ' + sent;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new Error('the server cannot be reached (' + e.message + ')');
    }
    if (res.status !== 401 || attempt >= 3) break;
    if (token !== sent) continue;  // another request got a new token meanwhile
    const t = await askToken(sent !== '');
    if (!t) break;
    if (t !== token) {
      token = t;
      try {
        localStorage.setItem(TOKEN_KEY, token);
      } catch (e) { /* private mode: keep it for this page only */ }
    }
  }
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  if (!res.ok) {
    const msg = body && body.error ? body.error.message : res.status + ' ' + res.statusText;
    const err = new Error(msg);
    err.status = res.status;
    err.code = body && body.error ? body.error.code : '';
    throw err;
  }
  return body;
}

function setStatus(target, text, kind = '') {
  target.textContent = text;
  target.className = (target.id === 'status' ? 'status ' : 'hint ') + kind;
  target.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}

// 12,345: thousands with commas (not toLocaleString: its first call costs ~0.1 s of ICU set-up).
const fmtCount = (n) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

const fmtSeconds = (s) => (s < 10 ? s.toFixed(2) : s.toFixed(1)) + ' s';

const fmtClock = (s) => {
  if (!isFinite(s) || s < 0) s = 0;
  const m = Math.floor(s / 60);
  const sec = s - m * 60;
  return m + ':' + (sec < 10 ? '0' : '') + sec.toFixed(1);
};

// Sizes as people read them: 16 B, 3.4 KB, 12.0 MB (powers of 1024).
function fmtBytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10 * 1024 ? 1 : 0) + ' KB';
  if (n < 1024 * 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + ' MB';
  return (n / 1024 / 1024 / 1024).toFixed(1) + ' GB';
}

// A file name with break opportunities after _ - . and spaces, so long names wrap between
// words rather than mid-word (textContent stays the name).
function nameNode(name) {
  const span = document.createDocumentFragment();
  const parts = String(name).split(/(?<=[_\-. ])/);
  parts.forEach((part, i) => {
    span.append(part);
    if (i < parts.length - 1) span.append(document.createElement('wbr'));
  });
  return span;
}

// The folder a path is in, as its last two levels ("gm_fluidr3/03_guitar").
function folderOf(path) {
  const parts = String(path || '').split('/').filter((p) => p !== '');
  parts.pop();
  return parts.slice(-2).join('/');
}

// A duration box: "", "0.5", "0,5", ".5" are fine; anything else is an error message.
function parseSeconds(text, label) {
  const t = text.trim();
  if (t === '') return {value: null};
  if (!/^(\d+([.,]\d*)?|[.,]\d+)$/.test(t)) {
    return {error: label + ': “' + t + '” is not a number of seconds (e.g. 0.5 or 0,5)'};
  }
  return {value: Number(t.replace(',', '.'))};
}

const MAX_K = 1000;  // the API's limit for k (docs/http-api.md)

// The options as the API wants them, or {error} when a box holds something unusable.
function readOptions() {
  const kText = $('#k').value.trim() || '10';
  const k = Number(kText);
  if (!/^\d+$/.test(kText) || k < 1 || k > MAX_K) {
    return {error: 'Results: give a whole number from 1 to ' + MAX_K + ' (got “' + kText + '”)', field: '#k'};
  }
  const min = parseSeconds($('#min-duration').value, 'Min s');
  if (min.error) return {error: min.error, field: '#min-duration'};
  const max = parseSeconds($('#max-duration').value, 'Max s');
  if (max.error) return {error: max.error, field: '#max-duration'};
  if (min.value !== null && max.value !== null && min.value > max.value) {
    return {error: 'Min s (' + min.value + ') is above Max s (' + max.value + ')', field: '#min-duration'};
  }
  return {model: $('#model').value, metric: $('#metric').value, by: $('#by').value, k,
    min: min.value, max: max.value};
}

// ---- one player at a time ---------------------------------------------------------------------

// Whatever starts playing stops every other player on the page.
document.addEventListener('play', (ev) => {
  for (const a of document.querySelectorAll('audio')) {
    if (a !== ev.target && !a.paused) a.pause();
  }
  if (hoverAudio !== ev.target && !hoverAudio.paused) hoverAudio.pause();
}, true);
const hoverAudio = new Audio();  // map hover previews (not in the document)
hoverAudio.preload = 'auto';
hoverAudio.addEventListener('play', () => {
  for (const a of document.querySelectorAll('audio')) if (!a.paused) a.pause();
});

// Starts `audio` at `t` seconds (loading it first if needed).
function playAt(audio, t) {
  const go = () => {
    if (t !== null) audio.currentTime = Math.min(t, Math.max(0, (audio.duration || t) - 0.01));
    audio.play().catch(() => {});
  };
  if (audio.readyState >= 1) {
    go();
  } else {
    audio.addEventListener('loadedmetadata', go, {once: true});
    audio.preload = 'auto';
    audio.load();
  }
}

// A compact player: ▶/■ button, waveform (click to seek, playhead while playing), time.
// `peaks` arrive later (setPeaks); `duration` is known before playing (from the catalog).
function makePlayer(root, audio, duration, label) {
  const btn = root.querySelector('.play');
  const canvas = root.querySelector('canvas.wave');
  const time = root.querySelector('.time');
  const p = {audio, canvas, duration, peaks: null, span: null, onSpan: null};
  const total = () => (isFinite(audio.duration) && audio.duration > 0 ? audio.duration : p.duration);
  const showTime = () => {
    time.textContent = fmtClock(audio.currentTime || 0) + ' / ' + fmtClock(total());
  };
  p.draw = () => drawPeaks(canvas, p.peaks, p.span, total(), audio.currentTime || 0, !audio.paused || audio.currentTime > 0);
  let raf = 0;
  const tick = () => {
    p.draw();
    showTime();
    raf = audio.paused ? 0 : requestAnimationFrame(tick);
  };
  audio.addEventListener('play', () => {
    btn.textContent = '■';
    btn.setAttribute('aria-label', 'Stop ' + label);
    root.classList.add('playing');
    if (!raf) raf = requestAnimationFrame(tick);
  });
  audio.addEventListener('pause', () => {
    btn.textContent = '▶';
    btn.setAttribute('aria-label', 'Play ' + label);
    root.classList.remove('playing');
    tick();
  });
  audio.addEventListener('ended', () => { audio.currentTime = 0; tick(); });
  audio.addEventListener('timeupdate', () => { if (!raf) tick(); });
  audio.addEventListener('loadedmetadata', showTime);
  btn.setAttribute('aria-label', 'Play ' + label);
  btn.addEventListener('click', () => p.toggle());
  p.toggle = () => {
    if (audio.paused) playAt(audio, null); else audio.pause();
  };
  // Click on the waveform seeks (and plays); a drag selects a span when onSpan is set.
  let down = null;
  canvas.addEventListener('pointerdown', (ev) => { down = ev.offsetX; });
  canvas.addEventListener('pointerup', (ev) => {
    if (down === null) return;
    const w = canvas.clientWidth || 1;
    const a = Math.min(down, ev.offsetX) / w;
    const b = Math.max(down, ev.offsetX) / w;
    down = null;
    if (p.onSpan && (b - a) * total() >= 0.2) {
      p.onSpan(a * total(), b * total());
      return;
    }
    const frac = Math.max(0, Math.min(1, ev.offsetX / w));
    playAt(audio, frac * total());
  });
  canvas.style.cursor = 'pointer';
  canvas.title = 'Click to play from here';
  showTime();
  p.setPeaks = (peaks) => {
    p.peaks = peaks;
    p.draw();
    canvas.dataset.drawn = 'true';
  };
  p.setSpan = (span) => {
    p.span = span;
    if (span) canvas.dataset.span = span[0].toFixed(2) + '-' + span[1].toFixed(2);
    p.draw();
  };
  return p;
}

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function drawPeaks(canvas, peaks, span, duration, t, showHead) {
  const ctx = canvas.getContext('2d');
  const {width, height} = canvas;
  ctx.clearRect(0, 0, width, height);
  if (peaks && peaks.length > 0) {
    const n = peaks.length;
    const bar = width / n;
    const top = Math.max(...peaks, 1e-3);  // normalised: quiet files still show their shape
    const head = duration > 0 ? t / duration * width : 0;
    const wave = cssVar('--wave', '#5b8def');
    const played = cssVar('--accent', '#2f5fd0');
    for (let i = 0; i < n; i++) {
      const h = Math.max(1, peaks[i] / top * (height - 2));
      ctx.fillStyle = showHead && i * bar < head ? played : wave;
      ctx.fillRect(i * bar, (height - h) / 2, Math.max(1, bar - 0.5), h);
    }
  }
  if (span && duration > 0) {
    const x0 = span[0] / duration * width;
    const x1 = Math.max(x0 + 2, span[1] / duration * width);
    ctx.fillStyle = cssVar('--ok', '#1f6f43');
    ctx.globalAlpha = 0.3;
    ctx.fillRect(x0, 0, x1 - x0, height);
    ctx.globalAlpha = 1;
  }
  if (showHead && duration > 0) {
    const x = Math.min(width - 1, t / duration * width);
    ctx.fillStyle = cssVar('--fg', '#1d2330');
    ctx.fillRect(x, 0, 2, height);
    canvas.dataset.playhead = (t / duration).toFixed(3);
  }
}

async function fetchPeaks(id) {
  try {
    return (await api('/api/items/' + id + '/waveform?points=160')).peaks;
  } catch (e) {
    return null;  // no thumbnail; the player still works
  }
}

// Peaks of a local file (the uploaded query), decoded in the browser.
async function filePeaks(file, points = 160) {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    const ctx = new Ctx();
    const buf = await ctx.decodeAudioData(await file.arrayBuffer());
    ctx.close();
    const data = buf.getChannelData(0);
    const per = Math.max(1, Math.floor(data.length / points));
    const peaks = [];
    for (let i = 0; i < points; i++) {
      let m = 0;
      for (let j = i * per; j < Math.min(data.length, (i + 1) * per); j++) m = Math.max(m, Math.abs(data[j]));
      peaks.push(m);
    }
    return {peaks, duration: buf.duration};
  } catch (e) {
    return null;
  }
}

// ---- tabs -----------------------------------------------------------------------------------

function showTab(name, updateUrl = true) {
  for (const t of ['search', 'library']) {
    const tab = $('#tab-' + t);
    const on = t === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $('#view-' + t).hidden = !on;
  }
  state.tab = name;
  const slot = document.querySelector('.filters-slot[data-view="' + name + '"]');
  if (slot && $('#filters').parentElement !== slot) {
    slot.append($('#filters'));
    // Facet lists: open in the search view's side column on a wide screen, folded above the map
    // (and on a phone) unless opened there before.
    const open = state.facetsOpen[name] !== undefined ? state.facetsOpen[name]
      : name === 'search' && window.matchMedia('(min-width: 900px)').matches;
    for (const d of document.querySelectorAll('#filters details')) d.open = open;
  }
  if (name === 'library') {
    if (!state.map || state.mapKey !== mapKey()) state.mapLoading = loadMap();
    else mapView.resize();
    if ($('#items').children.length === 0 || state.itemsKey !== filterParams().toString()) loadItems();
  }
  if (updateUrl) writeUrl(false);
}

function setupTabs() {
  const tabs = ['search', 'library'];
  tabs.forEach((t, i) => {
    const tab = $('#tab-' + t);
    tab.addEventListener('click', () => showTab(t));
    tab.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        const next = tabs[(i + (ev.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
        showTab(next);
        $('#tab-' + next).focus();
      }
    });
  });
}

// ---- URL state: the search (by item), its options and the view live in the query string --------

function writeUrl(push) {
  const u = new URLSearchParams();
  const q = state.query;
  if (q && q.kind === 'id') {
    u.set('id', String(q.id));
    if (q.span) {
      u.set('start', q.span[0].toFixed(2));
      u.set('end', q.span[1].toFixed(2));
    }
  } else if (q && q.kind === 'ids') {
    u.set('ids', q.ids.join(','));
  }
  const model = $('#model').value;
  if (model && model !== state.defaultModel) u.set('model', model);
  if ($('#metric').value !== 'cosine') u.set('metric', $('#metric').value);
  if ($('#by').value !== 'items') u.set('by', $('#by').value);
  if ($('#k').value && $('#k').value !== '10') u.set('k', $('#k').value);
  if ($('#min-duration').value.trim()) u.set('min', $('#min-duration').value.trim());
  if ($('#max-duration').value.trim()) u.set('max', $('#max-duration').value.trim());
  for (const [key, value] of filterParams()) u.append(key, value);
  if (state.tab === 'library') u.set('view', 'library');
  const text = u.toString();
  const url = location.pathname + (text ? '?' + text : '');
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
}

// Sets the form from the URL; runs the search it names (without adding to the history).
function readUrl() {
  const u = new URLSearchParams(location.search);
  if (u.get('model') && [...$('#model').options].some((o) => o.value === u.get('model'))) {
    $('#model').value = u.get('model');
  } else {
    $('#model').value = state.defaultModel;
  }
  $('#metric').value = u.get('metric') || 'cosine';
  if (!$('#metric').value) $('#metric').value = 'cosine';
  $('#by').value = u.get('by') === 'segments' ? 'segments' : 'items';
  $('#k').value = u.get('k') || '10';
  $('#min-duration').value = u.get('min') || '';
  $('#max-duration').value = u.get('max') || '';
  state.filters = {q: (u.get('q') || '').trim(), tags: [...new Set(u.getAll('tag').filter((t) => t !== ''))],
    folder: u.get('folder') || ''};
  $('#filter').value = state.filters.q;
  renderActiveFilters();
  const id = Number(u.get('id'));
  const ids = (u.get('ids') || '').split(',').map(Number).filter((n) => n > 0);
  let search = false;
  if (id > 0) {
    const start = Number(u.get('start'));
    const end = Number(u.get('end'));
    const span = u.has('start') && u.has('end') && end > start ? [start, end] : null;
    setQueryItem(id, state.names.get(id) || 'item ' + id, span);
    search = true;
  } else if (ids.length > 0) {
    setQueryItems(ids);
    search = true;
  } else if (state.query && state.query.kind !== 'file') {
    state.query = null;
    $('#query').textContent = 'No query yet.';
    $('#query-player').hidden = true;
    $('#results').replaceChildren();
    state.results = [];
    setStatus($('#status'), '');
  }
  state.mapLoading = null;
  showTab(u.get('view') === 'library' ? 'library' : 'search', false);
  const first = search || (state.query && state.query.kind === 'file') ? runSearch({push: false}) : refreshListing();
  facetsAfter([first, state.mapLoading]);
}

// ---- query input: pick, drop, record ----------------------------------------------------------

function setQueryFile(file) {
  state.query = {kind: 'file', file};
  $('#query').textContent = 'Query: ' + file.name + ' (' + fmtBytes(file.size) + ')';
  if (state.maxUpload && file.size > state.maxUpload) {
    setStatus($('#status'), '“' + file.name + '” is ' + fmtBytes(file.size) + '; this server accepts uploads up to ' +
      fmtBytes(state.maxUpload) + ' (start earshot serve with a larger --max-upload-mb to raise the limit).', 'error');
    $('#query-player').hidden = true;
    return;
  }
  showQueryPlayer({url: URL.createObjectURL(file), name: file.name, file});
  runSearch({push: true});
}

function setQueryItem(id, name, span = null) {
  state.query = {kind: 'id', id, name: span ? name + ' ' + fmtSpan(span[0], span[1]) : name, span, item: name};
  $('#query').textContent = 'Query: library item “' + name + '”' + (span ? ', ' + fmtSpan(span[0], span[1]) : '');
  showQueryPlayer({url: mediaUrl(id, 'audio'), name, id, span});
  if (!state.names.has(id)) {
    // A link opened from elsewhere: fetch the item's name and duration.
    api('/api/items/' + id).then((it) => {
      state.names.set(id, it.name);
      if (state.query && state.query.kind === 'id' && state.query.id === id) {
        state.query.item = it.name;
        state.query.name = span ? it.name + ' ' + fmtSpan(span[0], span[1]) : it.name;
        $('#query').textContent = 'Query: library item “' + it.name + '”' + (span ? ', ' + fmtSpan(span[0], span[1]) : '');
        if (queryPlayer) {
          queryPlayer.duration = it.duration_s;
          queryPlayer.draw();
        }
      }
    }).catch(() => {});
  }
}

function setQueryItems(ids) {
  state.query = {kind: 'ids', ids, name: ids.length + ' selected sounds'};
  $('#query').textContent = 'Query: the average of ' + ids.length + ' library sounds';
  $('#query-player').hidden = true;
}

// The query's own player and waveform, to compare results with by ear.
let queryPlayer = null;
function showQueryPlayer({url, name, file, id, span}) {
  const box = $('#query-player');
  const old = box.querySelector('audio');
  if (old) {
    old.pause();
    if (old.src.startsWith('blob:')) URL.revokeObjectURL(old.src);
  }
  const audio = el('audio', {id: 'query-audio', preload: 'metadata', src: url});
  box.replaceChildren(
    el('button', {type: 'button', class: 'btn play'}, '▶'),
    el('canvas', {class: 'wave', width: 640, height: 48, 'aria-hidden': 'true'}),
    el('span', {class: 'time'}),
    audio);
  box.hidden = false;
  const player = makePlayer(box, audio, 0, 'the query ' + name);
  queryPlayer = player;
  if (span) player.setSpan(span);
  if (file) {
    filePeaks(file).then((r) => {
      if (r && queryPlayer === player) {
        player.duration = r.duration;
        player.setPeaks(r.peaks);
      }
    });
  } else {
    fetchPeaks(id).then((peaks) => {
      if (peaks && queryPlayer === player) player.setPeaks(peaks);
    });
  }
}

function setupInput() {
  const drop = $('#drop');
  const input = $('#file');
  $('#pick').addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    if (input.files.length > 0) setQueryFile(input.files[0]);
  });
  for (const ev of ['dragenter', 'dragover']) {
    drop.addEventListener(ev, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  }
  for (const ev of ['dragleave', 'drop']) {
    drop.addEventListener(ev, () => drop.classList.remove('over'));
  }
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) setQueryFile(f);
  });
  setupRecorder();
}

function setupRecorder() {
  const btn = $('#record');
  if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder)) {
    return;  // not available (e.g. plain http on a non-local address): keep the button hidden
  }
  btn.hidden = false;
  let recorder = null;
  btn.addEventListener('click', async () => {
    if (recorder && recorder.state === 'recording') {
      recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: true});
    } catch (e) {
      setStatus($('#status'), 'Microphone not available: ' + e.message, 'error');
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener('dataavailable', (e) => chunks.push(e.data));
    recorder.addEventListener('stop', () => {
      stream.getTracks().forEach((t) => t.stop());
      btn.textContent = '● Record';
      btn.setAttribute('aria-pressed', 'false');
      const type = recorder.mimeType || 'audio/webm';
      const ext = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
      setQueryFile(new File(chunks, 'recording.' + ext, {type}));
    });
    recorder.start();
    btn.textContent = '■ Stop recording';
    btn.setAttribute('aria-pressed', 'true');
    setStatus($('#status'), 'Recording… press Stop when done.');
  });
}

// ---- search -----------------------------------------------------------------------------------

function searchForm(opts) {
  const fd = new FormData();
  const q = state.query;
  if (q.kind === 'file') fd.append('file', q.file, q.file.name);
  else if (q.kind === 'ids') fd.append('ids', q.ids.join(','));
  else fd.append('id', String(q.id));
  fd.append('model', opts.model);
  fd.append('metric', opts.metric);
  fd.append('k', String(opts.k));
  if (opts.min !== null) fd.append('min_duration', String(opts.min));
  if (opts.max !== null) fd.append('max_duration', String(opts.max));
  fd.append('by', q.kind === 'ids' ? 'items' : opts.by);
  if (q.kind === 'id' && q.span) {
    fd.append('start', String(q.span[0]));
    fd.append('end', String(q.span[1]));
  }
  for (const [key, value] of filterParams()) fd.append(key, value);
  if (q.allowSilent) fd.append('allow_silent', '1');
  return fd;
}

let searchSeq = 0;
// Runs the current query. A failed search keeps the previous results and says why.
// push: add a history entry (a new query) rather than replace the current one (options).
async function runSearch({push = false, focus = false} = {}) {
  const status = $('#status');
  if (!state.query) {
    setStatus(status, 'Choose, drop or record an audio file first.', 'error');
    return;
  }
  const opts = readOptions();
  if (opts.error) {
    ++searchSeq;  // a search still running must not overwrite the message
    $('#search-btn').disabled = false;
    $('#results').removeAttribute('aria-busy');
    setStatus(status, opts.error, 'error');
    $(opts.field).setAttribute('aria-invalid', 'true');
    return;
  }
  for (const f of ['#k', '#min-duration', '#max-duration']) $(f).removeAttribute('aria-invalid');
  writeUrl(push);
  const seq = ++searchSeq;
  const btn = $('#search-btn');
  btn.disabled = true;
  $('#results').setAttribute('aria-busy', 'true');
  setStatus(status, 'Searching…', 'loading');
  const t0 = performance.now();
  try {
    const resp = await api('/api/search', {method: 'POST', body: searchForm(opts)});
    if (seq !== searchSeq) return;
    renderResults(resp);
    mark('results-shown');
    const ms = Math.round(performance.now() - t0);
    const only = hasFilters() ? ' · only ' + describeFilters() : '';
    setStatus(status, resp.results.length === 0
      ? (hasFilters() ? 'No results among the sounds matching ' + describeFilters() + ' (remove a filter above).'
        : 'No results (try a wider duration range).')
      : resp.results.length + ' results for ' + queryLabel() + ' · ' + resp.model + ', ' + resp.metric +
        ' · ' + ms + ' ms' + only, 'ok');
    if (focus) {
      const first = $('#results li.card');
      (first || $('#query')).focus();
    }
  } catch (e) {
    if (seq !== searchSeq) return;
    // The previous results stay (marked as such) so nothing the user was looking at is lost.
    const kept = $('#results').children.length;
    const previous = kept ? ' (the results below are from the previous search)' : '';
    if (e.code === 'SilentQuery') {
      // 422: the query is (nearly) silent, so its neighbours would be noise. Say so, and offer
      // to search anyway (allow_silent=1).
      const peak = /\(peak ([^,)]*)/.exec(e.message);
      setStatus(status, 'Not searched: ' + queryLabel() + ' is silent' + (peak ? ' (peak ' + peak[1] + ')' : '') +
        ', so the sounds nearest to it would be noise rather than matches. Try a louder recording or another stretch.' +
        previous + ' ', 'error');
      status.classList.add('silent');
      const q = state.query;
      status.append(el('button', {type: 'button', id: 'search-anyway', class: 'btn',
        onclick: () => {
          if (state.query !== q) return;
          q.allowSilent = true;
          runSearch({push: false});
        }}, 'Search anyway'));
      return;
    }
    setStatus(status, 'Search failed: ' + e.message + previous, 'error');
  } finally {
    if (seq === searchSeq) {
      btn.disabled = false;
      $('#results').removeAttribute('aria-busy');
    }
  }
}

function queryLabel() {
  const q = state.query;
  return q.kind === 'file' ? q.file.name : q.kind === 'ids' ? q.name : '“' + q.name + '”';
}

function moreLikeThis(id, name, {focus = true} = {}) {
  state.names.set(id, name);
  setQueryItem(id, name);
  showTab('search', false);
  runSearch({push: true, focus});
  $('#status').scrollIntoView({block: 'nearest'});
}

// "More like this segment": the item's stored segments over [start, end] are the query.
function moreLikeThisSpan(id, name, start, end) {
  state.names.set(id, name);
  $('#by').value = 'segments';
  setQueryItem(id, name, [start, end]);
  showTab('search', false);
  runSearch({push: true, focus: true});
  $('#status').scrollIntoView({block: 'nearest'});
}

// "Search like these": the average of several items (map selection, or the points near a spot).
function searchLikeThese(ids, {stay = false} = {}) {
  setQueryItems(ids);
  if (!stay) showTab('search', false);
  runSearch({push: true, focus: !stay});
}

function fmtSpan(a, b) {
  return a.toFixed(1) + '–' + b.toFixed(1) + ' s';
}

// A score people can read. cosine/correlation scores are 1 − distance (1 = same direction);
// euclidean/manhattan scores are 1 / (1 + distance), whose size depends on the model's scale.
function readableScore(score, metric) {
  if (metric === 'cosine' || metric === 'correlation') {
    if (score >= 0.9) return 'very similar';
    if (score >= 0.75) return 'similar';
    if (score >= 0.5) return 'somewhat similar';
    return 'not very similar';
  }
  return '';
}

const METRIC_HINTS = {
  cosine: 'Score = 1 − cosine distance: 1 means the same sound profile; above 0.9 is very similar.',
  correlation: 'Score = 1 − correlation distance (like cosine, after removing each vector’s mean): 1 is the same profile.',
  euclidean: 'Score = 1 / (1 + euclidean distance): higher is closer, but the scale depends on the model — compare scores within one list, not across models.',
  manhattan: 'Score = 1 / (1 + manhattan distance): higher is closer, but the scale depends on the model — compare scores within one list, not across models.',
};

function updateMetricHint() {
  $('#metric-hint').textContent = METRIC_HINTS[$('#metric').value] || '';
}

function renderResults(resp) {
  const list = $('#results');
  for (const a of list.querySelectorAll('audio')) a.pause();
  list.replaceChildren();
  state.results = resp.results;
  let first = true;
  for (const r of resp.results) {
    state.names.set(r.id, r.name);
    const audio = el('audio', {preload: 'none', src: mediaUrl(r.id, 'audio')});
    const readable = readableScore(r.score, resp.metric);
    const folder = folderOf(r.path);
    const playerBox = el('div', {class: 'player'},
      el('button', {type: 'button', class: 'btn play', tabindex: first ? '0' : '-1'}, '▶'),
      el('canvas', {class: 'wave', width: 320, height: 48, 'aria-hidden': 'true'}),
      el('span', {class: 'time'}),
      audio);
    const nameEl = el('span', {class: 'name', title: r.path + ' (drag out to save the file)'});
    nameEl.append(nameNode(r.name));
    dragAsFile(nameEl, r.id, r.name);
    const head = el('div', {class: 'card-head'},
      el('span', {class: 'rank', 'aria-label': 'rank ' + r.rank}, String(r.rank)),
      nameEl,
      el('span', {class: 'meta', title: METRIC_HINTS[resp.metric] || ''},
        fmtSeconds(r.duration_s) + (typeof r.score === 'number'
          ? ' · ' + (readable ? readable + ' · ' : '') + 'score ' + r.score.toFixed(3) : '')));
    const li = el('li', {class: 'card', 'data-id': r.id, tabindex: first ? '0' : '-1',
      'aria-label': r.rank + '. ' + r.name + (readable ? ', ' + readable : '') + ', ' + fmtSeconds(r.duration_s)},
    head,
    el('div', {class: 'folder'}, folder ? 'in ' + folder : ''));
    if (r.tags && r.tags.length > 0) li.append(tagChips(r.tags));
    if (r.same_recording) {
      // Another encode / gain / trim of the query (docs/dedup.md); "Hide same recording" hides it.
      li.classList.add('same-recording');
      head.append(el('span', {class: 'badge same-rec', title: 'The same recording as the query (another encode, gain or trim)'},
        'same recording'));
    }
    li.append(playerBox);
    const player = makePlayer(playerBox, audio, r.duration_s, r.name);
    li.player = player;
    li.result = r;
    const actions = el('div', {class: 'card-actions'},
      el('a', {class: 'btn download', href: mediaUrl(r.id, 'download'), download: r.name, tabindex: first ? '0' : '-1',
        title: 'Download, or drag out as a file'}, 'Download'),
      el('button', {type: 'button', class: 'btn more', tabindex: first ? '0' : '-1',
        onclick: () => moreLikeThis(r.id, r.name)}, 'More like this'));
    dragAsFile(actions.querySelector('a.download'), r.id, r.name);
    if (r.match) {
      // The matched span: drawn on the waveform, played from its start, searchable on its own.
      // Dragging across the waveform selects another span.
      let span = [r.match.item_start_s, r.match.item_end_s];
      const label = el('div', {class: 'match'}, 'matched ' + fmtSpan(span[0], span[1]) +
        ' (query ' + fmtSpan(r.match.query_start_s, r.match.query_end_s) + ')');
      li.insertBefore(label, playerBox);
      player.setSpan(span);
      player.onSpan = (a, b) => {
        span = [a, b];
        label.textContent = 'selected ' + fmtSpan(a, b);
        player.setSpan(span);
      };
      actions.append(
        el('button', {type: 'button', class: 'btn play-match', tabindex: '-1',
          onclick: () => playAt(audio, span[0])}, '▶ Play match'),
        el('button', {type: 'button', class: 'btn more-span', tabindex: '-1',
          onclick: () => moreLikeThisSpan(r.id, r.name, span[0], span[1])}, 'More like this segment'));
    }
    li.append(actions);
    list.append(li);
    fetchPeaks(r.id).then((peaks) => { if (peaks) player.setPeaks(peaks); });
    first = false;
  }
  $('#keys-hint').hidden = resp.results.length === 0;
  if (state.map) mapView.draw();
  updateMapResults();
}

// Results keyboard: one tab stop for the list (the current card and its buttons); arrows move,
// Space plays/stops, Enter searches for more like it.
function setActiveCard(li, focus) {
  for (const c of $('#results').children) {
    const on = c === li;
    c.tabIndex = on ? 0 : -1;
    for (const b of c.querySelectorAll('.play, a.btn, .more')) b.tabIndex = on ? 0 : -1;
    for (const b of c.querySelectorAll('.play-match, .more-span')) b.tabIndex = on ? 0 : -1;
  }
  if (focus) li.focus();
}

function setupResultKeys() {
  const list = $('#results');
  list.addEventListener('focusin', (ev) => {
    const li = ev.target.closest('li.card');
    if (li && li.tabIndex !== 0) setActiveCard(li, false);
  });
  list.addEventListener('keydown', (ev) => {
    const li = ev.target.closest('li.card');
    if (!li) return;
    const cards = [...list.children];
    const i = cards.indexOf(li);
    let next = null;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowRight') next = cards[Math.min(cards.length - 1, i + 1)];
    else if (ev.key === 'ArrowUp' || ev.key === 'ArrowLeft') next = cards[Math.max(0, i - 1)];
    else if (ev.key === 'Home') next = cards[0];
    else if (ev.key === 'End') next = cards[cards.length - 1];
    if (next) {
      ev.preventDefault();
      setActiveCard(next, true);
      return;
    }
    if (ev.target !== li) return;  // keys on the buttons do what the buttons do
    if (ev.key === ' ') {
      ev.preventDefault();
      li.player.toggle();
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      moreLikeThis(li.result.id, li.result.name);
    }
  });
}

// ---- filters: text, tags, folder ---------------------------------------------------------------

// An item's tags as chips; a click shows only sounds with that tag (one tab stop less per card:
// the facets above reach the same tags by keyboard).
function tagChips(tags) {
  const ul = el('ul', {class: 'chips tags', 'aria-label': 'Tags'});
  for (const t of tags) {
    const on = state.filters.tags.some((x) => x.toLowerCase() === t.tag.toLowerCase());
    ul.append(el('li', {}, el('button', {type: 'button', class: 'chip tag', tabindex: '-1', 'data-tag': t.tag,
      'aria-pressed': String(on), title: on ? 'Filtering by “' + t.tag + '”' : 'Show only sounds tagged “' + t.tag +
        '” (' + Math.round(t.score * 100) + '% sure)',
      onclick: () => addTag(t.tag)}, t.tag)));
  }
  return ul;
}

function addTag(tag) {
  if (state.filters.tags.some((x) => x.toLowerCase() === tag.toLowerCase())) return;
  setFilters(Object.assign({}, state.filters, {tags: [...state.filters.tags, tag]}));
}

function removeTag(tag) {
  setFilters(Object.assign({}, state.filters, {tags: state.filters.tags.filter((x) => x !== tag)}));
}

// New filters: into the URL (a history entry: Back undoes a filter), then every list follows.
function setFilters(f, {push = true} = {}) {
  state.filters = {q: f.q.trim(), tags: f.tags, folder: f.folder};
  $('#filter').value = state.filters.q;
  renderActiveFilters();
  state.page.offset = 0;
  let first;
  if (state.query) {
    first = runSearch({push});
  } else {
    writeUrl(push);
    first = refreshListing();
  }
  let map = null;
  if (state.tab === 'library') {
    if (state.mapKey !== mapKey()) map = loadMap();
    loadItems();
  }
  facetsAfter([first, map]);
}

// The facet counts come after what the user waits for (results, the map): on a big catalog
// they are the slowest queries, and the catalog answers one query at a time.
function facetsAfter(promises) {
  Promise.allSettled(promises.filter(Boolean)).then(() => loadFacets());
}

function renderActiveFilters() {
  const ul = $('#active-filters');
  const f = state.filters;
  ul.replaceChildren();
  const chip = (label, aria, change) => ul.append(el('li', {}, el('button', {type: 'button', class: 'chip on',
    'aria-label': aria, title: aria, onclick: change}, label, el('span', {'aria-hidden': 'true'}, ' ×'))));
  if (f.q) chip('“' + f.q + '”', 'Remove the text filter “' + f.q + '”', () => setFilters(Object.assign({}, f, {q: ''})));
  for (const t of f.tags) chip('tag: ' + t, 'Remove the tag filter ' + t, () => removeTag(t));
  if (f.folder) chip('in ' + f.folder, 'Remove the folder filter ' + f.folder, () => setFilters(Object.assign({}, f, {folder: ''})));
  if ((f.q ? 1 : 0) + f.tags.length + (f.folder ? 1 : 0) >= 2) {
    ul.append(el('li', {}, el('button', {type: 'button', class: 'chip clear', onclick: () => setFilters({q: '', tags: [], folder: ''})},
      'Clear all')));
  }
  ul.hidden = !hasFilters();
}

// Facets: tags and folders with how many sounds (passing the other filters) have them. The folder
// list leaves the folder filter out, so the other folders stay there to switch to.
let facetSeq = 0;
async function loadFacets() {
  const seq = ++facetSeq;
  const tagUrl = '/api/tags?limit=100' + (hasFilters() ? '&' + filterParams() : '');
  const noFolder = filterParams(state.filters, {folder: false}).toString();
  const folderUrl = '/api/folders' + (noFolder ? '?' + noFolder : '');
  let tags;
  let folders;
  try {
    [tags, folders] = await Promise.all([api(tagUrl), api(folderUrl)]);
  } catch (e) {
    if (seq === facetSeq) $('#tag-facets-count').textContent = '(unavailable: ' + e.message + ')';
    return;
  }
  if (seq !== facetSeq) return;
  const active = new Set(state.filters.tags.map((t) => t.toLowerCase()));
  const tagList = $('#tag-list');
  tagList.replaceChildren();
  for (const t of tags.tags) {
    const on = active.has(t.tag.toLowerCase());
    tagList.append(el('li', {}, el('button', {type: 'button', class: 'facet-btn', 'data-tag': t.tag, 'aria-pressed': String(on),
      onclick: () => (on ? removeTag(state.filters.tags.find((x) => x.toLowerCase() === t.tag.toLowerCase())) : addTag(t.tag))},
    el('span', {class: 'facet-name'}, t.tag), ' ', el('span', {class: 'count'}, String(t.count)))));
  }
  if (tags.tags.length === 0) tagList.append(el('li', {class: 'hint'}, hasFilters() ? 'No tags among these sounds.' : 'No tags (earshot reindex --tags adds them).'));
  $('#tag-facets-count').textContent = '(' + tags.tags.length + ')';
  const folderList = $('#folder-list');
  folderList.replaceChildren();
  for (const f of folders.folders) {
    const on = f.folder === state.filters.folder;
    const depth = f.folder.split('/').length - 1;
    folderList.append(el('li', {style: 'padding-left:' + depth * 0.9 + 'em'}, el('button', {type: 'button', class: 'facet-btn',
      'data-folder': f.folder, 'aria-pressed': String(on), title: f.folder,
      onclick: () => setFilters(Object.assign({}, state.filters, {folder: on ? '' : f.folder}))},
    el('span', {class: 'facet-name'}, f.folder.split('/').pop()), ' ', el('span', {class: 'count'}, String(f.count)))));
  }
  if (folders.folders.length === 0) folderList.append(el('li', {class: 'hint'}, 'No subfolders.'));
  $('#folder-facets-count').textContent = '(' + folders.folders.length + ')';
  mark('facets-shown');
  for (const list of [tagList, folderList]) rovingReset(list);
}

// A facet list is one tab stop; the arrow keys move within it (Home/End to the ends).
function rovingReset(list) {
  const buttons = [...list.querySelectorAll('button')];
  const current = buttons.find((b) => b.getAttribute('aria-pressed') === 'true') || buttons[0];
  for (const b of buttons) b.tabIndex = b === current ? 0 : -1;
}

function setupRoving(list) {
  list.addEventListener('keydown', (ev) => {
    const buttons = [...list.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    let j = -1;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowRight') j = Math.min(buttons.length - 1, i + 1);
    else if (ev.key === 'ArrowUp' || ev.key === 'ArrowLeft') j = Math.max(0, i - 1);
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = buttons.length - 1;
    if (j < 0) return;
    ev.preventDefault();
    buttons[i].tabIndex = -1;
    buttons[j].tabIndex = 0;
    buttons[j].focus();
  });
}

// Without an audio query, the filters alone list the library's matching sounds as results.
let listingSeq = 0;
async function refreshListing() {
  if (state.query) return;
  const status = $('#status');
  const seq = ++listingSeq;
  if (!hasFilters()) {
    if ($('#results').children.length > 0 || status.textContent) {
      renderResults({results: [], metric: null});
      setStatus(status, '');
    }
    return;
  }
  const opts = readOptions();
  const limit = opts.error ? 10 : opts.k;
  setStatus(status, 'Finding…', 'loading');
  try {
    const r = await api('/api/items?limit=' + limit + '&' + filterParams());
    if (seq !== listingSeq || state.query) return;
    renderResults({results: r.items.map((it, i) => Object.assign({rank: i + 1}, it)), metric: null});
    mark('results-shown');
    setStatus(status, r.total === 0 ? 'No sounds match ' + describeFilters() + '.'
      : (r.total === 1 ? '1 sound matches ' : fmtCount(r.total) + ' sounds match ') + describeFilters() +
        (r.items.length < r.total ? ' (the first ' + r.items.length + ' shown)' : '') +
        '. Choose, drop or record a file to search among them by sound.', 'ok');
  } catch (e) {
    if (seq !== listingSeq) return;
    setStatus(status, 'Could not list the sounds: ' + e.message, 'error');
  }
}

function setupFilters() {
  $('#filters').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('#filter').value.trim();
    if (q.length > 500) return;
    setFilters(Object.assign({}, state.filters, {q}));
  });
  setupRoving($('#tag-list'));
  setupRoving($('#folder-list'));
  for (const d of document.querySelectorAll('#filters details')) {
    // The user's choice (a click on the summary flips it; Enter and Space click it too).
    d.querySelector('summary').addEventListener('click', () => { state.facetsOpen[state.tab] = !d.open; });
  }
}

// ---- models and stats -------------------------------------------------------------------------

// The boot data earshot serve writes into index.html (stats and models, as GET /api/stats and
// /api/models answer them), so the first search or map need not wait for those two requests.
// null when absent (a server with a token, or the page opened some other way): then they are asked.
function bootData() {
  const e = document.getElementById('earshot-boot');
  if (!e || !e.textContent.trim()) return null;
  try {
    const b = JSON.parse(e.textContent);
    return b && b.stats && b.models && Array.isArray(b.models.models) ? b : null;
  } catch (err) {
    return null;
  }
}

async function loadModels() {
  showModels(await api('/api/models'));
}

function showModels(resp) {
  state.defaultModel = resp.default;
  state.models = resp.models.filter((m) => m.items > 0);
  for (const sel of [$('#model'), $('#map-model')]) {
    sel.replaceChildren();
    const models = state.models.length > 0 ? state.models : [{name: resp.default, items: 0}];
    for (const m of models) {
      sel.append(el('option', {value: m.name, selected: m.name === resp.default},
        m.name + ' (' + m.items + ')'));
    }
  }
  // The other models: say they exist and how to add them.
  const others = resp.models.filter((m) => m.items === 0);
  const ready = others.filter((m) => m.weights_found).map((m) => m.name);
  const hint = $('#model-hint');
  if (ready.length > 0) {
    hint.textContent = 'Only models the library is indexed with are listed. Also installed: ' + ready.join(', ') +
      ' — add one with “earshot index --model NAME FOLDER” (earshot models lists them all).';
  } else if (others.length > 0) {
    hint.textContent = 'Only models the library is indexed with are listed; “earshot models” shows the others and where their weights go.';
  } else {
    hint.textContent = '';
  }
}

async function loadStats() {
  try {
    showStats(await api('/api/stats'));
  } catch (e) {
    $('#stats').textContent = '';
  }
}

function showStats(s) {
  const mins = Math.round(s.audio_duration_s / 60);
  state.maxUpload = s.max_upload_bytes || 0;
  $('#stats').textContent = s.items + ' sounds · ' + (mins > 0 ? mins + ' min' : Math.round(s.audio_duration_s) + ' s');
}

// ---- library map (canvas: 100k points draw in a few ms) ----------------------------------------

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
  '#ff9da7', '#9c755f', '#bab0ac', '#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
  '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79'];
const MAP_MAX_POINTS = 50000;  // decimated by the server beyond this (GET /api/map?max_points=)
const MAP_FIRST_POINTS = 10000;  // a bigger map is drawn with this many first, then the rest

function categoryColours(n) {
  if (n <= PALETTE.length) return PALETTE.slice(0, n);
  // More categories than the palette: hues spread by the golden angle, two lightnesses.
  return Array.from({length: n}, (_, i) => 'hsl(' + Math.round(i * 137.508) % 360 + ',65%,' + (i % 2 ? 42 : 55) + '%)');
}

const mapView = {
  pts: [],            // {id, x, y, name, folder, dir, duration_s, cat}
  cats: [],           // category names (by the colour-by choice)
  colours: [],
  zoom: 1, cx: 0, cy: 0,
  focus: -1,          // index of the keyboard / selected point
  selected: new Set(),  // box / lasso / keyboard selection (indices)
  near: null,         // {x, y} world position of an empty-spot click
  box: null,          // {x0, y0, x1, y1} CSS pixels: the box being dragged
  lasso: null,        // [[x, y], ...] CSS pixels: the lasso being drawn
  grid: null,
  canvas: null,
  dpr: 1,
  cw: 0, ch: 0,       // the canvas' CSS size (set by resize)

  init() {
    this.canvas = $('#map');
    const ro = new ResizeObserver(() => this.resize());
    ro.observe(this.canvas.parentElement);
  },
  resize() {
    const c = this.canvas;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (w === 0 || h === 0) return;
    this.cw = w;  // kept: reading clientWidth per point would cost a layout query each time
    this.ch = h;
    this.dpr = window.devicePixelRatio || 1;
    c.width = Math.round(w * this.dpr);
    c.height = Math.round(h * this.dpr);
    this.draw();
  },
  // World [-1, 1]² to CSS pixels of the canvas (the layout fills the canvas' width and height).
  units() {
    const w = this.cw;
    const h = this.ch;
    return {w, h, ux: w / 2 * 0.94 * this.zoom, uy: h / 2 * 0.9 * this.zoom};
  },
  toScreen(p) {
    const {w, h, ux, uy} = this.units();
    return [w / 2 + (p.x - this.cx) * ux, h / 2 - (p.y - this.cy) * uy];
  },
  toWorld(sx, sy) {
    const {w, h, ux, uy} = this.units();
    return [this.cx + (sx - w / 2) / ux, this.cy - (sy - h / 2) / uy];
  },
  radius() {
    const n = this.pts.length;
    const base = n > 20000 ? 1.6 : n > 5000 ? 2.4 : n > 500 ? 3.5 : 6;
    return Math.min(12, base * Math.sqrt(this.zoom));
  },
  setData(m, {keepView = false} = {}) {
    const focusId = keepView && this.focus >= 0 ? this.pts[this.focus].id : null;
    const selectedIds = keepView ? new Set([...this.selected].map((i) => this.pts[i].id)) : new Set();
    if (m.columns) {
      // format=columns: one array per field, folder/dir as indexes into m.folders / m.dirs.
      const c = m.columns;
      this.pts = new Array(c.id.length);
      for (let i = 0; i < c.id.length; i++) {
        this.pts[i] = {id: c.id[i], x: c.x[i], y: c.y[i], name: c.name[i], folder: m.folders[c.folder[i]] || '',
          dir: m.dirs[c.dir[i]] || '', duration_s: c.duration_s[i]};
      }
    } else {
      this.pts = m.points.map((p) => ({id: p.id, x: p.x, y: p.y, name: p.name, folder: p.folder || '',
        dir: p.dir !== undefined ? p.dir : (p.folder || ''), duration_s: p.duration_s}));
    }
    if (keepView) {
      const index = new Map(this.pts.map((p, i) => [p.id, i]));
      this.focus = focusId !== null && index.has(focusId) ? index.get(focusId) : -1;
      this.selected = new Set([...selectedIds].filter((id) => index.has(id)).map((id) => index.get(id)));
    } else {
      this.zoom = 1; this.cx = 0; this.cy = 0;
      this.focus = -1;
      this.selected.clear();
    }
    this.buildGrid();
    this.colourBy($('#map-colour').value);
    this.canvas.dataset.points = String(this.pts.length);
  },
  colourBy(key) {
    const counts = new Map();
    for (const p of this.pts) counts.set(p[key], (counts.get(p[key]) || 0) + 1);
    this.cats = [...counts.keys()].sort();
    const index = new Map(this.cats.map((c, i) => [c, i]));
    for (const p of this.pts) p.cat = index.get(p[key]);
    this.byCat = null;
    this.colours = categoryColours(this.cats.length);
    const legend = $('#legend');
    legend.replaceChildren();
    this.cats.forEach((c, i) => legend.append(el('li', {},
      el('span', {class: 'swatch', style: 'background:' + this.colours[i]}),
      (c || '(top folder)') + ' ', el('span', {class: 'hint'}, String(counts.get(c))))));
    this.draw();
  },
  // A uniform grid over world space for nearest-point look-ups.
  buildGrid() {
    const G = 64;
    const cells = Array.from({length: G * G}, () => []);
    this.pts.forEach((p, i) => {
      const gx = Math.min(G - 1, Math.max(0, Math.floor((p.x + 1) / 2 * G)));
      const gy = Math.min(G - 1, Math.max(0, Math.floor((p.y + 1) / 2 * G)));
      cells[gy * G + gx].push(i);
    });
    this.grid = {G, cells};
  },
  // Index of the nearest point within maxPx CSS pixels of (sx, sy), or -1.
  nearest(sx, sy, maxPx) {
    const [wx, wy] = this.toWorld(sx, sy);
    const {ux, uy} = this.units();
    const {G, cells} = this.grid;
    const rx = Math.ceil(maxPx / ux / 2 * G) + 1;
    const ry = Math.ceil(maxPx / uy / 2 * G) + 1;
    const gx = Math.floor((wx + 1) / 2 * G);
    const gy = Math.floor((wy + 1) / 2 * G);
    let best = -1;
    let bestD = maxPx * maxPx;
    for (let y = Math.max(0, gy - ry); y <= Math.min(G - 1, gy + ry); y++) {
      for (let x = Math.max(0, gx - rx); x <= Math.min(G - 1, gx + rx); x++) {
        for (const i of cells[y * G + x]) {
          const p = this.pts[i];
          const dx = (p.x - wx) * ux;
          const dy = (p.y - wy) * uy;
          const d = dx * dx + dy * dy;
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  },
  // Selects the points inside a polygon given in CSS pixels of the canvas (a lasso): the polygon is
  // taken to world coordinates with the current zoom and pan, then each point is tested there
  // (even-odd rule), after a bounding-box check. `add` keeps the current selection.
  selectPolygon(screenPoly, add) {
    const poly = screenPoly.map(([sx, sy]) => this.toWorld(sx, sy));
    if (!add) this.selected.clear();
    if (poly.length < 3) return;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [x, y] of poly) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x);
      y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    this.pts.forEach((p, i) => {
      if (p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1 && insidePolygon(p.x, p.y, poly)) this.selected.add(i);
    });
  },
  // The n points nearest a world position (for "search near here").
  kNearestWorld(wx, wy, n) {
    return this.pts.map((p, i) => [(p.x - wx) ** 2 + (p.y - wy) ** 2, i])
      .sort((a, b) => a[0] - b[0]).slice(0, n).map((e) => e[1]);
  },
  draw() {
    const c = this.canvas;
    if (!c || c.width === 0) return;
    const ctx = c.getContext('2d');
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const {w, h} = this.units();
    ctx.clearRect(0, 0, w, h);
    const r = this.radius();
    const size = r * 2;
    const {ux, uy} = this.units();
    const ox = w / 2 - this.cx * ux;
    const oy = h / 2 + this.cy * uy;
    // One path per colour: fast for 100k points.
    if (!this.byCat) {
      this.byCat = Array.from({length: this.cats.length}, () => []);
      this.pts.forEach((p, i) => this.byCat[p.cat].push(i));
    }
    ctx.globalAlpha = 0.85;
    this.byCat.forEach((idx, ci) => {
      ctx.fillStyle = this.colours[ci];
      ctx.beginPath();
      for (const i of idx) {
        const p = this.pts[i];
        const sx = ox + p.x * ux;
        const sy = oy - p.y * uy;
        if (sx < -size || sy < -size || sx > w + size || sy > h + size) continue;
        if (r >= 3) {
          ctx.moveTo(sx + r, sy);
          ctx.arc(sx, sy, r, 0, 2 * Math.PI);
        } else {
          ctx.rect(sx - r, sy - r, size, size);
        }
      }
      ctx.fill();
    });
    ctx.globalAlpha = 1;
    // Current search results: rings.
    const resultIds = new Set((state.results || []).map((x) => x.id));
    const fg = cssVar('--fg', '#1d2330');
    if (resultIds.size > 0) {
      ctx.strokeStyle = fg;
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (const p of this.pts) {
        if (!resultIds.has(p.id)) continue;
        const [sx, sy] = this.toScreen(p);
        ctx.moveTo(sx + r + 4, sy);
        ctx.arc(sx, sy, r + 4, 0, 2 * Math.PI);
      }
      ctx.stroke();
    }
    // The selection.
    if (this.selected.size > 0) {
      ctx.strokeStyle = cssVar('--accent', '#2f5fd0');
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (const i of this.selected) {
        const [sx, sy] = this.toScreen(this.pts[i]);
        ctx.moveTo(sx + r + 2, sy);
        ctx.arc(sx, sy, r + 2, 0, 2 * Math.PI);
      }
      ctx.stroke();
    }
    if (this.box) {
      const {x0, y0, x1, y1} = this.box;
      ctx.strokeStyle = cssVar('--accent', '#2f5fd0');
      ctx.setLineDash([4, 3]);
      ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      ctx.setLineDash([]);
    }
    if (this.lasso && this.lasso.length > 1) {
      const accent = cssVar('--accent', '#2f5fd0');
      ctx.strokeStyle = accent;
      ctx.fillStyle = accent;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      this.lasso.forEach(([x, y], k) => (k === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
      ctx.closePath();
      ctx.globalAlpha = 0.08;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (this.near) {
      const [sx, sy] = this.toScreen(this.near);
      ctx.strokeStyle = fg;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(sx - 8, sy); ctx.lineTo(sx + 8, sy);
      ctx.moveTo(sx, sy - 8); ctx.lineTo(sx, sy + 8);
      ctx.stroke();
    }
    if (this.focus >= 0 && this.focus < this.pts.length) {
      const [sx, sy] = this.toScreen(this.pts[this.focus]);
      ctx.strokeStyle = fg;
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(sx, sy, r + 6, 0, 2 * Math.PI);
      ctx.stroke();
    }
  },
  zoomAt(sx, sy, factor) {
    const [wx, wy] = this.toWorld(sx, sy);
    this.zoom = Math.max(0.5, Math.min(400, this.zoom * factor));
    const [nx, ny] = this.toWorld(sx, sy);
    this.cx += wx - nx;
    this.cy += wy - ny;
    this.draw();
  },
  // Keyboard: the nearest point in the arrow's direction (within a 45° cone either side).
  step(dx, dy) {
    if (this.pts.length === 0) return -1;
    if (this.focus < 0) {
      const {w, h} = this.units();
      return this.nearest(w / 2, h / 2, 1e9);
    }
    const from = this.toScreen(this.pts[this.focus]);
    let best = -1;
    let bestCost = Infinity;
    this.pts.forEach((p, i) => {
      if (i === this.focus) return;
      const [sx, sy] = this.toScreen(p);
      const vx = sx - from[0];
      const vy = sy - from[1];
      const along = vx * dx + vy * dy;
      if (along <= 0) return;
      const across = Math.abs(vx * dy - vy * dx);
      if (across > along) return;
      const cost = along + 2 * across;
      if (cost < bestCost) { bestCost = cost; best = i; }
    });
    return best;
  },
  // Keeps a point on screen (after a keyboard move).
  reveal(i) {
    const [sx, sy] = this.toScreen(this.pts[i]);
    const {w, h} = this.units();
    if (sx < 20 || sy < 20 || sx > w - 20 || sy > h - 20) {
      this.cx = this.pts[i].x;
      this.cy = this.pts[i].y;
    }
  },
  // Client (page) coordinates of a point, for tests and the tooltip.
  clientPoint(id) {
    const i = this.pts.findIndex((p) => p.id === id);
    if (i < 0) return null;
    const [sx, sy] = this.toScreen(this.pts[i]);
    const b = this.canvas.getBoundingClientRect();
    return {x: b.left + sx, y: b.top + sy};
  },
};
window.earshotMap = mapView;  // for the browser tests and the curious

// Whether (x, y) is inside the polygon [[x, y], ...] (even-odd rule: a ray to the right crosses
// its edges an odd number of times; the last vertex joins the first).
function insidePolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < xj + (y - yj) / (yi - yj) * (xi - xj)) inside = !inside;
  }
  return inside;
}
window.earshotHoverAudio = hoverAudio;

function mapKey() {
  return $('#map-model').value + '|' + $('#map-layout').value + '|' + filterParams().toString();
}

async function loadMap() {
  const model = $('#map-model').value;
  const key = mapKey();
  state.mapKey = key;
  const status = $('#map-status');
  setStatus(status, $('#map-layout').value === 'umap'
    ? 'Loading the map (the neighbour layout is computed once after each catalog change: a few seconds for a few thousand sounds, about a minute for 100,000; then kept current by the server)…'
    : 'Loading the map…', 'loading');
  $('#map').setAttribute('aria-busy', 'true');
  const t0 = performance.now();
  const filters = filterParams().toString();
  const layout = $('#map-layout').value;
  const url = (n) => '/api/map?model=' + encodeURIComponent(model) + '&layout=' + encodeURIComponent(layout) +
    '&max_points=' + n + '&format=columns' +
    (filters ? '&' + filters : '');
  const say = (m, more) => {
    const shown = mapView.pts.length;
    const total = m.total || shown;
    const ev = m.explained_variance_ratio || [0, 0];
    setStatus(status, (shown < total ? fmtCount(shown) + ' of ' + fmtCount(total) + ' sounds (evenly thinned)'
      : fmtCount(shown) + ' sounds') + (filters ? ' matching ' + describeFilters() : '') + ', ' +
      (m.method === 'pca' ? 'PCA of the ' + m.model + ' embeddings (' + Math.round(100 * (ev[0] + ev[1])) + '% of the variance)'
        : m.method === 'umap' ? 'neighbour layout (UMAP-style) of the ' + m.model + ' embeddings'
          : m.method + ' of the ' + m.model + ' embeddings') + ' · ' +
      Math.round(performance.now() - t0) + ' ms' + (more ? '; loading more…' : '.'), 'ok');
  };
  try {
    // A big library comes in two steps: an evenly thinned first map to look at at once, then
    // up to MAP_MAX_POINTS points in its place (the view, focus and selection kept).
    const m = await api(url(MAP_FIRST_POINTS));
    if (state.mapKey !== key) return;  // the filters changed meanwhile
    state.map = m;
    mapView.setData(m);
    mapView.resize();
    const more = (m.total || 0) > MAP_FIRST_POINTS;
    say(m, more);
    mark('map-drawn');
    if (more) {
      const all = await api(url(MAP_MAX_POINTS));
      if (state.mapKey !== key) return;
      state.map = all;
      mapView.setData(all, {keepView: true});
      say(all, false);
      mark('map-complete');
    }
  } catch (e) {
    if (state.mapKey !== key) return;
    state.mapKey = '';
    setStatus(status, 'Map unavailable: ' + e.message, 'error');
  } finally {
    $('#map').removeAttribute('aria-busy');
  }
}

function describePoint(p) {
  return p.name + (p.dir ? ' — ' + p.dir : '') + ' (' + fmtSeconds(p.duration_s) + ')';
}

function selectPoint(i, {play = true} = {}) {
  const p = mapView.pts[i];
  mapView.focus = i;
  mapView.near = null;
  mapView.draw();
  $('#near').hidden = true;
  showSelection({id: p.id, name: p.name, folder: p.dir, duration_s: p.duration_s}, play);
  $('#map-focus').textContent = describePoint(p);
}

function showSelection(it, play) {
  const sel = $('#selection');
  sel.hidden = false;
  $('#sel-name').replaceChildren(nameNode(it.name));
  $('#sel-folder').textContent = (it.folder ? 'in ' + it.folder + ' · ' : '') + fmtSeconds(it.duration_s || 0);
  const audio = $('#sel-audio');
  hoverAudio.pause();
  audio.src = mediaUrl(it.id, 'audio');
  if (play) audio.play().catch(() => {});  // autoplay may be refused; the controls remain
  $('#sel-download').href = mediaUrl(it.id, 'download');
  $('#sel-download').setAttribute('download', it.name);
  $('#sel-more').onclick = () => moreLikeThis(it.id, it.name);
  // On a phone the panel is under the map: bring it into view.
  if (window.matchMedia('(max-width: 600px)').matches) sel.scrollIntoView({block: 'nearest'});
}

function updateBoxSelection() {
  const n = mapView.selected.size;
  $('#boxsel').hidden = n === 0;
  if (n === 0) return;
  const ids = [...mapView.selected].map((i) => mapView.pts[i].id);
  $('#boxsel-text').textContent = n + (n === 1 ? ' sound' : ' sounds') + ' selected' + (n > 1000 ? ' (the first 1000 are used)' : '') + '.';
  const zip = $('#boxsel-zip');
  zip.hidden = !state.zip;
  zip.href = state.zip ? withToken('/api/zip?ids=' + ids.slice(0, 1000).join(',')) : '#';
}

function withToken(url) {
  return token ? url + (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(token) : url;
}

// The current results listed next to the map (they are ringed on it).
function updateMapResults() {
  const box = $('#map-results');
  if (!box) return;
  const rs = state.results || [];
  box.hidden = rs.length === 0 || !state.query;
  if (box.hidden) return;
  const onMap = new Set(mapView.pts.map((p) => p.id));
  $('#map-results-text').textContent = rs.length + ' results for ' + queryLabel() + ' (ringed on the map):';
  const list = $('#map-results-list');
  list.replaceChildren();
  for (const r of rs.slice(0, 20)) {
    const i = mapView.pts.findIndex((p) => p.id === r.id);
    list.append(el('li', {}, el('button', {type: 'button', class: 'linklike', disabled: !onMap.has(r.id),
      onclick: () => { if (i >= 0) { mapView.reveal(i); selectPoint(i); } }}, r.name)));
  }
}

// What a plain drag on the map does: 'lasso', 'box' or 'pan' (the toolbar toggles).
function mapDragMode() {
  if ($('#map-lasso').getAttribute('aria-pressed') === 'true') return 'lasso';
  return $('#map-box').getAttribute('aria-pressed') === 'true' ? 'box' : 'pan';
}

function setupMap() {
  mapView.init();
  const c = mapView.canvas;
  const tooltip = $('#tooltip');
  let drag = null;
  let hoverTimer = 0;
  let hoverIdx = -1;
  const pointers = new Map();
  const local = (ev) => {
    const b = c.getBoundingClientRect();
    return [ev.clientX - b.left, ev.clientY - b.top];
  };
  const hitRadius = (ev) => (ev.pointerType === 'touch' ? 24 : ev.pointerType === 'pen' ? 16 : 10);
  c.addEventListener('pointerdown', (ev) => {
    try {
      c.setPointerCapture(ev.pointerId);
    } catch (e) { /* synthetic or finished pointer */ }
    const [x, y] = local(ev);
    pointers.set(ev.pointerId, [x, y]);
    // What a drag does: Alt or the Lasso button draws a lasso, Shift or the Box button a box;
    // otherwise it pans. Two fingers always pinch-zoom (and drop a lasso or box begun).
    const mode = mapDragMode();
    const lasso = ev.altKey || (mode === 'lasso' && !ev.shiftKey);
    const box = !lasso && (ev.shiftKey || mode === 'box');
    drag = {x0: x, y0: y, x, y, box, lasso, path: lasso ? [[x, y]] : null, moved: false, cx: mapView.cx, cy: mapView.cy};
    if (pointers.size === 2) {
      drag.pinch = Math.hypot(...[...pointers.values()].reduce((a, b) => [a[0] - b[0], a[1] - b[1]]));
      drag.box = drag.lasso = false;
      mapView.box = mapView.lasso = null;
    }
  });
  c.addEventListener('pointermove', (ev) => {
    const [x, y] = local(ev);
    if (pointers.has(ev.pointerId)) pointers.set(ev.pointerId, [x, y]);
    if (drag) {
      if (Math.hypot(x - drag.x0, y - drag.y0) > 4) drag.moved = true;
      if (pointers.size === 2 && drag.pinch) {
        const pts = [...pointers.values()];
        const d = Math.hypot(pts[0][0] - pts[1][0], pts[0][1] - pts[1][1]);
        mapView.zoomAt((pts[0][0] + pts[1][0]) / 2, (pts[0][1] + pts[1][1]) / 2, d / drag.pinch);
        drag.pinch = d;
        return;
      }
      if (drag.lasso) {
        // A vertex every 2 px or more: enough for a smooth outline, few for the point test.
        const [lx, ly] = drag.path[drag.path.length - 1];
        if (Math.hypot(x - lx, y - ly) >= 2) drag.path.push([x, y]);
        if (drag.moved) {
          mapView.lasso = drag.path;
          mapView.draw();
        }
      } else if (drag.moved && drag.box) {
        mapView.box = {x0: drag.x0, y0: drag.y0, x1: x, y1: y};
        mapView.draw();
      } else if (drag.moved) {
        const {ux, uy} = mapView.units();
        mapView.cx = drag.cx - (x - drag.x0) / ux;
        mapView.cy = drag.cy + (y - drag.y0) / uy;
        mapView.draw();
      }
      return;
    }
    if (ev.pointerType !== 'mouse') return;
    const i = mapView.nearest(x, y, hitRadius(ev));
    if (i < 0) {
      tooltip.hidden = true;
      hoverIdx = -1;
      clearTimeout(hoverTimer);
      c.style.cursor = 'crosshair';
      return;
    }
    c.style.cursor = 'pointer';
    const p = mapView.pts[i];
    tooltip.textContent = describePoint(p);
    tooltip.hidden = false;
    const [sx, sy] = mapView.toScreen(p);
    tooltip.style.left = sx + 'px';
    tooltip.style.top = (sy - mapView.radius()) + 'px';
    if (i !== hoverIdx) {
      hoverIdx = i;
      clearTimeout(hoverTimer);
      if ($('#map-hover').checked) {
        // Hover to audition: a short dwell, then play (stops any other player).
        hoverTimer = setTimeout(() => {
          hoverAudio.src = mediaUrl(p.id, 'audio');
          hoverAudio.dataset.id = String(p.id);
          hoverAudio.play().catch(() => {});
        }, 150);
      }
    }
  });
  c.addEventListener('pointerleave', () => {
    tooltip.hidden = true;
    hoverIdx = -1;
    clearTimeout(hoverTimer);
  });
  const end = (ev) => {
    pointers.delete(ev.pointerId);
    if (!drag) return;
    const d = drag;
    if (pointers.size > 0) return;
    drag = null;
    const [x, y] = local(ev);
    if (d.lasso && d.moved) {
      d.path.push([x, y]);
      mapView.selectPolygon(d.path, ev.ctrlKey || ev.metaKey);
      mapView.lasso = null;
      mapView.draw();
      updateBoxSelection();
      return;
    }
    if (d.box && d.moved) {
      const [ax, ay] = mapView.toWorld(Math.min(d.x0, x), Math.max(d.y0, y));
      const [bx, by] = mapView.toWorld(Math.max(d.x0, x), Math.min(d.y0, y));
      if (!ev.ctrlKey && !ev.metaKey) mapView.selected.clear();
      mapView.pts.forEach((p, i) => {
        if (p.x >= ax && p.x <= bx && p.y >= ay && p.y <= by) mapView.selected.add(i);
      });
      mapView.box = null;
      mapView.draw();
      updateBoxSelection();
      return;
    }
    if (d.moved) return;
    const i = mapView.nearest(x, y, hitRadius(ev));
    if (i >= 0) {
      selectPoint(i);
    } else {
      // An empty spot: offer to search near it (the sounds nearest that spot, averaged).
      const [wx, wy] = mapView.toWorld(x, y);
      mapView.near = {x: wx, y: wy};
      mapView.focus = -1;
      mapView.draw();
      const near = mapView.kNearestWorld(wx, wy, 5);
      $('#near').hidden = false;
      $('#near-text').textContent = 'Near here: ' + near.map((j) => mapView.pts[j].name).slice(0, 3).join(', ') + '…';
      $('#near-search').onclick = () => searchLikeThese(near.map((j) => mapView.pts[j].id), {stay: true});
    }
  };
  c.addEventListener('pointerup', end);
  c.addEventListener('pointercancel', (ev) => {
    pointers.delete(ev.pointerId);
    drag = null;
    mapView.box = mapView.lasso = null;
    mapView.draw();
  });
  c.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const [x, y] = local(ev);
    mapView.zoomAt(x, y, Math.exp(-ev.deltaY * 0.0015));
  }, {passive: false});
  c.addEventListener('keydown', (ev) => {
    const dirs = {ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
    if (dirs[ev.key]) {
      ev.preventDefault();
      const i = mapView.step(...dirs[ev.key]);
      if (i >= 0) {
        mapView.focus = i;
        mapView.reveal(i);
        mapView.draw();
        $('#map-focus').textContent = describePoint(mapView.pts[i]);
        c.setAttribute('aria-label', 'Map: ' + describePoint(mapView.pts[i]));
      }
    } else if (ev.key === 'Enter' && mapView.focus >= 0) {
      ev.preventDefault();
      selectPoint(mapView.focus);
    } else if (ev.key === ' ' && mapView.focus >= 0) {
      ev.preventDefault();
      const p = mapView.pts[mapView.focus];
      if (!hoverAudio.paused && hoverAudio.dataset.id === String(p.id)) {
        hoverAudio.pause();
      } else {
        hoverAudio.src = mediaUrl(p.id, 'audio');
        hoverAudio.dataset.id = String(p.id);
        hoverAudio.play().catch(() => {});
      }
    } else if (ev.key === '+' || ev.key === '=') {
      const {w, h} = mapView.units();
      mapView.zoomAt(w / 2, h / 2, 1.5);
    } else if (ev.key === '-') {
      const {w, h} = mapView.units();
      mapView.zoomAt(w / 2, h / 2, 1 / 1.5);
    } else if ((ev.key === 'x' || ev.key === 'X') && mapView.focus >= 0) {
      // Adds the focused sound to the selection, or takes it out (the keyboard's lasso).
      ev.preventDefault();
      const i = mapView.focus;
      if (mapView.selected.has(i)) mapView.selected.delete(i); else mapView.selected.add(i);
      mapView.draw();
      updateBoxSelection();
      $('#map-focus').textContent = describePoint(mapView.pts[i]) +
        (mapView.selected.has(i) ? ', selected' : ', not selected') + ' (' + mapView.selected.size + ' in all)';
    } else if (ev.key === 'Escape') {
      mapView.selected.clear();
      mapView.near = null;
      mapView.draw();
      updateBoxSelection();
    }
  });
  // Box and Lasso are toggles, one at a time: pressing one releases the other.
  for (const [id, other] of [['#map-box', '#map-lasso'], ['#map-lasso', '#map-box']]) {
    $(id).addEventListener('click', () => {
      const on = $(id).getAttribute('aria-pressed') !== 'true';
      $(id).setAttribute('aria-pressed', String(on));
      if (on) $(other).setAttribute('aria-pressed', 'false');
    });
  }
  $('#map-reset').addEventListener('click', () => {
    mapView.zoom = 1; mapView.cx = 0; mapView.cy = 0;
    mapView.draw();
  });
  $('#map-colour').addEventListener('change', () => mapView.colourBy($('#map-colour').value));
  $('#boxsel-search').addEventListener('click', () =>
    searchLikeThese([...mapView.selected].slice(0, 1000).map((i) => mapView.pts[i].id), {stay: true}));
  $('#boxsel-clear').addEventListener('click', () => {
    mapView.selected.clear();
    mapView.draw();
    updateBoxSelection();
  });
}

// ---- item list --------------------------------------------------------------------------------

async function loadItems() {
  const {offset, limit} = state.page;
  const list = $('#items');
  list.setAttribute('aria-busy', 'true');
  const filters = filterParams().toString();
  state.itemsKey = filters;
  try {
    const r = await api('/api/items?offset=' + offset + '&limit=' + limit + (filters ? '&' + filters : ''));
    if (state.itemsKey !== filters) return;
    state.page.total = r.total;
    list.replaceChildren();
    for (const it of r.items) {
      state.names.set(it.id, it.name);
      const name = el('span', {class: 'name', title: it.path});
      name.append(nameNode(it.name));
      list.append(el('li', {},
        name,
        el('span', {class: 'hint'}, (it.folder ? it.folder + ' · ' : '') + fmtSeconds(it.duration_s)),
        it.tags && it.tags.length > 0 ? tagChips(it.tags) : '',
        el('span', {class: 'item-actions'},
          el('button', {type: 'button', class: 'btn', onclick: () => playItem(it)}, 'Play'),
          el('button', {type: 'button', class: 'btn', onclick: () => moreLikeThis(it.id, it.name)},
            'More like this'))));
    }
    const last = Math.min(offset + limit, r.total);
    $('#page-info').textContent = r.total === 0 ? 'No items match.' : (offset + 1) + '–' + last + ' of ' + r.total;
    $('#prev').disabled = offset === 0;
    $('#next').disabled = last >= r.total;
  } catch (e) {
    $('#page-info').textContent = 'Could not list items: ' + e.message;
  } finally {
    list.removeAttribute('aria-busy');
  }
}

function playItem(it) {
  const i = mapView.pts.findIndex((p) => p.id === it.id);
  if (i >= 0) {
    mapView.reveal(i);
    selectPoint(i);
  } else {
    showSelection({id: it.id, name: it.name, folder: it.folder, duration_s: it.duration_s}, true);
  }
}

function setupLibrary() {
  $('#map-model').addEventListener('change', loadMap);
  $('#map-layout').addEventListener('change', loadMap);
  $('#prev').addEventListener('click', () => {
    state.page.offset = Math.max(0, state.page.offset - state.page.limit);
    loadItems();
  });
  $('#next').addEventListener('click', () => {
    state.page.offset += state.page.limit;
    loadItems();
  });
  setupMap();
}

// ---- start --------------------------------------------------------------------------------------

async function main() {
  setupTabs();
  setupInput();
  setupLibrary();
  setupResultKeys();
  setupFilters();
  $('#search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    runSearch({push: false});
  });
  // Changing an option re-runs the current search.
  for (const id of ['#model', '#metric', '#by', '#k', '#min-duration', '#max-duration']) {
    $(id).addEventListener('change', () => {
      if (id === '#metric') updateMetricHint();
      if (state.query) {
        runSearch({push: false});
      } else {
        writeUrl(false);
        if (id === '#k') refreshListing();
      }
    });
  }
  updateMetricHint();
  window.addEventListener('popstate', () => readUrl());
  const hideSame = $('#hide-same');
  hideSame.addEventListener('change', () => {
    $('#results').classList.toggle('hide-same', hideSame.checked);
  });
  const boot = bootData();
  try {
    if (boot) {
      // The first search or map goes out now, in the same task as the page's set-up.
      showStats(boot.stats);
      showModels(boot.models);
    } else {
      loadStats();
      await loadModels();
    }
    readUrl();
    document.body.dataset.ready = 'true';
  } catch (e) {
    setStatus($('#status'), 'Cannot load the models: ' + e.message, 'error');
  }
}

main();
