// The console's frame in a real browser: sign-in, the reports list (Run now with the run's
// parameter values, enable/disable, delete), a revoked token sending the user back to sign-in, keyboard use and phone width.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { openConsole, shot, startHerald } from "./lib.mjs";

let herald;
let browser;
let page;
let errors;

before(async () => {
  herald = await startHerald();
  ({ browser, page, errors } = await openConsole(herald, { signIn: false }));
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

test("a wrong token is refused with the reason, and the right one opens the reports list", async () => {
  await page.getByRole("heading", { name: "Sign in to Herald" }).waitFor();
  await shot(page, "console-sign-in");
  await page.getByLabel("Access token").fill("hrld_pat_not_a_real_token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("That token was not accepted").waitFor();
  assert.equal(await page.getByLabel("Access token").getAttribute("aria-invalid"), "true");
  await shot(page, "console-sign-in-refused");

  await page.getByLabel("Access token").fill(herald.token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
  await page.getByRole("link", { name: "Weekly digest" }).first().waitFor();
  assert.match(await page.getByRole("banner").innerText(), /Demo workspace/);
  await shot(page, "console-reports");
});

test("run now names the run it started in a toast, and that run exists", async () => {
  await page.getByRole("button", { name: "Run now: Weekly digest" }).click();
  const toast = page.locator(".toast-success").filter({ hasText: "started" });
  await toast.waitFor();
  const runId = (await toast.getByRole("link").innerText()).trim();
  const run = await herald.api("GET", `/api/v1/ws/demo/runs/${runId}`);
  assert.equal(run.status, 200);
  assert.equal(run.body.id, runId);
  assert.equal(run.body.trigger, "api");
  await shot(page, "console-reports-run-started");
});

test("run now asks for the values of a report's parameters, derived dates shown as today's date", async () => {
  await page.getByRole("button", { name: "Run now: Monthly Customer Statements (SQL)", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Run Monthly Customer Statements (SQL) now" });
  await dialog.waitFor();
  const monthStart = new Date().toISOString().slice(0, 8) + "01";
  assert.equal(await dialog.getByLabel("period").inputValue(), monthStart, "start_of_month, worked out now");
  assert.match(await dialog.innerText(), /Default: start of month/);
  assert.equal(await dialog.getByLabel("customer_id").count(), 0, "a parameter filled from each row is not asked for");
  await shot(page, "console-run-now-parameters");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "detached" });

  await page.getByRole("button", { name: "Run now: Monthly customer statement", exact: true }).click();
  const one = page.getByRole("dialog", { name: "Run Monthly customer statement now" });
  const saved = (await herald.api("GET", "/api/v1/ws/demo/reports/customer-statement")).body.parameters[0].default;
  assert.equal(await one.getByLabel("customer_id (required)").inputValue(), saved);
  await one.getByLabel("customer_id (required)").fill("c-nobody");
  const started = page.waitForResponse((r) => r.request().method() === "POST" && r.url().includes("/runs"));
  await one.getByRole("button", { name: "Run now" }).click();
  const runId = (await (await started).json()).id;
  await page.locator(".toast-success").filter({ hasText: runId }).waitFor();
  const run = await herald.api("GET", `/api/v1/ws/demo/runs/${runId}`);
  assert.deepEqual(run.body.inputs.parameters, { customer_id: "c-nobody" }, "the value of this run only");
  const report = await herald.api("GET", "/api/v1/ws/demo/reports/customer-statement");
  assert.equal(report.body.parameters[0].default, saved, "the saved default stays");
});

test("run now shows a derived time as its wall clock in the workspace's zone and leaves it to the server unless changed", async () => {
  const report = {
    code: "timed", name: "Timed report", formats: ["markdown"],
    parameters: [{ name: "since", type: "datetime", default: "start_of_day" }, { name: "until", type: "datetime", default: "now" }],
    sources: [{ name: "rows", type: "inline", rows: [{ n: 1 }] }],
    sections: [{ type: "text", markdown: "From {since} to {until}." }],
  };
  assert.equal((await herald.api("POST", "/api/v1/ws/demo/reports", report)).status, 201);
  await page.reload();
  await page.getByRole("button", { name: "Run now: Timed report", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Run Timed report now" });
  await dialog.waitFor();
  const today = new Date().toISOString().slice(0, 10);
  assert.equal(await dialog.getByLabel("since").inputValue(), `${today}T00:00`, "start_of_day in UTC, the demo's zone");
  assert.match(await dialog.innerText(), /Default: start of day, \d{4}-\d{2}-\d{2} 00:00 now \(UTC\)/);
  await dialog.getByLabel("until").fill("2026-12-01T09:30");
  const started = page.waitForResponse((r) => r.request().method() === "POST" && r.url().includes("/runs"));
  await dialog.getByRole("button", { name: "Run now" }).click();
  const run = await (await started).json();
  const sent = JSON.parse((await started).request().postData()).params;
  assert.deepEqual(Object.keys(sent), ["until"], "the unchanged default is the server's to work out");
  assert.equal(run.inputs.parameters.since, `${run.inputs.day}T00:00:00Z`);
  assert.equal(run.inputs.parameters.until, "2026-12-01T09:30:00Z");
  assert.ok((await herald.api("DELETE", "/api/v1/ws/demo/reports/timed")).status < 300);
  await page.reload();
});

test("run now is on the report's own page too: the editor (the saved version), its schedule and its runs", async () => {
  const digest = (await herald.api("GET", "/api/v1/ws/demo/reports/weekly-digest")).body;
  for (const [path, name] of [["", "Run now: Weekly digest (as saved)"], ["/schedule", "Run now: Weekly digest"], ["/runs", "Run now: Weekly digest"]]) {
    await page.goto(`${herald.url}/console#/reports/${digest.id}${path}`);
    const started = page.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith(`/reports/${digest.id}/runs`));
    await page.getByRole("button", { name, exact: true }).click();
    const run = await (await started).json();
    await page.locator(".toast-success").filter({ hasText: run.id }).waitFor();
    assert.equal(run.report_id, digest.id, path);
  }
  await page.goto(`${herald.url}/console#/reports`);
});

test("switching a report off in the list saves it, and on again", async () => {
  const toggle = page.getByRole("switch", { name: "Enabled: Weekly digest" });
  assert.equal(await toggle.isChecked(), true);
  await toggle.click();
  await page.getByText("Weekly digest disabled").waitFor();
  assert.equal((await herald.api("GET", "/api/v1/ws/demo/reports/weekly-digest")).body.enabled, false);
  await toggle.click();
  await page.getByText("Weekly digest enabled").waitFor();
  assert.equal((await herald.api("GET", "/api/v1/ws/demo/reports/weekly-digest")).body.enabled, true);
});

test("deleting a report asks first, and only a confirmed delete removes it", async () => {
  const created = await herald.api("POST", "/api/v1/ws/demo/reports", {
    code: "throwaway",
    name: "Throwaway report",
    formats: ["csv"],
    sources: [{ name: "rows", type: "inline", rows: [{ a: 1 }] }],
    sections: [{ type: "table", title: "Rows", source: "rows" }],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await page.reload();
  await page.getByRole("button", { name: "Delete Throwaway report" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete report" });
  await dialog.waitFor();
  await shot(page, "console-reports-delete-confirm");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal((await herald.api("GET", "/api/v1/ws/demo/reports/throwaway")).status, 200);

  await page.getByRole("button", { name: "Delete Throwaway report" }).click();
  await dialog.getByRole("button", { name: "Delete report" }).click();
  await page.getByText("Throwaway report deleted").waitFor();
  assert.equal((await herald.api("GET", "/api/v1/ws/demo/reports/throwaway")).status, 404);
  assert.equal(await page.getByRole("link", { name: "Throwaway report" }).count(), 0);
});

test("the skip link comes first in keyboard order, shows when focused and moves focus to the page", async () => {
  await page.reload();
  await page.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
  const first = await page.evaluate(() => document.querySelector("a[href], button, input, select, textarea")?.textContent);
  assert.equal(first, "Skip to content");
  const skip = page.getByRole("link", { name: "Skip to content" });
  await skip.focus();
  const box = await skip.boundingBox();
  assert.ok(box && box.x >= 0 && box.y >= 0, "the focused skip link is on screen");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
});

test("an unknown page says so and links back", async () => {
  await page.goto(`${herald.url}/console#/no-such-page`);
  await page.getByRole("heading", { name: "Page not found" }).waitFor();
  await page.getByRole("link", { name: "Back to reports" }).click();
  await page.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
});

test("a revoked token sends the user back to sign-in with the reason", async () => {
  const made = await herald.api("POST", "/api/v1/ws/demo/tokens", { name: "short-lived", role: "viewer" });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const { browser: other, page: p } = await openConsole({ ...herald, token: made.body.secret });
  try {
    assert.match(await p.getByRole("banner").innerText(), /short-lived · viewer/);
    assert.equal((await herald.api("DELETE", `/api/v1/ws/demo/tokens/${made.body.id}`)).status, 200);
    await p.reload();
    await p.getByText("Your session ended").waitFor();
    await p.getByRole("heading", { name: "Sign in to Herald" }).waitFor();
    assert.equal(await p.evaluate(() => sessionStorage.getItem("herald.token")), null);
  } finally {
    await other.close();
  }
});

test("at phone width the list stays usable and nothing raised a script error", async () => {
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(`${herald.url}/console#/reports`);
  await page.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Run now: Weekly digest" }).isVisible(), true);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
  await shot(page, "console-reports-narrow");
  assert.deepEqual(errors, []);
});
