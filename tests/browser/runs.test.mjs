// The runs pages of the console on the demo workspace: a run started from the reports list is
// watched to its end, its PDF opened and its deliveries shown (a failed one retried); a run
// held for review has one entry approved and one rejected in the page, and the API confirms
// what was delivered; a long run is watched while it works and cancelled; the lists filter;
// and the detail works 375 px wide.

import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openConsole, shot, startHerald } from "./lib.mjs";

let herald;
let workspace;

/** One API call with the admin token; throws on a non-2xx answer. */
async function call(method, path, body) {
  const response = await fetch(`${herald.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${herald.token}`, "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const ws = (path) => `/api/v1/ws/${workspace.id}${path}`;

/** Polls `read` until `done(value)` holds, or fails after `ms`. */
async function until(read, done, ms = 30000, what = "condition") {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting for ${what}; last value: ${JSON.stringify(last?.counts ? { status: last.status, counts: last.counts } : last)?.slice(0, 2000)}`);
}

async function setReport(code, fields) {
  const report = await call("GET", ws(`/reports/${code}`));
  return call("PATCH", ws(`/reports/${report.id}`), { ...fields, version: report.version });
}

/** Every mail the server wrote to its outbox, as one text. */
async function outboxText() {
  const files = await readdir(herald.outbox, { recursive: true }).catch(() => []);
  const mails = files.filter((f) => f.endsWith(".eml"));
  return (await Promise.all(mails.map((f) => readFile(path.join(herald.outbox, f), "latin1")))).join("\n");
}

/** The bytes behind a link of the page, fetched as the browser would. */
async function download(href) {
  const response = await fetch(new URL(href, herald.url));
  assert.equal(response.status, 200, `download of ${href}`);
  return Buffer.from(await response.arrayBuffer());
}

let outbox;
let webhook;

before(async () => {
  herald = await startHerald();
  workspace = (await call("GET", "/api/v1/session")).workspace;
  const destinations = (await call("GET", ws("/destinations"))).data;
  outbox = destinations.find((d) => d.name === "Demo outbox");
  assert.ok(outbox, "the demo has its outbox destination");
  // A webhook to a loopback address the server refuses to call: its deliveries fail.
  webhook = await call("POST", ws("/destinations"), {
    name: "Ops webhook",
    config: { type: "webhook", url: "http://127.0.0.1:9/hook", signing_secret: "whsec_0123456789abcdef0123" },
  });
  await setReport("weekly-digest", {
    deliveries: [
      { destination_id: outbox.id, to: ["team@example.com"], subject: "Weekly digest" },
      { destination_id: webhook.id },
    ],
  });
});

after(async () => {
  await herald?.stop();
});

test("a run started from the reports list is watched to its end, its PDF opens and a failed delivery is retried", async () => {
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    // Before any run: the empty list says what is missing and where to start one.
    await page.goto(`${herald.url}/console#/runs`);
    await page.getByRole("heading", { name: "No runs yet" }).waitFor();
    await shot(page, "runs-empty");
    await page.getByRole("link", { name: "Go to reports to run one" }).click();

    await page.getByRole("button", { name: "Run now: Weekly digest" }).click();
    const toastLink = page.locator(".toast").getByRole("link");
    await toastLink.waitFor();
    const runId = (await toastLink.textContent()).trim();
    await toastLink.click();
    await page.getByRole("heading", { level: 1, name: `Run …${runId.slice(-8)}` }).waitFor();

    // The page polls: the status the server reports appears without a reload.
    const status = page.locator(".run-status .badge");
    await page.waitForFunction(() => document.querySelector(".run-status .badge")?.textContent === "finished", null, { timeout: 30000 });
    const run = await call("GET", ws(`/runs/${runId}`));
    assert.equal(run.status, "finished");
    assert.equal(await status.textContent(), run.status);
    assert.equal(await page.locator(".bucket-completed .strong").textContent(), String(run.counts.completed));

    // The PDF link is the API's signed link, and it downloads a PDF.
    const entry = run.entry_list.data[0];
    const pdf = entry.artifacts.find((a) => a.format === "pdf");
    const link = page.getByRole("link", { name: `Download PDF ${pdf.file_name}` });
    const href = await link.getAttribute("href");
    assert.equal(new URL(href, herald.url).pathname, new URL(pdf.download_url, herald.url).pathname);
    const bytes = await download(href);
    assert.equal(bytes.subarray(0, 4).toString("latin1"), "%PDF");
    // "Open" shows the same file in a new tab.
    const [tab] = await Promise.all([page.context().waitForEvent("page"), page.getByRole("button", { name: `Open ${pdf.file_name}` }).click()]);
    await tab.waitForURL(/^blob:/);
    assert.equal(await tab.evaluate(() => document.contentType), "application/pdf");
    await tab.close();

    // Per destination: the outbox mail was sent, the webhook refused with the server's reason.
    const row = page.locator(`tr[data-entry="${entry.id}"]`);
    const sent = entry.deliveries.find((d) => d.destination_id === outbox.id);
    const failed = entry.deliveries.find((d) => d.destination_id === webhook.id);
    assert.equal(sent.status, "sent");
    assert.match(failed.status, /^failed_/);
    await row.locator(`[data-delivery="${sent.id}"]`).getByText("sent", { exact: true }).waitFor();
    await row.locator(`[data-delivery="${failed.id}"]`).getByText(failed.error).waitFor();
    await shot(page, "runs-detail-finished");

    await page.getByRole("button", { name: "Retry delivery to Ops webhook for entry 1" }).click();
    await page.locator(".toast").getByText("Delivery to Ops webhook queued again.").waitFor();
    const retried = await until(
      async () => (await call("GET", ws(`/runs/${runId}/entries/${entry.id}`))).deliveries.find((d) => d.id === failed.id),
      (d) => d.attempts > failed.attempts && /^failed_/.test(d.status),
      30000,
      "the retried delivery to be attempted again",
    );
    assert.ok(retried.attempts > failed.attempts);
    // The entry settles after its delivery does; the run is finished again once it has.
    await until(() => call("GET", ws(`/runs/${runId}`)), (r) => r.finished, 30000, "the run to finish again");
    // The sent mail was not sent again by the retry of the other destination.
    const mail = (await call("GET", ws(`/runs/${runId}/entries/${entry.id}`))).deliveries.find((d) => d.id === sent.id);
    assert.equal(mail.attempts, sent.attempts);

    // The run list shows it, and filters by trigger and status.
    await page.goto(`${herald.url}/console#/runs`);
    await page.getByRole("link", { name: `Run …${runId.slice(-8)}` }).waitFor();
    await page.getByLabel("Trigger").selectOption("schedule");
    await page.getByRole("heading", { name: "No runs match these filters" }).waitFor();
    assert.match(page.url(), /#\/runs\?trigger=schedule$/);
    await page.getByRole("link", { name: "Clear filters" }).click();
    await page.getByRole("link", { name: `Run …${runId.slice(-8)}` }).waitFor();
    await page.getByLabel("Status").selectOption("finished");
    await page.getByRole("link", { name: `Run …${runId.slice(-8)}` }).waitFor();

    // A run that does not exist: the server's message and a way to try again.
    await page.goto(`${herald.url}/console#/runs/01M00000000000000000000000`);
    await page.getByRole("alert").getByText("run not found").waitFor();
    await page.getByRole("button", { name: "Try again" }).waitFor();
    await page.goto(`${herald.url}/console#/runs`);

    // The report's own runs sit under its tabs.
    await page.getByRole("link", { name: "Weekly digest" }).first().click();
    await page.getByRole("heading", { level: 1, name: "Runs of Weekly digest" }).waitFor();
    await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Runs" }).waitFor();
    await page.getByRole("link", { name: `Run …${runId.slice(-8)}` }).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("held entries are approved and rejected in the page and only the approved one is delivered", async () => {
  await setReport("monthly-statements", { hold_for_review: true });
  const started = await call("POST", ws("/reports/monthly-statements/runs"), {});
  const run = await until(() => call("GET", ws(`/runs/${started.id}`)), (r) => r.status === "awaiting_review", 60000, "the statements to render");
  assert.equal(run.finished, false, "held work is not finished");
  const held = run.entry_list.data.filter((e) => e.status === "PendingReview");
  assert.ok(held.length >= 3, "entries are held for review");
  // Two customers with an address: their mail passes the delivery condition.
  const [approve, reject, third] = held.filter((e) => e.row?.email);

  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    await page.goto(`${herald.url}/console#/runs/${run.id}`);
    await page.getByRole("button", { name: `Approve all held (${run.counts.review})` }).waitFor();
    await shot(page, "runs-held");

    await page.getByRole("button", { name: `Approve entry ${approve.seq + 1}`, exact: true }).click();
    await page.locator(".toast").getByText(`Entry ${approve.seq + 1} approved`).waitFor();
    // The keyboard focus stays in the row that was decided on.
    await page.waitForFunction((id) => document.activeElement?.closest("tr")?.dataset.entry === id, approve.id);
    await page.getByRole("button", { name: `Reject entry ${reject.seq + 1}`, exact: true }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Reason (kept on the entry)").fill("Wrong billing address");
    await dialog.getByRole("button", { name: "Reject" }).click();
    await page.locator(`tr[data-entry="${reject.id}"]`).getByText("Reason: Wrong billing address").waitFor();
    await page.locator(`tr[data-entry="${approve.id}"]`).getByText("approved", { exact: true }).waitFor();

    const entry = (id) => call("GET", ws(`/runs/${run.id}/entries/${id}`));
    const approved = await until(() => entry(approve.id), (e) => e.status === "Completed", 30000, "the approved entry to be delivered");
    assert.equal(approved.review.decision, "approved");
    assert.deepEqual(approved.deliveries.map((d) => d.status), ["sent"]);
    const rejected = await entry(reject.id);
    assert.equal(rejected.status, "Cancelled");
    assert.equal(rejected.review.decision, "rejected");
    assert.equal(rejected.review.note, "Wrong billing address");
    assert.ok(rejected.deliveries.every((d) => d.status !== "sent"), "a rejected entry is never delivered");
    // The outbox holds the approved customer's mail and none for the rejected one.
    const mail = await outboxText();
    assert.ok(mail.includes(`To: ${approve.row.email}`), "the approved statement was mailed");
    assert.ok(!mail.includes(reject.row.email), "the rejected statement was not mailed");
    // The decision shows who made it: the signed-in token's name.
    const me = (await call("GET", "/api/v1/session")).token.name;
    await page.locator(`tr[data-entry="${approve.id}"]`).getByText(`by ${me}`, { exact: false }).waitFor();
    await page.locator(`tr[data-entry="${approve.id}"] [data-delivery]`).getByText("sent", { exact: true }).waitFor({ timeout: 30000 });
    await shot(page, "runs-review-approved");

    // The consolidated review document is made, polled and downloaded as a PDF.
    await page.getByRole("button", { name: "Review document" }).click();
    const docLink = page.getByRole("link", { name: "Download the review document" });
    await docLink.waitFor({ timeout: 60000 });
    const doc = await download(await docLink.getAttribute("href"));
    assert.equal(doc.subarray(0, 4).toString("latin1"), "%PDF");

    // The status filter lists the entries the API lists in that status.
    await page.getByLabel("Show entries").selectOption("Cancelled");
    await page.waitForFunction((id) => {
      const rows = [...document.querySelectorAll(".entries-table tbody tr")];
      return rows.length === 1 && rows[0].dataset.entry === id;
    }, reject.id);
    await page.getByLabel("Show entries").selectOption("");
    await page.locator(`tr[data-entry="${approve.id}"]`).waitFor();

    // "Deliver selected" approves a held entry and sends it.
    await page.getByRole("checkbox", { name: `Select entry ${third.seq + 1}`, exact: true }).check();
    await page.getByRole("button", { name: "Deliver selected (1)" }).click();
    await page.locator(".toast").getByText("1 entry queued for delivery.").waitFor();
    const delivered = await until(() => entry(third.id), (e) => e.status === "Completed", 30000, "the selected entry to be delivered");
    assert.equal(delivered.review.decision, "approved");
    assert.deepEqual(delivered.deliveries.map((d) => d.status), ["sent"]);

    // Reject the rest in bulk: every other held entry is cancelled.
    await page.getByRole("button", { name: /^Reject all held/ }).click();
    await dialog.getByRole("button", { name: "Reject" }).click();
    await page.locator(".toast").getByText(`${run.counts.review - 3} entries rejected`).waitFor();
    const after = await call("GET", ws(`/runs/${run.id}`));
    assert.equal(after.counts.review, 0);
    assert.equal(await page.getByRole("button", { name: /^Approve all held/ }).count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("a long run is watched while it works and cancelled from its page", async () => {
  const rows = Array.from({ length: 10000 }, (_, n) => ({ n }));
  await call("PUT", ws("/datasets/letters"), rows);
  await call("POST", ws("/reports"), {
    code: "letters",
    name: "Letters",
    sources: [{ name: "rows", role: "repeating", type: "dataset", dataset: "letters" }],
    sections: [{ type: "text", title: "Letter {rows.n}", markdown: "Hello {rows.n}" }],
    formats: ["pdf"],
  });
  const started = await call("POST", ws("/reports/letters/runs"), {});
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    await page.goto(`${herald.url}/console#/runs/${started.id}`);
    await page.locator(".run-status").getByText("running", { exact: true }).waitFor();
    // Polling: the completed count the page shows grows without a reload.
    const completed = page.locator(".bucket-completed .strong");
    const first = Number(await completed.textContent());
    await page.waitForFunction((n) => Number(document.querySelector(".bucket-completed .strong")?.textContent) > n, first, { timeout: 20000 });
    await shot(page, "runs-detail-running");

    await page.getByRole("button", { name: "Cancel run" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel run" }).click();
    // Cancelling thousands of queued entries takes a moment on a busy machine.
    const answer = page.locator(".toast").first();
    await answer.waitFor({ timeout: 90000 });
    assert.match(await answer.locator("span").first().textContent(), /^Run cancelled: \d+ entries cancelled\.$/);
    await page.locator(".run-status").getByText("cancelled", { exact: true }).waitFor();
    const run = await call("GET", ws(`/runs/${started.id}`));
    assert.equal(run.status, "cancelled");
    assert.ok(run.counts.cancelled > 0, "entries not yet started were cancelled");
    assert.equal(await page.getByRole("button", { name: "Cancel run" }).count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("the runs list shows 25 runs at a time and Load more adds the next ones", async () => {
  for (let i = 0; i < 25; i++) await call("POST", ws("/reports/customer-statement/runs"), {});
  const total = (await call("GET", ws("/runs?limit=100"))).data.length;
  assert.ok(total > 25 && total <= 50, `${total} runs`);
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    await page.goto(`${herald.url}/console#/runs`);
    const rows = page.locator("tbody tr");
    await page.getByRole("button", { name: "Load more" }).waitFor();
    assert.equal(await rows.count(), 25);
    await shot(page, "runs-list");
    await page.getByRole("button", { name: "Load more" }).click();
    await page.waitForFunction((n) => document.querySelectorAll("tbody tr").length === n, total);
    // The keyboard goes on at the first run added.
    const list = (await call("GET", ws("/runs?limit=100"))).data;
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), `Run …${list[25].id.slice(-8)}`);
    assert.equal(await page.getByRole("button", { name: "Load more" }).count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("a run's detail fits a 375 px wide screen", async () => {
  const runs = await call("GET", ws("/runs?report_id=weekly-digest&limit=1"));
  const { browser, page, errors } = await openConsole(herald, { width: 375, height: 800 });
  try {
    await page.goto(`${herald.url}/console#/runs/${runs.data[0].id}`);
    await page.getByRole("heading", { level: 2, name: "Entries", exact: true }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
    await shot(page, "runs-narrow");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
