// The viewer page: models on the left, the image with its defects in the middle, regions
// and timings on the right. One image at a time; running a model sends the image's own
// bytes to POST /kiln/v1/models/{m}/segment (tiled by the server when it is larger than
// the model's input) and draws the score map the answer carries, so the threshold and
// opacity sliders redraw without asking the server again.

import * as api from './api.js';
import { decodeScores, findRegions, paintOverlay } from './scores.js';
import { link, Viewport } from './viewport.js';

const $ = (id) => document.getElementById(id);
const COLORS = { main: [255, 60, 40], compare: [60, 170, 255] };

const state = {
  settings: null,        // GET /kiln/v1/server
  models: [],            // GET /kiln/v1/models
  selected: null,        // the model the main view runs
  compare: '',           // the model the second view runs ('' none)
  image: null,           // {bytes, type, name, width, height}
  results: { main: null, compare: null },  // {model, answer, scores, roundTripMs, switchedFrom}
  lastModel: null,       // the model of the main view's last run
  threshold: null,       // null until a model's default is known
  opacity: 0.55,
  selectedRegion: -1,
};

const views = { main: new Viewport($('viewport-main')), compare: new Viewport($('viewport-compare')) };
link(views.main, views.compare);

// ---- errors: every failure in words, on the page --------------------------------------------

function showError(message) {
  $('error-text').textContent = message;
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error-text').textContent = '';
}

$('error-close').addEventListener('click', clearError);

// ---- models ------------------------------------------------------------------------------------

const mb = (bytes) => `${(bytes / 1048576).toFixed(bytes < 10485760 ? 2 : 1)} MB`;

function planLabels(models) {
  // Models with one fingerprint share one compiled plan: name the plans A, B, ...
  const labels = new Map();
  for (const m of models)
    if (m.fingerprint && !labels.has(m.fingerprint)) labels.set(m.fingerprint, String.fromCharCode(65 + labels.size));
  return labels;
}

function stateText(m) {
  if (m.state === 'preparing' || m.state === 'loading') {
    const pct = m.progress ? ` ${Math.round(m.progress * 100)}%` : '';
    return `${m.state}${m.phase ? ` (${m.phase})` : ''}${pct}`;
  }
  if (m.state === 'ready' && m.reloading) return 'ready, new weights coming';
  return m.state;
}

function renderModels() {
  const list = $('models');
  const labels = planLabels(state.models);
  const sharing = new Map();
  for (const m of state.models) if (m.fingerprint) sharing.set(m.fingerprint, (sharing.get(m.fingerprint) || 0) + 1);
  const control = state.settings && state.settings.model_control;
  list.replaceChildren(
    ...state.models.map((m) => {
      const li = document.createElement('li');
      li.className = 'model' + (m.name === state.selected ? ' selected' : '');
      li.dataset.name = m.name;
      li.dataset.state = m.state;
      const top = document.createElement('div');
      top.className = 'top';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = m.name;
      const badge = document.createElement('span');
      badge.className = 'state';
      badge.textContent = stateText(m);
      top.append(name, badge);
      li.append(top);
      if (m.state === 'loading' || m.state === 'preparing') {
        const bar = document.createElement('progress');
        bar.max = 1;
        bar.value = m.progress || 0;
        li.append(bar);
      }
      if (m.fingerprint) {
        const details = document.createElement('div');
        details.className = 'details';
        const n = sharing.get(m.fingerprint);
        const parts = [`plan ${labels.get(m.fingerprint)}${n > 1 ? ` (shared by ${n})` : ''}`];
        if (m.weight_bytes) parts.push(`${mb(m.weight_bytes)} weights`);
        if (m.steady_ms) parts.push(`${m.steady_ms.toFixed(1)} ms steady`);
        if (m.precision) parts.push(m.precision);
        details.textContent = parts.join(' · ');
        li.append(details);
      }
      const why = m.error || m.reason;
      if (why) {
        const p = document.createElement('div');
        p.className = 'why';
        p.textContent = why;
        li.append(p);
      }
      if (control) {
        const actions = document.createElement('div');
        actions.className = 'actions';
        const prepare = button('Prepare', () => modelControl(m.name, 'load'));
        prepare.disabled = m.state === 'loading' || m.state === 'preparing';
        const unload = button('Unload', () => modelControl(m.name, 'unload'));
        unload.disabled = m.state === 'unloaded';
        actions.append(prepare, unload);
        li.append(actions);
      }
      li.addEventListener('click', () => selectModel(m.name));
      return li;
    }),
  );
  // The compare list: every model but the selected one.
  const compare = $('compare');
  const keep = state.compare;
  compare.replaceChildren(option('', 'nothing'), ...state.models.filter((m) => m.name !== state.selected).map((m) => option(m.name, m.name)));
  compare.value = state.models.some((m) => m.name === keep && m.name !== state.selected) ? keep : '';
  if (compare.value !== keep) setCompare(compare.value);
  const ready = state.models.filter((m) => m.state === 'ready').length;
  setStatus(`kiln ${state.settings ? state.settings.version : ''} · ${state.models.length} models, ${ready} ready`);
  $('run').disabled = !canRun();
}

