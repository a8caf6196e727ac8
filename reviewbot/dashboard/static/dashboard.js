const INIT = JSON.parse(document.getElementById('initial').textContent);
const TOKEN = INIT.token, VIEW = INIT.view;
let state = INIT.data, filter = new URLSearchParams(location.search).get('status') || '';
let selected = null, source = null;
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g,
  (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const q = (path, extra) => {
  const p = new URLSearchParams(extra || {}); p.set('token', TOKEN);
  return path + '?' + p.toString();
};
const usd = (x) => '$' + (x || 0).toFixed((x || 0) < 1 ? 4 : 2);
const secs = (s) => { s = s || 0; if (s < 60) return s.toFixed(1) + 's';
  const m = Math.floor(s / 60); return m < 60 ? m + 'm' + String(Math.round(s % 60)).padStart(2, '0') + 's'
    : Math.floor(m / 60) + 'h' + String(m % 60).padStart(2, '0') + 'm'; };
const when = (t) => t ? new Date(t * 1000).toLocaleString() : '';
const tok = (n) => n >= 1e6 ? (n / 1e6).toFixed(1) + 'M' : n >= 1e3 ? (n / 1e3).toFixed(1) + 'k' : String(n || 0);
const badge = (s) => `<span class="badge s-${esc(s)}">${esc(s)}</span>`;

function outcome(o) {
  if (!o || !o.kind) return '';
  if (o.kind === 'review') return `${o.confirmed} confirmed`;
  const f = o.files || {};
  return `${f.migrated || 0} migrated / ${f.skipped || 0} skipped / ${f.failed || 0} failed`
    + (f.pending ? ` / ${f.pending} pending` : '');
}

function renderRuns() {
  const runs = state.runs || [];
  const statuses = ['', 'running', 'finished', 'partial', 'killed', 'interrupted', 'failed'];
  $('filters').innerHTML = statuses.map((s) =>
    `<button class="${s === filter ? 'on' : ''}" data-s="${s}">${s || 'all'}</button>`).join('');
  for (const b of $('filters').querySelectorAll('button')) b.onclick = () => {
    filter = b.dataset.s; history.replaceState(null, '', q('/', filter ? {status: filter} : {}));
    connect(); };
  const rows = runs.map((r) => `<tr class="click" data-id="${esc(r.id)}">
    <td><a href="${q('/runs/' + encodeURIComponent(r.id))}">${esc(r.id)}</a></td>
    <td>${esc(r.harness)}${r.temporal ? ' <span class="meta">on Temporal</span>' : ''}</td><td>${badge(r.status)}${r.control && r.status === 'running' ? ' <span class="meta">' + esc(r.control) + '</span>' : ''}</td>
    <td>${esc(when(r.started))}</td><td class="num">${secs(r.duration)}</td>
    <td class="num">${r.agents}</td><td class="num">${usd(r.cost_usd)}</td>
    <td>${esc(outcome(r.outcome))}${r.stop_reason ? ' <span class="meta">(' + esc(r.stop_reason) + ')</span>' : ''}</td></tr>`);
  $('runs').innerHTML = `<table><thead><tr><th>run</th><th>harness</th><th>status</th>
    <th>started</th><th class="num">duration</th><th class="num">agents</th>
    <th class="num">cost</th><th>outcome</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
    + (runs.length ? '' : '<p class="meta">no runs</p>');
  for (const tr of $('runs').querySelectorAll('tr.click')) tr.onclick = (ev) => {
    if (ev.target.tagName !== 'A') location.href = q('/runs/' + encodeURIComponent(tr.dataset.id)); };
}

function timeline(run) {
  const agents = run.calls || [], phases = run.phases.map((p) => p.phase);
  if (!agents.length) return '<p class="meta">no agents yet</p>';
  const span = Math.max(run.elapsed || 0, ...agents.map((a) => a.end ?? run.elapsed), 0.001);
  const W = 1000, left = 110, lane = 9, gap = 10, width = W - left - 10;
  let y = 4, out = [];
  for (const ph of phases) {
    const rows = agents.filter((a) => a.phase === ph), lanes = [];
    for (const a of rows) {  // greedy lanes: an agent goes on the first lane free at its start
      const s = a.start ?? 0, e = a.end ?? run.elapsed;
      let i = lanes.findIndex((end) => end <= s); if (i < 0) { i = lanes.length; lanes.push(0); }
      lanes[i] = e; a._lane = i;
    }
    const h = Math.max(1, lanes.length) * lane;
    out.push(`<text x="0" y="${y + Math.min(h, 12) - 2}">${esc(ph)}</text>`);
    out.push(`<line x1="${left}" x2="${W - 10}" y1="${y + h + gap / 2}" y2="${y + h + gap / 2}" stroke="#eee"/>`);
    for (const a of rows) {
      const s = a.start ?? 0, e = a.end ?? run.elapsed;
      const x = left + (s / span) * width, w = Math.max(2, ((e - s) / span) * width);
      out.push(`<rect class="agent a-${a.status}" data-call="${a.call}" x="${x.toFixed(1)}" y="${y + a._lane * lane}"
        width="${w.toFixed(1)}" height="${lane - 2}" rx="2"><title>#${a.call} ${esc(a.role)} ${esc(a.status)} ${secs(e - s)} ${usd(a.cost_usd)}</title></rect>`);
    }
    y += h + gap;
  }
  out.push(`<text x="${left}" y="${y + 10}">0s</text><text x="${W - 60}" y="${y + 10}">${secs(span)}</text>`);
  return `<svg id="timeline" viewBox="0 0 ${W} ${y + 14}" width="100%">${out.join('')}</svg>`;
}

