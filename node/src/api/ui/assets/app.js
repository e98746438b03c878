// The medchain dashboard: reads the node's /v1 API with the session cookie and draws it. Every
// value from the node goes into the page as text (never as markup), and a record's history tree
// is shown as an image of the SVG the node draws, so nothing the ledger holds can run here.
"use strict";

const REFRESH_MS = 3000;
const DAY_S = 86400;
const FAILURES = {
  token: "That is not this node's API token.",
  name: "Give your name: 1 to 100 printable ASCII characters, without surrounding space.",
  form: "The sign-in form was incomplete.",
  provider: "The identity provider's sign-in did not complete; try again, or see the node's log.",
  scope: "Your account lacks the medchain.read scope.",
  busy: "Too many sign-ins at once; try again in a moment.",
  again: "That sign-in was begun in another browser or took over 10 minutes; sign in again.",
};
const ENDED = "Your session has ended (signed out, expired, or the node restarted): sign in again.";

/** The session as /ui/session describes it. */
let session = null;

const $ = (id) => document.getElementById(id);

/** Cell text for a value: `-` when absent. */
function text(value) {
  if (value === null || value === undefined) return "-";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function when(ms) {
  return ms ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "-";
}

function short(hash) {
  return typeof hash === "string" && hash.length > 16 ? hash.slice(0, 16) + "…" : text(hash);
}

/** Replaces the rows of table `id` with `rows` (arrays of cells: text, or {text, cls, title}). */
function fill(id, rows, empty) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) {
    const td = body.insertRow().insertCell();
    td.colSpan = $(id).tHead.rows[0].cells.length;
    td.className = "empty";
    td.textContent = empty;
    return;
  }
  for (const cells of rows) {
    const tr = body.insertRow();
    for (const cell of cells) {
      const td = tr.insertCell();
      if (cell && typeof cell === "object") {
        td.textContent = cell.text;
        if (cell.cls) td.className = cell.cls;
        if (cell.title) td.title = cell.title;
      } else {
        td.textContent = text(cell);
      }
    }
  }
}

class SignedOut extends Error {}

/**
 * How far the node's clock is ahead of this browser's, in ms, from the node's last `Date`
 * header: expiry is counted by the node's clock, so a workstation with a wrong clock still
 * warns when it should (to within a second).
 */
let nodeClockAheadMs = 0;

/** Now by the node's clock, in ms since the epoch. */
function nodeNow() {
  return Date.now() + nodeClockAheadMs;
}

async function get(path) {
  const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const served = Date.parse(response.headers.get("Date") || "");
  if (!Number.isNaN(served)) nodeClockAheadMs = served - Date.now();
  if (response.status === 401) throw new SignedOut();
  if (!response.ok) {
    let message = `${path} answered ${response.status}`;
    try { message += ": " + (await response.json()).error; } catch (_) { /* no JSON body */ }
    throw new Error(message);
  }
  return response.json();
}

/** The expiry of `unix` seconds as [text, class, days left] (by the node's clock). */
function expiry(unix) {
  if (!unix) return ["not used here, or not known yet", "", null];
  const days = (unix - nodeNow() / 1000) / DAY_S;
  const cls = days < 0 ? "critical" : days <= 7 ? "critical" : days <= 30 ? "warning" : "ok";
  return [when(unix * 1000), cls, days];
}

function drawNode(status) {
  const node = $("node");
  node.replaceChildren();
  const paused = status.writes_paused;
  for (const [term, value] of [
    ["Role", status.role],
    ["Version", status.version],
    ["Chains held", status.chains],
    ["Blocks held", status.blocks],
    ["Writes", pausedText(paused)],
  ]) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = text(value);
    node.append(dt, dd);
  }
}

