// An accessibility audit of the console: every page and its important states (sign-in with and
// without an error, the reports list and its confirmation dialog, the editor new and with its
// preview, the schedule form in recurrence mode, the runs list and a finished and a held run,
// destinations with the form open, connections with a test result and the form open, an SQL
// source with its query's rows, the alerts list, an alert rule with its dry run, history chart
// and notifications, the new-rule form with errors, settings with the AI configuration's field
// error, a failed AI test with its link to the allow-list, one with dropped sentences
// highlighted and one fully grounded, tokens with the created-token dialog) are checked
// with axe-core against the WCAG 2.1 A and AA rules and axe's best practices, on a desktop and a
// 375 px screen, in the light and the dark colour scheme. Serious and critical violations fail;
// lesser ones are reported.
// A keyboard-only walk runs a report from the list and dismisses a dialog with Escape.

import { readFile } from "node:fs/promises";
import http from "node:http";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openConsole, startHerald } from "./lib.mjs";

const AXE_SOURCE = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
/** axe's best practices (landmarks, heading order, skip links) run too. */
const RULE_TAGS = [...WCAG_TAGS, "best-practice"];
const BLOCKING = new Set(["serious", "critical"]);

let herald;
let workspace;
let finishedRun;
let heldRun;
let alertRule;
/** A model server speaking the OpenAI protocol whose answer quotes numbers no figure holds. */
let modelServer;
let modelUrl;

/** One API call with the admin token; throws on a non-2xx answer. */
async function call(method, path, body) {
  const { status, body: answer } = await herald.api(method, path, body);
  if (status < 200 || status > 299) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(answer)}`);
  return answer;
}

const ws = (path) => `/api/v1/ws/${workspace.id}${path}`;

/** Polls `read` until `done(value)` holds, or fails after `ms`. */
async function until(read, done, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
}

before(async () => {
  modelServer = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const content = JSON.stringify({
        summary: "Completions reached 1,240. Revenue grew 37% to $98,000.",
        takeaways: ["Discount $5 completions rose to 520.", "Churn fell to 4.2%."],
      });
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ choices: [{ message: { role: "assistant", content }, finish_reason: "stop" }] }));
    });
  });
  await new Promise((resolve) => modelServer.listen(0, "127.0.0.1", resolve));
  modelUrl = `http://127.0.0.1:${modelServer.address().port}`;
  herald = await startHerald();
  workspace = (await call("GET", "/api/v1/session")).workspace;
  const digest = await call("POST", ws("/reports/weekly-digest/runs"), {});
  finishedRun = await until(() => call("GET", ws(`/runs/${digest.id}`)), (r) => r.finished, 60000, "the digest run to finish");
  const statements = await call("GET", ws("/reports/monthly-statements"));
  await call("PATCH", ws(`/reports/${statements.id}`), { hold_for_review: true, version: statements.version });
  const held = await call("POST", ws("/reports/monthly-statements/runs"), {});
  heldRun = await until(() => call("GET", ws(`/runs/${held.id}`)), (r) => r.status === "awaiting_review", 60000, "the statements to render");
  assert.ok(heldRun.counts.review > 0, "entries are held for review");
  await call("POST", ws("/connections"), { name: "warehouse", kind: "postgres", host: "10.0.0.1", database: "dw", user: "reporting", password: "a11y-pass" });
  // The demo's example rule evaluated for real: instances, state changes (charted) and notifications.
  alertRule = (await call("GET", ws("/alerts"))).data.find((r) => r.name === "Offer completions drop");
  await call("POST", ws(`/alerts/${alertRule.id}/evaluate`), { notify: true });
  // The model server of the AI configuration's test is on loopback.
  const { version } = await call("GET", ws("/settings"));
  await call("PATCH", ws("/settings"), { network: { allowed_addresses: ["127.0.0.1"] }, version });
});

after(async () => {
  await herald?.stop();
  await new Promise((resolve) => (modelServer ? modelServer.close(resolve) : resolve()));
});

/**
 * Runs axe on the page as it is now. The script goes in through the DevTools protocol, which
 * the page's content-security policy does not govern. Returns the violations found.
 */
