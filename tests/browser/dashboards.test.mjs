// Seed 001 end to end in a real browser: the dashboards gallery; the Executive dashboard
// switched to 30 days and the email channel; PDF and CSV exported from it (the CSV is exactly
// what the API renders for those filters, the PDF's text carries the filtered figures); Save as
// report with the "Weekly Mon 8am" preset and the demo's email destination, the report and its
// schedule listed; Run now from the report's own page; the delivered email read from the
// outbox. Screenshots of every built-in dashboard.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { openConsole, shot, startHerald } from "./lib.mjs";

let herald;
let browser;
let page;
let errors;

before(async () => {
  herald = await startHerald();
  ({ browser, page, errors } = await openConsole(herald, { width: 1280, height: 1000 }));
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

/** The dashboard's view, once the preview after the last filter change has landed. */
async function settled() {
  await page.getByRole("status").filter({ hasText: /^Updated/ }).waitFor();
  return page.frameLocator("iframe.dashboard-view");
}

test("the gallery lists the built-in dashboards, and each one shows its view", async () => {
  await page.goto(`${herald.url}/console#/dashboards`);
  await page.getByRole("heading", { level: 1, name: "Dashboards" }).waitFor();
  for (const name of ["Executive", "Offers", "Channels", "Customers", "Data health"]) await page.getByRole("link", { name, exact: true }).waitFor();
  await shot(page, "dashboards");
  for (const [key, heading] of [["executive", "Headline"], ["offers", "Offer performance"], ["channels", "Channel effectiveness"], ["customers", "By tier"], ["data-health", "By day"]]) {
    await page.goto(`${herald.url}/console#/dashboards/${key}`);
    const view = await settled();
    await view.getByRole("heading", { name: heading }).first().waitFor();
    await shot(page, `dashboard-${key}`);
  }
});

test("the Executive dashboard filtered to 30 days of email exports what it shows, then is saved as a weekly report that delivers", async () => {
  await page.goto(`${herald.url}/console#/dashboards/executive`);
  await settled();
  const changed = page.waitForResponse((r) => r.url().endsWith("/reports/preview") && r.request().postDataJSON()?.report?.sources?.[1]?.segment?.channel === "email");
  await page.getByLabel("Period").selectOption("30d");
  await page.getByLabel("Channel").selectOption("email");
  const asked = (await changed).request().postDataJSON();
  const view = await settled();
  await view.getByText(/30 days from .* email only/).first().waitFor();
  assert.equal(asked.report.sources[0].period, "30d");

  // CSV: exactly what the API renders for the same filters, and only the email channel.
  const csvDownload = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export CSV" }).click();
  const csv = await readFile(await (await csvDownload).path(), "utf8");
  const direct = await fetch(`${herald.url}/api/v1/ws/demo/reports/preview`, {
    method: "POST",
    headers: { Authorization: `Bearer ${herald.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ ...asked, format: "csv" }),
  });
  assert.equal(csv, await direct.text());
  const channelRows = csv.split("\n").filter((line) => /^(email|mobile|social|web|unknown),/.test(line));
  assert.ok(channelRows.length > 0 && channelRows.every((line) => line.startsWith("email,")), csv);

  // PDF: its text has the filtered figures (the email row's completions, the 30-day window).
  const pdfDownload = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export PDF" }).click();
  const text = execFileSync("pdftotext", ["-layout", await (await pdfDownload).path(), "-"], { encoding: "utf8" });
  assert.match(text, /30 days from/);
  assert.match(text, /email only/);
  const completed = channelRows[0].split(",")[2];
  assert.match(text, new RegExp(`\\b${completed.replace(/[.]/g, "\\.")}\\b`), `the email channel's ${completed} completions`);

  // Save as report: weekly on Monday at 8, to the demo's outbox.
  await page.getByRole("button", { name: "Save as report" }).click();
  const dialog = page.getByRole("dialog", { name: "Save as report" });
  await dialog.waitFor();
  assert.equal(await dialog.getByLabel("Name").inputValue(), "Executive (last 30 days, email)");
  assert.equal(await dialog.getByLabel("Narrated executive summary").isChecked(), true);
  await dialog.getByLabel("Schedule").selectOption({ label: "Weekly Mon 8am" });
  await dialog.getByLabel("Timezone").fill("UTC");
  await dialog.getByLabel(/^Demo outbox/).check();
  await dialog.getByLabel("Email to").fill("board@example.com");
  await shot(page, "dashboard-save-as-report");
  const saving = page.waitForResponse((r) => r.request().method() === "POST" && /\/api\/v1\/ws\/[^/]+\/reports$/.test(r.url()));
  await dialog.getByRole("button", { name: "Save report" }).click();
  const saved = await (await saving).json();
  assert.equal(saved.schedule.rule.expression, "0 8 * * 1");
  await page.locator(".toast-success").filter({ hasText: "its first scheduled run is" }).waitFor();
  await page.getByRole("heading", { level: 1, name: `Schedule · ${saved.name}` }).waitFor();
  await page.getByRole("cell", { name: "Weekly Mon 8am" }).first().waitFor();
  const listed = (await herald.api("GET", "/api/v1/ws/demo/reports")).body.data.map((r) => r.name);
  assert.ok(listed.includes("Executive (last 30 days, email)"), listed.join(", "));
  const report = (await herald.api("GET", `/api/v1/ws/demo/reports/${saved.id}`)).body;
  assert.deepEqual(report.sources.map((s) => [s.period, s.segment?.channel]), [["30d", "email"], ["30d", "email"]], "the filters are baked in");

  // Run now from its page, and the email arrives in the outbox with the PDF.
  const started = page.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith(`/reports/${saved.id}/runs`));
  await page.getByRole("button", { name: `Run now: ${saved.name}`, exact: true }).click();
  const run = await (await started).json();
  let mail = "";
  for (let i = 0; i < 100 && !mail; i++) {
    const files = (await readdir(herald.outbox).catch(() => [])).filter((f) => f.includes(run.id) && f.endsWith(".eml"));
    if (files.length) mail = await readFile(path.join(herald.outbox, files[0]), "latin1");
    else await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(mail, `an email of run ${run.id} in the outbox`);
  assert.match(mail, /^To: board@example\.com/m);
  assert.match(mail, /Executive \(last 30 days, email\)/);
  assert.match(mail, /application\/pdf/);
});

test("the Data health dashboard shows the demo's hourly feed by day and counts a batch the API refused", async () => {
  const refused = await herald.api("POST", "/api/v1/ws/demo/interactions", []);
  assert.equal(refused.status, 400);
  await page.goto(`${herald.url}/console#/dashboards/data-health`);
  let view = await settled();
  const tile = (label) => view.locator("td.tile").filter({ hasText: label });
  assert.match(await tile("Refused batches").innerText(), /Refused batches\s+1\b/);
  const received = Number((await tile("Interactions received").innerText()).replace(/\D/g, ""));
  assert.ok(received > 1000, `the demo's fortnight of interactions: ${received}`);
  // 14 days by default (with today), 7 when the period says so.
  // The innermost table with a Duplicates heading (the page's layout tables hold it too).
  const days = () => view.locator("table").filter({ has: view.locator("th", { hasText: "Duplicates" }) }).last().locator("tbody tr").count();
  assert.equal(await days(), 14, "14 days, with today");
  await page.getByLabel("Period").selectOption("7d");
  view = await settled();
  await view.getByText(/to .* \(UTC\); a batch is late/).first().waitFor();
  assert.equal(await days(), 7);
  await view.getByRole("cell", { name: "never run" }).waitFor();
});

test("the Offers dashboard narrowed to gold customers counts fewer completions than all customers, and says whose", async () => {
  await page.goto(`${herald.url}/console#/dashboards/offers`);
  await settled();
  const tier = page.getByLabel("Customer tier");
  await tier.waitFor();
  assert.deepEqual(await tier.locator("option").allInnerTexts(), ["All tiers", "gold", "green"]);
  const changed = page.waitForResponse((r) => r.url().endsWith("/reports/preview") && r.request().postDataJSON()?.report?.sources?.[0]?.segment?.customers?.equals === "gold");
  await tier.selectOption("gold");
  const asked = (await changed).request().postDataJSON();
  const view = await settled();
  await view.getByText(/customers whose tier is gold/).first().waitFor();

  // The same view as CSV (offers by id, so no name holds a comma), with and without the segment.
  const exported = async (keep) => {
    const sources = asked.report.sources.map(({ label, segment, ...s }) => (keep ? { ...s, segment } : s));
    const r = await fetch(`${herald.url}/api/v1/ws/demo/reports/preview`, {
      method: "POST",
      headers: { Authorization: `Bearer ${herald.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ ...asked, report: { ...asked.report, sources }, format: "csv" }),
    });
    return r.text();
  };
  const [csv, all] = [await exported(true), await exported(false)];
  const completions = (text) => {
    const [head, ...rows] = text.replace(/^\uFEFF/, "").trim().split(/\r?\n/);
    const at = head.split(",").indexOf("Completed");
    return rows.filter((l) => !l.startsWith("Total")).reduce((sum, l) => sum + Number(l.split(",")[at]), 0);
  };
  assert.ok(completions(csv) > 0 && completions(csv) < completions(all), `gold ${completions(csv)} of ${completions(all)}`);
});

test("a schedule the server refuses keeps the modal open with the reason, and nothing is saved", async () => {
  await page.goto(`${herald.url}/console#/dashboards/channels`);
  await settled();
  const before = (await herald.api("GET", "/api/v1/ws/demo/reports")).body.data.length;
  await page.getByRole("button", { name: "Save as report" }).click();
  const dialog = page.getByRole("dialog", { name: "Save as report" });
  await dialog.getByLabel("Schedule").selectOption({ label: "Custom cron expression" });
  await dialog.getByLabel("Cron expression").fill("0 8 * * 9");
  await dialog.getByRole("button", { name: "Save report" }).click();
  await dialog.locator(".field-error:not([hidden])").first().waitFor();
  assert.equal(await dialog.getByLabel("Cron expression").getAttribute("aria-invalid"), "true");
  assert.equal((await herald.api("GET", "/api/v1/ws/demo/reports")).body.data.length, before);
  await dialog.getByRole("button", { name: "Cancel" }).click();
});

test("no page error or content-security-policy violation happened", () => {
  assert.deepEqual(errors, []);
});
