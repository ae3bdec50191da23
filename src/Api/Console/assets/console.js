// FedMM operator console (docs/CONSOLE.md): hash-routed pages over the REST API of docs/API.md.
// The operator key stays in session storage (never in a URL); views refresh by polling.
"use strict";

const KEY_STORAGE = "fedmm.operatorKey";
const POLL_MS = 2000;
const GROUPS = ["image-only", "text-only", "image+text"];
const GROUP_COLOURS = { "image-only": "#b03a2e", "text-only": "#1f5f99", "image+text": "#1d6b2f" };
const SITE_COLOURS = ["#1f5f99", "#b03a2e", "#1d6b2f", "#7a3d99", "#9a5b00", "#00707a", "#5a5a5a", "#a3246b", "#3d5a00", "#00468b"];
const STATES = ["Queued", "Collecting", "Aggregating", "Completed"];
const CONFIG_TEMPLATE = {
  name: "my-federation",
  labels: ["a", "b", "c", "d"],
  round: { minClients: 2, localEpochs: 1, deadline: "00:30:00" },
};

const main = document.getElementById("main");
const errorBox = document.getElementById("error");
let pollTimer = null;
let charts = [];
const reportCache = new Map();
const pairingCache = new Map();

// ---- small DOM helpers (text is always set as text, never parsed as HTML) ----
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}
const fmtTime = t => t ? new Date(t).toLocaleString() : "—";
const fmt3 = v => v === null || v === undefined || Number.isNaN(v) ? "—" : v.toFixed(3);
function groupOf(modalities) { return modalities === "image" ? "image-only" : modalities === "text" ? "text-only" : "image+text"; }

// ---- API access ----
function operatorKey() { return sessionStorage.getItem(KEY_STORAGE); }

class ApiError extends Error {
  constructor(status, title, detail) { super(detail || title); this.status = status; this.title = title; this.detail = detail; }
}

