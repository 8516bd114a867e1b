/**
 * The live page of the local mode: one self-contained HTML document (inline
 * CSS and JavaScript, no external assets). It follows `/local/live-events`
 * (Server-Sent Events) and re-reads `/local/messages`, `/local/devices` and
 * `/local/sms` when something happens, and every few seconds besides.
 */
import { TIMELINE_LABELS } from './events.ts';

/** Options of {@link livePageHtml}. */
export interface LivePageOptions {
  /** Which JPush the system pushes through. */
  readonly jpush: 'simulator' | 'real';
}

const STYLE = `
:root {
  --bg: #f4f6f9; --card: #fff; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0;
  --stored: #475569; --stored-bg: #f1f5f9; --sending: #1d4ed8; --sending-bg: #eff6ff;
  --received: #0e7490; --received-bg: #ecfeff; --acknowledged: #15803d; --acknowledged-bg: #f0fdf4;
  --escalated: #c2410c; --escalated-bg: #fff7ed; --expired: #6b7280; --expired-bg: #f3f4f6;
  --failed: #b91c1c; --failed-bg: #fef2f2; --cancelled: #57534e; --cancelled-bg: #f5f5f4;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif; }
header { position: sticky; top: 0; z-index: 2; display: flex; align-items: center; justify-content: space-between;
  gap: 16px; padding: 12px 24px; background: #0f172a; color: #f8fafc; box-shadow: 0 1px 3px rgba(0,0,0,.2); }
header h1 { margin: 0; font-size: 16px; font-weight: 600; letter-spacing: .2px; }
header h1 small { margin-left: 8px; padding: 2px 8px; border-radius: 999px; background: #1e293b; color: #cbd5e1;
  font-size: 12px; font-weight: 500; }
.meta { display: flex; gap: 10px; align-items: center; font-size: 12px; color: #cbd5e1; }
.pill { padding: 3px 10px; border-radius: 999px; background: #1e293b; }
.conn::before { content: ""; display: inline-block; width: 8px; height: 8px; margin-right: 6px; border-radius: 50%;
  background: #f59e0b; vertical-align: 0; }
.conn.live::before { background: #22c55e; box-shadow: 0 0 0 3px rgba(34,197,94,.25); }
.conn.down::before { background: #ef4444; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 400px; gap: 20px; padding: 20px 24px;
  max-width: 1500px; margin: 0 auto; }
@media (max-width: 1000px) { main { grid-template-columns: 1fr; } }
h2 { margin: 0; font-size: 13px; font-weight: 600; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); }
.section-head { display: flex; align-items: center; justify-content: space-between; gap: 12px; margin-bottom: 12px; }
.counts { display: flex; flex-wrap: wrap; gap: 6px; }
.count { font-size: 12px; padding: 2px 8px; border-radius: 999px; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px;
  margin-bottom: 16px; box-shadow: 0 1px 2px rgba(15,23,42,.04); }
.panel h2 { margin-bottom: 10px; }
.empty { color: var(--muted); padding: 28px; text-align: center; background: var(--card); border: 1px dashed var(--line);
  border-radius: 10px; }
.empty code { font-family: var(--mono); font-size: 12px; background: var(--stored-bg); padding: 2px 6px; border-radius: 4px; }
.aside-empty { color: var(--muted); font-size: 13px; }
.msg { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--line); border-radius: 10px;
  padding: 12px 16px; margin-bottom: 12px; box-shadow: 0 1px 2px rgba(15,23,42,.04); transition: box-shadow .3s; }
.msg.changed { animation: flash 1.6s ease-out; }
@keyframes flash { 0% { box-shadow: 0 0 0 4px rgba(59,130,246,.45); } 100% { box-shadow: 0 1px 2px rgba(15,23,42,.04); } }
.msg-head { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; }
.msg-title { font-weight: 600; font-size: 15px; }
.msg-who { color: var(--muted); }
.msg-who b { color: var(--ink); font-weight: 600; }
.msg-time { margin-left: auto; color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.msg-body { margin: 4px 0 6px; color: #334155; }
.facts { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12px; color: var(--muted); }
.facts span b { color: #334155; font-weight: 600; }
.mono { font-family: var(--mono); font-size: 12px; }
.badge { display: inline-block; padding: 2px 9px; border-radius: 999px; font-size: 12px; font-weight: 600;
  text-transform: uppercase; letter-spacing: .4px; }
.s-stored { color: var(--stored); background: var(--stored-bg); } .m-stored { border-left-color: var(--stored); }
.s-sending { color: var(--sending); background: var(--sending-bg); } .m-sending { border-left-color: var(--sending); }
.s-received { color: var(--received); background: var(--received-bg); } .m-received { border-left-color: var(--received); }
.s-acknowledged { color: var(--acknowledged); background: var(--acknowledged-bg); } .m-acknowledged { border-left-color: var(--acknowledged); }
.s-escalated { color: var(--escalated); background: var(--escalated-bg); } .m-escalated { border-left-color: var(--escalated); }
.s-expired { color: var(--expired); background: var(--expired-bg); } .m-expired { border-left-color: var(--expired); }
.s-failed { color: var(--failed); background: var(--failed-bg); } .m-failed { border-left-color: var(--failed); }
.s-cancelled { color: var(--cancelled); background: var(--cancelled-bg); } .m-cancelled { border-left-color: var(--cancelled); }
.timeline { list-style: none; margin: 10px 0 0; padding: 8px 0 0; border-top: 1px solid var(--line); }
.timeline li { display: grid; grid-template-columns: 64px 120px minmax(0, 1fr); gap: 10px; padding: 3px 0; font-size: 13px; }
.timeline li.fresh, .msg.fresh { animation: appear .5s ease-out; }
@keyframes appear { from { opacity: 0; transform: translateY(-3px); } to { opacity: 1; transform: none; } }
.timeline .t { color: var(--muted); font-variant-numeric: tabular-nums; text-align: right; font-size: 12px; padding-top: 1px; }
.ev { font-weight: 600; }
.timeline .d { color: #334155; overflow-wrap: anywhere; }
.ev-accepted, .ev-waiting { color: #475569; } .ev-stored, .ev-drained, .ev-withdrawn { color: #7c3aed; }
.ev-pushed { color: var(--sending); } .ev-report { color: var(--received); }
.ev-acknowledged, .ev-late-ack { color: var(--acknowledged); }
.ev-escalated, .ev-sms-sent { color: var(--escalated); }
.ev-failed, .ev-push-failed, .ev-sms-failed { color: var(--failed); } .ev-not-delivered { color: #b45309; }
.ev-expired { color: var(--expired); } .ev-cancelled { color: var(--cancelled); }
.ev-session, .ev-device { color: #7c3aed; } .ev-delivered { color: var(--received); } .ev-sms { color: var(--escalated); }
.ev-execution { color: var(--failed); } .ev-status { color: #334155; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; padding: 4px 6px; border-bottom: 1px solid var(--line); }
td { padding: 6px; border-bottom: 1px solid #f1f5f9; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: #cbd5e1; }
.dot.on { background: #22c55e; }
.sub { color: var(--muted); font-size: 12px; }
.list { list-style: none; margin: 0; padding: 0; }
.list li { padding: 7px 0; border-bottom: 1px solid #f1f5f9; font-size: 13px; }
.list li:last-child { border-bottom: 0; }
.sms-to { font-weight: 600; font-family: var(--mono); font-size: 12px; }
.feed { max-height: 420px; overflow-y: auto; }
.feed li { padding: 5px 0; font-size: 12px; animation: appear .5s ease-out; }
.feed .row { display: flex; gap: 8px; align-items: baseline; white-space: nowrap; }
.feed .t { color: var(--muted); font-variant-numeric: tabular-nums; }
.feed .l { font-weight: 600; }
.feed .s { font-family: var(--mono); font-size: 11px; color: var(--muted); overflow: hidden; text-overflow: ellipsis; }
.feed .x { overflow-wrap: anywhere; color: #334155; margin-top: 1px; }
`;

