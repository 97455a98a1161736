// End-to-end tests of the report editor (#/reports/new, #/reports/{id}): creating the weekly
// digest of seed 000 through the form, the live preview following edits with what the server
// computes, the rendered PDF and the exports, field errors of a 422, a version conflict and
// the narrow layout. Screenshots: editor-new, editor-compose, editor-preview-pdf,
// editor-validation, editor-conflict, editor-narrow.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { openConsole, shot, startHerald } from "./lib.mjs";

let herald;
let workspace;

before(async () => {
  herald = await startHerald();
  workspace = (await call("GET", "/api/v1/session")).workspace.id;
});

after(async () => {
  await herald?.stop();
});

/** One API call with the admin token; JSON in and out. */
async function call(method, path, body) {
  const response = await fetch(`${herald.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${herald.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, ...(text ? JSON.parse(text) : {}) };
}

const ws = (path) => `/api/v1/ws/${workspace}${path}`;

/** Polls `fn` until it stops throwing (or returns truthy), for at most `ms`. */
async function eventually(fn, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const value = await fn();
      if (value !== false) return value;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The next preview answer of `format` (json, pdf…), started by whatever the caller does next. */
function nextPreview(page, format) {
  return page.waitForResponse((r) => r.url().endsWith("/reports/preview") && r.request().postDataJSON()?.format === format, { timeout: 20000 });
}

async function openEditor(page, path) {
  const summary = nextPreview(page, "json");
  const pdf = nextPreview(page, "pdf");
  await page.goto(`${herald.url}/console/#${path}`);
  const pdfAnswer = await pdf;
  assert.equal(pdfAnswer.headers()["content-type"], "application/pdf");
  // The same request again, for its bytes (the page consumes the answer as a Blob).
  const again = await fetch(pdfAnswer.url(), {
    method: "POST",
    headers: { Authorization: `Bearer ${herald.token}`, "Content-Type": "application/json" },
    body: pdfAnswer.request().postData(),
  });
  const answers = { summary: await (await summary).json(), pdf: Buffer.from(await again.arrayBuffer()) };
  await page.getByRole("status").filter({ hasText: /^Updated/ }).waitFor();
  return answers;
}

/** The preview pane's row count for the section titled `title`. */
async function rowsShown(page, title) {
  const pane = page.getByRole("complementary", { name: "Preview" });
  const row = pane.getByRole("table", { name: "Rows per section" }).getByRole("row").filter({ hasText: title });
  return Number(await row.getByRole("cell").last().textContent());
}

test("the weekly digest of seed 000 is created through the form and saved with the fields entered", async () => {
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    const first = await openEditor(page, "/reports/new");
    await page.getByRole("heading", { level: 1, name: "New report" }).waitFor();
    assert.equal(await page.getByLabel("Source name").first().inputValue(), "offers", "the default source is offer performance");
    assert.equal(await rowsShown(page, "Offers"), first.summary.sections[0].rows);
    await shot(page, "editor-new");

    await page.getByLabel("Name", { exact: true }).fill("Seed digest");
    assert.equal(await page.getByLabel("Code", { exact: true }).inputValue(), "seed-digest", "the code is suggested from the name");
    await page.getByLabel("Description", { exact: true }).fill("Offers and channels, week over week.");
    await page.getByRole("button", { name: "Add source" }).click();
    await page.getByLabel("Kind").nth(1).selectOption("channel_effectiveness");
    assert.equal(await page.getByLabel("Source name").nth(1).inputValue(), "channels");

    await page.getByRole("button", { name: "Add section" }).click();
    await page.getByLabel("Section type").first().selectOption("kpi");
    await page.getByLabel("Title", { exact: true }).first().fill("This week");
    await page.getByLabel("Source", { exact: true }).first().selectOption("channels");
    await page.getByLabel("Tile 1 label").fill("Revenue");
    await page.getByLabel("Column", { exact: true }).first().fill("revenue");
    await page.getByLabel("Aggregate").first().selectOption("sum");
    await page.getByLabel("Format", { exact: true }).first().selectOption("currency");
    await page.getByLabel("Currency").fill("usd");

    await page.getByRole("button", { name: "Add section" }).click();
    await page.getByLabel("Title", { exact: true }).nth(1).fill("Offer performance");
    await page.getByLabel("Source", { exact: true }).nth(1).selectOption("offers");
    await page.getByRole("checkbox", { name: "Totals row" }).check();

    await page.getByRole("checkbox", { name: "CSV", exact: true }).check();
    const addendum = "Flag any offer with >15% week-over-week drop.";
    const previewed = nextPreview(page, "json");
    await page.getByLabel("Prompt addendum").fill(addendum);
    const summary = await (await previewed).json();
    assert.deepEqual(summary.sections.map((s) => s.title), ["This week", "Offer performance"]);
    await eventually(async () => (await rowsShown(page, "Offer performance")) === summary.sections[1].rows);
    await shot(page, "editor-compose");

    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.waitForURL(/#\/reports\/[0-9A-Z]{26}$/);
    await page.getByRole("heading", { level: 1, name: "Seed digest" }).waitFor();
    const id = decodeURIComponent(page.url().split("/").pop());

    const saved = await call("GET", ws(`/reports/${id}`));
    assert.equal(saved.code, "seed-digest");
    assert.equal(saved.name, "Seed digest");
    assert.equal(saved.description, "Offers and channels, week over week.");
    assert.deepEqual(saved.formats, ["pdf", "csv"]);
    assert.deepEqual(saved.narrative, { enabled: true, prompt_addendum: addendum });
    assert.deepEqual(saved.sources.map((s) => [s.name, s.type, s.period]), [["offers", "offer_performance", "7d"], ["channels", "channel_effectiveness", "7d"]]);
    assert.deepEqual(saved.sections[0], {
      title: "This week",
      type: "kpi",
      source: "channels",
      tiles: [{ label: "Revenue", column: "revenue", aggregate: "sum", format: { kind: "currency", code: "USD" } }],
    });
    assert.equal(saved.sections[1].source, "offers");
    assert.equal(saved.sections[1].totals, true);
    await page.getByRole("link", { name: "Schedule" }).waitFor();
    assert.deepEqual(errors, [], "no page or console errors");
  } finally {
    await browser.close();
  }
});

test("the preview follows an edit with the rows and summary the server computes, and renders and exports the files", async () => {
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    const report = await call("GET", ws("/reports/weekly-digest"));
    const first = await openEditor(page, `/reports/${report.id}`);
    assert.equal(first.pdf.subarray(0, 5).toString(), "%PDF-", "the document preview is a PDF");
    const frame = page.getByTitle("Rendered PDF");
    assert.match(await frame.getAttribute("src"), /^blob:/);
    const before = await rowsShown(page, "Offer performance");
    assert.equal(before, first.summary.sections.find((s) => s.title === "Offer performance").rows);

    // What the server computes for the edited definition (offers of today only), asked directly.
    const edited = structuredClone(report);
    edited.sources[0].period = "today";
    const expected = await call("POST", ws("/reports/preview"), {
      report: Object.fromEntries(["name", "sources", "sections", "formats", "narrative", "parameters"].map((k) => [k, edited[k]])),
    });
    assert.notEqual(expected.narrative.summary, first.summary.narrative.summary, "the edit changes the summary");

    const shownSrc = await frame.getAttribute("src");
    const previewed = nextPreview(page, "json");
    const renderedAgain = nextPreview(page, "pdf");
    await page.getByLabel("Period").first().selectOption("today");
    const answer = await (await previewed).json();
    assert.deepEqual(answer.sections, expected.sections);
    assert.equal(answer.narrative.summary, expected.narrative.summary);
    await eventually(async () => (await rowsShown(page, "Offer performance")) === expected.sections[2].rows);
    const pane = page.getByRole("complementary", { name: "Preview" });
    await pane.getByText(expected.narrative.summary, { exact: true }).waitFor();
    await pane.getByText(expected.subtitle, { exact: true }).waitFor();
    // The edit's PDF replaces the frame: scroll to the new one, not the one being removed.
    await renderedAgain;
    await eventually(async () => (await frame.getAttribute("src")) !== shownSrc);
    await frame.scrollIntoViewIfNeeded();
    await shot(page, "editor-preview-pdf");

    const csv = page.waitForEvent("download");
    await page.getByRole("button", { name: "Download CSV" }).click();
    const download = await csv;
    const text = await readFile(await download.path(), "utf8");
    assert.match(download.suggestedFilename(), /\.csv$/);
    assert.match(text.split("\n")[0], /^Offer,Received,/, "the CSV is the report's first table");

    const html = nextPreview(page, "html");
    await page.getByRole("button", { name: "HTML", exact: true }).click();
    assert.match((await html).headers()["content-type"], /^text\/html/);
    await page.frameLocator("iframe[title='Rendered HTML']").getByRole("heading", { name: "Weekly digest" }).first().waitFor();
    assert.deepEqual(errors, [], "no page or console errors");
  } finally {
    await browser.close();
  }
});