async function axe(page) {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => `${n.target.join(" ")}${n.failureSummary ? ` — ${n.failureSummary.replace(/\s+/g, " ")}` : ""}`),
    }));
  }, RULE_TAGS);
}

/** Collects the audits of one walk; `check()` fails with every serious or critical finding. */
function auditor(label) {
  const blocking = [];
  return {
    async audit(page, state) {
      // Animations and transitions settle before colours are measured.
      await page.waitForTimeout(300);
      for (const v of await axe(page)) {
        const line = `[${label}] ${state}: ${v.impact} ${v.id} — ${v.help}\n    ${v.targets.join("\n    ")}`;
        if (BLOCKING.has(v.impact)) blocking.push(line);
        else console.log(`a11y (${v.impact}): ${line}`);
      }
    },
    check() {
      assert.equal(blocking.length, 0, `serious or critical accessibility violations:\n${blocking.join("\n")}`);
    },
  };
}

/** Closes every toast, so one state's notices do not carry into the next audit. */
async function dismissToasts(page) {
  for (const close of await page.getByRole("button", { name: "Dismiss notification" }).all()) {
    await close.click({ timeout: 2000 }).catch(() => {});
  }
}

async function visit(page, path, heading) {
  await page.goto(`${herald.url}/console#${path}`);
  await page.getByRole("heading", { level: 1, name: heading }).waitFor();
}