function renderRun() {
  const r = state;
  const live = r.status === 'running';
  $('title').innerHTML = `${esc(r.harness)} <span class="meta">${esc(r.id)}</span> ${badge(r.status)}`;
  $('meta').innerHTML = `<span class="meta">started <b>${esc(when(r.started))}</b> · elapsed <b>${secs(r.duration)}</b>
    · agents <b>${r.agents}</b> · cost <b>${usd(r.cost_usd)}</b>
    ${r.stop_reason ? ' · stopped: <b>' + esc(r.stop_reason) + '</b>' : ''}
    ${r.control ? ' · control: <b>' + esc(r.control) + '</b>' : ''}</span>${temporal(r)}`;
  $('steer').innerHTML = !live ? '' : `<button class="stop" data-a="stop">Stop</button>
    <button data-a="pause">Pause</button><button data-a="continue">Continue</button>
    ${r.paused ? '<b>paused</b>' : ''}
    ${r.temporal ? `<span class="meta">stop: no new batch starts, the running ones finish, and
    what finished is assembled into a partial result; pause: no new batch starts until Continue,
    the batches in flight finish first (the client following the workflow signals it)</span>` : ''}
    <span id="steer-msg" class="meta"></span>`;
  for (const b of $('steer').querySelectorAll('button')) b.onclick = () => steer(b.dataset.a);
  renderSave(r);
  const b = r.budget || {};
  $('budget').innerHTML = b.budget_usd ? `<div class="gauge" title="spent / projected / budget">
      <div class="proj" style="left:0;width:${Math.min(100, 100 * b.projected_usd / b.budget_usd)}%"></div>
      <div class="spent" style="width:${Math.min(100, 100 * b.spent_usd / b.budget_usd)}%"></div></div>
      <span class="meta">spent <b>${usd(b.spent_usd)}</b> of <b>${usd(b.budget_usd)}</b>, projected <b>${usd(b.projected_usd)}</b></span>`
    : `<span class="meta">no budget cap · spent <b>${usd(b.spent_usd)}</b></span>`;
  $('phases').innerHTML = `<table><thead><tr><th>phase</th><th class="num">started</th><th class="num">running</th>
    <th class="num">finished</th><th class="num">failed</th><th class="num">replayed</th>
    <th class="num">tokens in</th><th class="num">tokens out</th><th class="num">cache read</th>
    <th class="num">cost</th><th class="num">elapsed</th></tr></thead><tbody>${r.phases.map((p) => `<tr>
    <td>${esc(p.phase)}</td><td class="num">${p.started}</td><td class="num">${p.running}</td>
    <td class="num">${p.finished}</td><td class="num">${p.failed}</td><td class="num">${p.replayed}</td>
    <td class="num">${tok(p.input_tokens)}</td><td class="num">${tok(p.output_tokens)}</td>
    <td class="num">${Math.round(100 * p.cache_read_share)}%</td><td class="num">${usd(p.cost_usd)}</td>
    <td class="num">${secs(p.elapsed)}</td></tr>`).join('')}</tbody></table>`;
  $('timeline-box').innerHTML = timeline(r);
  for (const el of document.querySelectorAll('rect.agent')) el.onclick = () => showAgent(+el.dataset.call);
  const o = r.outcome || {};
  let extra = '';
  if (o.kind === 'review') {
    const f = o.funnel;
    extra = `<h2>Funnel</h2><div class="card">${f.candidates} candidates → ${f.grounded} grounded
      (${f.ungrounded} ungrounded) → ${f.deduplicated} distinct (${f.duplicates} duplicates) →
      ${f.confirmed} confirmed / ${f.refuted} refuted${f.unverified ? ' / ' + f.unverified + ' unverified' : ''}
      ${f.escalated ? ' · ' + f.escalated + ' escalated to the judge' : ''}
      ${f.deterministic ? ' · ' + f.deterministic + ' deterministic' : ''}</div>`;
  } else if (o.kind === 'migration') {
    const shown = o.per_file.length, total = o.per_file_total ?? shown;
    const more = total > shown ? `<div class="meta">showing ${shown} of ${total} files: every file
      that did not migrate, then the latest migrated</div>` : '';
    extra = `<h2>Files</h2><div class="card">${more}<table><tbody>${o.per_file.map((f) =>
      `<tr><td>${esc(f.path)}</td><td>${badge(f.status)}</td>
      <td class="meta">${esc(f.reason)}</td></tr>`).join('')}</tbody></table></div>`;
  }
  const notes = (r.notes || []).concat(r.errors || []);
  $('extra').innerHTML = extra + (notes.length ? `<h2>Notes</h2><div class="card">${notes.map(
    (n) => `<div>${esc(n)}</div>`).join('')}</div>` : '');
  if (selected !== null) showAgent(selected, true);
}