async function api(path, options = {}) {
  const headers = { "X-Api-Key": options.key ?? operatorKey() ?? "", ...(options.body ? { "Content-Type": "application/json" } : {}) };
  const response = await fetch(path, { method: options.method || "GET", headers, body: options.body ? JSON.stringify(options.body) : undefined, cache: "no-store" });
  if (!response.ok) {
    let title = `HTTP ${response.status}`, detail = "";
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      const problem = await response.json().catch(() => ({}));
      title = problem.title || title;
      detail = problem.detail || "";
    } else {
      detail = (await response.text().catch(() => "")).slice(0, 300);
    }
    if ((response.status === 401 || response.status === 403) && !options.key) signOut(`${title}: ${detail}`);
    throw new ApiError(response.status, title, detail);
  }
  if (options.raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

function showError(e) {
  if (!e) { errorBox.hidden = true; errorBox.textContent = ""; return; }
  errorBox.textContent = e instanceof ApiError ? `${e.title}${e.detail ? ": " + e.detail : ""}` : String(e.message || e);
  errorBox.hidden = false;
}

async function download(path, fileName) {
  try {
    const response = await api(path, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    const a = h("a", { href: url, download: fileName });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { showError(e); }
}

// ---- routing ----
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (!operatorKey()) return { page: "signin" };
  if (parts[0] === "federations" && parts[1]) return { page: parts[2] || "sites", fid: parts[1] };
  if (parts[0] === "signin") return { page: "signin" };
  return { page: "federations" };
}

function navigate() {
  clearInterval(pollTimer);
  charts.forEach(c => c.destroy());
  charts = [];
  showError(null);
  main.replaceChildren();
  const r = route();
  document.getElementById("nav").hidden = r.page === "signin";
  const fedNav = document.getElementById("nav-federation");
  fedNav.replaceChildren();
  if (r.fid) {
    const base = `#/federations/${encodeURIComponent(r.fid)}`;
    fedNav.append(h("span", { class: "muted-on-accent" }, `${r.fid}: `),
      ...[["sites", "Sites"], ["rounds", "Rounds"], ["learning", "Learning"]].map(([p, label]) =>
        h("a", { href: `${base}/${p}`, "aria-current": r.page === p ? "page" : null }, label + " ")));
  }
  const pages = { signin: signInPage, federations: federationsPage, sites: sitesPage, rounds: roundsPage, learning: learningPage };
  (pages[r.page] || federationsPage)(r);
  main.focus({ preventScroll: true });
}

// A hash change re-renders through the hashchange event; the same hash needs an explicit render.
function go(hash) {
  if (location.hash === hash) navigate(); else location.hash = hash;
}

function poll(refresh) {
  const run = async () => {
    try {
      await refresh();
      document.getElementById("updated").textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${POLL_MS / 1000} s.`;
    } catch (e) { showError(e); }
  };
  run();
  pollTimer = setInterval(run, POLL_MS);
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  go("#/signin");
  if (message) showError(new Error(message));
}

// ---- pages ----
function signInPage() {
  document.title = "Sign in – FedMM console";
  const input = h("input", { id: "operator-key", name: "operator-key", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "panel", "aria-labelledby": "signin-title" },
    h("div", { class: "field" }, h("label", { for: "operator-key" }, "Operator key (the API's admin key)"), input),
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      await api("/api/federations", { key: input.value });
      sessionStorage.setItem(KEY_STORAGE, input.value);
      go("#/federations");
    } catch (e) { showError(e); }
  });
  main.append(h("h1", { id: "signin-title" }, "Sign in"),
    h("p", {}, "The key is kept in this browser tab's session storage only and sent as the X-Api-Key header."), form);
}

function federationsPage() {
  document.title = "Federations – FedMM console";
  const list = h("div", { id: "federation-list" });
  const id = h("input", { id: "new-fid", name: "id", pattern: "[a-z0-9][a-z0-9-]{0,62}", required: true });
  const config = h("textarea", { id: "new-config", name: "config", required: true, spellcheck: "false" });
  config.value = JSON.stringify(CONFIG_TEMPLATE, null, 2);
  const form = h("form", { class: "panel", "aria-labelledby": "create-title" },
    h("h2", { id: "create-title" }, "Create a federation"),
    h("div", { class: "field" }, h("label", { for: "new-fid" }, "Federation id (a-z, 0-9, -)"), id),
    h("div", { class: "field" }, h("label", { for: "new-config" }, "Configuration (FederationConfig JSON, see docs/API.md)"), config),
    h("button", { type: "submit" }, "Create federation"));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    let parsed;
    try { parsed = JSON.parse(config.value); } catch (e) { showError(new Error(`Configuration is not valid JSON: ${e.message}`)); return; }
    try {
      const created = await api("/api/federations", { method: "POST", body: { id: id.value, config: parsed } });
      showError(null);
      location.hash = `#/federations/${encodeURIComponent(created.id)}/sites`;
    } catch (e) { showError(e); }
  });
  main.append(h("h1", {}, "Federations"), list, form);
  poll(async () => {
    const federations = await api("/api/federations");
    const rows = federations.map(f => h("tr", {},
      h("td", {}, h("a", { href: `#/federations/${encodeURIComponent(f.id)}/sites` }, f.id)),
      h("td", {}, f.config?.name ?? ""),
      h("td", { class: "num" }, f.clients.length),
      h("td", { class: "num" }, f.rounds.length),
      h("td", {}, f.currentRound ?? "—"),
      h("td", {}, f.latestCompletedRound ?? "—")));
    list.replaceChildren(federations.length === 0 ? h("p", {}, "No federation yet.") :
      h("table", {}, h("caption", {}, "Every federation"),
        h("thead", {}, h("tr", {}, ...["Id", "Name", "Sites", "Rounds", "Current round", "Latest completed"].map(t => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows)));
  });
}

function sitesPage({ fid }) {
  document.title = `${fid}: sites – FedMM console`;
  const sites = h("div", { id: "site-list" });
  const config = h("pre", { class: "config", id: "config", tabindex: "0", "aria-label": "Federation configuration" });
  const tokenBox = h("div", { id: "token-box", "aria-live": "polite" });
  const clientId = h("input", { id: "new-client", name: "clientId", required: true, pattern: "[a-z0-9][a-z0-9-]{0,62}" });
  const modalities = h("select", { id: "new-modalities", name: "modalities" },
    ...["image", "text", "image+text"].map(m => h("option", { value: m }, m)));
  const form = h("form", { class: "panel", "aria-labelledby": "register-title" },
    h("h2", { id: "register-title" }, "Register a site"),
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "new-client" }, "Client id"), clientId),
      h("div", { class: "field" }, h("label", { for: "new-modalities" }, "Modalities"), modalities),
      h("div", { class: "field" }, h("button", { type: "submit" }, "Register site"))));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      const reg = await api(`/api/federations/${encodeURIComponent(fid)}/clients`, { method: "POST", body: { clientId: clientId.value, modalities: modalities.value } });
      showError(null);
      tokenBox.replaceChildren(h("div", { class: "token" },
        h("p", {}, `Token of site ${reg.clientId} (${reg.modalities}). It is shown this once: hand it to the site now.`),
        h("code", { id: "site-token" }, reg.token)));
      clientId.value = "";
    } catch (e) { showError(e); }
  });
  main.append(h("h1", {}, `Federation ${fid}: sites`), sites, form, tokenBox, h("h2", {}, "Configuration (read-only)"), config);
  poll(async () => {
    const [federation, list, clients] = await Promise.all([
      api(`/api/federations/${encodeURIComponent(fid)}`),
      api(`/api/federations/${encodeURIComponent(fid)}/sites`),
      api(`/api/federations/${encodeURIComponent(fid)}/clients`)]);
    config.textContent = JSON.stringify(federation.config, null, 2);
    // Token state appears where the API reports revocation and expiry of site tokens.
    const tokens = new Map(clients.filter(c => "revokedAt" in c).map(c => [c.clientId, tokenState(c)]));
    const headings = ["Site", "Modalities", "Registered", "Last contact", "Rounds taken part", "Rounds missed", ...(tokens.size ? ["Token"] : [])];
    sites.replaceChildren(list.length === 0 ? h("p", {}, "No site registered yet.") :
      h("table", {}, h("caption", {}, "Registered sites"),
        h("thead", {}, h("tr", {}, ...headings.map(t => h("th", { scope: "col" }, t)))),
        h("tbody", {}, list.map(s => h("tr", {},
          h("th", { scope: "row" }, s.clientId), h("td", {}, s.modalities), h("td", {}, fmtTime(s.registeredAt)),
          h("td", {}, s.lastContact ? fmtTime(s.lastContact) : "not since the API started"),
          h("td", { class: "num" }, s.roundsTakenPart), h("td", { class: "num" }, s.roundsMissed),
          tokens.size ? h("td", {}, tokens.get(s.clientId) ?? "—") : null)))));
  });
}