test("a datetime parameter takes a derived time, shown as what it gives now, or a fixed wall clock", async () => {
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    await openEditor(page, "/reports/new");
    await page.getByRole("button", { name: "Add parameter" }).click();
    await page.getByLabel("Parameter name").fill("since");
    await page.getByLabel("Type", { exact: true }).selectOption("datetime");
    await page.getByLabel("Default", { exact: true }).selectOption("start_of_previous_day");
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await page.getByText(`${yesterday} 00:00 if run now (UTC, the workspace's timezone)`).waitFor();
    await page.getByLabel("Default", { exact: true }).selectOption("fixed");
    await page.getByLabel("Default date and time").fill("2026-12-01T09:30:15");
    await page.getByRole("button", { name: "Edit as JSON" }).click();
    const definition = JSON.parse(await page.getByLabel("Report definition").inputValue());
    assert.deepEqual(definition.parameters, [{ name: "since", type: "datetime", required: false, default: "2026-12-01T09:30:15" }]);
    assert.deepEqual(errors, [], "no page or console errors");
  } finally {
    await browser.close();
  }
});

test("parameters, reordering and the JSON view edit one definition, and typing previews once after a pause", async () => {
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    await openEditor(page, "/reports/new");
    await page.getByLabel("Name", { exact: true }).fill("Threshold digest");
    await page.getByRole("button", { name: "Add parameter" }).click();
    await page.getByLabel("Parameter name").fill("threshold");
    await page.getByLabel("Type", { exact: true }).selectOption("number");
    await page.getByLabel("Default").fill("2.5");
    await page.getByRole("checkbox", { name: /^Required/ }).check();
    await page.getByRole("button", { name: "Add source" }).click();
    await page.getByRole("button", { name: "Move up: source channels" }).click();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Move down", "focus stays with the moved source");
    assert.equal(await page.getByLabel("Source name").first().inputValue(), "channels");

    // Let the previews of those edits settle, then type: one preview, 600 ms after the last key.
    await page.waitForTimeout(1500);
    const asked = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/reports/preview") && r.postDataJSON()?.format === "json") asked.push(Date.now());
    });
    const typedAt = Date.now();
    await page.getByLabel("Description", { exact: true }).pressSequentially("Sales over the line", { delay: 60 });
    const lastKey = Date.now();
    await page.waitForTimeout(1500);
    assert.equal(asked.length, 1, "one preview for the whole burst of typing");
    assert.ok(asked[0] - lastKey >= 500 && asked[0] > typedAt, "the preview waits for the pause");

    await page.getByRole("button", { name: "Edit as JSON" }).click();
    const area = page.getByLabel("Report definition");
    const definition = JSON.parse(await area.inputValue());
    assert.deepEqual(definition.parameters, [{ name: "threshold", type: "number", required: true, default: 2.5 }]);
    assert.deepEqual(definition.sources.map((x) => x.name), ["channels", "offers"]);
    definition.name = "Threshold digest, edited as JSON";
    await area.fill(JSON.stringify(definition, null, 2));
    await page.getByRole("button", { name: "Edit with the form" }).click();
    assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "Threshold digest, edited as JSON");

    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "Threshold digest, edited as JSON" }).waitFor();
    const saved = await call("GET", ws("/reports/threshold-digest"));
    assert.equal(saved.description, "Sales over the line");
    assert.deepEqual(saved.sources.map((x) => x.name), ["channels", "offers"]);
    assert.deepEqual(saved.parameters.map((x) => [x.name, x.type, x.default, x.required]), [["threshold", "number", 2.5, true]]);
    assert.deepEqual(errors, [], "no page or console errors");
  } finally {
    await browser.close();
  }
});