async function showAgent(call, quiet) {
  selected = call;
  const res = await fetch(q(`/api/runs/${encodeURIComponent(state.id)}/agents/${call}`));
  if (!res.ok) { if (!quiet) $('agent').innerHTML = '<p class="err">no such agent</p>'; return; }
  const a = await res.json(), j = a.journal || {};
  const rows = [['call', '#' + a.call], ['status', badge(a.status)], ['role', esc(a.role)],
    ['tier', esc(a.tier)], ['model', esc(a.model)], ['phase', esc(a.phase)],
    ['ran', `${secs(a.start)} → ${a.end == null ? 'running' : secs(a.end)} (${secs(a.seconds)})`],
    ['tokens', `${tok(a.input_tokens)} in, ${tok(a.output_tokens)} out, ${tok(a.cache_read_tokens)} cache read, ${tok(a.cache_write_tokens)} cache write`],
    ['cost', usd(a.cost_usd)],
    ['prompt size', (a.prompt_chars ?? j.prompt_chars) != null ? (a.prompt_chars ?? j.prompt_chars) + ' chars' : ''],
    ['context size', a.context_chars != null ? a.context_chars + ' chars (shared, cached)' : ''],
    ['tools called', a.tools_called && a.tools_called.length ? esc(a.tools_called.join(', ')) : 'none'],
    ['result size', j.result_chars != null ? j.result_chars + ' chars' : '']];
  $('agent').innerHTML = `<h2>Agent #${a.call}</h2><div class="card"><div class="grid">${rows.map(
    ([k, v]) => `<div>${k}</div><div>${v}</div>`).join('')}</div>
    ${a.error || j.error ? `<h2>Error</h2><pre class="err">${esc(a.error || j.error)}</pre>` : ''}
    ${j.result != null ? `<h2>Result</h2><pre>${esc(JSON.stringify(j.result, null, 2))}</pre>` : ''}
    ${j.prompt ? `<h2>Prompt</h2><pre>${esc(j.prompt)}</pre>` : ''}</div>`;
}

async function post(what, data) {  // a write: POST with the token in a header, never a GET
  const res = await fetch(`/api/runs/${encodeURIComponent(state.id)}/${what}`, {method: 'POST',
    headers: {'Content-Type': 'application/json', 'X-Reviewbot-Token': TOKEN},
    body: JSON.stringify(data)});
  return [res, await res.json()];
}

async function steer(action) {
  const [res, body] = await post('control', {action});
  const msg = $('steer-msg');
  if (msg) msg.textContent = res.ok ? `asked to ${action}: ${body.means}` : body.error;
}

function temporal(r) {  // a distributed run: where its workflow is, and who follows it
  const t = r.temporal; if (!t) return '';
  const attach = `<code>reviewbot migrate --attach ${esc(t.workflow_id)}</code>`;
  const who = r.status === 'running' ? 'followed by the client that journals it here'
    : r.status === 'killed' || r.status === 'interrupted'
      ? `no client follows it now, so this run shows what was last seen; the workflow may still be running: ${attach} follows it and brings this run up to date`
      : 'its outcome is journaled here';
  return `<p class="meta" id="temporal">running on Temporal: workflow <b>${esc(t.workflow_id)}</b>
    at <b>${esc(t.address)}</b> (namespace ${esc(t.namespace)}, task queue ${esc(t.task_queue)});
    its batches run on <code>reviewbot worker</code>s · ${who}</p>`;
}

function renderSave(r) {
  // rendered once an ended run is shown, so that live updates keep what was typed
  if (r.status === 'running') { $('save').innerHTML = ''; return; }
  if ($('save-name')) return;
  const name = String(r.harness || 'harness').toLowerCase().replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z]+/, '').slice(0, 40) || 'harness';
  $('save').innerHTML = `<input id="save-name" value="${esc(name)}" aria-label="command name">
    <button class="save">Save harness as a command</button> <span id="save-msg" class="meta"></span>`;
  $('save').querySelector('button.save').onclick = () => save($('save-name').value.trim());
}

async function save(name) {
  const [res, body] = await post('save', {name});
  $('save-msg').innerHTML = res.ok ? `saved <b>${esc(body.path)}</b>: review and commit it,
    then run <code>${esc(body.command)}</code>` : `<span class="err">${esc(body.error)}</span>`;
}

function render() { VIEW === 'runs' ? renderRuns() : renderRun(); }

function connect() {
  if (source) source.close();
  const url = VIEW === 'runs' ? q('/api/stream', filter ? {status: filter} : {})
    : q(`/api/runs/${encodeURIComponent(state.id)}/stream`);
  source = new EventSource(url);
  source.onmessage = (ev) => { state = JSON.parse(ev.data); render();
    $('live').textContent = 'live · updated ' + new Date().toLocaleTimeString(); };
  source.onerror = () => { $('live').textContent = 'reconnecting…'; };
}

render();
connect();