/** Walks every page and state of the console, auditing each. */
async function walk({ width, height, dark }) {
  const label = `${width}px ${dark ? "dark" : "light"}`;
  const { audit, check } = auditor(label);
  const { browser, page, errors } = await openConsole(herald, { width, height, signIn: false });
  try {
    await page.emulateMedia({ colorScheme: dark ? "dark" : "light" });
    await page.getByRole("heading", { name: "Sign in to Herald" }).waitFor();
    await audit(page, "sign-in");
    await page.getByLabel("Access token").fill("hrld_pat_not_a_real_token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("That token was not accepted").waitFor();
    await audit(page, "sign-in refused");
    await page.getByLabel("Access token").fill(herald.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
    await page.getByRole("link", { name: "Weekly digest" }).first().waitFor();
    await audit(page, "reports list");

    await page.getByRole("button", { name: "Run now: Weekly digest" }).click();
    await page.locator(".toast-success").waitFor();
    await audit(page, "reports list with a toast");
    await dismissToasts(page);

    await page.getByRole("button", { name: "Delete Weekly digest" }).click();
    const confirm = page.getByRole("dialog", { name: "Delete report" });
    await confirm.waitFor();
    await audit(page, "confirm dialog");
    await confirm.getByRole("button", { name: "Cancel" }).click();

    await visit(page, "/reports/new", "New report");
    await page.getByRole("status").filter({ hasText: /^Updated/ }).waitFor();
    await audit(page, "editor new");
    const digest = await call("GET", ws("/reports/weekly-digest"));
    await visit(page, `/reports/${digest.id}`, "Weekly digest");
    await page.getByRole("status").filter({ hasText: /^Updated/ }).waitFor();
    await audit(page, "editor edit with preview");

    await visit(page, `/reports/${digest.id}/schedule`, "Schedule · Weekly digest");
    await page.getByRole("radio", { name: "Recurrence" }).check();
    await page.getByRole("list", { name: /^Next \d+ fire times$/ }).getByRole("listitem").first().waitFor();
    await audit(page, "schedule recurrence form");

    await visit(page, "/runs", "Runs");
    await page.getByRole("link", { name: `Run …${finishedRun.id.slice(-8)}` }).waitFor();
    await audit(page, "runs list");
    await visit(page, `/runs/${finishedRun.id}`, `Run …${finishedRun.id.slice(-8)}`);
    await page.locator(".run-status").getByText("finished", { exact: true }).waitFor();
    await audit(page, "run detail finished");
    await visit(page, `/runs/${heldRun.id}`, `Run …${heldRun.id.slice(-8)}`);
    await page.getByRole("button", { name: `Approve all held (${heldRun.counts.review})` }).waitFor();
    await audit(page, "run detail with held entries");

    await visit(page, "/dashboards", "Dashboards");
    await audit(page, "dashboards gallery");
    for (const [key, name] of [["executive", "Executive"], ["offers", "Offers"], ["channels", "Channels"], ["customers", "Customers"], ["data-health", "Data health"]]) {
      await visit(page, `/dashboards/${key}`, `${name} dashboard`);
      await page.getByRole("status").filter({ hasText: /^Updated/ }).waitFor();
      await audit(page, `${key} dashboard`);
    }
    await page.getByRole("button", { name: "Save as report" }).click();
    await page.getByRole("dialog", { name: "Save as report" }).waitFor();
    await audit(page, "save as report dialog");
    await page.getByRole("dialog", { name: "Save as report" }).getByRole("button", { name: "Cancel" }).click();

    await visit(page, "/destinations", "Destinations");
    await audit(page, "destinations list");
    await page.getByRole("button", { name: "New destination" }).click();
    await page.getByRole("button", { name: "Create destination" }).waitFor();
    await audit(page, "destinations form");

    await visit(page, "/connections", "Connections");
    await page.getByRole("button", { name: "Test connection of warehouse" }).click();
    await page.getByText(/Test failed/).waitFor();
    await audit(page, "connections list with a test result");
    await page.getByRole("button", { name: "New connection" }).click();
    await page.getByRole("button", { name: "Create connection" }).click();
    await page.getByText("Give the connection a name.").waitFor();
    await audit(page, "connections form with an error");

    await visit(page, "/alerts", "Alerts");
    await page.getByRole("table", { name: "Alert rules", exact: true }).waitFor();
    await audit(page, "alerts list");
    await visit(page, `/alerts/${alertRule.id}`, alertRule.name);
    await page.getByRole("table", { name: "State changes, newest first" }).waitFor();
    await page.getByRole("button", { name: "Evaluate now" }).click();
    await page.getByText(/^Dry run at/).waitFor();
    await audit(page, "alert rule with a dry run, its history and notifications");
    await visit(page, "/alerts/new", "New alert rule");
    await page.getByRole("button", { name: "Create alert rule" }).click();
    await page.getByText("Give the rule a name.").first().waitFor();
    await audit(page, "alert rule form with errors");

    await visit(page, "/reports/new", "New report");
    await page.getByRole("status").filter({ hasText: /^Updated/ }).waitFor();
    // The preview of the changed source renders (its PDF asked for last) before the audit.
    const rendered = page.waitForResponse((r) => r.url().endsWith("/reports/preview") && r.request().postDataJSON()?.format === "pdf");
    await page.getByLabel("Kind").first().selectOption("sql");
    await page.getByRole("button", { name: "Run query of source query" }).click();
    await page.getByRole("table", { name: "First rows of source query" }).waitFor();
    await rendered;
    await page.locator(".editor-preview:not([aria-busy])").waitFor();
    await audit(page, "editor SQL source with its query's rows");

    await visit(page, "/settings", "Workspace settings");
    await audit(page, "settings");
    // The AI configuration: a field error, a test refused by the network policy, a test whose
    // model wrote ungrounded numbers, and the built-in narrator's grounded test.
    const ai = page.getByRole("form", { name: "AI configuration" });
    const saveAi = async () => {
      await ai.getByRole("button", { name: "Save AI configuration" }).click();
      await ai.getByRole("status").filter({ hasText: "AI configuration saved." }).waitFor();
    };
    const testAi = async (outcome) => {
      await ai.getByRole("button", { name: "Test AI configuration" }).click();
      await ai.getByText(outcome).first().waitFor();
    };
    await ai.getByLabel("Provider").selectOption("openai_compatible");
    await ai.getByLabel("Base URL").fill("http://10.0.0.7:11434");
    await ai.getByLabel("Model").fill("");
    await ai.getByRole("button", { name: "Save AI configuration" }).click();
    await ai.getByText("name the model the server runs").waitFor();
    await audit(page, "settings with an AI configuration field error");
    await ai.getByLabel("Model").fill("llama3.1:8b");
    await saveAi();
    await testAi("Allow 10.0.0.7 under Network");
    await audit(page, "settings with an AI test refused by the network policy");
    await ai.getByLabel("Base URL").fill(modelUrl);
    await saveAi();
    await testAi("The grounding check dropped");
    await audit(page, "settings with an AI test's dropped sentences");
    await ai.getByLabel("Provider").selectOption("builtin");
    await saveAi();
    await testAi("Every sentence is grounded");
    await audit(page, "settings with a grounded AI test");

    await visit(page, "/tokens", "Access tokens");
    await audit(page, "tokens list");
    const name = `Audit ${label}`;
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByRole("button", { name: "Create token" }).click();
    const created = page.getByRole("dialog", { name: `Token “${name}” created` });
    await created.waitFor();
    await audit(page, "created-token dialog");
    await page.keyboard.press("Escape");
    await created.waitFor({ state: "hidden" });

    assert.deepEqual(errors, []);
    check();
  } finally {
    await browser.close();
  }
}

test("every page passes the WCAG 2.1 A and AA rules on a desktop in the light scheme", () =>
  walk({ width: 1280, height: 900, dark: false }));
test("every page passes the WCAG 2.1 A and AA rules on a desktop in the dark scheme", () =>
  walk({ width: 1280, height: 900, dark: true }));
test("every page passes the WCAG 2.1 A and AA rules 375 px wide in the light scheme", () =>
  walk({ width: 375, height: 800, dark: false }));
test("every page passes the WCAG 2.1 A and AA rules 375 px wide in the dark scheme", () =>
  walk({ width: 375, height: 800, dark: true }));

/** Presses Tab until the focused element's accessible label is `label`; fails after `max` presses. */
async function tabTo(page, label, max = 80) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      return el?.getAttribute("aria-label") ?? el?.labels?.[0]?.textContent ?? el?.textContent?.trim();
    });
    if (focused === label) return;
  }
  assert.fail(`"${label}" was not reached with ${max} presses of Tab`);
}