function drawCertificates(status, warnings) {
  const c = status.certificates || {};
  const rows = [];
  for (const [what, unix, noun] of [
    ["Member certificate", c.member_not_after, "expires"],
    ["Consortium CA certificate", c.ca_not_after, "expires"],
    ["API TLS certificate", c.api_tls_not_after, "expires"],
    ["Revocation list (next update)", c.crl_next_update, "is due for its next update"],
  ]) {
    const [until, cls, days] = expiry(unix);
    rows.push([what, { text: until, cls }, days === null ? "-" : { text: days.toFixed(1), cls }]);
    if (days !== null && days <= 30) {
      const message = days < 0
        ? `${what} has expired.`
        : `${what} ${noun} in ${Math.floor(days)} days (${days <= 7 ? "within 7 days" : "within 30 days"}).`;
      warnings.push([cls === "critical" ? "critical" : "warning", message]);
    }
  }
  fill("certificates", rows, "");
}

function drawChains(chains) {
  fill("chains", chains.map((c) => [
    { text: short(c.chain), title: c.chain },
    c.org,
    c.height,
    { text: short(c.hash), title: c.hash },
    { text: text(c.lag_behind_peers), cls: c.lag_behind_peers > 0 ? "warning" : "ok" },
  ]), "No chains held yet.");
}

async function drawPeers() {
  try {
    const peers = await get("/v1/peers");
    $("local-peer").textContent = "This node: " + peers.local;
    fill("peers", peers.peers.map((p) => [{ text: p.peer, cls: "hash" }, p.role]), "No peer admitted: this node is alone.");
  } catch (error) {
    if (error instanceof SignedOut) throw error;
    $("local-peer").textContent = error.message;
    fill("peers", [], "Unknown.");
  }
}

function drawReports(reports) {
  fill("reports", reports.map((r) => [
    when(r.finished_ms), r.chains, r.blocks, r.entries,
    { text: String(r.violations.length), cls: r.violations.length ? "critical" : "ok" },
    { text: String(r.awaiting_repair), cls: r.awaiting_repair ? "warning" : "ok" },
  ]), "No scan has run yet.");
  // Each damaged run once, with the first report that found it (reports are newest first).
  const found = new Map();
  for (const r of reports) {
    for (const v of r.violations) {
      found.set(`${v.chain}/${v.height}/${text(v.kind)}`, [r.finished_ms, v]);
    }
  }
  const rows = [...found.values()].map(([ms, v]) => [
    { text: short(v.chain), title: v.chain },
    v.to_height !== undefined && v.to_height !== v.height ? `${v.height}–${v.to_height}` : String(v.height),
    { text: text(v.kind), cls: "critical" },
    v.detail,
    when(ms),
  ]);
  fill("violations", rows, "No violation found in the reports kept.");
  return reports.length ? reports[0] : null;
}

/**
 * The last scan's violations: critical until each has a quarantine made by that scan (covering
 * its height, moved aside after the scan began) that peers have restored; then noted as repaired.
 */
function warnLastScan(last, quarantines, warnings) {
  if (!last || !last.violations.length) return;
  const n = last.violations.length;
  const repaired = (v) => quarantines.some((e) =>
    e.chain === v.chain && e.from_height <= v.height && v.height <= e.to_height &&
    e.time_ms >= last.started_ms && e.restored_at_ms);
  if (!last.violations.every(repaired)) {
    warnings.push(["critical", `The last scan (${when(last.finished_ms)}) found ${n} integrity violation(s): the damaged blocks are moved aside and fetched again from peers.`]);
  } else {
    warnings.push(["warning", `The last scan (${when(last.finished_ms)}) found ${n} integrity violation(s); every range moved aside has since been repaired from peers.`]);
  }
}

/** A pause of writes as a sentence. */
function pausedText(paused) {
  if (!paused) return "open";
  if (typeof paused !== "object") return "paused: " + text(paused);
  const since = paused.since_ms ? ` since ${when(paused.since_ms)}` : "";
  return `paused${since} (${text(paused.kind)}): ${text(paused.detail)}`;
}

