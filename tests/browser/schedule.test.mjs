// The Schedule tab in a real browser: a weekly schedule from a preset (checked through the
// API), the next fire times in local time and UTC, a recurrence-builder rule (last Friday of
// the month) previewed and saved, a month-end RFC 5545 rule kept and edited as text, a time
// moved by DST marked, a bad cron's field error, pause/resume, delete, the scheduled-generation
// switch, and the page at phone width.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { openConsole, shot, startHerald } from "./lib.mjs";

const SCHEDULES = "/api/v1/ws/demo/reports/weekly-digest/schedules";

let herald;
let browser;
let page;
let errors;

before(async () => {
  herald = await startHerald();
  ({ browser, page, errors } = await openConsole(herald));
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

async function schedules() {
  const { status, body } = await herald.api("GET", SCHEDULES);
  assert.equal(status, 200);
  return body.data;
}

/** The preview pane's fire times as text, once it shows `count` of them. */
async function previewTimes(count = 10) {
  const items = page.getByRole("list", { name: `Next ${count} fire times` }).getByRole("listitem");
  await items.nth(count - 1).waitFor();
  return items.allInnerTexts();
}

/** Closes the toasts, so screenshots show the page under them. */
async function dismissToasts() {
  for (const close of await page.getByRole("button", { name: "Dismiss notification" }).all()) {
    // A toast may leave by itself meanwhile.
    await close.click({ timeout: 2000 }).catch(() => {});
  }
}

/** Waits until the preview pane's text matches `re` (the preview refreshes after typing stops). */
async function previewShows(re) {
  await page.getByRole("complementary").getByText(re).first().waitFor();
}

test("the tab opens from the reports list with an empty state and the form", async () => {
  await page.getByRole("link", { name: "Schedule Weekly digest" }).click();
  await page.getByRole("heading", { level: 1, name: "Schedule · Weekly digest" }).waitFor();
  await page.getByRole("heading", { name: "No schedules yet" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Schedule", exact: true }).getAttribute("aria-current"), "page");
  assert.deepEqual(await schedules(), []);
});

test("a weekly schedule from a preset previews local and UTC times and is saved with its cron and timezone", async () => {
  await page.getByLabel("Schedule name").fill("Monday digest");
  await page.getByLabel("Preset", { exact: true }).selectOption({ label: "Weekly Monday 08:00" });
  assert.equal(await page.getByLabel("Cron expression").inputValue(), "0 8 * * 1");
  await page.getByLabel("Timezone").fill("America/New_York");
  await previewShows(/13:00 UTC/);
  const times = await previewTimes();
  assert.equal(times.length, 10);
  for (const t of times) {
    // Monday 08:00 in New York in winter is 13:00 UTC; each item shows both.
    assert.match(t, /Mon.*08:00.*EST/s);
    assert.match(t, /\d{4}-\d\d-\d\d 13:00 UTC/);
  }
  assert.match(await page.locator(".schedule-words").innerText(), /Every Monday at 08:00/);
  await shot(page, "schedule-preset");

  await page.getByRole("checkbox", { name: /Demo outbox/ }).check();
  await page.getByRole("button", { name: "Add schedule" }).click();
  await page.getByRole("row", { name: /Monday digest/ }).waitFor();

  const [saved] = await schedules();
  assert.deepEqual(saved.rule, { type: "cron", expression: "0 8 * * 1" });
  assert.equal(saved.timezone, "America/New_York");
  assert.equal(saved.enabled, true);
  assert.equal(saved.destinations.length, 1);
  const next = new Date(saved.next_run_at);
  assert.equal(next.getUTCDay(), 1);
  assert.equal(next.getUTCHours(), 13);
  const row = page.getByRole("row", { name: /Monday digest/ });
  assert.match(await row.innerText(), /Every Monday at 08:00/);
  assert.match(await row.innerText(), new RegExp(saved.next_run_at.slice(0, 10)));
  await dismissToasts();
  await shot(page, "schedule-list");
});

test("a bad cron expression shows the API's reason next to the cron field and saves nothing", async () => {
  await page.getByLabel("Schedule name").fill("Broken");
  const cron = page.getByLabel("Cron expression");
  await cron.fill("0 8 * *");
  await page.getByText(/exactly 5 are needed/).first().waitFor();
  assert.equal(await cron.getAttribute("aria-invalid"), "true");
  const describedBy = (await cron.getAttribute("aria-describedby")).split(" ");
  const errorId = describedBy.find((id) => id.endsWith("-error"));
  assert.match(await page.locator(`#${errorId}`).innerText(), /4 fields given/);

  await page.getByRole("button", { name: "Add schedule" }).click();
  await page.getByText(/exactly 5 are needed/).first().waitFor();
  assert.equal((await schedules()).length, 1);
  await shot(page, "schedule-cron-error");
});

test("a recurrence rule for the last Friday of the month is previewed and saved", async () => {
  await page.getByLabel("Schedule name").fill("Month-end review");
  await page.getByRole("radio", { name: "Recurrence" }).check();
  await page.getByLabel("Trigger").selectOption("monthly");
  await page.getByLabel("Start", { exact: true }).fill("2027-01-01T09:00");
  await page.getByRole("checkbox", { name: "Friday" }).check();
  await page.getByLabel("At which possible occurrence of the day").selectOption({ label: "1st" });
  await page.getByRole("checkbox", { name: /Start at the end and count backwards/ }).check();
  await page.getByLabel("Timezone").fill("America/New_York");
  // An interval out of range is refused by the API with the reason, shown with the builder.
  await page.getByLabel("Every").fill("0");
  await page.getByRole("alert").filter({ hasText: "every must be between 1 and 1000" }).waitFor();
  await page.getByLabel("Every").fill("1");
  await previewShows(/2027-01-29 14:00 UTC/);
  assert.equal(await page.getByRole("alert").filter({ hasText: "every must be" }).count(), 0);
  const times = await previewTimes();
  // Last Fridays of 2027 at 09:00 New York: EST until 14 March, then EDT.
  assert.match(times[0], /2027-01-29 14:00 UTC/);
  assert.match(times[1], /2027-02-26 14:00 UTC/);
  assert.match(times[2], /2027-03-26 13:00 UTC/);
  assert.match(times[2], /EDT/);
  assert.match(await page.locator(".schedule-words").innerText(), /Every month on the last Friday at 09:00/);
  await dismissToasts();
  await shot(page, "schedule-recurrence");

  await page.getByRole("button", { name: "Add schedule" }).click();
  await page.getByRole("row", { name: /Month-end review/ }).waitFor();
  const saved = (await schedules()).find((s) => s.name === "Month-end review");
  assert.equal(saved.rule.type, "recurrence");
  assert.equal(saved.rule.trigger, "monthly");
  assert.deepEqual(saved.rule.allowed_days, ["Fri"]);
  assert.equal(saved.rule.occurrence, 1);
  assert.equal(saved.rule.count_from_end, true);
  assert.equal(saved.timezone, "America/New_York");
  assert.match(saved.rrule, /BYSETPOS=-1/);
  assert.equal(saved.next_run_at, "2027-01-29T14:00:00Z");
});

test("a daily 02:30 in New York marks the fire time moved by the 2027-03-14 DST change", async () => {
  await page.getByLabel("Schedule name").fill("Night batch");
  await page.getByRole("radio", { name: "Recurrence" }).check();
  await page.getByLabel("Trigger").selectOption("daily");
  await page.getByLabel("Start", { exact: true }).fill("2027-03-12T02:30");
  await page.getByLabel("Timezone").fill("America/New_York");
  await previewShows(/2027-03-14 07:30 UTC/);
  const times = await previewTimes();
  const moved = times.filter((t) => /Moved by DST/.test(t));
  assert.equal(moved.length, 1);
  // 02:30 does not exist on 14 March; it runs at 03:30 EDT (07:30 UTC).
  assert.match(moved[0], /03:30.*EDT/s);
  assert.match(moved[0], /2027-03-14 07:30 UTC/);
  assert.match(times[1], /2027-03-13 07:30 UTC/);
  assert.match(times[3], /2027-03-15 06:30 UTC/);
  await page.getByText(/the clocks skip the named local time/).waitFor();
  await dismissToasts();
  await shot(page, "schedule-dst");

  // The same time as cron, from a chosen day: cron runs a skipped time at the end of the gap.
  await page.getByRole("radio", { name: "Preset / cron" }).check();
  await page.getByLabel("Cron expression").fill("30 2 * * *");
  await page.getByLabel("Show times after (empty: now)").fill("2027-03-13");
  await previewShows(/2027-03-14 07:00 UTC/);
  const cronTimes = await previewTimes();
  assert.match(cronTimes[0], /2027-03-13 07:30 UTC/);
  assert.match(cronTimes[1], /03:00.*EDT.*Moved by DST.*2027-03-14 07:00 UTC/s);
  assert.equal(cronTimes.filter((t) => /Moved by DST/.test(t)).length, 1);
  await page.getByLabel("Show times after (empty: now)").fill("");
});

test("pausing and resuming a schedule turns it off and on through the API", async () => {
  await page.getByRole("button", { name: "Pause Monday digest" }).click();
  await page.getByRole("button", { name: "Resume Monday digest" }).waitFor();
  let saved = (await schedules()).find((s) => s.name === "Monday digest");
  assert.equal(saved.enabled, false);
  assert.match(await page.getByRole("row", { name: /Monday digest/ }).innerText(), /paused/i);

  await page.getByRole("button", { name: "Resume Monday digest" }).click();
  await page.getByRole("button", { name: "Pause Monday digest" }).waitFor();
  saved = (await schedules()).find((s) => s.name === "Monday digest");
  assert.equal(saved.enabled, true);
  assert.ok(saved.next_run_at);
});

test("editing a schedule loads it into the form and saves the change", async () => {
  await page.getByRole("button", { name: "Edit Monday digest" }).click();
  await page.getByRole("heading", { name: "Edit schedule “Monday digest”" }).waitFor();
  assert.equal(await page.getByLabel("Cron expression").inputValue(), "0 8 * * 1");
  assert.equal(await page.getByLabel("Timezone").inputValue(), "America/New_York");
  await page.getByLabel("Preset", { exact: true }).selectOption({ label: "Weekdays 08:00" });
  await page.getByText("Overlap and missed fire times").click();
  await page.getByLabel("When a fire time comes while the previous run is still going").selectOption("skip");
  await page.getByLabel("Catch-up window (minutes)").fill("99999");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("must be at most 10080 (one week)").waitFor();
  assert.equal((await schedules()).find((s) => s.name === "Monday digest").overlap, "buffer_one");
  await page.getByLabel("Catch-up window (minutes)").fill("15");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByRole("heading", { name: "Add a schedule" }).waitFor();
  const saved = (await schedules()).find((s) => s.name === "Monday digest");
  assert.equal(saved.rule.expression, "0 8 * * 1-5");
  assert.equal(saved.overlap, "skip");
  assert.equal(saved.catch_up_minutes, 15);
  assert.match(await page.getByRole("row", { name: /Monday digest/ }).innerText(), /Weekdays at 08:00/);
});

test("deleting a schedule asks first, then removes it", async () => {
  await page.getByRole("button", { name: "Delete Month-end review" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete schedule" });
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal((await schedules()).length, 2);
  await page.getByRole("button", { name: "Delete Month-end review" }).click();
  await dialog.getByRole("button", { name: "Delete schedule" }).click();
  await page.getByRole("row", { name: /Month-end review/ }).waitFor({ state: "detached" });
  assert.deepEqual((await schedules()).map((s) => s.name), ["Monday digest"]);
});

test("an unknown timezone is refused next to the timezone field and nothing is saved", async () => {
  await page.getByLabel("Schedule name").fill("Nowhere");
  const zone = page.getByLabel("Timezone");
  await zone.fill("Mars/Olympus");
  await page.getByText("`Mars/Olympus` is not an IANA timezone").first().waitFor();
  assert.equal(await zone.getAttribute("aria-invalid"), "true");
  await page.getByRole("button", { name: "Add schedule" }).click();
  await page.getByText("`Mars/Olympus` is not an IANA timezone").first().waitFor();
  assert.deepEqual((await schedules()).map((s) => s.name), ["Monday digest"]);
});

test("RFC 5545 text is previewed in the zone it names, a bad one is refused next to it, and a good one saved", async () => {
  await page.getByLabel("Schedule name").fill("Paris first Monday");
  await page.getByRole("radio", { name: "RFC 5545 text" }).check();
  assert.equal(await page.getByLabel("Timezone").isVisible(), false);
  const text = page.getByLabel("Rule as RFC 5545 text");
  await text.fill("RRULE:FREQ=SOMETIMES");
  await page.getByText(/missing DTSTART line/).first().waitFor();
  assert.equal(await text.getAttribute("aria-invalid"), "true");

  await text.fill("DTSTART;TZID=Europe/Paris:20270105T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1");
  await previewShows(/2027-02-01 08:00 UTC/);
  const times = await previewTimes();
  // The first Monday of each month from February 2027, 09:00 in Paris (CET, then CEST).
  assert.match(times[0], /2027-02-01 08:00 UTC/);
  assert.match(times[2], /2027-04-05 07:00 UTC/);
  assert.equal(await text.getAttribute("aria-invalid"), null);

  await page.getByRole("button", { name: "Add schedule" }).click();
  await page.getByRole("row", { name: /Paris first Monday/ }).waitFor();
  const saved = (await schedules()).find((s) => s.name === "Paris first Monday");
  assert.equal(saved.timezone, "Europe/Paris");
  assert.equal(saved.rule.trigger, "monthly");
  assert.deepEqual(saved.rule.allowed_days, ["Mon"]);
  assert.equal(saved.rule.occurrence, 1);
  assert.equal(saved.next_run_at, "2027-02-01T08:00:00Z");
  assert.match(await page.getByRole("row", { name: /Paris first Monday/ }).innerText(), /Every month on the 1st Monday at 09:00/);
});

test("a month-end rule the builder cannot draw is previewed, saved and edited as its RFC 5545 text", async () => {
  await page.getByLabel("Schedule name").fill("Month end");
  await page.getByRole("radio", { name: "RFC 5545 text" }).check();
  const text = page.getByLabel("Rule as RFC 5545 text");
  await text.fill("DTSTART;TZID=America/New_York:20270105T180000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=14\nEXDATE;TZID=America/New_York:20270331T180000");
  await previewShows(/2027-01-31 23:00 UTC/);
  const times = await previewTimes();
  // The last day of each month at 18:00 in New York, March left out (EDT from 14 March).
  assert.match(times[0], /2027-01-31 23:00 UTC/);
  assert.match(times[1], /2027-02-28 23:00 UTC/);
  assert.match(times[2], /2027-04-30 22:00 UTC/);
  await page.getByRole("button", { name: "Add schedule" }).click();
  const row = page.getByRole("row", { name: /Month end/ });
  await row.waitFor();
  assert.match(await row.innerText(), /RFC 5545: FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=14 \(with added or excluded dates\)/);
  const saved = (await schedules()).find((s) => s.name === "Month end");
  assert.equal(saved.rule.type, "rrule", "kept as written");
  assert.match(saved.rule.text, /EXDATE/);
  assert.equal(saved.next_run_at, "2027-01-31T23:00:00Z");

  await page.getByRole("button", { name: "Edit Month end" }).click();
  await page.getByRole("heading", { name: "Edit schedule “Month end”" }).waitFor();
  assert.equal(await page.getByRole("radio", { name: "RFC 5545 text" }).isChecked(), true);
  assert.match(await page.getByLabel("Rule as RFC 5545 text").inputValue(), /BYMONTHDAY=-1;COUNT=14/);
});

test("a disabled report's tab says its schedules do not fire", async () => {
  const report = (await herald.api("GET", "/api/v1/ws/demo/reports/weekly-digest")).body;
  const off = await herald.api("PATCH", "/api/v1/ws/demo/reports/weekly-digest", { enabled: false, version: report.version });
  assert.equal(off.status, 200);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Reports" }).click();
  await page.getByRole("link", { name: "Schedule Weekly digest" }).click();
  await page.getByText("Weekly digest is disabled: its schedules do not fire").waitFor();
  const on = await herald.api("PATCH", "/api/v1/ws/demo/reports/weekly-digest", { enabled: true, version: off.body.version });
  assert.equal(on.status, 200);
});

test("switching scheduled generation off makes the report manual-only and hides its schedules until it is on again", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Reports" }).click();
  await page.getByRole("link", { name: "Schedule Weekly digest" }).click();
  const toggle = page.getByRole("switch", { name: "Enable scheduled generation" });
  assert.equal(await toggle.isChecked(), true);
  await toggle.click();
  await page.getByText("Scheduled generation off: Weekly digest runs only when asked.").waitFor();
  assert.equal((await herald.api("GET", "/api/v1/ws/demo/reports/weekly-digest")).body.scheduled, false);
  assert.equal(await page.getByRole("heading", { name: "Schedules" }).isVisible(), false);
  await page.getByText("Scheduled generation is off: the report runs only when asked").waitFor();
  await shot(page, "schedule-manual-only");
  await toggle.click();
  await page.getByText("Scheduled generation on: Weekly digest runs on its schedules.").waitFor();
  assert.equal((await herald.api("GET", "/api/v1/ws/demo/reports/weekly-digest")).body.scheduled, true);
  await page.getByRole("heading", { name: "Schedules" }).waitFor();
});

test("the tab fits a 375 px phone screen", async () => {
  const narrow = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const phone = await narrow.newPage();
  await phone.goto(`${herald.url}/console`);
  await phone.getByLabel("Access token").fill(herald.token);
  await phone.getByRole("button", { name: "Sign in" }).click();
  await phone.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
  await phone.goto(`${herald.url}/console#/reports/weekly-digest/schedule`);
  await phone.getByRole("heading", { level: 1, name: "Schedule · Weekly digest" }).waitFor();
  await phone.getByRole("list", { name: "Next 10 fire times" }).waitFor();
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `the page is ${width} px wide`);
  await shot(phone, "schedule-narrow");
  await narrow.close();
});

test("the page raised no script or content-security-policy errors", () => {
  assert.deepEqual(errors, []);
});