test("with the keyboard alone one signs in, runs a report from the list and dismisses a confirmation with Escape", async () => {
  const { browser, page, errors } = await openConsole(herald, { signIn: false });
  try {
    await page.getByRole("heading", { name: "Sign in to Herald" }).waitFor();
    await tabTo(page, "Access token");
    await page.keyboard.type(herald.token);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
    await page.getByRole("link", { name: "Weekly digest" }).first().waitFor();

    const before = (await call("GET", ws("/runs?limit=100"))).data.map((r) => r.id);
    await tabTo(page, "Run now: Weekly digest");
    await page.keyboard.press("Enter");
    const toast = page.getByRole("status").locator(".toast-success").filter({ hasText: "started" });
    await toast.waitFor();
    const runId = (await toast.getByRole("link").innerText()).trim();
    assert.ok(!before.includes(runId), "the toast names a new run");
    const run = await call("GET", ws(`/runs/${runId}`));
    assert.equal(run.report_id, (await call("GET", ws("/reports/weekly-digest"))).id);
    // The keyboard stays on the button that was pressed.
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Run now: Weekly digest");

    await tabTo(page, "Delete Weekly digest");
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Delete report" });
    await dialog.waitFor();
    assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), "the keyboard is inside the dialog");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    // Focus returns to the button that opened the dialog, and nothing was deleted.
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Delete Weekly digest");
    assert.equal((await call("GET", ws("/reports/weekly-digest"))).code, "weekly-digest");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("a toast stays while the keyboard is on it, so its run link can still be followed", async () => {
  const { browser, page, errors } = await openConsole(herald);
  try {
    await page.getByRole("button", { name: "Run now: Weekly digest" }).click();
    const toast = page.locator(".toast-success").filter({ hasText: "started" });
    const link = toast.getByRole("link");
    await link.focus();
    const runId = (await link.innerText()).trim();
    // Longer than a toast lasts on its own.
    await page.waitForTimeout(7000);
    assert.equal(await toast.count(), 1, "the focused toast is still there");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: `Run …${runId.slice(-8)}` }).waitFor();
    // Once the keyboard has left, the toast goes as usual.
    await toast.waitFor({ state: "detached", timeout: 10000 });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