const SCRIPT = `
'use strict';
var TERMINAL = ['acknowledged', 'escalated', 'expired', 'failed', 'cancelled'];
var STATUSES = ['stored', 'sending', 'received', 'acknowledged', 'escalated', 'expired', 'failed', 'cancelled'];
var cards = new Map();
var firstRender = true;
var pending = false, running = false;

function h(tag, attrs) {
  var el = document.createElement(tag);
  if (attrs) for (var k in attrs) {
    if (k === 'text') el.textContent = attrs[k];
    else if (k === 'cls') el.className = attrs[k];
    else el.setAttribute(k, attrs[k]);
  }
  for (var i = 2; i < arguments.length; i++) {
    var c = arguments[i];
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}
function clock(iso) {
  var d = new Date(iso);
  if (isNaN(d.getTime())) return '';
  function p(n, w) { n = String(n); while (n.length < (w || 2)) n = '0' + n; return n; }
  return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
}
function since(iso, start) {
  var ms = Date.parse(iso) - Date.parse(start);
  if (!isFinite(ms)) return '';
  return '+' + (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
}
var LABELS = ${JSON.stringify(TIMELINE_LABELS)};
function label(event) {
  return LABELS[event] || event;
}
function getJson(path) {
  return fetch(path, { cache: 'no-store' }).then(function (res) {
    if (!res.ok) return null;
    return res.json();
  }).catch(function () { return null; });
}

function renderMessage(m, seenEntries) {
  var head = h('div', { cls: 'msg-head' },
    h('span', { cls: 'badge s-' + m.status, 'data-status': m.status, text: m.status }),
    h('span', { cls: 'msg-title', text: m.title || m.body }),
    h('span', { cls: 'msg-who' }, m.from ? h('b', { text: m.from }) : null, m.from ? ' → ' : '→ ', h('b', { text: m.to })),
    h('span', { cls: 'msg-time', title: m.createdAt, text: clock(m.createdAt) }));
  var facts = h('div', { cls: 'facts' },
    h('span', { cls: 'mono', text: m.messageId }),
    h('span', null, 'attempt ', h('b', { text: String(m.attempts) }), ' of ' + (m.policy ? m.policy.maxAttempts : '?')),
    m.policy ? h('span', null, 'every ', h('b', { text: m.policy.intervalSeconds + ' s' })) : null,
    m.failureReason ? h('span', { text: 'reason: ' + m.failureReason }) : null);
  var tl = h('ol', { cls: 'timeline' });
  (m.timeline || []).forEach(function (e, i) {
    tl.appendChild(h('li', i >= seenEntries ? { cls: 'fresh' } : null,
      h('span', { cls: 't', title: e.at, text: since(e.at, m.createdAt) }),
      h('span', { cls: 'ev ev-' + e.event, text: label(e.event) }),
      h('span', { cls: 'd', text: e.detail || '' })));
  });
  return h('article', { cls: 'msg m-' + m.status, 'data-message-id': m.messageId },
    head, m.title ? h('div', { cls: 'msg-body', text: m.body }) : null, facts, tl);
}

function renderMessages(list) {
  var box = document.getElementById('messages');
  var counts = {};
  STATUSES.forEach(function (s) { counts[s] = 0; });
  list.forEach(function (m) { counts[m.status] = (counts[m.status] || 0) + 1; });
  var cbox = document.getElementById('counts');
  cbox.replaceChildren.apply(cbox, STATUSES.filter(function (s) { return counts[s] > 0; }).map(function (s) {
    return h('span', { cls: 'count s-' + s, text: counts[s] + ' ' + s });
  }));
  if (list.length === 0) {
    cards.clear();
    firstRender = false;
    box.replaceChildren(h('div', { cls: 'empty' }, 'No messages yet. Send one with ',
      h('code', { text: 'curl -X POST ' + location.origin + '/v1/messages -d \\'{"to":"alice","body":"Hello"}\\'' }),
      ' or run ', h('code', { text: 'npm run demo' }), '.'));
    return;
  }
  var seen = new Set();
  var nodes = list.slice(0, 200).map(function (m) {
    seen.add(m.messageId);
    var sig = m.status + '|' + m.attempts + '|' + (m.timeline || []).length + '|' + (m.failureReason || '');
    var old = cards.get(m.messageId);
    if (old && old.sig === sig) return old.el;
    var el = renderMessage(m, old ? old.entries : (firstRender ? Infinity : 0));
    if (!old && !firstRender) el.classList.add('fresh');
    if (old && old.status !== m.status) el.classList.add('changed');
    cards.set(m.messageId, { el: el, sig: sig, status: m.status, entries: (m.timeline || []).length });
    return el;
  });
  cards.forEach(function (_, id) { if (!seen.has(id)) cards.delete(id); });
  firstRender = false;
  place(box, nodes);
}

// Puts nodes in order without detaching those already in place (moving a
// node restarts its animations).
function place(box, nodes) {
  var placeholder = box.querySelector('.empty');
  if (placeholder) placeholder.remove();
  nodes.forEach(function (node, i) {
    var current = box.children[i];
    if (current === node) return;
    if (current && current.parentNode === box && nodes.indexOf(current) < 0) {
      box.replaceChild(node, current);
    } else {
      box.insertBefore(node, current || null);
    }
  });
  while (box.children.length > nodes.length) box.removeChild(box.lastElementChild);
}

function renderDevices(list) {
  var box = document.getElementById('devices');
  if (list === null) { box.replaceChildren(h('p', { cls: 'aside-empty', text: 'Real JPush: no simulated phones.' })); return; }
  if (list.length === 0) {
    box.replaceChildren(h('p', { cls: 'aside-empty' }, 'No phones yet. Create one with PUT /local/devices/{registrationId}.'));
    return;
  }
  var body = h('tbody');
  list.forEach(function (d) {
    body.appendChild(h('tr', { 'data-registration-id': d.registrationId },
      h('td', null, h('span', { cls: 'dot' + (d.online ? ' on' : ''), title: d.online ? 'online' : 'offline' }),
        h('span', { cls: 'mono', text: d.registrationId }),
        h('div', { cls: 'sub', text: (d.online ? 'online' : 'offline') + (d.autoAck ? ' · auto-ACK' : ' · no ACK') + (d.queued ? ' · ' + d.queued + ' queued' : '') })),
      h('td', { text: d.alias || '—' }),
      h('td', { cls: 'n', 'data-received': String(d.received.length), text: String(d.received.length) })));
  });
  box.replaceChildren(h('table', null,
    h('thead', null, h('tr', null, h('th', { text: 'Phone' }), h('th', { text: 'Alias' }), h('th', { text: 'Received' }))),
    body));
}

function renderSms(list) {
  var box = document.getElementById('sms');
  if (!list || list.length === 0) { box.replaceChildren(h('li', { cls: 'aside-empty', text: 'No SMS sent.' })); return; }
  box.replaceChildren.apply(box, list.slice().reverse().slice(0, 100).map(function (s) {
    return h('li', null, h('div', null, h('span', { cls: 'sms-to', text: s.to }), ' ',
      h('span', { cls: 'sub', text: clock(s.at) })), h('div', { text: s.text }));
  }));
}

function addActivity(e) {
  var box = document.getElementById('activity');
  var placeholder = box.querySelector('.aside-empty');
  if (placeholder) placeholder.remove();
  box.insertBefore(h('li', null,
    h('div', { cls: 'row' }, h('span', { cls: 't', text: clock(e.at) }),
      h('span', { cls: 'l ev-' + (e.kind === 'timeline' ? e.event : e.kind), text: e.label }),
      h('span', { cls: 's', title: e.subject, text: e.subject })),
    e.text ? h('div', { cls: 'x', text: e.text }) : null), box.firstChild);
  while (box.children.length > 150) box.removeChild(box.lastChild);
}

function refresh() {
  if (running) { pending = true; return; }
  running = true;
  Promise.all([getJson('/local/messages'), getJson('/local/devices'), getJson('/local/sms')]).then(function (r) {
    if (r[0]) renderMessages(r[0]);
    renderDevices(r[1]);
    renderSms(r[2]);
  }).finally(function () {
    running = false;
    if (pending) { pending = false; refresh(); }
  });
}
var timer = null;
function soon() { if (timer === null) timer = setTimeout(function () { timer = null; refresh(); }, 80); }

function connect() {
  var conn = document.getElementById('conn');
  var source = new EventSource('/local/live-events');
  source.onopen = function () { conn.textContent = 'live'; conn.className = 'pill conn live'; soon(); };
  source.onerror = function () { conn.textContent = 'reconnecting…'; conn.className = 'pill conn down'; };
  source.onmessage = function (msg) {
    try { addActivity(JSON.parse(msg.data)); } catch (err) { return; }
    soon();
  };
}
connect();
refresh();
setInterval(refresh, 4000);
`;

/**
 * The live page as one HTML document.
 * @param options which JPush the system uses
 */
export const livePageHtml = (
  options: LivePageOptions
): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Push delivery · local mode</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Guaranteed push delivery<small>local mode</small></h1>
  <div class="meta">
    <span class="pill">${options.jpush === 'real' ? 'real JPush' : 'JPush simulator'}</span>
    <span id="conn" class="pill conn">connecting…</span>
  </div>
</header>
<main>
  <section>
    <div class="section-head"><h2>Messages</h2><div id="counts" class="counts"></div></div>
    <div id="messages"><div class="empty">Loading…</div></div>
  </section>
  <aside>
    <div class="panel"><h2>Phones</h2><div id="devices"></div></div>
    <div class="panel"><h2>SMS sent</h2><ul id="sms" class="list"></ul></div>
    <div class="panel"><h2>Activity</h2><ul id="activity" class="list feed"><li class="aside-empty">Waiting for events…</li></ul></div>
  </aside>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
