// Seed 000 in the browser, step by step as a user does it: create the weekly digest in the
// editor (offer performance and channel effectiveness, PDF and CSV, narrative with a prompt
// addendum, delivered to the ops mailbox), see the preview, add the "Daily 8am UTC" schedule
// with its next run time, run it now from the reports list, watch the run finish, open its
// files, and find the email with both attachments and the executive summary. Screenshots:
// walkthrough-*.

import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { openConsole, shot, startHerald } from "./lib.mjs";

let herald;
let browser;
let page;
let errors;
let workspace;

const ws = (p) => `/api/v1/ws/${workspace}${p}`;

async function ok(method, p, body) {
  const answer = await herald.api(method, p, body);
  assert.ok(answer.status < 300, `${method} ${p}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

before(async () => {
  herald = await startHerald();
  workspace = (await ok("GET", "/api/v1/session")).workspace.id;
  // The walkthrough creates "Weekly digest" itself: the demo's copy makes way.
  await ok("DELETE", ws("/reports/weekly-digest"));
  ({ browser, page, errors } = await openConsole(herald));
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

let reportId;
let runId;

/** The text/plain parts of a MIME message, decoded (Herald sends them base64). */
function textParts(mail) {
  return mail
    .split(/\r?\n--[^\r\n]+\r?\n/)
    .map((part) => part.split(/\r?\n\r?\n/))
    .filter(([headers]) => /^Content-Type: text\/plain/im.test(headers ?? ""))
    .map(([headers, ...rest]) => {
      const raw = rest.join("\n\n");
      return /^Content-Transfer-Encoding: base64/im.test(headers) ? Buffer.from(raw.replace(/\s+/g, ""), "base64").toString("utf8") : raw;
    })
    .join("\n");
}

test("step 1: the weekly digest is composed in the editor and saved", async () => {
  await page.getByRole("link", { name: "New report" }).click();
  await page.getByRole("heading", { level: 1, name: "New report" }).waitFor();
  // The default source is offer performance; the seed keeps it, over 7 days.
  assert.equal(await page.getByLabel("Kind").first().inputValue(), "offer_performance");
  await page.getByLabel("Period").first().selectOption("7d");
  await page.getByLabel("Name", { exact: true }).fill("Weekly digest");
  await page.getByRole("button", { name: "Add source" }).click();
  await page.getByLabel("Kind").nth(1).selectOption("channel_effectiveness");
  await page.getByLabel("Period").nth(1).selectOption("7d");

  await page.getByRole("button", { name: "Add section" }).click();
  await page.getByLabel("Title", { exact: true }).first().fill("Offer performance");
  await page.getByLabel("Source", { exact: true }).first().selectOption("offers");
  await page.getByRole("button", { name: "Add section" }).click();
  await page.getByLabel("Title", { exact: true }).nth(1).fill("Channel effectiveness");
  await page.getByLabel("Source", { exact: true }).nth(1).selectOption("channels");

  await page.getByRole("checkbox", { name: "PDF", exact: true }).check();
  await page.getByRole("checkbox", { name: "CSV", exact: true }).check();
  assert.equal(await page.getByRole("checkbox", { name: "Enable AI narrative" }).isChecked(), true);
  await page.getByLabel("Prompt addendum").fill("Flag any offer with >15% week-over-week drop.");

  await page.getByRole("button", { name: "Add delivery" }).click();
  await page.getByLabel("Destination").selectOption({ label: "Demo outbox (email)" });
  await page.getByLabel("To (comma-separated)").fill("ops@example.com");
  await page.getByLabel("Subject").fill("Weekly digest");
  await shot(page, "walkthrough-1-compose");

  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForURL(/#\/reports\/[0-9A-Z]{26}$/);
  await page.getByRole("heading", { level: 1, name: "Weekly digest" }).waitFor();
  reportId = decodeURIComponent(page.url().split("/").pop());
  const saved = await ok("GET", ws(`/reports/${reportId}`));
  assert.equal(saved.code, "weekly-digest");
  assert.deepEqual(saved.formats.slice().sort(), ["csv", "pdf"]);
  assert.deepEqual(saved.sources.map((s) => [s.type, s.period]), [["offer_performance", "7d"], ["channel_effectiveness", "7d"]]);
  assert.equal(saved.narrative.prompt_addendum, "Flag any offer with >15% week-over-week drop.");
  assert.deepEqual(saved.deliveries[0].to, ["ops@example.com"]);
});

test("step 2: the preview pane shows the executive summary and the rows per section the server computes", async () => {
  const expected = await ok("POST", ws("/reports/preview"), { report_id: reportId });
  const pane = page.getByRole("complementary", { name: "Preview" });
  const rows = pane.getByRole("table", { name: "Rows per section" });
  for (const section of expected.sections) {
    const row = rows.getByRole("row").filter({ hasText: section.title });
    await row.waitFor();
    assert.equal(Number(await row.getByRole("cell").last().textContent()), section.rows, section.title);
  }
  assert.ok(expected.narrative?.summary, "the built-in narrator wrote a summary");
  await pane.getByText(expected.narrative.summary.slice(0, 40)).first().waitFor();
  await shot(page, "walkthrough-2-preview");
});

test("step 3: the Daily 8am UTC schedule is added with its next run time", async () => {
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Schedule" }).click();
  await page.getByRole("heading", { level: 1, name: "Schedule · Weekly digest" }).waitFor();
  await page.getByRole("checkbox", { name: /Demo outbox/ }).check();
  await page.getByLabel("Schedule name").fill("Daily 8am UTC");
  await page.getByLabel("Timezone").fill("UTC");
  await page.getByLabel("Cron expression").fill("0 8 * * *");
  await page.getByRole("button", { name: "Add schedule" }).click();
  const row = page.getByRole("row", { name: /Daily 8am UTC/ });
  await row.waitFor();

  const schedules = (await ok("GET", ws(`/reports/${reportId}/schedules`))).data;
  assert.equal(schedules.length, 1);
  const [schedule] = schedules;
  assert.equal(schedule.name, "Daily 8am UTC");
  assert.equal(schedule.timezone, "UTC");
  const next = new Date(schedule.next_run_at);
  assert.equal(next.getUTCHours(), 8);
  assert.equal(next.getUTCMinutes(), 0);
  assert.ok(next > new Date() && next - new Date() <= 24 * 3600 * 1000, `next run ${schedule.next_run_at}`);
  await row.getByText(next.toISOString().slice(0, 16).replace("T", " ")).first().waitFor();
  await shot(page, "walkthrough-3-schedule");
});

test("step 4: run now from the reports list announces the run, which is watched to its end", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Reports" }).click();
  await page.getByRole("button", { name: "Run now: Weekly digest" }).click();
  const toastLink = page.locator(".toast-success").getByRole("link");
  await toastLink.waitFor();
  runId = (await toastLink.textContent()).trim();
  await shot(page, "walkthrough-4-run-now");
  await toastLink.click();
  await page.waitForFunction(() => document.querySelector(".run-status .badge")?.textContent === "finished", null, { timeout: 60_000 });
  const run = await ok("GET", ws(`/runs/${runId}`));
  assert.equal(run.status, "finished");
  assert.equal(run.counts.completed, 1);
  await shot(page, "walkthrough-5-run-finished");
});

test("step 5: the delivered files open, and the email has both attachments and the summary", async () => {
  const run = await ok("GET", ws(`/runs/${runId}`));
  const entry = run.entry_list.data[0];
  for (const format of ["pdf", "csv"]) {
    const artifact = entry.artifacts.find((a) => a.format === format);
    assert.ok(artifact, `a ${format} file`);
    const link = page.getByRole("link", { name: `Download ${format.toUpperCase()} ${artifact.file_name}` });
    const response = await fetch(new URL(await link.getAttribute("href"), herald.url));
    assert.equal(response.status, 200);
    const bytes = Buffer.from(await response.arrayBuffer());
    if (format === "pdf") assert.equal(bytes.subarray(0, 5).toString("latin1"), "%PDF-");
    else assert.match(bytes.toString("utf8").split("\n")[0], /,/);
  }
  const [tab] = await Promise.all([page.context().waitForEvent("page"), page.getByRole("button", { name: /^Open .*\.pdf$/ }).first().click()]);
  await tab.waitForURL(/^blob:/);
  assert.equal(await tab.evaluate(() => document.contentType), "application/pdf");
  await tab.close();

  const delivery = entry.deliveries[0];
  assert.equal(delivery.status, "sent");
  const files = (await readdir(herald.outbox, { recursive: true })).filter((f) => f.endsWith(".eml"));
  assert.equal(files.length, 1, `one email: ${files}`);
  const mail = await readFile(path.join(herald.outbox, files[0]), "utf8");
  assert.match(mail, /^To: ops@example\.com/m);
  assert.match(mail, /filename="?[^"\r\n]*\.pdf/);
  assert.match(mail, /filename="?[^"\r\n]*\.csv/);
  assert.ok(run.narrative?.summary, "the run has an executive summary");
  const body = textParts(mail);
  assert.ok(body.includes("Executive summary") && body.includes(run.narrative.summary), `the email body carries the summary: ${body}`);
  assert.deepEqual(errors, []);
});

test("step 6: the email's View the run link opens the run in the console, after signing in", async () => {
  const files = (await readdir(herald.outbox, { recursive: true })).filter((f) => f.endsWith(".eml"));
  const body = textParts(await readFile(path.join(herald.outbox, files[0]), "utf8"));
  const link = body.match(/View the run: (\S+)/)?.[1];
  assert.ok(link, `the email links to the run: ${body}`);
  assert.equal(link, `${herald.url}/console#/runs/${runId}`);
  // A person who follows it from their mail is not signed in yet.
  const reader = await openConsole(herald, { signIn: false });
  try {
    await reader.page.goto(link);
    await reader.page.getByRole("heading", { name: "Sign in to Herald" }).waitFor();
    await reader.page.getByLabel("Access token").fill(herald.token);
    await reader.page.getByRole("button", { name: "Sign in" }).click();
    await reader.page.getByRole("heading", { level: 1, name: `Run …${runId.slice(-8)}` }).waitFor();
    await reader.page.locator(".run-status").getByText("finished", { exact: true }).waitFor();
    await shot(reader.page, "walkthrough-6-run-from-email");
    assert.deepEqual(reader.errors, []);
  } finally {
    await reader.browser.close();
  }
});