function tokenState(client) {
  if (client.revokedAt) return `revoked ${fmtTime(client.revokedAt)}`;
  if (client.tokenExpiresAt && new Date(client.tokenExpiresAt) <= Date.now()) return `expired ${fmtTime(client.tokenExpiresAt)}`;
  return client.tokenExpiresAt ? `active until ${fmtTime(client.tokenExpiresAt)}` : "active";
}

function timeline(state) {
  const final = ["Completed", "Failed", "Cancelled"].includes(state);
  const steps = final ? [...STATES.slice(0, 3), state] : STATES;
  const at = steps.indexOf(state);
  return h("ol", { class: "timeline", "aria-label": `State ${state}` },
    steps.map((s, i) => h("li", { class: i < at ? "done" : i === at ? "current" : null, "aria-current": i === at ? "step" : null }, s)));
}

function countdown(deadline, state) {
  if (!deadline || state !== "Collecting") return "—";
  const s = Math.round((new Date(deadline) - Date.now()) / 1000);
  if (s <= 0) return "passed";
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

async function reportOf(fid, round) {
  const key = `${fid}/${round}`;
  if (!reportCache.has(key)) reportCache.set(key, await api(`/api/federations/${encodeURIComponent(fid)}/rounds/${round}/report`));
  return reportCache.get(key);
}

function roundsPage({ fid }) {
  document.title = `${fid}: rounds – FedMM console`;
  const list = h("div", { id: "round-list" });
  const count = h("input", { id: "round-count", name: "rounds", type: "number", min: "1", max: "100", value: "1" });
  const form = h("form", { class: "panel", "aria-labelledby": "start-title" },
    h("h2", { id: "start-title" }, "Start rounds"),
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "round-count" }, "How many (they run one after another)"), count),
      h("div", { class: "field" }, h("button", { type: "submit" }, "Start rounds"))));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      await api(`/api/federations/${encodeURIComponent(fid)}/rounds`, { method: "POST", body: { rounds: Number(count.value) } });
      showError(null);
      await refresh();
    } catch (e) { showError(e); }
  });
  const base = `/api/federations/${encodeURIComponent(fid)}`;
  const norms = h("div", { id: "round-norms" });
  // Which rounds' norm tables the operator opened: kept open across the page's polling.
  const openNorms = new Set();
  const privacy = h("div", { id: "round-privacy" });
  const openPrivacy = new Set();
  const refresh = async () => {
    const rounds = await api(`${base}/rounds`);
    const rows = [];
    const normTables = [];
    const privacyTables = [];
    for (const r of rounds) {
      const participants = r.participants.map(p => p.clientId);
      const failures = r.failures.map(f => `${f.clientId}: ${f.reason}`);
      let excluded = [];
      if (r.state === "Completed") {
        // The report also names updates the aggregation excluded or clipped (docs/ARTIFACTS.md).
        const report = await reportOf(fid, r.round);
        excluded = [
          ...(report.failures || []).map(f => `${f.clientId}: ${f.reason}`).filter(f => !failures.includes(f)).map(f => `excluded ${f}`),
          ...(report.clipped || []).map(c => `clipped ${c.clientId}: norm ${fmt3(c.norm)} to ${fmt3(c.clippedTo)}`)];
        if ((report.updateNorms || []).length > 0) normTables.push(normsTable(r.round, report, openNorms));
        if ((report.privacy || []).length > 0) privacyTables.push(privacyTable(r.round, report, openPrivacy));
      }
      const actions = h("div", { class: "actions" });
      if (r.state === "Queued" || r.state === "Collecting")
        actions.append(h("button", { type: "button", class: "secondary", onclick: async () => {
          try { await api(`${base}/rounds/${r.round}/cancel`, { method: "POST" }); await refresh(); } catch (e) { showError(e); }
        } }, `Cancel round ${r.round}`));
      if (r.state === "Completed")
        actions.append(
          h("button", { type: "button", class: "secondary", onclick: () => download(`${base}/rounds/${r.round}/report`, `${fid}-round-${r.round}-report.json`) }, `Report ${r.round}`),
          h("button", { type: "button", class: "secondary", onclick: () => download(`${base}/rounds/${r.round}/global/weights.safetensors`, `${fid}-round-${r.round}-weights.safetensors`) }, `Weights ${r.round}`),
          h("button", { type: "button", class: "secondary", onclick: () => download(`${base}/rounds/${r.round}/global/vectors.safetensors`, `${fid}-round-${r.round}-vectors.safetensors`) }, `Vectors ${r.round}`));
      rows.push(h("tr", { "data-round": r.round, "data-state": r.state },
        h("th", { scope: "row" }, r.round),
        h("td", {}, h("span", { class: `state state-${r.state}` }, r.state), timeline(r.state)),
        h("td", {}, `${r.submitted.length} of ${participants.length}`, h("br"), h("span", { class: "muted" }, r.submitted.join(", ") || "none yet")),
        h("td", { class: "num" }, r.minClients),
        h("td", {}, countdown(r.deadline, r.state)),
        h("td", {}, [...failures, ...excluded, r.reason].filter(Boolean).join("; ") || "—"),
        h("td", {}, actions)));
    }
    list.replaceChildren(rounds.length === 0 ? h("p", {}, "No round yet.") :
      h("table", {}, h("caption", {}, "Rounds, newest last"),
        h("thead", {}, h("tr", {}, ...["Round", "State", "Uploaded", "Quorum", "Deadline in", "Failures and exclusions", "Actions"].map(t => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows)));
    norms.replaceChildren(...(normTables.length === 0 ? [] : [h("h2", { id: "norms-title" }, "Update norms and clipping"), ...normTables]));
    privacy.replaceChildren(...(privacyTables.length === 0 ? [] : [h("h2", { id: "privacy-title" }, "Privacy spent (ε)"), ...privacyTables]));
  };
  main.append(h("h1", {}, `Federation ${fid}: rounds`), form, list, norms, privacy);
  poll(refresh);
}

// Per site and group of a completed round: the norm of its update's difference to the reference
// (report.json updateNorms), the group's bound (clipFactor × median norm) and whether it was clipped.
function normsTable(round, report, openNorms) {
  const entries = report.updateNorms;
  const clipped = entries.filter(n => n.clipped).length;
  const reference = report.clipReference === "initial" ? "the initial shared model (first round)"
    : report.clipReference === "median" ? "the round's coordinate-wise median (first round)" : "the previous global weights";
  const details = h("details", { id: `norms-${round}`, "data-round": round, open: openNorms.has(round),
    ontoggle: () => details.open ? openNorms.add(round) : openNorms.delete(round) },
    h("summary", {}, `Round ${round}: ${entries.length} update norms, ${clipped} clipped`),
    h("table", {},
      h("caption", {}, `Round ${round}: each site's update difference to ${reference}; bound = ${report.clipFactor} × the group's lower median norm`),
      h("thead", {}, h("tr", {}, ...["Site", "Group", "Norm", "Bound", "Clipped"].map(t => h("th", { scope: "col" }, t)))),
      h("tbody", {}, entries.map(n => h("tr", { "data-client": n.clientId, "data-group": n.group, "data-clipped": n.clipped ? "true" : "false" },
        h("th", { scope: "row" }, n.clientId),
        h("td", {}, n.group),
        h("td", { class: "num" }, fmt3(n.norm)),
        h("td", { class: "num" }, fmt3(n.bound)),
        h("td", {}, n.clipped ? h("strong", { class: "clipped" }, `clipped to ${fmt3(n.bound)}`) : "no"))))));
  return details;
}

// Per participant of a completed round (report.json privacy): ε spent over all its rounds so far and
// in this one, at δ, and the smallest count its summary rows rest on (docs/PRIVACY.md).
function privacyTable(round, report, openPrivacy) {
  const entries = report.privacy;
  // A null ε: the site ran no differentially private mechanism (exact summaries), so no finite ε holds.
  const eps = v => v === null || v === undefined ? "∞ (no noise)" : fmt3(v);
  const largest = entries.some(p => p.epsilon === null || p.epsilon === undefined) ? null : Math.max(...entries.map(p => p.epsilon));
  const details = h("details", { id: `privacy-${round}`, "data-round": round, open: openPrivacy.has(round),
    ontoggle: () => details.open ? openPrivacy.add(round) : openPrivacy.delete(round) },
    h("summary", {}, `Round ${round}: ${entries.length} sites, largest ε so far ${eps(largest)}`),
    h("table", {},
      h("caption", {}, `Round ${round}: each site's ε over all its rounds so far and in this round, and the smallest support of its summary rows`),
      h("thead", {}, h("tr", {}, ...["Site", "ε so far", "ε this round", "δ", "Smallest support (minimum)"].map(t => h("th", { scope: "col" }, t)))),
      h("tbody", {}, entries.map(p => h("tr", { "data-client": p.clientId },
        h("th", { scope: "row" }, p.clientId),
        h("td", { class: "num" }, eps(p.epsilon)),
        h("td", { class: "num" }, eps(p.roundEpsilon)),
        h("td", { class: "num" }, p.delta.toExponential(2)),
        h("td", { class: "num" }, `${fmt3(p.smallestSupport)} (${p.minSupport})`))))));
  return details;
}

// ---- learning page: charts over the clients' history (docs/CONSOLE.md says what each plots) ----
function lineChart(id, title, description) {
  const canvas = h("canvas", { id, role: "img", "aria-label": description });
  const table = h("div", { class: "chart-data" });
  const figure = h("figure", {}, h("figcaption", {}, title), h("div", { class: "chart-box" }, canvas),
    h("details", {}, h("summary", {}, `Data of “${title}”`), table));
  const chart = new Chart(canvas, {
    type: "line",
    data: { labels: [], datasets: [] },
    options: {
      animation: false, maintainAspectRatio: false,
      scales: { x: { title: { display: true, text: "round" } }, y: { min: 0, max: 1, title: { display: true, text: title.split(" ")[0] } } },
      // The legend sits outside the plot area, so it never covers data.
      plugins: { legend: { position: "bottom" } },
    },
  });
  charts.push(chart);
  return { figure, chart, table };
}

function setData(view, labels, datasets, bar = false) {
  view.chart.data.labels = labels;
  view.chart.data.datasets = datasets.map(d => ({ ...d, borderColor: d.colour, backgroundColor: d.colour, borderDash: d.dash, spanGaps: true, pointRadius: bar ? 0 : 3 }));
  view.chart.update();
  view.table.replaceChildren(h("table", {},
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "series"), ...labels.map(l => h("th", { scope: "col", class: "num" }, l)))),
    h("tbody", {}, datasets.map(d => h("tr", {}, h("th", { scope: "row" }, d.label), ...d.data.map(v => h("td", { class: "num" }, fmt3(v))))))));
}