test("a bursting report previews its first row, and a required parameter without a default previews with the value given in the pane", async () => {
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    // Row-bound parameters come from the first row of the repeating source: nothing to enter.
    const statements = await call("GET", ws("/reports/monthly-statements"));
    const first = await call("POST", ws("/reports/preview"), { report_id: statements.id });
    assert.equal(first.status, 200);
    await page.goto(`${herald.url}/console/#/reports/${statements.id}`);
    const pane = page.getByRole("complementary", { name: "Preview" });
    await eventually(async () => (await rowsShown(page, "Purchases")) === first.sections.find((x) => x.title === "Purchases").rows);
    await pane.getByText(first.title, { exact: true }).waitFor();
    assert.equal(await page.getByLabel("Preview value of customer_id").count(), 0);

    // A free parameter the report filters on: the pane asks for it, and previews with it.
    const upload = await fetch(`${herald.url}${ws("/datasets/sales")}`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${herald.token}`, "Content-Type": "text/csv" },
      body: "region,amount\nnorth,1\nsouth,2\nnorth,3\n",
    });
    assert.ok(upload.ok, await upload.text());
    const report = await call("POST", ws("/reports"), {
      code: "regional-sales",
      name: "Regional sales",
      formats: ["pdf"],
      parameters: [{ name: "region", type: "string", required: true }],
      sources: [{ name: "sales", type: "dataset", dataset: "sales", filter: { region: "{region}" } }],
      sections: [{ type: "table", title: "Sales", source: "sales" }],
    });
    assert.equal(report.status, 201, JSON.stringify(report));
    await page.goto(`${herald.url}/console/#/reports/${report.id}`);
    await pane.getByText("Preview value of region: is required and has no default").waitFor();
    const previewed = nextPreview(page, "json");
    await page.getByLabel("Preview value of region").fill("north");
    const answer = await previewed;
    assert.deepEqual(answer.request().postDataJSON().params, { region: "north" });
    const expected = await call("POST", ws("/reports/preview"), { report_id: report.id, params: { region: "north" } });
    assert.deepEqual((await answer.json()).sections, expected.sections);
    await eventually(async () => (await rowsShown(page, "Sales")) === 2);
    assert.deepEqual(errors, [], "no page or console errors");
  } finally {
    await browser.close();
  }
});