function drawQuarantines(events, warnings) {
  fill("quarantines", events.map((e) => [
    { text: short(e.chain), title: e.chain },
    e.from_height === e.to_height ? String(e.from_height) : `${e.from_height}–${e.to_height}`,
    e.reason,
    when(e.time_ms),
    e.restored_at_ms
      ? { text: "repaired from peers at " + when(e.restored_at_ms), cls: "ok" }
      : { text: "awaiting repair from peers", cls: "warning" },
  ]), "Nothing has been moved aside.");
  const waiting = events.filter((e) => !e.restored_at_ms).length;
  if (waiting) warnings.push(["warning", `${waiting} quarantined range(s) await repair from peers.`]);
}

function drawEvidence(page, warnings) {
  const count = page.next ? `${page.evidence.length} or more` : String(page.evidence.length);
  fill("evidence", page.evidence.map((e) => [
    { text: short(e.chain), title: e.chain }, e.height, e.org,
    { text: short(e.first), title: e.first }, { text: short(e.second), title: e.second },
  ]), "No provider has signed two blocks at one height.");
  if (page.evidence.length) warnings.push(["critical", `Equivocation: ${count} height(s) where a provider signed two different blocks.`]);
}

function drawWarnings(warnings) {
  $("warnings").replaceChildren(...warnings.map(([cls, message]) => {
    const p = document.createElement("p");
    p.className = cls;
    p.textContent = message;
    return p;
  }));
}

async function refresh() {
  const [status, chains, reports, quarantines, evidence] = await Promise.all([
    get("/v1/status"), get("/v1/chains"), get("/v1/verify/reports"),
    get("/v1/quarantines"), get("/v1/evidence?limit=100"),
  ]);
  const warnings = [];
  drawNode(status);
  drawCertificates(status, warnings);
  drawChains(chains);
  await drawPeers();
  const last = drawReports(reports);
  drawQuarantines(quarantines, warnings);
  warnLastScan(last, quarantines, warnings);
  drawEvidence(evidence, warnings);
  if (status.writes_paused) warnings.push(["critical", "Writes " + pausedText(status.writes_paused)]);
  drawWarnings(warnings);
  $("updated").textContent = "Updated " + when(nodeNow()) + "; refreshed every " + REFRESH_MS / 1000 + " s.";
}

async function drawHistory(event) {
  event.preventDefault();
  const record = $("record").value.trim();
  const img = $("history-tree");
  try {
    const response = await fetch(`/v1/records/${encodeURIComponent(record)}/history?format=svg`, { credentials: "same-origin" });
    if (response.status === 401) throw new SignedOut();
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(`the node answered ${response.status}: ${text(body.error)}`);
    }
    const blob = new Blob([await response.text()], { type: "image/svg+xml" });
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    img.hidden = false;
    $("history-note").textContent = `History of record ${record} (this read is recorded under your name).`;
  } catch (error) {
    if (error instanceof SignedOut) return showSignIn(ENDED);
    img.hidden = true;
    $("history-note").textContent = "Cannot draw that history: " + error.message;
  }
}

/** The sign-in form, saying why when `why` is given (else the failure the URL names, if any). */
function showSignIn(why) {
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("sign-in").hidden = false;
  $("provider-sign-in").hidden = !(session && session.provider);
  const failed = new URLSearchParams(location.search).get("failed");
  const message = why || (failed && Object.hasOwn(FAILURES, failed) ? FAILURES[failed] : null);
  $("sign-in-failed").textContent = message || "";
  $("sign-in-failed").hidden = !message;
}

async function start() {
  session = await (await fetch("/ui/session", { credentials: "same-origin" })).json();
  if (!session.signed_in) return showSignIn();
  history.replaceState(null, "", "/ui");
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = `Signed in as ${session.actor} on a ${session.role} node`;
  $("history-form").addEventListener("submit", drawHistory);
  const tick = async () => {
    try {
      await refresh();
    } catch (error) {
      if (error instanceof SignedOut) return showSignIn(ENDED);
      $("updated").textContent = "Cannot update: " + error.message;
    }
    setTimeout(tick, REFRESH_MS);
  };
  tick();
}

start().catch((error) => {
  $("sign-in").hidden = false;
  $("provider-sign-in").hidden = true;
  $("sign-in-failed").textContent = "The node cannot be reached: " + error.message;
  $("sign-in-failed").hidden = false;
});
