// The dashboard page: polls the JSON API and redraws. Text goes in with textContent only,
// so nothing an app logs can inject markup.
"use strict";

const REFRESH_MS = 2000;
const LOG_LINES = 200;
const $ = (selector) => document.querySelector(selector);

function selectedApp() {
  const match = location.hash.match(/^#\/apps\/(.+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

function uptime(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function text(value) {
  if (value === null || value === undefined || value === "") return "—";
  return Array.isArray(value) ? value.join(", ") || "—" : String(value);
}

// Replace a table's body with rows of cells; `empty` is shown when there is no row.
function fill(table, rows, empty) {
  const body = table.tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) {
    const td = body.insertRow().insertCell();
    td.colSpan = table.tHead.rows[0].cells.length;
    td.className = "none";
    td.textContent = empty;
    return [];
  }
  return rows.map((cells) => {
    const tr = body.insertRow();
    for (const value of cells) {
      const td = tr.insertCell();
      if (value instanceof Node) td.appendChild(value); else td.textContent = text(value);
    }
    return tr;
  });
}

async function getJSON(url) {
  const reply = await fetch(url, { cache: "no-store" });
  const body = await reply.json();
  if (!reply.ok) throw Object.assign(new Error(body.message || reply.statusText), { status: reply.status });
  return body;
}

function appLink(appId) {
  const a = document.createElement("a");
  a.href = `#/apps/${encodeURIComponent(appId)}`;
  a.textContent = appId;
  return a;
}

async function refreshApps() {
  const { apps } = await getJSON("/api/apps");
  const rows = [];
  const meta = [];
  for (const app of apps) {
    for (const inst of app.instances) {
      rows.push([appLink(app.appId), inst.replica, inst.health, inst.httpPort, inst.appPort, inst.daprdPid,
                 inst.appPid, uptime(inst.uptimeSeconds), app.components, app.topics]);
      meta.push({ appId: app.appId, health: inst.health });
    }
  }
  const trs = fill($("#apps"), rows, "no app is running");
  trs.forEach((tr, i) => {
    tr.dataset.appId = meta[i].appId;
    tr.cells[2].className = meta[i].health;
    tr.classList.toggle("selected", meta[i].appId === selectedApp());
  });
  $("#empty").hidden = apps.length > 0;
}

async function refreshDetail() {
  const appId = selectedApp();
  $("#detail").hidden = appId === null;
  if (appId === null) return;
  $("#detail-title").textContent = appId;
  const path = `/api/apps/${encodeURIComponent(appId)}`;
  const source = $("#log-source").value;
  let app, logs;
  try {
    [app, logs] = await Promise.all([getJSON(path), getJSON(`${path}/logs?source=${source}&lines=${LOG_LINES}`)]);
  } catch (error) {
    if (error.status !== 404) throw error;
    $("#detail-note").textContent = `${appId} is not running.`;
    for (const id of ["#components", "#subscriptions", "#actors"]) fill($(id), [], "—");
    $("#log").textContent = "";
    return;
  }
  const versions = app.instances.map((i) => i.runtimeVersion).filter(Boolean);
  $("#detail-note").textContent =
    `${app.instances.length} replica(s)` + (versions.length ? `, runtime ${versions[0]}` : "");
  fill($("#components"), app.components.map((c) => [c.name, c.type, c.version, c.capabilities]), "no component");
  fill($("#subscriptions"), app.subscriptions.map((s) => [
    s.pubsubname, s.topic,
    s.routes.map((r) => (r.match ? `${r.match} → ${r.path}` : r.path)), s.deadLetterTopic,
  ]), "no subscription");
  fill($("#actors"), app.actors.map((a) => [a.type, a.count]), "no actor type");
  const several = logs.logs.length > 1;
  const lines = [];
  for (const log of logs.logs) {
    if (!log.path) lines.push(`(replica ${text(log.replica)} writes no log file: its log goes to the console only)`);
    for (const line of log.lines) lines.push(several ? `${appId}-${log.replica} | ${line}` : line);
  }
  const pre = $("#log");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = lines.join("\n");
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

async function tick() {
  try {
    await refreshApps();
    await refreshDetail();
    $("#status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    $("#status").textContent = `cannot read the dashboard API: ${error.message}`;
  }
}

window.addEventListener("hashchange", tick);
$("#log-source").addEventListener("change", tick);
tick();
setInterval(tick, REFRESH_MS);
