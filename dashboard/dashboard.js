// The dashboard: plain browser JavaScript, no build step. Every figure is read from the admin API the page is
// served beside (../usage, ../queries, ../models, ../ratelimits); nothing is computed a second time here except
// arranging those answers into a chart and tables.
const API = new URL('../', location.href);
const TOKEN_KEY = 'openai-api-proxy.admin-token';
const PAGE_SIZE = 25;
/** Series colours with at least 3:1 contrast on white, told apart by lightness as well as hue. */
const COLOURS = ['#0b5cad', '#b35900', '#1a7f37', '#a40e26', '#6639ba', '#006d75', '#8a4600', '#bf3989', '#4a5360', '#7d6a00', '#0550ae', '#953800'];
const MAX_SERIES = COLOURS.length;

const $ = (id) => document.getElementById(id);
const state = { offset: 0, view: null, chart: null, sorts: {} };

const money = (n) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: n !== 0 && Math.abs(n) < 1 ? 6 : 2 })}`;
const count = (n) => n.toLocaleString('en-US');
const percent = (part, whole) => (whole === 0 ? '0%' : `${((100 * part) / whole).toLocaleString('en-US', { maximumFractionDigits: 1 })}%`);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function api(path, init = {}) {
  const res = await fetch(new URL(path, API), { ...init, headers: { ...authHeaders(), ...(init.headers ?? {}) } });
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!res.ok) {
    if (res.status === 401) askForToken(sessionStorage.getItem(TOKEN_KEY) ? 'The token was not accepted. Enter the admin token again.' : undefined);
    const message = body?.message ?? body?.error?.message ?? `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, message);
  }
  return body;
}

function askForToken(why) {
  $('token-box').hidden = false;
  if (why) $('token-why').textContent = why;
  $('token').focus();
}

/** The filters as query parameters of the admin API. */
function filterParams() {
  const form = new FormData($('filters'));
  const params = new URLSearchParams();
  const range = form.get('range');
  if (range === 'custom') {
    if (form.get('after')) params.set('after', new Date(form.get('after')).toISOString());
    if (form.get('before')) params.set('before', new Date(form.get('before')).toISOString());
  } else if (range !== 'all') {
    params.set('after', new Date(Date.now() - Number(range) * 86_400_000).toISOString());
  }
  for (const name of ['user', 'model', 'endpoint', 'key']) {
    const value = String(form.get(name) ?? '').trim();
    if (value && !$(`${name}-field`)?.hidden) params.set(name, value);
  }
  params.set('status', String(form.get('status')));
  return params;
}

const withParams = (path, params, extra = {}) => {
  const all = new URLSearchParams(params);
  for (const [k, v] of Object.entries(extra)) all.set(k, v);
  return `${path}?${all}`;
};

function measureOf(usage) {
  const measure = $('measure').value;
  if (measure === 'tokens') return usage.queryTokens + usage.answerTokens;
  return usage[measure];
}

async function refresh() {
  const params = filterParams();
  const tz = $('tz').value.trim() || 'UTC';
  const bucket = $('bucket').value;
  const seriesBy = $('series').value;
  setStatus('Loading…');
  try {
    const [totals, chart, users, models, endpoints, modelList, limits] = await Promise.all([
      api(withParams('usage', params)),
      api(withParams('usage', params, { groupBy: `${bucket},${seriesBy}`, tz })),
      api(withParams('usage', params, { groupBy: 'user' })),
      api(withParams('usage', params, { groupBy: 'model' })),
      api(withParams('usage', params, { groupBy: 'endpoint' })),
      api('models'),
      api('ratelimits?by=model'),
    ]);
    state.view = { params, tz, bucket, seriesBy };
    showTotals(totals);
    showChart(chart.groups, bucket, seriesBy, tz);
    showTop('user', users.groups);
    showTop('model', models.groups);
    showTop('endpoint', endpoints.groups);
    fillSuggestions(users.groups, models.groups, endpoints.groups);
    showUnpriced(modelList);
    showLimits(limits);
    state.offset = 0;
    await showRecent();
    $('token-box').hidden = true;
    setStatus(`Showing ${describeRange(params)} · buckets in ${tz}`);
  } catch (err) {
    setStatus(err.status === 401 ? 'The admin API needs a token: enter it above.' : `Could not load: ${err.message}`, true);
  }
}

function setStatus(text, isError = false) {
  const line = $('status-line');
  line.textContent = text;
  line.classList.toggle('error', isError);
}

