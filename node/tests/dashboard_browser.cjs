// The dashboard as an auditor uses it, in headless Chromium (Debian's `chromium`, driven by npm
// playwright-core): run by node/tests/dashboard.rs, which starts the nodes and the identity
// provider and passes everything in the environment. Prints VIOLATION_SHOWN once the tampered
// block shows as a violation awaiting repair (the test then starts the peer that holds the good
// copy), and exits 0 when every check held; on failure, says which and saves a screenshot.
"use strict";

const path = require("path");
const { chromium } = require(path.join(process.env.MEDCHAIN_BROWSER_TOOLS, "node_modules", "playwright-core"));

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("DASHBOARD_URL");
const chain = env("DASHBOARD_CHAIN");
const height = env("DASHBOARD_HEIGHT");
const record = env("DASHBOARD_RECORD");
const top = env("DASHBOARD_TOP");
const apiToken = env("DASHBOARD_TOKEN");
const user = env("DASHBOARD_USER");
const shots = env("DASHBOARD_SCREENSHOTS");

function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
  console.error("ok: " + what);
}

/** Waits until `predicate` (run in the page with `arg`) holds, or fails saying `what`. */
async function until(page, what, predicate, arg, timeout) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 250 });
  } catch (error) {
    throw new Error(`${what} never showed (${error.message.split("\n")[0]})`);
  }
  console.error("ok: " + what);
}

const rowsOf = (page, table) =>
  page.$$eval(`#${table} tbody tr`, (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));

async function signedInWithProvider(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  // This workstation's clock is 40 days fast: expiry must still be counted by the node's clock
  // (the revocation list's next update, under 30 days away, would read as past).
  await page.clock.setFixedTime(Date.now() + 40 * 86400 * 1000);
  page.on("console", (m) => console.error("page: " + m.text()));
  await page.goto(base + "/ui");
  await until(page, "the sign-in page", () => !document.getElementById("sign-in").hidden, null, 15000);
  check(await page.isVisible("#provider-link"), "the identity provider sign-in is offered");
  await page.click("#provider-link");
  await until(page, "the dashboard after the provider's sign-in",
    (u) => document.getElementById("who").textContent.includes(u), user, 15000);
  check(new URL(page.url()).search === "", "no code or state stays in the address bar");
  const cookie = (await context.cookies()).find((c) => c.name === "medchain_session");
  check(cookie && cookie.httpOnly && cookie.sameSite === "Strict", "the session cookie is HttpOnly and SameSite=Strict");
  check(await page.evaluate(() => !document.cookie.includes("medchain_session")), "scripts cannot read the session cookie");
  check(!(await context.cookies()).some((c) => c.name === "medchain_signin"), "the sign-in's own cookie is gone once used");
  return { context, page };
}

async function run(browser) {
  const { page } = await signedInWithProvider(browser);
  const shortChain = chain.slice(0, 16);

  // The tampered block: found by the verifier at start, moved aside, waiting for a peer.
  await until(page, "the violation at the tampered height", ([c, h]) =>
    [...document.querySelectorAll("#violations tbody tr")].some((r) =>
      r.cells.length === 5 && r.cells[0].title === c && r.cells[1].textContent.split("–")[0] === h),
    [chain, height], 60000);
  await until(page, "its quarantine awaiting repair", (c) =>
    [...document.querySelectorAll("#quarantines tbody tr")].some((r) =>
      r.cells[0].title === c && r.cells[4].textContent.includes("awaiting repair")),
    chain, 30000);
  const warnings = await page.textContent("#warnings");
  check(warnings.includes("await repair"), "a warning says a range awaits repair");
  await page.screenshot({ path: path.join(shots, "violation.png"), fullPage: true });
  console.log("VIOLATION_SHOWN");

  // The peer holding the good copy comes back: the range is fetched again and checks out.
  await until(page, "the repair from peers", (c) =>
    [...document.querySelectorAll("#quarantines tbody tr")].some((r) =>
      r.cells[0].title === c && r.cells[4].textContent.includes("repaired from peers")),
    chain, 120000);
  await until(page, "the last scan's violations noted as repaired", () =>
    document.getElementById("warnings").textContent.includes("has since been repaired from peers"), null, 15000);
  await page.screenshot({ path: path.join(shots, "repaired.png"), fullPage: true });

  // Chains, with heads and lag; peers; certificates and the revocation list's 30-day warning.
  await until(page, "the repaired chain at its head, not behind its peer", ([c, t]) =>
    [...document.querySelectorAll("#chains tbody tr")].some((r) =>
      r.cells[0].title === c && r.cells[2].textContent === t && r.cells[4].textContent === "0"),
    [chain, top], 30000);
  await until(page, "the peer that came back", () =>
    [...document.querySelectorAll("#peers tbody tr")].some((r) => r.cells[1].textContent === "provider"), null, 60000);
  const certificates = await rowsOf(page, "certificates");
  check(certificates.length === 4 && /^\d+\.\d$/.test(certificates[0][2]), "the member certificate's days left");
  check(/Revocation list.*within 30 days/.test(await page.textContent("#warnings")),
    "the revocation list's next update is flagged 30 days ahead");
  const reports = await rowsOf(page, "reports");
  check(reports.some((r) => r.length === 6 && r[4] === "1"), "the verifier reports, with the one that found the damage");
  check((await rowsOf(page, "evidence"))[0][0].startsWith("No provider"), "no equivocation evidence");
  console.error("chain shown: " + shortChain);

  // A record's history tree, drawn from the node's SVG.
  await page.fill("#record", record);
  await page.click("#history-form button");
  await until(page, "the record's history tree", () => {
    const img = document.getElementById("history-tree");
    return !img.hidden && img.complete && img.naturalWidth > 0;
  }, null, 15000);

  // The session reads only: a write or an administrative call with it is refused.
  const verify = await page.evaluate(async () => (await fetch("/v1/verify", { method: "POST" })).status);
  check(verify === 403, `a session cannot run the verifier (answered ${verify})`);

  // Signing out ends the session on the node.
  await page.click("#sign-out button");
  await until(page, "the sign-in page after signing out", () => !document.getElementById("sign-in").hidden, null, 15000);
  const after = await page.evaluate(async () => (await fetch("/v1/status")).status);
  check(after === 401, `the ended session is refused (answered ${after})`);

  // The API token sign-in: a wrong token is refused, the right one signs in on the user's behalf.
  const context = await browser.newContext();
  const second = await context.newPage();
  await second.goto(base + "/ui");
  await second.fill("#actor", "auditor-bob");
  await second.fill("#token", "not-the-token");
  await second.click("#token-form button");
  await until(second, "the wrong token's refusal", () => !document.getElementById("sign-in-failed").hidden, null, 15000);
  await second.fill("#actor", "auditor-bob");
  await second.fill("#token", apiToken);
  await second.click("#token-form button");
  await until(second, "the token sign-in", () =>
    document.getElementById("who").textContent.includes("machine client on behalf of auditor-bob"), null, 15000);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: env("DASHBOARD_CHROMIUM"),
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
    timeout: 60000,
  });
  try {
    await run(browser);
  } catch (error) {
    for (const context of browser.contexts()) {
      for (const page of context.pages()) {
        await page.screenshot({ path: path.join(shots, "failure.png"), fullPage: true }).catch(() => {});
      }
    }
    console.error(error.stack || String(error));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