function button(text, onclick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.addEventListener('click', (e) => {
    e.stopPropagation();
    onclick();
  });
  return b;
}

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

function setStatus(text, gone = false) {
  $('server-status').textContent = text;
  $('server-status').classList.toggle('gone', gone);
}

let pollTimer = null;
let serverGone = false;

async function refreshModels() {
  clearTimeout(pollTimer);
  try {
    state.models = await api.models();
    if (serverGone) {
      serverGone = false;
      clearError();
    }
    if (!state.selected || !state.models.some((m) => m.name === state.selected)) {
      const first = state.models.find((m) => m.state === 'ready') || state.models[0];
      state.selected = first ? first.name : null;
    }
    renderModels();
  } catch (e) {
    serverGone = true;
    setStatus('server gone', true);
    showError(`Cannot reach kiln serve: ${e.message}`);
  }
  // Quickly while something is on its way, slowly otherwise.
  const busy = state.models.some((m) => m.state === 'loading' || m.state === 'preparing');
  pollTimer = setTimeout(refreshModels, busy || serverGone ? 700 : 3000);
}

async function modelControl(name, action) {
  const token = $('token').value.trim();
  if (!token) {
    showError(`${action === 'load' ? 'Prepare' : 'Unload'} needs the admin token (kiln serve --admin-token-file): enter it below the models.`);
    $('token').focus();
    return;
  }
  try {
    clearError();
    await api.control(name, action, token);
  } catch (e) {
    showError(`${action === 'load' ? 'Prepare' : 'Unload'} ${name}: ${e.message}`);
  }
  refreshModels();
}

function modelByName(name) {
  return state.models.find((m) => m.name === name);
}

function canRun() {
  const m = modelByName(state.selected);
  return Boolean(state.image && m && m.state === 'ready');
}

function selectModel(name) {
  if (name === state.selected) return;
  state.selected = name;
  const m = modelByName(name);
  if (m && m.threshold) setThreshold(m.threshold);
  renderModels();
  if (canRun()) run();
}

// ---- images ------------------------------------------------------------------------------------

async function openImage(bytes, type, name) {
  clearError();
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type }));
  } catch (e) {
    showError(`${name} is not an image this page can read (PNG, JPEG or BMP): ${e.message || e}`);
    return;
  }
  state.image = { bytes, type, name, width: bitmap.width, height: bitmap.height };
  state.results = { main: null, compare: null };
  state.selectedRegion = -1;
  views.main.show(bitmap);
  if (state.compare) views.compare.show(bitmap);
  $('hint').hidden = true;
  $('caption-main').textContent = `${name}, ${bitmap.width}x${bitmap.height}`;
  renderResult();
  $('run').disabled = !canRun();
  if (canRun()) run();
}

async function openFile(file) {
  if (!file) return;
  const type = file.type || (/\.jpe?g$/i.test(file.name) ? 'image/jpeg' : 'image/png');
  await openImage(await file.arrayBuffer(), type, file.name);
}

$('file').addEventListener('change', (e) => {
  openFile(e.target.files[0]);
  e.target.value = '';
});

for (const v of [$('viewport-main'), $('viewport-compare')]) {
  v.addEventListener('dragover', (e) => {
    e.preventDefault();
    v.classList.add('dropping');
  });
  v.addEventListener('dragleave', () => v.classList.remove('dropping'));
  v.addEventListener('drop', (e) => {
    e.preventDefault();
    v.classList.remove('dropping');
    openFile(e.dataTransfer.files[0]);
  });
}