function describeRange(params) {
  const after = params.get('after');
  const before = params.get('before');
  if (!after && !before) return 'all time';
  return `${after ? new Date(after).toLocaleString() : 'the start'} to ${before ? new Date(before).toLocaleString() : 'now'}`;
}

function showTotals(u) {
  const items = [
    ['Calls', count(u.numQueries)],
    ['Tokens', count(u.queryTokens + u.answerTokens)],
    ['Cost', money(u.cost)],
    ['Estimated', percent(u.estimatedQueries ?? 0, u.numQueries)],
    ['Unpriced calls', count(u.unpricedQueries)],
  ];
  $('totals').replaceChildren(
    ...items.map(([name, value]) => {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = name;
      dd.textContent = value;
      dd.dataset.total = name;
      div.append(dt, dd);
      return div;
    }),
  );
}

/**
 * The groups of `/usage?groupBy=<bucket>,<series>` as a stacked chart: one series per user/model/endpoint
 * (the largest first; beyond MAX_SERIES the rest are summed as "others"), one x value per bucket.
 */
function chartData(groups, bucket, seriesBy) {
  const times = [...new Set(groups.map((g) => g[bucket]))].sort((a, b) => Date.parse(a) - Date.parse(b));
  const index = new Map(times.map((t, i) => [t, i]));
  const totalBy = new Map();
  for (const g of groups) totalBy.set(g[seriesBy], (totalBy.get(g[seriesBy]) ?? 0) + measureOf(g));
  const names = [...totalBy.keys()].sort((a, b) => totalBy.get(b) - totalBy.get(a) || a.localeCompare(b));
  const shown = names.length > MAX_SERIES ? names.slice(0, MAX_SERIES - 1) : names;
  const labels = names.length > MAX_SERIES ? [...shown, 'others'] : shown;
  const values = labels.map(() => times.map(() => 0));
  for (const g of groups) {
    const i = shown.indexOf(g[seriesBy]);
    values[i === -1 ? labels.length - 1 : i][index.get(g[bucket])] += measureOf(g);
  }
  return { times, labels, values };
}

function showChart(groups, bucket, seriesBy, tz) {
  const data = chartData(groups, bucket, seriesBy);
  window.dashboardChart = data;
  showChartTable(data, bucket, tz);
  const box = $('chart');
  state.chart?.destroy();
  state.chart = null;
  box.replaceChildren();
  if (data.times.length === 0) {
    box.textContent = 'No calls in this range.';
    return;
  }
  if (typeof uPlot !== 'function') {
    box.textContent = 'The chart library did not load; the figures are in the table below.';
    return;
  }
  // Stacked: each series is drawn as the running total up to it, the largest on top, filled down to the one below.
  const stacked = [];
  for (const [s, row] of data.values.entries()) stacked.push(row.map((v, i) => v + (s > 0 ? stacked[s - 1][i] : 0)));
  const xs = data.times.map((t) => Date.parse(t) / 1000);
  const format = $('measure').value === 'cost' ? money : count;
  const opts = {
    width: Math.max(280, box.clientWidth),
    height: box.clientWidth < 500 ? 240 : 320,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
    series: [
      { label: bucket === 'hour' ? 'Hour' : 'Day' },
      ...data.labels.map((label, s) => ({
        label,
        stroke: COLOURS[s % COLOURS.length],
        fill: `${COLOURS[s % COLOURS.length]}cc`,
        paths: uPlot.paths.bars({ size: [0.8, 60] }),
        points: { show: false },
        value: (_u, _v, _si, i) => (i === null || i === undefined ? '–' : format(data.values[s][i])),
      })),
    ],
    bands: data.labels.slice(1).map((_l, s) => ({ series: [s + 2, s + 1] })),
    axes: [{}, { values: (_u, ticks) => ticks.map((t) => format(t)), size: 80 }],
    scales: { x: { time: true } },
  };
  state.chart = new uPlot(opts, [xs, ...stacked], box);
}

function showChartTable(data, bucket, tz) {
  const table = $('chart-table');
  const head = document.createElement('tr');
  head.append(th(`${bucket} (${tz})`), ...data.labels.map((l) => th(l, true)));
  const rows = data.times.map((t, i) => {
    const tr = document.createElement('tr');
    tr.append(td(t), ...data.values.map((v) => td(String(v[i]), true)));
    return tr;
  });
  table.replaceChildren(thead(head), tbody(rows));
}

