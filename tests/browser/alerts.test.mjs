// The alerts pages in a real browser: the demo's example rule listed disabled; a rule created
// through the form over an uploaded dataset (`sum` of a column, `>` with a recovery threshold,
// an email destination), the API's field errors shown next to their fields first; "Evaluate
// now" showing the value, the verdict, the state change and the notification's text without
// writing anything, then "Evaluate and notify" recording the instance, its state change (with
// its chart) and the sent notification; an edit sending only what changed, and a conflict with
// someone else's change; the list's on/off switch; what a viewer sees.

import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { openConsole, shot, startHerald } from "./lib.mjs";

const RULE = "Orders over budget";

let herald;
let browser;
let page;
let errors;
let ruleId;

before(async () => {
  herald = await startHerald();
  // The amounts add up to 12: above the threshold of 10.
  const upload = await fetch(`${herald.url}/api/v1/ws/demo/datasets/orders`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${herald.token}`, "Content-Type": "text/csv" },
    body: "region,amount\nnorth,4\nsouth,3\nnorth,5\n",
  });
  assert.ok(upload.ok, await upload.text());
  ({ browser, page, errors } = await openConsole(herald));
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

const rules = async () => (await herald.api("GET", "/api/v1/ws/demo/alerts")).body.data;
const rule = async (id) => (await herald.api("GET", `/api/v1/ws/demo/alerts/${id}`)).body;
/** The row of rule `name` in the list of rules. */
const row = (name, p = page) =>
  p.getByRole("table", { name: "Alert rules", exact: true }).getByRole("row").filter({ has: p.getByRole("link", { name, exact: true }) });
/** The error shown under `input` (its aria-describedby's last id). */
async function fieldError(input) {
  const describedBy = (await input.getAttribute("aria-describedby")) ?? "";
  return page.locator(`[id="${describedBy.split(" ").pop()}"]`).textContent();
}

test("the demo's example rule is listed disabled, with its state and severity", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Alerts" }).click();
  await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
  const demo = row("Offer completions drop");
  await demo.waitFor();
  const toggle = demo.getByRole("switch", { name: "Enabled: Offer completions drop" });
  assert.equal(await toggle.isChecked(), false);
  const text = await demo.innerText();
  assert.match(text, /normal/);
  assert.match(text, /not evaluated while off/);
  assert.match(text, /warning/);
  assert.match(text, /Never/);
  assert.match(text, /No instances/);
  assert.match(text, /Completions of any offer drop more than 15% week over week/);
  await shot(page, "alerts-list");
});

test("a rule created in the form over an uploaded dataset shows the API's field errors next to the fields first", async () => {
  await page.getByRole("link", { name: "New alert rule" }).click();
  await page.getByRole("heading", { level: 1, name: "New alert rule" }).waitFor();
  await page.getByLabel("Name", { exact: true }).fill(RULE);
  await page.getByLabel("Description").fill("The orders add up to more than the budget.");
  await page.getByLabel("Severity").selectOption("critical");
  await page.getByLabel("Enabled (evaluated every interval)").uncheck();
  await page.getByLabel("Kind").selectOption("dataset");
  assert.equal(await page.getByLabel("Source name").inputValue(), "data", "the source is named after its kind");
  await page.getByLabel("Source name").fill("orders");
  await page.getByLabel("Dataset", { exact: true }).selectOption("orders");
  await page.getByLabel("Aggregate").selectOption("sum");
  assert.equal(await page.getByLabel("Breached when the value").inputValue(), ">");
  await page.getByLabel("Threshold", { exact: true }).fill("10");
  // A recovery threshold above a `>` threshold, no column to sum, an email destination without recipients.
  await page.getByLabel("Recovery threshold").fill("12");
  await page.getByRole("button", { name: "Add destination" }).click();
  assert.match(await page.getByLabel("Destination", { exact: true }).locator("option:checked").innerText(), /Demo outbox \(email\)/);
  await page.getByLabel("Window (minutes)").fill("60");
  await page.getByText("The period the source reads, ending at each evaluation: 1 h.").waitFor();

  const refused = page.waitForResponse((r) => r.url().endsWith("/alerts") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Create alert rule" }).click();
  assert.equal((await refused).status(), 422);
  await page.getByText("The rule was not saved: 3 problems.").waitFor();
  const column = page.getByLabel("Column", { exact: true });
  assert.equal(await fieldError(column), "is required for every aggregate but `count`");
  assert.equal(await column.getAttribute("aria-invalid"), "true");
  assert.equal(await fieldError(page.getByLabel("Recovery threshold")), "must be at most the threshold");
  assert.equal(await fieldError(page.getByLabel("Recipients")), "an email destination needs recipients");
  assert.ok(await column.evaluate((el) => el === document.activeElement), "the first field with an error has the keyboard");
  assert.equal((await rules()).length, 1, "nothing is created while a field is wrong");
  await shot(page, "alerts-form-errors");

  await column.fill("amount");
  assert.equal(await column.getAttribute("aria-invalid"), null, "the error goes once the field changes");
  await page.getByLabel("Recovery threshold").fill("8");
  await page.getByLabel("Recipients").fill("ops@example.com, finance@example.com");
  await page.getByLabel("Message").fill("{rule}: the orders add up to {value} (limit {threshold}).");
  await page.getByRole("button", { name: "Create alert rule" }).click();
  await page.getByRole("heading", { level: 1, name: RULE }).waitFor();
  await page.getByText(`${RULE} created`).waitFor();

  const created = (await rules()).find((r) => r.name === RULE);
  ruleId = created.id;
  assert.ok(page.url().endsWith(`#/alerts/${ruleId}`));
  assert.equal(created.enabled, false);
  assert.equal(created.severity, "critical");
  assert.equal(created.description, "The orders add up to more than the budget.");
  assert.deepEqual({ name: created.source.name, type: created.source.type, dataset: created.source.dataset }, { name: "orders", type: "dataset", dataset: "orders" });
  assert.deepEqual(created.metric, { aggregate: "sum", column: "amount", group_by: null, previous_column: null });
  assert.deepEqual(created.condition, { op: ">", threshold: 10, recovery_threshold: 8 });
  assert.equal(created.window_minutes, 60);
  assert.equal(created.destinations.length, 1);
  assert.deepEqual(created.destinations[0].to, ["ops@example.com", "finance@example.com"]);
});

test("Evaluate now shows the value, the verdict and the notification it would send, writing nothing", async () => {
  await page.getByRole("heading", { name: "No instances yet" }).waitFor();
  await page.getByRole("button", { name: "Evaluate now" }).click();
  await page.getByText(/^Dry run at .*: nothing was written or sent\. 1 instance, 1 would be firing\.$/).waitFor();
  const verdict = page.getByRole("list", { name: "Verdict per instance" }).getByRole("listitem");
  assert.equal(await verdict.count(), 1);
  const text = await verdict.innerText();
  assert.match(text, /\(all rows\)/);
  assert.match(text, /breached/);
  assert.match(text, /Value\s+12 · 3 rows/);
  assert.match(text, /normal\s*→\s*(to\s*)?firing/);
  assert.match(text, /firing to 1 destination/);
  assert.equal(await verdict.locator("blockquote").innerText(), `${RULE}: the orders add up to 12 (limit > 10 (clears past 8)).`);
  const stored = await rule(ruleId);
  assert.deepEqual(stored.instances, [], "a dry run writes nothing");
  assert.equal((await herald.api("GET", `/api/v1/ws/demo/alerts/${ruleId}/events`)).body.data.length, 0);
  await shot(page, "alerts-evaluate");
});

test("Evaluate and notify asks first, then records the instance, its state change and the sent notification", async () => {
  await page.getByRole("button", { name: "Evaluate and notify" }).click();
  const dialog = page.getByRole("dialog", { name: "Evaluate and notify" });
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal((await rule(ruleId)).instances.length, 0, "cancelled: nothing happened");

  await page.getByRole("button", { name: "Evaluate and notify" }).click();
  await dialog.getByRole("button", { name: "Evaluate and notify" }).click();
  await page.getByText("Evaluated: 1 notification sent, 1 firing.").waitFor();
  const instances = page.getByRole("table", { name: "Instances of the rule" });
  await instances.getByRole("cell", { name: "firing", exact: true }).waitFor();
  assert.match(await instances.getByRole("row").nth(1).innerText(), /\(all rows\)\s+firing\s+12/);
  const history = page.getByRole("table", { name: "State changes, newest first" });
  assert.match(await history.getByRole("row").nth(1).innerText(), /\(all rows\)\s+normal\s*→\s*(to\s*)?firing\s+12/);
  const chart = page.getByRole("img", { name: /^Instance \(all rows\): 12 \(firing\); threshold 10, recovery 8$/ });
  await chart.waitFor();
  const notes = page.getByRole("table", { name: "Notifications, newest first" });
  const note = await notes.getByRole("row").nth(1).innerText();
  assert.match(note, /firing/);
  assert.match(note, /Demo outbox/);
  assert.match(note, /ops@example\.com, finance@example\.com/);
  assert.match(note, /sent/);
  await page.locator(".alert-status").getByText("1 of 1 instance").waitFor();
  await shot(page, "alerts-rule-history");

  const sent = (await herald.api("GET", `/api/v1/ws/demo/alerts/${ruleId}/notifications`)).body.data;
  assert.deepEqual(sent.map((n) => [n.kind, n.status]), [["firing", "sent"]]);
  // The email in the outbox carries the rule's message.
  const files = (await readdir(herald.outbox)).filter((f) => f.includes(`-alert-${ruleId}-`) && f.includes("-firing-"));
  assert.equal(files.length, 1, `one firing email: ${files}`);
  const mail = await readFile(path.join(herald.outbox, files[0]), "utf8");
  assert.match(mail, new RegExp(`^Subject: \\[FIRING\\] ${RULE}`, "m"));
  assert.match(mail, /^To: ops@example\.com, finance@example\.com/m);
  const plain = mail.match(/Content-Type: text\/plain; charset=utf-8\r?\nContent-Transfer-Encoding: base64\r?\n\r?\n([A-Za-z0-9+/=\r\n]+)/)?.[1];
  assert.match(Buffer.from(plain ?? "", "base64").toString("utf8"), /Orders over budget: the orders add up to 12 \(limit > 10 \(clears past 8\)\)\./);
});

test("an edit sends only what changed, and someone else's change meanwhile is a conflict", async () => {
  await page.getByLabel("Threshold", { exact: true }).fill("20");
  await page.getByText("You have unsaved changes: the rule is evaluated as saved.").waitFor();
  const patched = page.waitForRequest((r) => r.method() === "PATCH" && r.url().endsWith(`/alerts/${ruleId}`));
  await page.getByRole("button", { name: "Save changes" }).click();
  const body = (await patched).postDataJSON();
  assert.deepEqual(Object.keys(body).sort(), ["condition", "version"]);
  assert.deepEqual(body.condition, { op: ">", threshold: 20, recovery_threshold: 8 });
  await page.getByText(`${RULE} saved: its instances start over`).waitFor();
  await page.getByRole("heading", { level: 1, name: RULE }).waitFor();
  assert.equal((await rule(ruleId)).condition.threshold, 20);

  // Someone renames the rule while the form is open.
  const current = await rule(ruleId);
  const renamed = await herald.api("PATCH", `/api/v1/ws/demo/alerts/${ruleId}`, { name: `${RULE} (renamed)`, version: current.version });
  assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
  await page.getByLabel("Description").fill("Changed here too.");
  await page.getByRole("button", { name: "Save changes" }).click();
  const conflict = page.getByRole("alert").filter({ hasText: "Someone else changed this rule after you opened it." });
  await conflict.waitFor();
  await shot(page, "alerts-conflict");
  assert.equal((await rule(ruleId)).description, "The orders add up to more than the budget.", "nothing was saved over their change");
  await conflict.getByRole("button", { name: "Reload the saved version" }).click();
  await page.getByRole("heading", { level: 1, name: `${RULE} (renamed)` }).waitFor();
  const back = await herald.api("PATCH", `/api/v1/ws/demo/alerts/${ruleId}`, { name: RULE });
  assert.equal(back.status, 200, JSON.stringify(back.body));
});

test("the list switches a rule on and off", async () => {
  await page.goto(`${herald.url}/console#/alerts`);
  await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
  const toggle = row(RULE).getByRole("switch", { name: `Enabled: ${RULE}` });
  assert.equal(await toggle.isChecked(), false);
  await toggle.check();
  await page.getByText(`${RULE} enabled: it is evaluated at the next tick.`).waitFor();
  assert.equal((await rule(ruleId)).enabled, true);
  assert.doesNotMatch(await row(RULE).innerText(), /not evaluated while off/);
  await shot(page, "alerts-list-enabled");
  await toggle.uncheck();
  await page.getByText(`${RULE} disabled: it is no longer evaluated.`).waitFor();
  assert.equal((await rule(ruleId)).enabled, false);
  assert.equal((await rules()).find((r) => r.name === "Offer completions drop").enabled, false, "the demo's rule stays off");
});

test("a viewer sees the rules, their state and history read-only", async () => {
  const made = await herald.api("POST", "/api/v1/ws/demo/tokens", { name: "Alert reader", role: "viewer" });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const p = await context.newPage();
    await p.goto(`${herald.url}/console`);
    await p.getByLabel("Access token").fill(made.body.secret);
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
    await p.goto(`${herald.url}/console#/alerts`);
    await p.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
    await p.getByText("You can see the alert rules; creating, changing, switching on or off and evaluating them needs reports:write.").waitFor();
    assert.equal(await p.getByRole("link", { name: "New alert rule" }).count(), 0);
    assert.equal(await p.getByRole("switch").count(), 0);
    assert.match(await row("Offer completions drop", p).innerText(), /disabled/);

    await row(RULE, p).getByRole("link", { name: RULE }).click();
    await p.getByRole("heading", { level: 1, name: RULE }).waitFor();
    await p.getByText("You can see this rule; changing or evaluating it needs reports:write.").waitFor();
    assert.equal(await p.getByLabel("Name", { exact: true }).isDisabled(), true);
    assert.equal(await p.getByLabel("Name", { exact: true }).inputValue(), RULE);
    assert.equal(await p.getByRole("button", { name: "Save changes" }).count(), 0);
    assert.equal(await p.getByRole("button", { name: "Evaluate now" }).count(), 0);
    assert.equal(await p.getByRole("button", { name: `Delete ${RULE}` }).count(), 0);
    await p.getByText("Evaluating a rule needs reports:write.").waitFor();
    await p.getByRole("table", { name: "State changes, newest first" }).waitFor();
    await p.getByRole("table", { name: "Notifications, newest first" }).waitFor();
    await shot(p, "alerts-viewer");

    await p.goto(`${herald.url}/console#/alerts/new`);
    await p.getByText("Creating alert rules needs reports:write.").waitFor();
  } finally {
    await context.close();
  }
});

test("no page error or content-security-policy violation happened", () => {
  assert.deepEqual(errors, []);
});
