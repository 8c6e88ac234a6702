// earshot web page: search by file / recording / library item, results with waveform, player,
// download and "more like this"; a library map (PCA of the embeddings) and a paged item list.
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
  page: {offset: 0, limit: 20, total: 0, q: ''},
  map: null,          // last /api/map response
};

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
    throw err;
  }
  return body;
}

function setStatus(target, text, kind = '') {
  target.textContent = text;
  target.className = (target.id === 'status' ? 'status ' : 'hint ') + kind;
  target.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}

const fmtSeconds = (s) => (s < 10 ? s.toFixed(2) : s.toFixed(1)) + ' s';

// ---- tabs -----------------------------------------------------------------------------------

function showTab(name) {
  for (const t of ['search', 'library']) {
    const tab = $('#tab-' + t);
    const on = t === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $('#view-' + t).hidden = !on;
  }
  if (name === 'library') {
    if (!state.map || state.map.model !== $('#map-model').value) loadMap();
    if ($('#items').children.length === 0) loadItems();
  }
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

// ---- query input: pick, drop, record ----------------------------------------------------------

function setQueryFile(file) {
  state.query = {kind: 'file', file};
  $('#query').textContent = 'Query: ' + file.name + ' (' + Math.round(file.size / 1024) + ' KB)';
  runSearch();
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

function searchForm() {
  const fd = new FormData();
  if (state.query.kind === 'file') fd.append('file', state.query.file, state.query.file.name);
  else fd.append('id', String(state.query.id));
  fd.append('model', $('#model').value);
  fd.append('metric', $('#metric').value);
  fd.append('k', $('#k').value || '10');
  if ($('#min-duration').value !== '') fd.append('min_duration', $('#min-duration').value);
  if ($('#max-duration').value !== '') fd.append('max_duration', $('#max-duration').value);
  fd.append('by', $('#by').value);
  if (state.query.kind === 'id' && state.query.span) {
    fd.append('start', String(state.query.span[0]));
    fd.append('end', String(state.query.span[1]));
  }
  return fd;
}

let searchSeq = 0;
async function runSearch() {
  const status = $('#status');
  if (!state.query) {
    setStatus(status, 'Choose, drop or record an audio file first.', 'error');
    return;
  }
  const seq = ++searchSeq;
  const btn = $('#search-btn');
  btn.disabled = true;
  $('#results').setAttribute('aria-busy', 'true');
  setStatus(status, 'Searching…', 'loading');
  const t0 = performance.now();
  try {
    const resp = await api('/api/search', {method: 'POST', body: searchForm()});
    if (seq !== searchSeq) return;
    renderResults(resp);
    const ms = Math.round(performance.now() - t0);
    setStatus(status, resp.results.length === 0
      ? 'No results (try a wider duration range).'
      : resp.results.length + ' results for ' + queryLabel() + ' · ' + resp.model + ', ' + resp.metric +
        ' · ' + ms + ' ms', 'ok');
  } catch (e) {
    if (seq !== searchSeq) return;
    $('#results').replaceChildren();
    setStatus(status, 'Search failed: ' + e.message, 'error');
  } finally {
    if (seq === searchSeq) {
      btn.disabled = false;
      $('#results').removeAttribute('aria-busy');
    }
  }
}

function queryLabel() {
  return state.query.kind === 'file' ? state.query.file.name : '“' + state.query.name + '”';
}

function moreLikeThis(id, name) {
  state.query = {kind: 'id', id, name};
  $('#query').textContent = 'Query: library item “' + name + '”';
  showTab('search');
  runSearch();
  $('#status').scrollIntoView({block: 'nearest'});
}

// "More like this segment": the item's stored segments over [start, end] are the query.
function moreLikeThisSpan(id, name, start, end) {
  state.query = {kind: 'id', id, name: name + ' ' + fmtSpan(start, end), span: [start, end]};
  $('#by').value = 'segments';
  $('#query').textContent = 'Query: library item “' + name + '”, ' + fmtSpan(start, end);
  showTab('search');
  runSearch();
  $('#status').scrollIntoView({block: 'nearest'});
}

function fmtSpan(a, b) {
  return a.toFixed(1) + '–' + b.toFixed(1) + ' s';
}

function renderResults(resp) {
  const list = $('#results');
  list.replaceChildren();
  for (const r of resp.results) {
    const canvas = el('canvas', {class: 'wave', width: 320, height: 48, 'aria-hidden': 'true'});
    const audio = el('audio', {controls: true, preload: 'none', src: mediaUrl(r.id, 'audio'),
      'aria-label': 'Play ' + r.name});
    const li = el('li', {class: 'card', 'data-id': r.id},
      el('div', {class: 'card-head'},
        el('span', {class: 'rank', 'aria-label': 'rank ' + r.rank}, String(r.rank)),
        el('span', {class: 'name', title: r.path}, r.name),
        el('span', {class: 'meta'}, fmtSeconds(r.duration_s) + ' · score ' + r.score.toFixed(3))),
      canvas,
      audio);
    if (r.same_recording) {
      // Another encode / gain / trim of the query (docs/dedup.md); "Hide same recording" hides it.
      li.classList.add('same-recording');
      li.querySelector('.card-head').append(el('span', {class: 'badge same-rec',
        title: 'The same recording as the query'}, 'same recording'));
    }
    const actions = el('div', {class: 'card-actions'},
      el('a', {class: 'btn', href: mediaUrl(r.id, 'download'), download: r.name},
        'Download'),
      el('button', {type: 'button', class: 'btn more', onclick: () => moreLikeThis(r.id, r.name)},
        'More like this'));
    let span = null;
    if (r.match) {
      // The matched span: drawn on the waveform, played from its start, searchable on its own.
      // Dragging across the waveform selects another span.
      span = [r.match.item_start_s, r.match.item_end_s];
      const label = el('div', {class: 'match'}, 'matched ' + fmtSpan(span[0], span[1]) +
        ' (query ' + fmtSpan(r.match.query_start_s, r.match.query_end_s) + ')');
      li.insertBefore(label, canvas);
      actions.append(
        el('button', {type: 'button', class: 'btn play-match', onclick: () => {
          const start = span[0];
          const go = () => { audio.currentTime = start; audio.play().catch(() => {}); };
          if (audio.readyState >= 1) {
            go();
          } else {
            audio.addEventListener('loadedmetadata', go, {once: true});
            audio.preload = 'auto';
            audio.load();
          }
        }}, '▶ Play match'),
        el('button', {type: 'button', class: 'btn more-span',
          onclick: () => moreLikeThisSpan(r.id, r.name, span[0], span[1])}, 'More like this segment'));
      let down = null;
      canvas.addEventListener('pointerdown', (ev) => { down = ev.offsetX; });
      canvas.addEventListener('pointerup', (ev) => {
        if (down === null) return;
        const a = Math.min(down, ev.offsetX) / canvas.clientWidth * r.duration_s;
        const b = Math.max(down, ev.offsetX) / canvas.clientWidth * r.duration_s;
        down = null;
        if (b - a < 0.2) return;
        span = [a, b];
        label.textContent = 'selected ' + fmtSpan(a, b);
        drawWaveform(canvas, r.id, span, r.duration_s);
      });
    }
    li.append(actions);
    list.append(li);
    drawWaveform(canvas, r.id, span, r.duration_s);
  }
}

async function drawWaveform(canvas, id, span = null, duration = 0) {
  let w;
  try {
    w = await api('/api/items/' + id + '/waveform?points=160');
  } catch (e) {
    return;  // no thumbnail; the player still works
  }
  const ctx = canvas.getContext('2d');
  const {width, height} = canvas;
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--wave').trim() || '#5b8def';
  const n = w.peaks.length;
  const bar = width / n;
  const top = Math.max(...w.peaks, 1e-3);  // normalised: quiet files still show their shape
  for (let i = 0; i < n; i++) {
    const h = Math.max(1, w.peaks[i] / top * (height - 2));
    ctx.fillRect(i * bar, (height - h) / 2, Math.max(1, bar - 0.5), h);
  }
  if (span && duration > 0) {
    const x0 = span[0] / duration * width;
    const x1 = Math.max(x0 + 2, span[1] / duration * width);
    ctx.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--ok').trim() || '#1f6f43';
    ctx.globalAlpha = 0.3;
    ctx.fillRect(x0, 0, x1 - x0, height);
    ctx.globalAlpha = 1;
    canvas.dataset.span = span[0].toFixed(2) + '-' + span[1].toFixed(2);
  }
  canvas.dataset.drawn = 'true';
}

// ---- models and stats -------------------------------------------------------------------------

async function loadModels() {
  const resp = await api('/api/models');
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
}

async function loadStats() {
  try {
    const s = await api('/api/stats');
    const mins = Math.round(s.audio_duration_s / 60);
    $('#stats').textContent = s.items + ' sounds · ' + (mins > 0 ? mins + ' min' : Math.round(s.audio_duration_s) + ' s');
  } catch (e) {
    $('#stats').textContent = '';
  }
}

// ---- library map ------------------------------------------------------------------------------

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
  '#ff9da7', '#9c755f', '#bab0ac', '#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
  '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79'];

async function loadMap() {
  const model = $('#map-model').value;
  const status = $('#map-status');
  setStatus(status, 'Loading the map…', 'loading');
  $('#map').setAttribute('aria-busy', 'true');
  try {
    const m = await api('/api/map?model=' + encodeURIComponent(model));
    state.map = m;
    renderMap(m);
    setStatus(status, m.points.length + ' sounds, ' + m.method.toUpperCase() + ' of the ' + m.model +
      ' embeddings (' + Math.round(100 * (m.explained_variance_ratio[0] + m.explained_variance_ratio[1])) +
      '% of the variance). Hover for names, click to play.', 'ok');
  } catch (e) {
    $('#map').replaceChildren();
    setStatus(status, 'Map unavailable: ' + e.message, 'error');
  } finally {
    $('#map').removeAttribute('aria-busy');
  }
}

function renderMap(m) {
  const svg = $('#map');
  const NS = 'http://www.w3.org/2000/svg';
  const size = 1000;
  const pad = 24;
  svg.setAttribute('viewBox', '0 0 ' + size + ' ' + size);
  svg.replaceChildren();
  const colour = new Map(m.folders.map((f, i) => [f, PALETTE[i % PALETTE.length]]));
  const focusable = m.points.length <= 400;
  const tooltip = $('#tooltip');
  const wrap = svg.parentElement;
  for (const p of m.points) {
    const c = document.createElementNS(NS, 'circle');
    c.setAttribute('cx', String(pad + (p.x + 1) / 2 * (size - 2 * pad)));
    c.setAttribute('cy', String(pad + (1 - (p.y + 1) / 2) * (size - 2 * pad)));
    c.setAttribute('r', m.points.length > 2000 ? '4' : '8');
    c.setAttribute('fill', colour.get(p.folder) || '#888');
    c.setAttribute('class', 'pt');
    c.dataset.id = p.id;
    const title = document.createElementNS(NS, 'title');
    title.textContent = p.name + (p.folder ? ' — ' + p.folder : '');
    c.append(title);
    if (focusable) {
      c.setAttribute('tabindex', '0');
      c.setAttribute('role', 'button');
      c.setAttribute('aria-label', title.textContent);
      c.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          selectPoint(p, c);
        }
      });
    }
    c.addEventListener('mouseenter', () => {
      tooltip.textContent = title.textContent;
      tooltip.hidden = false;
      const box = c.getBoundingClientRect();
      const outer = wrap.getBoundingClientRect();
      tooltip.style.left = (box.left - outer.left + box.width / 2) + 'px';
      tooltip.style.top = (box.top - outer.top) + 'px';
    });
    c.addEventListener('mouseleave', () => { tooltip.hidden = true; });
    c.addEventListener('click', () => selectPoint(p, c));
    svg.append(c);
  }
  const legend = $('#legend');
  legend.replaceChildren();
  for (const [f, col] of colour) {
    legend.append(el('li', {}, el('span', {class: 'swatch', style: 'background:' + col}), f || '(top folder)'));
  }
}