$('generate').addEventListener('click', async () => {
  const cls = $('gen-class').value, seed = $('gen-seed').value || '1', size = $('gen-size').value;
  try {
    clearError();
    $('generate').disabled = true;
    const bytes = await api.generate(cls, seed, size);
    await openImage(bytes, 'image/png', `${cls} seed ${seed}`);
  } catch (e) {
    showError(`Generating ${cls} (seed ${seed}, ${size} px): ${e.message}`);
  } finally {
    $('generate').disabled = false;
  }
});

// ---- running -----------------------------------------------------------------------------------

let runSerial = 0;

async function segmentImage(model) {
  const t0 = performance.now();
  const answer = await api.segment(model, state.image.bytes, state.image.type);
  const roundTripMs = performance.now() - t0;
  const scores = await decodeScores(answer.scores_png);
  return { model, answer, scores, roundTripMs };
}

async function run() {
  if (!canRun()) return;
  const serial = ++runSerial;
  const model = state.selected;
  const switchedFrom = state.lastModel && state.lastModel !== model ? state.lastModel : null;
  document.body.classList.add('busy');
  $('run').disabled = true;
  try {
    clearError();
    const result = await segmentImage(model);
    if (serial !== runSerial) return;  // a newer run took over
    result.switchedFrom = switchedFrom;
    state.results.main = result;
    state.lastModel = model;
    if (state.threshold === null) setThreshold(result.answer.threshold);
    state.selectedRegion = -1;
    draw('main');
    renderResult();
  } catch (e) {
    showError(`${model} on ${state.image.name}: ${e.message}`);
  } finally {
    document.body.classList.remove('busy');
    $('run').disabled = !canRun();
  }
  if (state.compare) runCompare();
}

async function runCompare() {
  const model = state.compare;
  if (!model || !state.image) return;
  try {
    const result = await segmentImage(model);
    if (model !== state.compare) return;
    state.results.compare = result;
    draw('compare');
  } catch (e) {
    showError(`${model} on ${state.image.name}: ${e.message}`);
  }
}

$('run').addEventListener('click', run);

function setCompare(name) {
  state.compare = name;
  state.results.compare = null;
  $('view-compare').hidden = !name;
  if (name && state.image) {
    views.compare.show(views.main.image);
    views.compare.scale = views.main.scale;
    views.compare.x = views.main.x;
    views.compare.y = views.main.y;
    views.compare.apply(false);
    $('caption-compare').textContent = `${name}: running…`;
    runCompare();
  }
  // The main view changed width: keep the image in view.
  if (state.image) requestAnimationFrame(() => views.main.fit());
}

$('compare').addEventListener('change', (e) => setCompare(e.target.value));

// ---- drawing: sliders redraw from the score map, without a request -------------------------------

function regionsOf(result) {
  const a = result.answer;
  // At the server's threshold its own list; elsewhere the same rule applied here.
  return Math.abs(state.threshold - a.threshold) < 1e-6 ? a.regions : findRegions(result.scores, state.threshold, a.min_area);
}

function draw(which) {
  const result = state.results[which];
  if (!result) return;
  const view = views[which];
  const ctx = view.overlayContext();
  const image = ctx.createImageData(result.scores.width, result.scores.height);
  const count = paintOverlay(result.scores, state.threshold, state.opacity, COLORS[which], image);
  ctx.putImageData(image, 0, 0);
  const regions = regionsOf(result);
  view.drawBoxes(regions, which === 'main' ? state.selectedRegion : -1);
  view.element.dataset.overlayPixels = count;
  view.element.dataset.model = result.model;
  const caption = `${result.model}: ${regions.length} region${regions.length === 1 ? '' : 's'}, ${count} px at ${state.threshold.toFixed(2)}`;
  if (which === 'main') {
    $('pixels').textContent = `${count} pixels at or over ${state.threshold.toFixed(2)}`;
    $('pixels').dataset.count = count;
    $('caption-main').textContent = `${state.image.name}, ${state.image.width}x${state.image.height} · ${caption}`;
  } else {
    $('caption-compare').textContent = caption;
  }
}

function redraw() {
  draw('main');
  draw('compare');
  renderRegions();
}