function mean(values) { const v = values.filter(x => x !== null && x !== undefined); return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null; }

function learningPage({ fid }) {
  document.title = `${fid}: learning – FedMM console`;
  const accuracy = lineChart("chart-accuracy", "accuracy per group", "Mean validation accuracy per round of each site group, site model after training (solid) and global package received (dashed)");
  const f1 = lineChart("chart-f1", "macro-F1 per group", "Mean validation macro-F1 per round of each site group, site model after training (solid) and global package received (dashed)");
  const perSite = lineChart("chart-sites", "accuracy per site", "Validation accuracy per round of every site's model after training");
  const weights = lineChart("chart-weights", "contribution weight per site (fusion group)", "Aggregation weight per round of every site in the fusion parameter group, which every site takes part in");
  weights.chart.options.scales.y.title.text = "weight";
  const heat = h("div", { id: "pairing" });
  main.append(h("h1", {}, `Federation ${fid}: learning`),
    h("p", {}, "Solid: each site's model after local training; dashed: the global package it received at the start of the round. Both on the site's own validation data."),
    h("div", { class: "charts" }, accuracy.figure, f1.figure, perSite.figure, weights.figure),
    h("h2", {}, "Image/text pairing of the latest completed round"), heat);
  const base = `/api/federations/${encodeURIComponent(fid)}`;
  poll(async () => {
    const [clients, federation] = await Promise.all([api(`${base}/clients`), api(base)]);
    const rounds = [...new Set(clients.flatMap(c => c.history.filter(x => x.metrics).map(x => x.round)))].sort((a, b) => a - b);
    const at = (c, r) => c.history.find(x => x.round === r && x.metrics)?.metrics;
    const groupSeries = (metric) => GROUPS.flatMap(g => {
      const members = clients.filter(c => groupOf(c.modalities) === g);
      if (members.length === 0) return [];
      return [
        { label: `${g} site model`, colour: GROUP_COLOURS[g], data: rounds.map(r => mean(members.map(c => at(c, r)?.after[metric]))) },
        { label: `${g} global package`, colour: GROUP_COLOURS[g], dash: [6, 4], data: rounds.map(r => mean(members.map(c => at(c, r)?.before[metric]))) },
      ];
    });
    setData(accuracy, rounds, groupSeries("accuracy"));
    setData(f1, rounds, groupSeries("macroF1"));
    setData(perSite, rounds, clients.map((c, i) => ({ label: `${c.clientId} (${c.modalities})`, colour: SITE_COLOURS[i % SITE_COLOURS.length], data: rounds.map(r => at(c, r)?.after.accuracy ?? null) })));
    setData(weights, rounds, clients.map((c, i) => ({
      label: c.clientId, colour: SITE_COLOURS[i % SITE_COLOURS.length],
      // The fusion group holds every site, so its weight compares all of them (as in the report).
      data: rounds.map(r => c.history.find(x => x.round === r)?.contribution?.groupWeights?.fusion ?? null),
    })));
    const last = federation.latestCompletedRound;
    if (!last) { heat.replaceChildren(h("p", {}, "No completed round yet.")); return; }
    if (!pairingCache.has(`${fid}/${last}`)) {
      try { pairingCache.set(`${fid}/${last}`, await api(`${base}/rounds/${last}/pairing`)); }
      catch (e) { if (e.status === 404) pairingCache.set(`${fid}/${last}`, { missing: e.detail }); else throw e; }
    }
    heat.replaceChildren(pairingTable(pairingCache.get(`${fid}/${last}`), last));
  });
}