function selectPoint(p, circle) {
  for (const c of document.querySelectorAll('#map .pt.selected')) c.classList.remove('selected');
  circle.classList.add('selected');
  const sel = $('#selection');
  sel.hidden = false;
  $('#sel-name').textContent = p.name;
  $('#sel-folder').textContent = p.folder ? '(' + p.folder + ', ' + fmtSeconds(p.duration_s) + ')' : '';
  const audio = $('#sel-audio');
  audio.src = mediaUrl(p.id, 'audio');
  audio.play().catch(() => {});  // autoplay may be refused; the controls remain
  $('#sel-download').href = mediaUrl(p.id, 'download');
  $('#sel-download').setAttribute('download', p.name);
  $('#sel-more').onclick = () => moreLikeThis(p.id, p.name);
}

// ---- item list --------------------------------------------------------------------------------

async function loadItems() {
  const {offset, limit, q} = state.page;
  const list = $('#items');
  list.setAttribute('aria-busy', 'true');
  try {
    const r = await api('/api/items?offset=' + offset + '&limit=' + limit + '&q=' + encodeURIComponent(q));
    state.page.total = r.total;
    list.replaceChildren();
    for (const it of r.items) {
      list.append(el('li', {},
        el('span', {class: 'name', title: it.path}, it.name),
        el('span', {class: 'hint'}, (it.folder ? it.folder + ' · ' : '') + fmtSeconds(it.duration_s)),
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
  const sel = $('#selection');
  sel.hidden = false;
  $('#sel-name').textContent = it.name;
  $('#sel-folder').textContent = it.folder ? '(' + it.folder + ')' : '';
  const audio = $('#sel-audio');
  audio.src = mediaUrl(it.id, 'audio');
  audio.play().catch(() => {});
  $('#sel-download').href = mediaUrl(it.id, 'download');
  $('#sel-more').onclick = () => moreLikeThis(it.id, it.name);
}

function setupLibrary() {
  $('#map-model').addEventListener('change', loadMap);
  $('#browse-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.page.q = $('#filter').value.trim();
    state.page.offset = 0;
    loadItems();
  });
  $('#prev').addEventListener('click', () => {
    state.page.offset = Math.max(0, state.page.offset - state.page.limit);
    loadItems();
  });
  $('#next').addEventListener('click', () => {
    state.page.offset += state.page.limit;
    loadItems();
  });
}

// ---- start --------------------------------------------------------------------------------------

async function main() {
  setupTabs();
  setupInput();
  setupLibrary();
  $('#search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    runSearch();
  });
  const hideSame = $('#hide-same');
  hideSame.addEventListener('change', () => {
    $('#results').classList.toggle('hide-same', hideSame.checked);
  });
  loadStats();
  try {
    await loadModels();
    document.body.dataset.ready = 'true';
  } catch (e) {
    setStatus($('#status'), 'Cannot load the models: ' + e.message, 'error');
  }
}

main();