function setThreshold(t) {
  state.threshold = t;
  $('threshold').value = t;
  $('threshold-value').textContent = Number(t).toFixed(2);
}

let drawPending = false;
function scheduleRedraw() {
  // One redraw per frame however fast the slider moves (a 4096x4096 map is 16 M pixels).
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    redraw();
  });
}

$('threshold').addEventListener('input', (e) => {
  setThreshold(Number(e.target.value));
  state.selectedRegion = -1;
  scheduleRedraw();
});

$('opacity').addEventListener('input', (e) => {
  state.opacity = Number(e.target.value);
  $('opacity-value').textContent = state.opacity.toFixed(2);
  scheduleRedraw();
});

// ---- regions and timings -------------------------------------------------------------------------

function renderRegions() {
  const result = state.results.main;
  const list = $('regions');
  if (!result) {
    list.replaceChildren();
    $('regions-summary').textContent = state.image ? 'Not run yet.' : 'Run a model on an image to see its defects.';
    return;
  }
  const regions = regionsOf(result);
  const here = Math.abs(state.threshold - result.answer.threshold) >= 1e-6;
  $('regions-summary').textContent =
    `${regions.length} region${regions.length === 1 ? '' : 's'} of at least ${result.answer.min_area} px at ${state.threshold.toFixed(2)}` +
    (here ? ' (found in the page)' : ' (the server\u2019s)') + (regions.length ? '; click one to zoom there.' : '.');
  list.replaceChildren(
    ...regions.map((r, i) => {
      const li = document.createElement('li');
      const [x0, y0, x1, y1] = r.box;
      li.dataset.box = r.box.join(',');
      li.dataset.area = r.area;
      li.textContent = `${x1 - x0 + 1}x${y1 - y0 + 1} at (${x0}, ${y0}), ${r.area} px, score ${r.mean_score.toFixed(2)}`;
      if (i === state.selectedRegion) li.className = 'selected';
      li.addEventListener('click', () => {
        state.selectedRegion = i;
        views.main.zoomTo(r.box);
        views.main.drawBoxes(regions, i);
        for (const other of list.children) other.classList.remove('selected');
        li.classList.add('selected');
      });
      return li;
    }),
  );
}

const ms = (v) => `${Number(v).toFixed(1)} ms`;

function renderResult() {
  renderRegions();
  const dl = $('timings');
  const result = state.results.main;
  if (!result) {
    dl.replaceChildren();
    return;
  }
  const t = result.answer.timings;
  const rows = [
    ['decode', t.decode_ms],
    ['queue', t.queue_ms],
    ['inference', t.inference_ms],
    ['regions', t.regions_ms],
    ['encode', t.encode_ms],
    ['in the server', t.total_ms],
    ['round trip', result.roundTripMs],
  ];
  if (result.answer.steady_ms) rows.push([`${result.model} steady`, result.answer.steady_ms]);
  const items = [];
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = ms(v);
    items.push(dt, dd);
  }
  const note = document.createElement('dd');
  note.className = 'note';
  note.id = 'switch-cost';
  if (result.switchedFrom) {
    const extra = t.inference_ms - (result.answer.steady_ms || t.inference_ms);
    note.textContent = `Switched from ${result.switchedFrom}: this run's inference ${ms(t.inference_ms)}, ` +
      `${extra >= 0 ? '+' : ''}${ms(extra)} against ${result.model}'s steady latency (the switch itself is a pointer swap).`;
  } else if (result.answer.tiles) {
    note.textContent = `Larger than the model's input: segmented through tiles.`;
  }
  if (note.textContent) items.push(note);
  dl.replaceChildren(...items);
}

// ---- start ---------------------------------------------------------------------------------------

async function start() {
  try {
    state.settings = await api.server();
  } catch (e) {
    setStatus('server gone', true);
    showError(`Cannot reach kiln serve: ${e.message}`);
  }
  if (state.settings) {
    $('gen-class').replaceChildren(...state.settings.generator.classes.map((c) => option(c, c)));
    $('token-row').hidden = !state.settings.model_control;
  }
  await refreshModels();
  const m = modelByName(state.selected);
  if (m && m.threshold && state.threshold === null) setThreshold(m.threshold);
}

window.addEventListener('resize', () => {
  if (state.image) views.main.fit();
});

start();