// Black or white text on an sRGB fill, whichever has the higher WCAG contrast: one of the two always
// reaches 4.5:1, whereas a softer dark ink leaves a band of mid fills where neither does.
function textOn(rgb) {
  const [r, g, b] = rgb.map(c => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? "#000000" : "#ffffff";
}

function pairingTable(pairing, round) {
  if (pairing.missing) return h("p", {}, pairing.missing);
  const all = pairing.cost.flat();
  const lo = Math.min(...all), hi = Math.max(...all);
  const chosen = new Set(pairing.pairs.map(p => `${p.image},${p.text}`));
  const table = h("table", { class: "heat", id: "pairing-table" },
    h("caption", {}, `Round ${round}: pairing cost of image cluster (row) and text cluster (column); outlined cells are the chosen pairs (total ${fmt3(pairing.pairs.reduce((a, p) => a + p.cost, 0))})`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "image \\ text"), ...pairing.cost[0].map((_, j) => h("th", { scope: "col" }, `T${j}`)))),
    h("tbody", {}, pairing.cost.map((row, i) => h("tr", {}, h("th", { scope: "row" }, `I${i}`), ...row.map((v, j) => {
      const t = hi > lo ? (v - lo) / (hi - lo) : 0;
      const isChosen = chosen.has(`${i},${j}`);
      const cell = h("td", { class: isChosen ? "chosen" : null, title: isChosen ? "chosen pair" : null }, fmt3(v), isChosen ? " ✓" : "");
      // Light (low cost) to dark blue (high cost); the text is black or white, whichever contrasts more.
      const fill = [235 - 200 * t, 242 - 170 * t, 250 - 110 * t].map(Math.round);
      cell.style.backgroundColor = `rgb(${fill.join(", ")})`;
      cell.style.color = textOn(fill);
      return cell;
    })))));
  return table;
}

document.getElementById("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", navigate);
navigate();