const TOP_COLUMNS = [
  ['numQueries', 'Calls', count],
  ['queryTokens', 'Prompt tokens', count],
  ['answerTokens', 'Completion tokens', count],
  ['cost', 'Cost', money],
  ['unpricedQueries', 'Unpriced', count],
];

function showTop(field, groups) {
  const table = $(`top-${field}`);
  const sort = state.sorts[field] ?? { column: 'cost', descending: true };
  state.sorts[field] = sort;
  const sorted = [...groups].sort((a, b) => {
    const x = sort.column === field ? a[field].localeCompare(b[field]) : a[sort.column] - b[sort.column];
    return sort.descending ? -x : x;
  });
  const head = document.createElement('tr');
  const columns = [[field, field[0].toUpperCase() + field.slice(1), String], ...TOP_COLUMNS];
  for (const [key, label] of columns) {
    const cell = th('', key !== field);
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.addEventListener('click', () => {
      state.sorts[field] = { column: key, descending: sort.column === key ? !sort.descending : key !== field };
      showTop(field, groups);
      table.querySelector(`th[data-column="${key}"] button`)?.focus();
    });
    cell.dataset.column = key;
    if (sort.column === key) cell.setAttribute('aria-sort', sort.descending ? 'descending' : 'ascending');
    cell.append(button);
    head.append(cell);
  }
  const rows = sorted.map((g) => {
    const tr = document.createElement('tr');
    tr.append(...columns.map(([key, , fmt], i) => td(fmt(g[key]), i > 0)));
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const cell = td('No calls in this range.');
    cell.colSpan = columns.length;
    tr.append(cell);
    rows.push(tr);
  }
  table.replaceChildren(thead(head), tbody(rows));
}

function fillSuggestions(users, models, endpoints) {
  for (const [list, groups, field] of [
    ['user-list', users, 'user'],
    ['model-list', models, 'model'],
    ['endpoint-list', endpoints, 'endpoint'],
  ]) {
    $(list).replaceChildren(...groups.map((g) => Object.assign(document.createElement('option'), { value: g[field] })));
  }
}

const RECENT_COLUMNS = [
  ['timestamp', 'Time', (v) => new Date(v).toLocaleString()],
  ['user', 'User', String],
  ['model', 'Model', String],
  ['endpoint', 'Endpoint', String],
  ['status', 'Status', String],
  ['queryTokens', 'Prompt', count],
  ['answerTokens', 'Completion', count],
  ['cost', 'Cost', money],
  ['durationMs', 'ms', count],
];

async function showRecent() {
  const { params } = state.view;
  const page = await api(withParams('queries', params, { order: 'newest', limit: String(PAGE_SIZE + 1), offset: String(state.offset) }));
  const rows = page.slice(0, PAGE_SIZE);
  const head = document.createElement('tr');
  head.append(...RECENT_COLUMNS.map(([, label], i) => th(label, i >= 5)));
  const body = rows.map((q) => {
    const tr = document.createElement('tr');
    tr.append(...RECENT_COLUMNS.map(([key, , fmt], i) => td(fmt(q[key]), i >= 5)));
    return tr;
  });
  $('recent').replaceChildren(thead(head), tbody(body));
  $('newer').disabled = state.offset === 0;
  $('older').disabled = page.length <= PAGE_SIZE;
  $('page-label').textContent = rows.length ? `${count(state.offset + 1)}–${count(state.offset + rows.length)}` : 'none';
  $('csv-link').href = new URL(withParams('queries.csv', params), API).href;
}

function showUnpriced(models) {
  const unpriced = models
    .filter((m) => !m.priced)
    .map((m) => m.name)
    .filter((n) => n !== '');
  $('unpriced').hidden = unpriced.length === 0;
  $('unpriced-list').replaceChildren(...unpriced.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
  const select = $('price-model');
  const chosen = select.value;
  select.replaceChildren(...unpriced.map((n) => Object.assign(document.createElement('option'), { value: n, textContent: n })));
  if (unpriced.includes(chosen)) select.value = chosen;
}

async function addPrice(event) {
  event.preventDefault();
  const form = new FormData($('price-form'));
  const body = { validFrom: String(form.get('validFrom')).trim() };
  for (const name of ['per1KQueryTokens', 'per1KAnswerTokens', 'per1KCachedQueryTokens']) {
    const raw = String(form.get(name) ?? '').trim();
    if (raw !== '') body[name] = Number(raw);
  }
  const model = String(form.get('model'));
  try {
    await api(`model/${encodeURIComponent(model)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    $('price-result').textContent = `Price added for ${model}.`;
    $('price-form').reset();
    await refresh();
  } catch (err) {
    $('price-result').textContent = `Not added: ${err.message}`;
  }
}

/** One heading per model, with a bar for each of its windows (requests, tokens). */
function showLimits(byModel) {
  const parts = [];
  for (const [model, limits] of Object.entries(byModel)) {
    const heading = document.createElement('h3');
    heading.textContent = model || '(no model)';
    parts.push(heading, ...limitBars(model, limits));
  }
  if (parts.length === 0) parts.push(Object.assign(document.createElement('p'), { textContent: 'No upstream answer has reported rate limits yet.' }));
  $('limits').replaceChildren(...parts);
}

function limitBars(model, limits) {
  const parts = [];
  for (const kind of ['requests', 'tokens']) {
    const w = limits[kind];
    if (!w) continue;
    const share = w.maximum ? Math.max(0, Math.min(1, (w.remaining ?? 0) / w.maximum)) : 0;
    const box = document.createElement('div');
    box.className = 'bar';
    const label = document.createElement('div');
    label.id = `limit-${model}-${kind}`.replace(/[^\w-]/g, '_');
    label.textContent = `${kind}: ${w.remaining === null ? '?' : count(w.remaining)} of ${w.maximum === null ? '?' : count(w.maximum)} left${w.reset ? `, resets ${new Date(w.reset).toLocaleTimeString()}` : ''}`;
    const track = document.createElement('div');
    track.className = 'bar-track';
    track.setAttribute('role', 'meter');
    track.setAttribute('aria-labelledby', label.id);
    track.setAttribute('aria-valuemin', '0');
    track.setAttribute('aria-valuemax', String(w.maximum ?? 0));
    track.setAttribute('aria-valuenow', String(w.remaining ?? 0));
    const fill = document.createElement('div');
    fill.className = 'bar-fill';
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    track.append(fill);
    box.append(label, track);
    parts.push(box);
  }
  return parts;
}

/** A CSV download that carries the admin token: a plain link cannot send a header. */
async function downloadCsv(event) {
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  event.preventDefault();
  const res = await fetch($('csv-link').href, { headers: authHeaders() });
  if (!res.ok) {
    setStatus(`Could not download: ${res.status}`, true);
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement('a'), { href: url, download: 'queries.csv' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function th(text, numeric = false) {
  const cell = document.createElement('th');
  cell.scope = 'col';
  cell.textContent = text;
  if (numeric) cell.className = 'num';
  return cell;
}

function td(text, numeric = false) {
  const cell = document.createElement('td');
  cell.textContent = text;
  if (numeric) cell.className = 'num';
  return cell;
}

function thead(row) {
  const head = document.createElement('thead');
  head.append(row);
  return head;
}

function tbody(rows) {
  const body = document.createElement('tbody');
  body.append(...rows);
  return body;
}

function showCustomRange() {
  const custom = $('range').value === 'custom';
  for (const el of document.querySelectorAll('.custom-range')) el.hidden = !custom;
}

function start() {
  $('tz').value = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  showCustomRange();
  $('range').addEventListener('change', showCustomRange);
  $('filters').addEventListener('submit', (e) => {
    e.preventDefault();
    refresh();
  });
  for (const id of ['bucket', 'series', 'measure', 'status', 'range']) $(id).addEventListener('change', () => $('range').value !== 'custom' && refresh());
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value);
    $('token').value = '';
    $('token-box').hidden = true;
    refresh();
  });
  $('price-form').addEventListener('submit', addPrice);
  $('csv-link').addEventListener('click', downloadCsv);
  $('older').addEventListener('click', () => {
    state.offset += PAGE_SIZE;
    showRecent().catch((err) => setStatus(err.message, true));
  });
  $('newer').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    showRecent().catch((err) => setStatus(err.message, true));
  });
  let width = $('chart').clientWidth;
  new ResizeObserver(() => {
    const now = $('chart').clientWidth;
    if (state.chart && Math.abs(now - width) > 20) {
      width = now;
      state.chart.setSize({ width: Math.max(280, now), height: now < 500 ? 240 : 320 });
    }
  }).observe($('chart'));
  refresh();
}

// uPlot is a classic deferred script; module scripts run after it, so it is there by now.
start();