test("a 422 from the API is shown next to the field it names and nothing is saved", async () => {
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    const count = (await call("GET", ws("/reports"))).data.length;
    await openEditor(page, "/reports/new");
    await page.getByLabel("Name", { exact: true }).fill("Broken endpoint");
    await page.getByLabel("Kind").first().selectOption("http");
    const previewed = nextPreview(page, "json");
    await page.getByLabel("URL").fill("ftp://example.com/rows.json");
    assert.equal((await previewed).status(), 422);
    const pane = page.getByRole("complementary", { name: "Preview" });
    await pane.getByText("Source 1 › url: must be an http(s) URL").waitFor();

    await page.getByRole("button", { name: "Save", exact: true }).click();
    const url = page.getByLabel("URL");
    await eventually(async () => (await url.getAttribute("aria-invalid")) === "true");
    const describedBy = await url.getAttribute("aria-describedby");
    const message = await page.locator(`[id="${describedBy.split(" ").pop()}"]`).textContent();
    assert.equal(message, "must be an http(s) URL");
    await page.getByRole("alert").filter({ hasText: "The report was not saved" }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.path), "sources[0].url", "focus moves to the field");
    await shot(page, "editor-validation");
    assert.equal((await call("GET", ws("/reports"))).data.length, count);
    assert.deepEqual(errors, [], "no page or console errors");
  } finally {
    await browser.close();
  }
});

test("saving over a change made elsewhere explains the conflict, then saves over it or reloads the saved version", async () => {
  const { browser, page, errors } = await openConsole(herald, { width: 1280, height: 900 });
  try {
    const report = await call("GET", ws("/reports/customer-statement"));
    await openEditor(page, `/reports/${report.id}`);
    const changed = await call("PATCH", ws(`/reports/${report.id}`), { description: "Changed elsewhere.", version: report.version });
    assert.equal(changed.status, 200);

    const description = page.getByLabel("Description", { exact: true });
    await description.fill("My edit.");
    await page.getByText("Unsaved changes").waitFor();
    await page.getByRole("button", { name: "Save", exact: true }).click();
    const conflict = page.getByRole("alert").filter({ hasText: "Someone else saved this report after you opened it." });
    await conflict.waitFor();
    await shot(page, "editor-conflict");
    assert.equal((await call("GET", ws(`/reports/${report.id}`))).description, "Changed elsewhere.", "nothing was overwritten");

    await page.getByRole("button", { name: "Save mine over it" }).click();
    await conflict.waitFor({ state: "detached" });
    await page.getByText("Unsaved changes").waitFor({ state: "hidden" });
    const mine = await call("GET", ws(`/reports/${report.id}`));
    assert.equal(mine.description, "My edit.");
    assert.equal(mine.version, changed.version + 1);

    await call("PATCH", ws(`/reports/${report.id}`), { description: "Changed elsewhere again.", version: mine.version });
    await description.fill("Another edit.");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await conflict.waitFor();
    await page.getByRole("button", { name: "Reload the saved version" }).click();
    await eventually(async () => (await page.getByLabel("Description", { exact: true }).inputValue()) === "Changed elsewhere again.");
    assert.deepEqual(errors, [], "no page or console errors");
  } finally {
    await browser.close();
  }
});

test("on a 375 px screen the preview sits below the form and nothing scrolls sideways", async () => {
  const { browser, page, errors } = await openConsole(herald, { width: 375, height: 800 });
  try {
    const report = await call("GET", ws("/reports/weekly-digest"));
    await openEditor(page, `/reports/${report.id}`);
    const form = await page.locator(".editor-form").boundingBox();
    const pane = await page.getByRole("complementary", { name: "Preview" }).boundingBox();
    assert.ok(pane.y >= form.y + form.height, "the preview comes after the form");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    await shot(page, "editor-narrow");
    assert.deepEqual(errors, [], "no page or console errors");
  } finally {
    await browser.close();
  }
});
