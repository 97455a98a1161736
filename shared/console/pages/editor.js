// The report editor: details, compose (data sources and sections), formats and narrative,
// parameters and deliveries of one report, with a preview pane that renders the unsaved
// definition 600 ms after the last change (executive summary, rows per section and the
// rendered PDF or HTML) and exports it in any format. An SQL source picks its connection (the
// built-in `datasets` or one of the workspace's) and "Run query" shows its first rows with the
// preview's parameter values.

import { api, ApiError, workspaceZone } from "../api.js";
import { daysAgo, derivedRules, derivedValue, isDerived, isWallClock } from "../dates.js";
import { downloadPreview, fillHtmlFrame } from "../preview.js";
import { runNowButton, typedParam } from "./run-now.js";
import {
  busy, button, checkbox, debounce, field, h, pageHeader, replace, reportTabs, select, setFieldError, table, toast,
} from "../ui.js";

export const SOURCE_KINDS = [
  ["offer_performance", "Offer performance"],
  ["channel_effectiveness", "Channel effectiveness"],
  ["ingest_health", "Data health: ingest by day"],
  ["data_freshness", "Data health: freshness"],
  ["dataset", "Uploaded dataset"],
  ["http", "HTTP/JSON endpoint"],
  ["inline", "Inline rows"],
  ["sql", "SQL"],
];
export const SOURCE_NAMES = { offer_performance: "offers", channel_effectiveness: "channels", ingest_health: "ingest", data_freshness: "freshness", dataset: "data", http: "endpoint", inline: "rows", sql: "query" };
export const PERIODS = [["today", "Today"], ["7d", "7 days"], ["14d", "14 days"], ["30d", "30 days"], ["90d", "90 days"]];
const ANALYTICS = ["received", "viewed", "completed", "view_rate", "completion_rate"];
export const KNOWN_COLUMNS = {
  offer_performance: ["offer_id", "offer_kind", ...ANALYTICS, "rewards", "previous_completed", "completed_change"],
  channel_effectiveness: ["channel", ...ANALYTICS, "transactions", "revenue", "previous_completed", "completed_change"],
  ingest_health: ["day", "batches", "refused_batches", "late_batches", "received", "duplicates", "late", "late_batch_rate"],
  data_freshness: ["last_received_at", "minutes_since_received", "summaries_through", "summary_age_minutes", "exported_through", "export_lag_minutes", "export_status", "export_error"],
};
const SECTION_KINDS = [["kpi", "KPI tiles"], ["table", "Table"], ["chart", "Chart"], ["text", "Text"]];
const AGGREGATES = [["sum", "Sum"], ["avg", "Average"], ["min", "Minimum"], ["max", "Maximum"], ["count", "Count"], ["first", "First row"]];
const VALUE_FORMATS = [["text", "Text"], ["number", "Number"], ["currency", "Currency"], ["percent", "Percent"], ["date", "Date"]];
const FORMATS = [["pdf", "PDF"], ["csv", "CSV"], ["markdown", "Markdown"], ["html", "HTML"]];
const PARAM_TYPES = [["string", "Text"], ["number", "Number"], ["date", "Date"], ["datetime", "Date and time"], ["boolean", "Yes/no"]];
const WRITABLE = ["name", "description", "enabled", "scheduled", "hold_for_review", "parameters", "sources", "sections", "formats", "page", "narrative", "deliveries", "includes"];
const PREVIEW_DELAY_MS = 600;
/** The built-in connection: SQL over the workspace's uploaded datasets. */
export const DATASETS_CONNECTION = "datasets";
export const CONNECTION_KINDS = { postgres: "PostgreSQL", mysql: "MySQL / MariaDB", athena: "Amazon Athena" };
/** How many rows "Run query" shows. */
const QUERY_ROWS_SHOWN = 20;

export async function render(ctx) {
  const id = ctx.view === "edit" ? ctx.params[0] : null;
  const [report, datasets, destinations, connections] = await Promise.all([
    id ? api.get(api.ws(`/reports/${encodeURIComponent(id)}`), { signal: ctx.signal }) : null,
    optionalList("/datasets", ctx.signal),
    optionalList("/destinations", ctx.signal),
    // Connections are workspace settings: a token that cannot read them still has `datasets`.
    api.allows("settings", "read") ? optionalList("/connections", ctx.signal, null) : null,
  ]);
  const ed = {
    ctx,
    report,
    draft: report ? draftOf(report) : newDraft(),
    code: "",
    codeTouched: false,
    autoNamed: new WeakSet(),
    hadSecret: new WeakSet(),
    open: new WeakSet(),
    datasets,
    destinations,
    connections: connections ?? [],
    connectionsListed: connections !== null,
    queries: new WeakMap(),
    queryColumns: new WeakMap(),
    errors: {},
    local: {},
    inputs: new Map(),
    json: false,
    dirty: false,
    preview: { seq: 0, controller: null, url: null, format: "pdf", params: {} },
  };
  if (!report) ed.draft.sources.forEach((s) => ed.autoNamed.add(s));
  for (const s of ed.draft.sources) if (s.header_secret) ed.hadSecret.add(s);
  ctx.setTitle(report ? `Edit ${report.name}` : "New report");

  ed.saveBtn = button("Save", () => save(ed), { kind: "primary" });
  ed.dirtyNote = h("span", { class: "muted small", role: "status" }, "");
  const leaving = (e) => {
    if (ed.dirty) e.preventDefault();
  };
  window.addEventListener("beforeunload", leaving);
  ed.formHost = h("div", { class: "editor-form" });
  ed.alertHost = h("div", { class: "editor-alerts" });
  ed.paneNode = previewPane(ed);
  ed.schedulePreview = debounce(() => refreshPreview(ed), PREVIEW_DELAY_MS);
  ctx.signal.addEventListener("abort", () => {
    ed.schedulePreview.cancel();
    ed.preview.controller?.abort();
    if (ed.preview.url) URL.revokeObjectURL(ed.preview.url);
    window.removeEventListener("beforeunload", leaving);
  });
  redraw(ed);
  refreshPreview(ed);
  const runNow = report ? runNowButton(report, { label: `Run now: ${report.name} (as saved)` }) : null;
  const header = pageHeader(report ? report.name : "New report", ed.dirtyNote, runNow, ed.saveBtn);
  ed.heading = header.querySelector("h1");

  return h(
    "section",
    { class: "editor" },
    header,
    report ? reportTabs(report.id, "editor") : null,
    ed.alertHost,
    h("div", { class: "editor-layout" }, ed.formHost, ed.paneNode),
  );
}

/** Every item of a listing the editor can do without: `fallback` when it cannot be read. */
export async function optionalList(path, signal, fallback = []) {
  try {
    return await api.listAll(api.ws(path), { signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    return fallback;
  }
}

// ---------------------------------------------------------------------------------------
// The draft: the writable fields of a report, edited in place by the form.

function newDraft() {
  return {
    name: "",
    description: "",
    enabled: true,
    scheduled: true,
    hold_for_review: false,
    parameters: [],
    sources: [{ name: "offers", type: "offer_performance", period: "7d" }],
    sections: [],
    formats: ["pdf"],
    page: { size: "a4", orientation: "portrait" },
    narrative: { enabled: true, prompt_addendum: null },
    deliveries: [],
  };
}

function draftOf(report) {
  const draft = {};
  for (const key of WRITABLE) if (report[key] !== undefined) draft[key] = structuredClone(report[key]);
  draft.description ??= "";
  draft.page ??= { size: "a4", orientation: "portrait" };
  draft.narrative ??= { enabled: true, prompt_addendum: null };
  for (const key of ["parameters", "sources", "sections", "formats", "deliveries"]) draft[key] ??= [];
  return draft;
}

/** The definition sent to the API (save and preview). */
function definition(ed) {
  const d = structuredClone(ed.draft);
  if (!d.includes?.length) delete d.includes;
  if (d.narrative && !d.narrative.prompt_addendum?.trim()) d.narrative.prompt_addendum = null;
  return d;
}

function uniqueName(list, base) {
  const taken = new Set(list.map((x) => x.name));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}${i}`)) return `${base}${i}`;
}

/** A code suggested from a name: `Weekly digest` → `weekly-digest`. */
export function suggestCode(name) {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "-")
    .replace(/^[-_]+|-+$/g, "")
    .slice(0, 64);
}

const splitList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

// ---------------------------------------------------------------------------------------
// Form plumbing: inputs registered by field path so API errors land next to them.

/** Marks the draft as changed since it was loaded or saved. */
function touch(ed, dirty = true) {
  ed.dirty = dirty;
  ed.dirtyNote.textContent = dirty ? "Unsaved changes" : "";
}

/** Called after every edit: clears the field's error and schedules the preview. */
function changed(ed, path, input) {
  if (!ed.dirty) touch(ed);
  if (ed.errors[path]) {
    delete ed.errors[path];
    setFieldError(input, null);
  }
  ed.schedulePreview();
}

function register(ed, path, el) {
  el.dataset.path = path;
  ed.inputs.set(path, el);
  return el;
}

/** A text-like input bound to `onValue`. `props.multiline` makes a <textarea>. */
function textInput(ed, path, value, onValue, { multiline = false, ...props } = {}) {
  const el = h(multiline ? "textarea" : "input", {
    type: multiline ? null : "text",
    value: value ?? "",
    ...props,
    oninput: () => {
      onValue(el.value);
      changed(ed, path, el);
    },
  });
  return register(ed, path, el);
}

function selectInput(ed, path, options, value, onValue, { redraws = false, ...props } = {}) {
  const el = select(options, value, {
    ...props,
    onchange: () => {
      onValue(el.value);
      changed(ed, path, el);
      if (redraws) redraw(ed, path);
    },
  });
  return register(ed, path, el);
}

function boolInput(ed, path, label, value, onValue, { hint } = {}) {
  const { input, node } = checkbox(label, value, {
    onchange: () => {
      onValue(input.checked);
      changed(ed, path, input);
    },
  });
  register(ed, path, input);
  return hint ? h("div", {}, node, h("p", { class: "hint" }, hint)) : node;
}

/** A labelled field whose error comes from the last save. */
function labelled(ed, label, input, { hint, className } = {}) {
  return field(label, input, { hint, className, error: ed.errors[input.dataset.path] });
}

/** A group (fieldset) that receives errors about the whole list at `path`. */
function group(ed, path, legend, ...children) {
  const set = h("fieldset", { id: `group-${path.replace(/[^a-z0-9]+/gi, "-")}`, class: "editor-group" });
  const error = ed.errors[path];
  set.append(
    h("legend", {}, legend),
    h("p", { class: "field-error", id: `${set.id}-error`, hidden: !error }, error ?? ""),
  );
  if (error) set.setAttribute("aria-invalid", "true");
  for (const child of children.flat()) if (child) set.append(child);
  register(ed, path, set);
  return set;
}

/** Rebuilds the form from the draft, keeping focus on the element at `focusPath`. */
function redraw(ed, focusPath) {
  const active = focusPath ?? document.activeElement?.dataset?.path;
  ed.inputs = new Map();
  replace(ed.formHost, ed.json ? jsonEditor(ed) : formSections(ed));
  previewParams(ed);
  if (active) {
    const target = ed.formHost.querySelector(`[data-path="${CSS.escape(active)}"]`);
    if (target && !target.disabled) target.focus();
  }
}

/** Up, down and remove buttons of one item of `list` at `path`. */
function itemActions(ed, list, index, path, label, { onRemove } = {}) {
  const move = (to, key) => () => {
    const [item] = list.splice(index, 1);
    list.splice(to, 0, item);
    touch(ed);
    ed.schedulePreview();
    const newPath = path.replace(/\[\d+\]$/, `[${to}]`);
    const still = (to === 0 && key === "up") || (to === list.length - 1 && key === "down");
    redraw(ed, `${newPath}:${still ? (key === "up" ? "down" : "up") : key}`);
  };
  const up = button("Move up", move(index - 1, "up"), { disabled: index === 0, "aria-label": `Move up: ${label}` });
  const down = button("Move down", move(index + 1, "down"), { disabled: index === list.length - 1, "aria-label": `Move down: ${label}` });
  const remove = button("Remove", () => {
    list.splice(index, 1);
    onRemove?.();
    touch(ed);
    ed.schedulePreview();
    redraw(ed, `${path.replace(/\[\d+\]$/, "")}:add`);
  }, { kind: "danger-link", "aria-label": `Remove ${label}` });
  up.dataset.path = `${path}:up`;
  down.dataset.path = `${path}:down`;
  return h("div", { class: "actions editor-item-actions" }, up, down, remove);
}

function addButton(ed, listPath, label, onAdd) {
  const btn = button(label, () => {
    const focus = onAdd();
    touch(ed);
    ed.schedulePreview();
    redraw(ed, focus);
  });
  btn.dataset.path = `${listPath}:add`;
  return btn;
}

// ---------------------------------------------------------------------------------------
// The form.

function formSections(ed) {
  const jsonToggle = button("Edit as JSON", () => {
    ed.json = true;
    redraw(ed, "json");
  }, { "aria-pressed": "false" });
  jsonToggle.dataset.path = "json-toggle";
  return h(
    "div",
    { class: "stack" },
    h("div", { class: "editor-toolbar" }, jsonToggle),
    detailsSection(ed),
    composeSection(ed),
    formatSection(ed),
    parametersSection(ed),
    deliveriesSection(ed),
    columnLists(ed),
  );
}

function detailsSection(ed) {
  const d = ed.draft;
  const name = textInput(ed, "name", d.name, (v) => {
    d.name = v;
    if (!ed.report && !ed.codeTouched) {
      ed.code = suggestCode(v);
      code.value = ed.code;
    }
  }, { required: true, autocomplete: "off" });
  const code = ed.report ? null : textInput(ed, "code", ed.code, (v) => {
    ed.code = v;
    ed.codeTouched = v !== "";
  }, { required: true, autocomplete: "off", spellcheck: "false" });
  return h(
    "section",
    { class: "card", "aria-labelledby": "ed-details" },
    h("h2", { id: "ed-details" }, "Details"),
    h(
      "div",
      { class: "grid-2" },
      labelled(ed, "Name", name),
      code
        ? labelled(ed, "Code", code, { hint: "Lowercase letters, digits, - and _. Suggested from the name; it cannot change later." })
        : h("div", { class: "field" }, h("span", { class: "legend" }, "Code"), h("code", {}, ed.report.code)),
    ),
    labelled(ed, "Description", textInput(ed, "description", d.description, (v) => (d.description = v), { multiline: true, rows: 2 })),
    boolInput(ed, "enabled", "Enabled (its schedules fire)", d.enabled, (v) => (d.enabled = v)),
    boolInput(ed, "scheduled", "Enable scheduled generation", d.scheduled !== false, (v) => (d.scheduled = v), {
      hint: "Off: manual-only (Run now, the API). On: it runs on the schedules of its Schedule tab.",
    }),
    boolInput(ed, "hold_for_review", "Hold for review", d.hold_for_review, (v) => (d.hold_for_review = v), {
      hint: "Each entry waits for approval before anything is delivered. With scheduled generation on too, reports are generated automatically but not sent.",
    }),
  );
}

function composeSection(ed) {
  const d = ed.draft;
  return h(
    "section",
    { class: "card", "aria-labelledby": "ed-compose" },
    h("h2", { id: "ed-compose" }, "Compose"),
    group(
      ed,
      "sources",
      "Data sources",
      d.sources.length ? null : h("p", { class: "muted" }, "No data sources yet: add one to give the sections rows."),
      d.sources.map((s, i) => sourceItem(ed, s, i)),
      h("div", { class: "actions" }, addButton(ed, "sources", "Add source", () => addSource(ed))),
    ),
    group(
      ed,
      "sections",
      "Sections",
      d.sections.length
        ? null
        : h("p", { class: "muted" }, "No sections: the report shows one table per source. Add sections to choose KPI tiles, tables, charts and text."),
      d.sections.length ? h("p", { class: "hint" }, "Open a section to change it.") : null,
      d.sections.map((s, i) => sectionItem(ed, s, i)),
      h("div", { class: "actions" }, addButton(ed, "sections", "Add section", () => {
        d.sections.push(sectionDefaults("table", { source: d.sources[0]?.name ?? "" }));
        ed.open.add(d.sections.at(-1));
        return `sections[${d.sections.length - 1}].type`;
      })),
    ),
  );
}

function addSource(ed) {
  const used = new Set(ed.draft.sources.map((s) => s.type));
  const type = ["offer_performance", "channel_effectiveness"].find((t) => !used.has(t)) ?? "dataset";
  const source = { name: uniqueName(ed.draft.sources, SOURCE_NAMES[type]), ...sourceDefaults(ed, type) };
  ed.draft.sources.push(source);
  ed.autoNamed.add(source);
  return `sources[${ed.draft.sources.length - 1}].type`;
}

function sourceDefaults(ed, type) {
  switch (type) {
    case "dataset":
      return { type, dataset: ed.datasets[0]?.code ?? "" };
    case "http":
      return { type, url: "" };
    case "inline":
      return { type, rows: [] };
    case "sql":
      return { type, connection: DATASETS_CONNECTION, query: `SELECT * FROM ${(ed.datasets[0]?.code ?? "customers").replaceAll("-", "_")}` };
    case "data_freshness":
      return { type };
    default:
      return { type, period: "7d" };
  }
}

function sourceItem(ed, s, i) {
  const p = `sources[${i}]`;
  const sources = ed.draft.sources;
  const label = `source ${s.name || i + 1}`;
  const name = textInput(ed, `${p}.name`, s.name, (v) => {
    for (const section of ed.draft.sections) if (section.source === s.name) section.source = v;
    s.name = v;
    ed.autoNamed.delete(s);
  }, { autocomplete: "off", spellcheck: "false" });
  name.addEventListener("change", () => redraw(ed));
  const kind = selectInput(ed, `${p}.type`, SOURCE_KINDS, s.type, (type) => {
    const old = s.name;
    for (const key of Object.keys(s)) if (!["name", "role"].includes(key)) delete s[key];
    Object.assign(s, sourceDefaults(ed, type));
    if (ed.autoNamed.has(s)) {
      s.name = uniqueName(sources.filter((o) => o !== s), SOURCE_NAMES[type]);
      for (const section of ed.draft.sections) if (section.source === old) section.source = s.name;
    }
  }, { redraws: true });
  const repeating = boolInput(ed, `${p}.role`, "Repeating: one entry per row (bursting)", s.role === "repeating", (on) => {
    if (on) for (const other of sources) if (other !== s && other.role === "repeating") other.role = "shared";
    s.role = on ? "repeating" : "shared";
    redraw(ed, `${p}.role`);
  }, { hint: "Each row makes its own document and delivery; at most one source repeats." });
  return h(
    "fieldset",
    { class: "editor-item" },
    h("legend", {}, `Source ${i + 1}`),
    h("div", { class: "grid-2" }, labelled(ed, "Source name", name, { hint: "Sections and templates refer to it: {name.column}." }), labelled(ed, "Kind", kind)),
    sourceFields(ed, s, p),
    repeating,
    itemActions(ed, sources, i, p, label, {
      onRemove: () => {
        for (const section of ed.draft.sections) if (section.source === s.name) section.source = sources[0]?.name ?? "";
      },
    }),
  );
}

function sourceFields(ed, s, p) {
  switch (s.type) {
    case "offer_performance":
    case "channel_effectiveness":
      return periodFields(ed, s, p, "Compared with the period before it. Periods of days end with yesterday, the last complete day.",
        { hint: "A run in the morning then compares a few hours against whole days." });
    case "ingest_health":
      return periodFields(ed, s, p, "One row per day, in the run's timezone. Periods of days end with yesterday unless today is included.");
    case "data_freshness":
      return h("p", { class: "muted" }, "One row: when data last arrived, how old the summaries are, and how far the export is behind.");
    case "dataset":
      return datasetFields(ed, s, p);
    case "http":
      return httpFields(ed, s, p);
    case "inline":
      return inlineFields(ed, s, p);
    case "sql":
      return sqlFields(ed, s, p);
    default:
      return h("p", { class: "muted" }, `Kind ${s.type}: edit it as JSON.`);
  }
}

/** A periodic source's period and its "include today" switch. */
function periodFields(ed, s, p, periodHint, todayOptions = {}) {
  return h(
    "div",
    {},
    labelled(ed, "Period", selectInput(ed, `${p}.period`, PERIODS, s.period ?? "7d", (v) => (s.period = v)), { hint: periodHint }),
    boolInput(ed, `${p}.include_today`, "Include today so far", s.include_today === true, (v) => {
      if (v) s.include_today = true;
      else delete s.include_today;
    }, todayOptions),
  );
}

function datasetFields(ed, s, p) {
  const codes = ed.datasets.map((d) => [d.code, `${d.code} (${d.row_count} rows)`]);
  const known = codes.some(([c]) => c === s.dataset);
  const dataset = codes.length && (known || !s.dataset)
    ? selectInput(ed, `${p}.dataset`, codes, s.dataset, (v) => (s.dataset = v), { redraws: true })
    : textInput(ed, `${p}.dataset`, s.dataset, (v) => (s.dataset = v), { spellcheck: "false" });
  const filterText = Object.entries(s.filter ?? {}).map(([k, v]) => `${k} = ${v}`).join("\n");
  const filter = textInput(ed, `${p}.filter`, filterText, (text) => {
    const out = {};
    let bad = null;
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const at = line.indexOf("=");
      if (at < 1) bad = `“${line.trim()}” is not column = value`;
      else out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    localError(ed, `${p}.filter`, filter, bad);
    if (Object.keys(out).length) s.filter = out;
    else delete s.filter;
  }, { multiline: true, rows: 2, spellcheck: "false" });
  return h(
    "div",
    {},
    labelled(ed, "Dataset", dataset, codes.length ? {} : { hint: "The code of an uploaded dataset (none uploaded yet)." }),
    labelled(ed, "Only rows where", filter, { hint: "One per line: column = value; {param} fills in a parameter." }),
  );
}

function httpFields(ed, s, p) {
  const num = (key) => (v) => {
    if (v.trim() === "") delete s[key];
    else s[key] = Number.isFinite(Number(v)) ? Number(v) : v;
  };
  const secret = textInput(ed, `${p}.header_secret`, "", (v) => {
    if (v) s.header_secret = v;
    else if (ed.hadSecret.has(s)) s.header_secret = "********";
    else delete s.header_secret;
  }, { type: "password", autocomplete: "new-password", placeholder: s.header_secret ? "unchanged" : "" });
  return h(
    "div",
    {},
    labelled(ed, "URL", textInput(ed, `${p}.url`, s.url, (v) => (s.url = v), { type: "url", spellcheck: "false", placeholder: "https://…" }), {
      hint: "Answers JSON: an array of objects, or an object. {param} fills in a parameter.",
    }),
    h(
      "div",
      { class: "grid-2" },
      labelled(ed, "Header name", textInput(ed, `${p}.header_name`, s.header_name, (v) => (s.header_name = v.trim() || null), { spellcheck: "false", placeholder: "Authorization" })),
      labelled(ed, "Header value (secret)", secret, { hint: s.header_secret ? "Kept unless you type a new one." : "Write-only." }),
      labelled(ed, "Timeout (ms)", textInput(ed, `${p}.timeout_ms`, s.timeout_ms, num("timeout_ms"), { type: "number", min: 100, max: 60000, placeholder: "10000" })),
      labelled(ed, "Largest answer (bytes)", textInput(ed, `${p}.max_bytes`, s.max_bytes, num("max_bytes"), { type: "number", min: 1, placeholder: "5242880" })),
    ),
  );
}

function inlineFields(ed, s, p) {
  const rows = textInput(ed, `${p}.rows`, JSON.stringify(s.rows ?? [], null, 2), (text) => {
    let parsed;
    try {
      parsed = JSON.parse(text || "[]");
    } catch (e) {
      return localError(ed, `${p}.rows`, rows, `Not valid JSON: ${e.message}`);
    }
    if (!Array.isArray(parsed) || parsed.some((r) => !r || typeof r !== "object" || Array.isArray(r))) {
      return localError(ed, `${p}.rows`, rows, "Must be an array of objects, one per row");
    }
    localError(ed, `${p}.rows`, rows, null);
    s.rows = parsed;
  }, { multiline: true, class: "code", spellcheck: "false" });
  return labelled(ed, "Rows (JSON)", rows, { hint: 'An array of objects, e.g. [{"region": "north", "sales": 12}].' });
}

function sqlFields(ed, s, p) {
  const builtIn = s.connection === DATASETS_CONNECTION;
  const choices = [
    [DATASETS_CONNECTION, "Uploaded datasets (built-in)"],
    ...ed.connections.map((c) => [c.name, `${c.name} (${CONNECTION_KINDS[c.kind] ?? c.kind})`]),
  ];
  if (!choices.some(([v]) => v === s.connection)) {
    // Named by id, deleted, or not listed for this token: still shown as it is.
    const byId = ed.connections.find((c) => c.id === s.connection);
    const label = byId
      ? `${byId.name} (by id)`
      : !s.connection
        ? "Pick a connection"
        : ed.connectionsListed
          ? `${s.connection} (not found)`
          : s.connection;
    choices.push([s.connection ?? "", label]);
  }
  const connection = selectInput(ed, `${p}.connection`, choices, s.connection, (v) => {
    s.connection = v;
    ed.queries.delete(s);
  }, { redraws: true });
  const query = textInput(ed, `${p}.query`, s.query ?? "", (v) => (s.query = v), { multiline: true, class: "code", spellcheck: "false" });
  const tables = ed.datasets.map((d) => d.code.replaceAll("-", "_")).join(", ");
  const where = builtIn
    ? `One read-only statement over your datasets as tables${tables ? ` (${tables})` : ""}.`
    : "One read-only statement in the database's own SQL.";
  const connectionHint = !ed.connectionsListed
    ? "Your token cannot list the workspace's connections: only the built-in one is offered."
    : ed.connections.length
      ? "Datasets you uploaded, or a database of the workspace."
      : h("span", {}, "Only the uploaded datasets so far: admins add databases under ", h("a", { href: "#/connections" }, "Connections"), ".");

  // The last run's result, kept across redraws of the form.
  let run = ed.queries.get(s);
  if (!run) {
    run = { host: h("div", { class: "editor-query-result" }) };
    ed.queries.set(s, run);
  }
  const runButton = button("Run query", () => busy(runButton, () => runQuery(ed, s, query, run)), {
    "aria-label": `Run query of source ${s.name || "without a name"}`,
  });
  runButton.dataset.path = `${p}.query:run`;
  return h(
    "div",
    {},
    labelled(ed, "Connection", connection, { hint: connectionHint }),
    labelled(ed, "SQL query", query, {
      hint: `${where} {name} is a parameter, bound as a value; [[ … ]] drops out when a parameter in it has no value.`,
    }),
    h("div", { class: "actions editor-query-actions" }, runButton,
      h("span", { class: "muted small" }, `Shows the first ${QUERY_ROWS_SHOWN} rows, with the preview's parameter values.`)),
    run.host,
  );
}

/**
 * Runs the query of SQL source `s` on its connection with the parameter values the preview
 * uses and shows the first rows (or the database's refusal) under the query box.
 */
async function runQuery(ed, s, queryInput, run) {
  const { host } = run;
  if (!s.query?.trim()) {
    replace(host, h("p", { class: "callout bad editor-query-error", role: "alert" }, "Write a query first."));
    return queryInput.focus();
  }
  if (!s.connection) {
    replace(host, h("p", { class: "callout bad editor-query-error", role: "alert" }, "Pick a connection first."));
    return;
  }
  replace(host, h("p", { class: "muted small", role: "status" }, "Running…"));
  try {
    const answer = await api.post(
      api.ws(`/connections/${encodeURIComponent(s.connection)}/query`),
      { query: s.query, parameters: previewValues(ed, { defaults: true }), limit: QUERY_ROWS_SHOWN },
      { signal: ed.ctx.signal },
    );
    ed.queryColumns.set(s, answer.columns.map((c) => c.name));
    updateColumnList(ed, s);
    replace(host, queryResult(s, answer));
  } catch (e) {
    if (e.name === "AbortError") return;
    const refusal = e instanceof ApiError ? e.details?.errors?.find((x) => x.field === "query")?.message : null;
    const other = problemsOf(e).map((pr) => (pr.field ? `${describe(pr.field)}: ${pr.message}` : pr.message));
    replace(
      host,
      h(
        "div",
        { class: "callout bad editor-query-error", role: "alert" },
        h("p", { class: "strong" }, "The query did not run:"),
        refusal
          ? h("pre", {}, refusal.replace(/^the query: /, ""))
          : h("p", {}, other.length ? other.join("; ") : e.message),
      ),
    );
  }
}

function queryResult(s, answer) {
  const { columns, rows, row_count: count, elapsed_ms: ms } = answer;
  const shown = rows.length;
  const line = `${count} ${count === 1 ? "row" : "rows"} in ${ms} ms${shown < count ? `; the first ${shown} shown` : ""}.`;
  const cell = (value) => {
    if (value === null || value === undefined) return h("span", { class: "null" }, "null");
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  };
  let grid = null;
  if (columns.length) {
    grid = table(
      columns.map((c, i) => ({
        label: h("span", {}, c.name, h("span", { class: "col-type muted small" }, c.type)),
        cell: (row) => cell(row[i]),
      })),
      rows,
      { caption: `First rows of source ${s.name}` },
    );
    // It scrolls both ways: the keyboard can reach it too.
    grid.setAttribute("tabindex", "0");
    grid.setAttribute("role", "region");
    grid.setAttribute("aria-label", `Query result of source ${s.name}`);
  }
  return h(
    "div",
    {},
    h("p", { class: "small", role: "status" }, line),
    grid ?? h("p", { class: "muted small" }, "The query returned no columns."),
  );
}

/** Refreshes the column suggestions of `s` (its datalist) in place. */
function updateColumnList(ed, s) {
  const list = ed.formHost.querySelector(`datalist[id="${CSS.escape(`cols-${s.name}`)}"]`);
  if (list) replace(list, columnsOf(ed, s).map((c) => h("option", { value: c })));
}

/** A problem found in the browser (unparseable JSON…): blocks saving and previewing. */
function localError(ed, path, input, message) {
  if (message) ed.local[path] = message;
  else delete ed.local[path];
  setFieldError(input, message);
}

function sectionDefaults(type, { title = null, source = "" } = {}) {
  switch (type) {
    case "kpi":
      return { title, type, source, tiles: [{ label: "Rows", column: "", aggregate: "count", format: { kind: "number" } }] };
    case "chart":
      return { title, type, source, chart: "bar", x: "", y: [] };
    case "text":
      return { title, type, markdown: "" };
    default:
      return { title, type: "table", source, columns: [], totals: false };
  }
}

function sectionItem(ed, s, i) {
  const p = `sections[${i}]`;
  const sections = ed.draft.sections;
  const kindLabel = SECTION_KINDS.find(([k]) => k === s.type)?.[1] ?? s.type;
  const label = `section ${i + 1} (${s.title || kindLabel})`;
  const kind = selectInput(ed, `${p}.type`, SECTION_KINDS, s.type, (type) => {
    sections[i] = sectionDefaults(type, { title: s.title, source: s.source ?? ed.draft.sources[0]?.name ?? "" });
    ed.open.add(sections[i]);
  }, { redraws: true });
  const title = textInput(ed, `${p}.title`, s.title, (v) => (s.title = v.trim() ? v : null), {
    placeholder: s.type === "text" ? "" : "The source's name",
  });
  const sourceNames = ed.draft.sources.map((x) => [x.name, x.name]);
  if (s.source !== undefined && !sourceNames.some(([n]) => n === s.source)) sourceNames.unshift([s.source, s.source ? `${s.source} (missing)` : "Pick a source"]);
  const source = s.type === "text" ? null : selectInput(ed, `${p}.source`, sourceNames, s.source, (v) => (s.source = v), { redraws: true });
  const heading = `Section ${i + 1}: ${kindLabel}${s.title ? ` — ${s.title}` : ""}${s.source ? ` (${s.source})` : ""}`;
  const open = ed.open.has(s) || Object.keys(ed.errors).some((k) => k.startsWith(`${p}.`));
  const details = h(
    "details",
    { class: "editor-item", open },
    h("summary", {}, heading),
    h(
      "div",
      { role: "group", "aria-label": `Section ${i + 1}` },
      h("div", { class: "grid-2" }, labelled(ed, "Section type", kind), labelled(ed, "Title", title)),
      source ? labelled(ed, "Source", source) : null,
      sectionFields(ed, s, p),
      itemActions(ed, sections, i, p, label),
    ),
  );
  details.addEventListener("toggle", () => (details.open ? ed.open.add(s) : ed.open.delete(s)));
  return details;
}

function sectionFields(ed, s, p) {
  const list = s.source ? `cols-${s.source}` : null;
  switch (s.type) {
    case "kpi":
      return kpiFields(ed, s, p, list);
    case "table":
      return tableFields(ed, s, p, list);
    case "chart":
      return h(
        "div",
        { class: "grid-2" },
        labelled(ed, "Chart", selectInput(ed, `${p}.chart`, [["bar", "Bar"], ["line", "Line"]], s.chart, (v) => (s.chart = v))),
        labelled(ed, "X axis column", textInput(ed, `${p}.x`, s.x, (v) => (s.x = v.trim()), { list, spellcheck: "false" })),
        labelled(ed, "Y values (columns, comma-separated)", textInput(ed, `${p}.y`, (s.y ?? []).join(", "), (v) => (s.y = splitList(v)), { spellcheck: "false" }), {
          className: "span-2",
        }),
      );
    case "text":
      return labelled(ed, "Text (Markdown)", textInput(ed, `${p}.markdown`, s.markdown, (v) => (s.markdown = v), { multiline: true, rows: 4 }), {
        hint: "{param}, {source.column} and {run.date} are filled in.",
      });
    default:
      return null;
  }
}

function kpiFields(ed, s, p, list) {
  s.tiles ??= [];
  return group(
    ed,
    `${p}.tiles`,
    "KPI tiles",
    s.tiles.map((t, j) => {
      const tp = `${p}.tiles[${j}]`;
      return h(
        "div",
        { class: "editor-subitem" },
        h(
          "div",
          { class: "row" },
          labelled(ed, `Tile ${j + 1} label`, textInput(ed, `${tp}.label`, t.label, (v) => (t.label = v))),
          labelled(ed, "Column", textInput(ed, `${tp}.column`, t.column, (v) => (t.column = v.trim()), { list, spellcheck: "false" })),
          labelled(ed, "Aggregate", selectInput(ed, `${tp}.aggregate`, AGGREGATES, t.aggregate ?? "sum", (v) => (t.aggregate = v))),
          formatFields(ed, t, tp),
        ),
        itemActions(ed, s.tiles, j, tp, `tile ${t.label || j + 1}`),
      );
    }),
    h("div", { class: "actions" }, addButton(ed, `${p}.tiles`, "Add tile", () => {
      s.tiles.push({ label: "", column: "", aggregate: "sum", format: { kind: "number" } });
      return `${p}.tiles[${s.tiles.length - 1}].label`;
    })),
  );
}

function tableFields(ed, s, p, list) {
  s.columns ??= [];
  return h(
    "div",
    {},
    group(
      ed,
      `${p}.columns`,
      "Columns",
      s.columns.length ? null : h("p", { class: "muted small" }, "No columns chosen: every column of the source is shown."),
      s.columns.map((c, j) => {
        const cp = `${p}.columns[${j}]`;
        return h(
          "div",
          { class: "editor-subitem" },
          h(
            "div",
            { class: "row" },
            labelled(ed, `Column ${j + 1}`, textInput(ed, `${cp}.key`, c.key, (v) => (c.key = v.trim()), { list, spellcheck: "false" })),
            labelled(ed, "Heading", textInput(ed, `${cp}.label`, c.label, (v) => (c.label = v.trim() ? v : null), { placeholder: "From the column" })),
            formatFields(ed, c, cp),
          ),
          itemActions(ed, s.columns, j, cp, `column ${c.key || j + 1}`),
        );
      }),
      h("div", { class: "actions" }, addButton(ed, `${p}.columns`, "Add column", () => {
        s.columns.push({ key: "", label: null, format: { kind: "text" } });
        return `${p}.columns[${s.columns.length - 1}].key`;
      })),
    ),
    h(
      "div",
      { class: "row" },
      labelled(ed, "Sort by column", textInput(ed, `${p}.sort`, s.sort?.column, (v) => {
        s.sort = v.trim() ? { column: v.trim(), descending: s.sort?.descending ?? false } : null;
      }, { list, spellcheck: "false", placeholder: "Source order" })),
      boolInput(ed, `${p}.sort.descending`, "Largest first", s.sort?.descending ?? false, (v) => {
        if (s.sort) s.sort.descending = v;
      }),
      boolInput(ed, `${p}.totals`, "Totals row", s.totals ?? false, (v) => (s.totals = v)),
    ),
  );
}

/** How a tile or column shows its values: kind plus decimals or currency code. */
function formatFields(ed, owner, p) {
  owner.format ??= { kind: "text" };
  const f = owner.format;
  const kind = selectInput(ed, `${p}.format`, VALUE_FORMATS, f.kind, (k) => {
    owner.format = k === "currency" ? { kind: k, code: "USD" } : k === "number" ? { kind: k, decimals: 0 } : k === "percent" ? { kind: k, decimals: 1 } : { kind: k };
  }, { redraws: true });
  const extra =
    f.kind === "currency"
      ? labelled(ed, "Currency", textInput(ed, `${p}.format.code`, f.code, (v) => (f.code = v.trim().toUpperCase()), { maxlength: 3, size: 4 }))
      : f.kind === "number" || f.kind === "percent"
        ? labelled(ed, "Decimals", textInput(ed, `${p}.format.decimals`, f.decimals, (v) => (f.decimals = v === "" ? 0 : Number(v)), { type: "number", min: 0, max: 6 }))
        : null;
  return [labelled(ed, "Format", kind), extra];
}

/** Suggestions for column inputs: the known columns of each source. */
function columnLists(ed) {
  return ed.draft.sources.map((s) => h("datalist", { id: `cols-${s.name}` }, columnsOf(ed, s).map((c) => h("option", { value: c }))));
}

/** The columns a source is known to have (an SQL source's: those of its last "Run query"). */
function columnsOf(ed, s) {
  if (s.type === "dataset") return (ed.datasets.find((d) => d.code === s.dataset)?.columns ?? []).map((c) => c.name ?? c);
  if (s.type === "inline") return Object.keys(s.rows?.[0] ?? {});
  if (s.type === "sql") return ed.queryColumns.get(s) ?? [];
  return KNOWN_COLUMNS[s.type] ?? [];
}

function formatSection(ed) {
  const d = ed.draft;
  const boxes = FORMATS.map(([value, label]) =>
    boolInput(ed, `formats.${value}`, label, d.formats.includes(value), (on) => {
      const wanted = new Set(d.formats);
      if (on) wanted.add(value);
      else wanted.delete(value);
      d.formats = FORMATS.map(([v]) => v).filter((v) => wanted.has(v));
      const box = ed.inputs.get("formats");
      if (ed.errors.formats && box) changed(ed, "formats", box);
    }),
  );
  return h(
    "section",
    { class: "card", "aria-labelledby": "ed-format" },
    h("h2", { id: "ed-format" }, "Format & narrative"),
    group(ed, "formats", "Formats", h("div", { class: "editor-checks" }, boxes)),
    h(
      "div",
      { class: "grid-2" },
      labelled(ed, "Paper size", selectInput(ed, "page.size", [["a4", "A4"], ["letter", "Letter"]], d.page.size, (v) => (d.page.size = v))),
      labelled(ed, "Orientation", selectInput(ed, "page.orientation", [["portrait", "Portrait"], ["landscape", "Landscape"]], d.page.orientation, (v) => (d.page.orientation = v))),
    ),
    boolInput(ed, "narrative.enabled", "Enable AI narrative", d.narrative.enabled, (v) => {
      d.narrative.enabled = v;
      redraw(ed, "narrative.enabled");
    }, { hint: "An executive summary and key takeaways, checked against the figures." }),
    d.narrative.enabled
      ? labelled(ed, "Prompt addendum", textInput(ed, "narrative.prompt_addendum", d.narrative.prompt_addendum, (v) => (d.narrative.prompt_addendum = v), {
        multiline: true,
        rows: 2,
        maxlength: 2000,
        placeholder: "Flag any offer with >15% week-over-week drop.",
      }), { hint: "Extra instructions for the narrator (at most 2000 characters)." })
      : null,
  );
}

function parametersSection(ed) {
  const params = ed.draft.parameters;
  return h(
    "section",
    { class: "card", "aria-labelledby": "ed-params" },
    h("h2", { id: "ed-params" }, "Parameters"),
    group(
      ed,
      "parameters",
      "Typed inputs of each run",
      params.length ? null : h("p", { class: "muted" }, "No parameters: runs take no inputs. Add one to use {name} in sources and text."),
      params.map((prm, i) => parameterItem(ed, prm, i)),
      h("div", { class: "actions" }, addButton(ed, "parameters", "Add parameter", () => {
        params.push({ name: uniqueName(params, "param"), type: "string", required: false, default: null });
        return `parameters[${params.length - 1}].name`;
      })),
    ),
  );
}

function parameterItem(ed, prm, i) {
  const p = `parameters[${i}]`;
  const setDefault = (v) => {
    if (v === "") prm.default = null;
    else if (prm.type === "number") prm.default = Number.isFinite(Number(v)) && v.trim() !== "" ? Number(v) : v;
    else if (prm.type === "boolean") prm.default = v === "true";
    else prm.default = v;
  };
  const current = prm.default === null || prm.default === undefined ? "" : String(prm.default);
  const def =
    prm.type === "date" || prm.type === "datetime"
      ? dateDefault(ed, p, prm)
      : labelled(ed, "Default", prm.type === "boolean"
        ? selectInput(ed, `${p}.default`, [["", "No default"], ["true", "Yes"], ["false", "No"]], current, setDefault)
        : textInput(ed, `${p}.default`, current, setDefault, { inputmode: prm.type === "number" ? "decimal" : null }));
  return h(
    "fieldset",
    { class: "editor-item" },
    h("legend", {}, `Parameter ${i + 1}`),
    h(
      "div",
      { class: "grid-2" },
      labelled(ed, "Parameter name", textInput(ed, `${p}.name`, prm.name, (v) => (prm.name = v), { spellcheck: "false" })),
      labelled(ed, "Type", selectInput(ed, `${p}.type`, PARAM_TYPES, prm.type, (v) => {
        prm.type = v;
        prm.default = null;
      }, { redraws: true })),
      def,
      labelled(ed, "From the repeating row's column", textInput(ed, `${p}.from_row`, prm.from_row, (v) => {
        if (v.trim()) prm.from_row = v.trim();
        else delete prm.from_row;
      }, { spellcheck: "false" }), { hint: "Each entry takes its value from this column." }),
    ),
    labelled(ed, "Parameter description", textInput(ed, `${p}.description`, prm.description, (v) => (prm.description = v.trim() ? v : null))),
    boolInput(ed, `${p}.required`, "Required (a run without a value fails)", prm.required, (v) => (prm.required = v)),
    itemActions(ed, ed.draft.parameters, i, p, `parameter ${prm.name || i + 1}`),
  );
}

/**
 * A date or datetime parameter's default: none, a fixed value, N days ago, or a rule worked
 * out at each run (shown with the value it would take now in the workspace's timezone).
 */
function dateDefault(ed, p, prm) {
  const timed = prm.type === "datetime";
  const value = prm.default ?? "";
  const kind = value === "" ? "" : daysAgo(value) !== null ? "days_ago" : isDerived(value) ? value : "fixed";
  const kinds = [["", "No default"], ["fixed", timed ? "A fixed date and time" : "A fixed date"], ...derivedRules(prm.type), ["days_ago", timed ? "N days ago (its start)" : "N days ago"]];
  const zone = workspaceZone();
  const picker = selectInput(ed, `${p}.default`, kinds, kind, (v) => {
    if (v === "") prm.default = null;
    else if (v === "fixed") prm.default = derivedValue(prm.type, timed ? "start_of_day" : "today", new Date(), zone);
    else if (v === "days_ago") prm.default = "7_days_ago";
    else prm.default = v;
  }, { redraws: true });
  const fixedInput = timed
    ? { type: isWallClock(value) ? "datetime-local" : "text", step: "1", "aria-label": "Default date and time" }
    : { type: "date", "aria-label": "Default date" };
  const detail =
    kind === "fixed"
      ? textInput(ed, `${p}.default`, value, (v) => (prm.default = v || null), fixedInput)
      : kind === "days_ago"
        ? textInput(ed, `${p}.default`, String(daysAgo(value)), (v) => (prm.default = `${v.trim()}_days_ago`), { inputmode: "numeric", "aria-label": "Days ago" })
        : null;
  const now = kind && kind !== "fixed" ? derivedValue(prm.type, value, new Date(), zone) : null;
  const hint = now
    ? `${now.replace("T", " ")} if run now (${zone}, the workspace's timezone); a scheduled run works it out at its slot in the schedule's timezone.`
    : timed && kind === "fixed" ? "Read in the run's timezone; an RFC 3339 value with an offset is one instant everywhere." : null;
  return h("div", {}, labelled(ed, "Default", picker, { hint }), detail);
}

function deliveriesSection(ed) {
  const list = ed.draft.deliveries;
  const dests = ed.destinations.map((d) => [d.id, `${d.name} (${d.type})`]);
  return h(
    "section",
    { class: "card", "aria-labelledby": "ed-deliveries" },
    h("h2", { id: "ed-deliveries" }, "Deliveries"),
    group(
      ed,
      "deliveries",
      "Where each entry goes",
      list.length ? null : h("p", { class: "muted" }, "No deliveries: runs keep their files for download only."),
      list.map((dl, i) => deliveryItem(ed, dl, i, dests)),
      dests.length
        ? h("div", { class: "actions" }, addButton(ed, "deliveries", "Add delivery", () => {
          list.push({ destination_id: dests[0][0], to: [], cc: [], bcc: [], subject: null, message: null, naming_pattern: null, condition: null });
          return `deliveries[${list.length - 1}].destination_id`;
        }))
        : h("p", {}, "No destinations yet. ", h("a", { href: "#/destinations" }, "Add a destination"), " to deliver reports."),
    ),
  );
}

function deliveryItem(ed, dl, i, dests) {
  const p = `deliveries[${i}]`;
  const options = dests.some(([id]) => id === dl.destination_id) ? dests : [[dl.destination_id, `${dl.destination_id} (missing)`], ...dests];
  const text = (key, label, opts = {}) =>
    labelled(ed, label, textInput(ed, `${p}.${key}`, dl[key], (v) => (dl[key] = v.trim() ? v : null), opts.input), opts.field);
  const addresses = (key, label) =>
    labelled(ed, label, textInput(ed, `${p}.${key}`, (dl[key] ?? []).join(", "), (v) => (dl[key] = splitList(v)), { spellcheck: "false" }));
  return h(
    "fieldset",
    { class: "editor-item" },
    h("legend", {}, `Delivery ${i + 1}`),
    labelled(ed, "Destination", selectInput(ed, `${p}.destination_id`, options, dl.destination_id, (v) => (dl.destination_id = v))),
    h("div", { class: "grid-2" }, addresses("to", "To (comma-separated)"), addresses("cc", "Cc"), addresses("bcc", "Bcc"), text("subject", "Subject")),
    text("message", "Message", { input: { multiline: true, rows: 2 } }),
    h(
      "div",
      { class: "grid-2" },
      text("naming_pattern", "File name pattern", { input: { spellcheck: "false", placeholder: "{customers.id}-{run.date}" } }),
      text("condition", "Only when", { input: { spellcheck: "false", placeholder: '{customers.email} != null' }, field: { hint: "Empty: always." } }),
    ),
    itemActions(ed, ed.draft.deliveries, i, p, `delivery ${i + 1}`),
  );
}

function jsonEditor(ed) {
  const area = textInput(ed, "json", JSON.stringify(definition(ed), null, 2), (text) => {
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return localError(ed, "json", area, `Not valid JSON: ${e.message}`);
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return localError(ed, "json", area, "Must be a JSON object");
    localError(ed, "json", area, null);
    ed.draft = draftOf(parsed);
  }, { multiline: true, class: "code editor-json", spellcheck: "false" });
  const back = button("Edit with the form", () => {
    if (ed.local.json) return area.focus();
    ed.json = false;
    redraw(ed, "json-toggle");
  }, { "aria-pressed": "true" });
  back.dataset.path = "json-toggle";
  return h(
    "section",
    { class: "card", "aria-labelledby": "ed-json" },
    h("div", { class: "page-header" }, h("h2", { id: "ed-json" }, "Definition as JSON"), back),
    labelled(ed, "Report definition", area, { hint: "The report's fields as the API takes them; the form and the preview follow your edits." }),
  );
}

// ---------------------------------------------------------------------------------------
// Save.

async function save(ed) {
  const { ctx } = ed;
  replace(ed.alertHost);
  if (Object.keys(ed.local).length) {
    return showProblems(ed, Object.entries(ed.local).map(([field, message]) => ({ field, message })));
  }
  await busy(ed.saveBtn, async () => {
    try {
      if (!ed.report) {
        const saved = await api.post(api.ws("/reports"), { code: ed.code, ...definition(ed) });
        touch(ed, false);
        toast(`${saved.name} created`, "success");
        ctx.navigate(`/reports/${encodeURIComponent(saved.id)}`);
        return;
      }
      const saved = await api.patch(api.ws(`/reports/${encodeURIComponent(ed.report.id)}`), { ...definition(ed), version: ed.report.version });
      ed.report = saved;
      ed.heading.textContent = saved.name;
      touch(ed, false);
      ed.errors = {};
      redraw(ed);
      toast(`${saved.name} saved`, "success");
    } catch (e) {
      if (e.name === "AbortError") return;
      if (e instanceof ApiError && e.status === 409) {
        if (ed.report) return showConflict(ed, e);
        return showProblems(ed, [{ field: "code", message: `${e.message}: pick another code` }]);
      }
      const problems = problemsOf(e);
      if (problems.length) return showProblems(ed, problems);
      replace(ed.alertHost, h("div", { class: "callout bad", role: "alert" }, h("p", {}, `The report was not saved: ${e.message}`)));
    }
  });
}

/** The field problems of a 400/422 answer: `details.errors`, or the path in a body reason. */
function problemsOf(e) {
  if (!(e instanceof ApiError) || ![400, 422].includes(e.status)) return [];
  const strip = (f) => (f ?? "").replace(/^report\./, "");
  if (e.details?.errors?.length) return e.details.errors.map((x) => ({ field: strip(x.field), message: x.message }));
  const reason = e.details?.reason;
  if (!reason) return [{ field: "", message: e.message }];
  const m = reason.match(/target type: ([\w.[\]]+): (.*?)(?: at line \d+ column \d+)?$/);
  return [m ? { field: strip(m[1]), message: m[2] } : { field: "", message: reason }];
}

/** The input for an error path, or the nearest enclosing one (`sources[0].filter.x` → `sources[0].filter`). */
function inputFor(ed, path) {
  for (let p = path; p; p = p.replace(/(\.[^.[\]]*|\[\d+\])$/, "")) {
    if (ed.inputs.has(p)) return [p, ed.inputs.get(p)];
    if (!/(\.[^.[\]]*|\[\d+\])$/.test(p)) break;
  }
  return [null, null];
}

/** A readable name for a field path: `sections[1].source` → `Section 2 › source`. */
function describe(path) {
  if (!path) return "Report";
  if (path.startsWith("params.")) return `Preview value of ${path.slice(7)}`;
  return path
    .replace(/^(\w+)\[(\d+)\]/, (_, list, n) => `${list.replace(/s$/, "").replace(/^\w/, (c) => c.toUpperCase())} ${Number(n) + 1}`)
    .replace(/\.(\w+)\[(\d+)\]/g, (_, list, n) => ` › ${list.replace(/s$/, "")} ${Number(n) + 1}`)
    .replace(/\./g, " › ")
    .replace(/_/g, " ");
}

function showProblems(ed, problems) {
  ed.errors = {};
  if (ed.json && problems.some((pr) => pr.field !== "json")) {
    ed.json = false;
    redraw(ed);
  }
  const unplaced = [];
  const placed = [];
  for (const pr of problems) {
    const [path] = inputFor(ed, pr.field);
    if (path && !ed.errors[path]) {
      ed.errors[path] = pr.message;
      placed.push({ ...pr, path });
    } else unplaced.push(pr);
  }
  redraw(ed);
  const items = [
    ...placed.map((pr) => h("li", {}, h("a", { href: "#", "data-path": pr.path, class: "editor-jump" }, describe(pr.field)), `: ${pr.message}`)),
    ...unplaced.map((pr) => h("li", {}, pr.field ? `${describe(pr.field)}: ${pr.message}` : pr.message)),
  ];
  const box = h(
    "div",
    {
      class: "callout bad editor-problems",
      role: "alert",
      tabindex: "-1",
      onclick: (ev) => {
        const link = ev.target.closest(".editor-jump");
        if (!link) return;
        ev.preventDefault();
        ed.formHost.querySelector(`[data-path="${CSS.escape(link.dataset.path)}"]`)?.focus();
      },
    },
    h("p", { class: "strong" }, problems.length === 1 ? "The report was not saved: 1 problem." : `The report was not saved: ${problems.length} problems.`),
    h("ul", {}, items),
  );
  replace(ed.alertHost, box);
  const first = placed[0] && ed.formHost.querySelector(`[data-path="${CSS.escape(placed[0].path)}"]`);
  (first ?? box).focus();
}

function showConflict(ed, err) {
  const { ctx } = ed;
  const reload = button("Reload the saved version", () => ctx.navigate(`/reports/${encodeURIComponent(ed.report.id)}`), { kind: "primary" });
  const overwrite = button("Save mine over it", () =>
    busy(overwrite, async () => {
      try {
        const latest = await api.get(api.ws(`/reports/${encodeURIComponent(ed.report.id)}`));
        ed.report = { ...ed.report, version: latest.version };
        replace(ed.alertHost);
        await save(ed);
      } catch (e) {
        toast(e.message, "error");
      }
    }),
  );
  replace(
    ed.alertHost,
    h(
      "div",
      { class: "callout warn", role: "alert", tabindex: "-1" },
      h("p", { class: "strong" }, "Someone else saved this report after you opened it."),
      h("p", {}, `${err.message}. Reload to see their version (your unsaved edits here are lost), or save yours over it.`),
      h("div", { class: "actions" }, reload, overwrite, button("Keep editing", () => replace(ed.alertHost), { kind: "link" })),
    ),
  );
  ed.alertHost.firstChild.focus();
}

// ---------------------------------------------------------------------------------------
// The preview pane.

function previewPane(ed) {
  const pv = ed.preview;
  pv.status = h("p", { class: "muted small editor-preview-status", role: "status" }, "");
  pv.summary = h("div", { class: "editor-summary" });
  pv.frameHost = h("div", { class: "editor-frame" });
  pv.paramsHost = h("div", { class: "editor-preview-params" });
  const toggle = FORMATS.filter(([f]) => f === "pdf" || f === "html").map(([value, label]) => {
    const b = button(label, () => {
      if (pv.format === value) return;
      pv.format = value;
      for (const other of toggle) other.setAttribute("aria-pressed", String(other === b));
      refreshPreview(ed);
    }, { "aria-pressed": String(pv.format === value) });
    return b;
  });
  const exports = FORMATS.map(([value, label]) => {
    const b = button(label, () => busy(b, () => exportFile(ed, value)), { "aria-label": `Download ${label}` });
    return b;
  });
  return h(
    "aside",
    { class: "card editor-preview", "aria-labelledby": "ed-preview" },
    h("div", { class: "page-header" }, h("h2", { id: "ed-preview" }, "Preview"), pv.status),
    pv.paramsHost,
    pv.summary,
    h("div", { class: "actions editor-doc-toggle", role: "group", "aria-label": "Rendered document" }, h("span", { class: "legend" }, "Document"), toggle),
    pv.frameHost,
    h("div", { class: "actions", role: "group", "aria-label": "Export" }, h("span", { class: "legend" }, "Download"), exports),
  );
}

/**
 * Values the preview runs with, one input per parameter (its default when left empty).
 * Parameters bound to a column take the previewed (first) row's value, so they have none.
 */
function previewParams(ed) {
  const pv = ed.preview;
  const params = ed.draft.parameters.filter((p) => p.name && !p.from_row);
  if (!params.length) return replace(pv.paramsHost);
  const inputs = params.map((p) => {
    const current = pv.params[p.name] ?? "";
    const onchange = (v) => {
      pv.params[p.name] = v;
      ed.schedulePreview();
    };
    const input =
      p.type === "boolean"
        ? select([["", "Default"], ["true", "Yes"], ["false", "No"]], current, { onchange: (e) => onchange(e.target.value) })
        : h("input", {
          type: p.type === "date" ? "date" : p.type === "datetime" ? "datetime-local" : "text",
          step: p.type === "datetime" ? "1" : null,
          value: current,
          placeholder: p.default === null || p.default === undefined ? (p.from_row ? `From the row's ${p.from_row}` : "") : String(p.default),
          oninput: (e) => onchange(e.target.value),
        });
    return field(`Preview value of ${p.name}`, input);
  });
  replace(pv.paramsHost, h("details", { open: params.some((p) => p.required && (p.default ?? null) === null) }, h("summary", {}, "Preview with parameter values"), h("div", { class: "row" }, inputs)));
}

/**
 * The parameter values typed in the preview pane, as their types want them. With `defaults`,
 * a parameter left empty takes its default, as the preview (which the server fills in) does.
 */
function previewValues(ed, { defaults = false } = {}) {
  const params = {};
  for (const p of ed.draft.parameters) {
    if (!p.name) continue;
    const raw = ed.preview.params[p.name];
    if (raw === undefined || raw === "") {
      if (defaults && p.default !== null && p.default !== undefined) params[p.name] = p.default;
      continue;
    }
    params[p.name] = typedParam(p, raw);
  }
  return params;
}


/** The preview request's body for the current draft (the code is not needed to preview). */
function previewBody(ed, format) {
  const report = definition(ed);
  if (!report.name?.trim()) delete report.name;
  return { report, params: previewValues(ed), format };
}

async function refreshPreview(ed) {
  const pv = ed.preview;
  ed.schedulePreview.cancel();
  pv.controller?.abort();
  const seq = ++pv.seq;
  if (Object.keys(ed.local).length) {
    pv.status.textContent = "Paused: fix the marked fields to update the preview.";
    return;
  }
  const controller = new AbortController();
  pv.controller = controller;
  const opts = { signal: controller.signal };
  pv.status.textContent = "Updating…";
  ed.paneNode.setAttribute("aria-busy", "true");
  try {
    const summary = await api.post(api.ws("/reports/preview"), previewBody(ed, "json"), opts);
    if (seq !== pv.seq) return;
    renderSummary(ed, summary);
    const blob = await api.post(api.ws("/reports/preview"), previewBody(ed, pv.format), { ...opts, as: "blob" });
    if (seq !== pv.seq) return;
    await showDocument(ed, blob);
    pv.status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (e.name === "AbortError" || seq !== pv.seq) return;
    pv.status.textContent = "Not updated";
    const problems = problemsOf(e);
    replace(
      pv.summary,
      h(
        "div",
        { class: "callout bad", role: "alert" },
        h("p", { class: "strong" }, problems.length ? "The preview cannot render this definition:" : `The preview failed: ${e.message}`),
        problems.length ? h("ul", {}, problems.map((pr) => h("li", {}, pr.field ? `${describe(pr.field)}: ${pr.message}` : pr.message))) : null,
      ),
    );
    replace(pv.frameHost);
  } finally {
    if (seq === pv.seq) ed.paneNode.removeAttribute("aria-busy");
  }
}

function renderSummary(ed, s) {
  const n = s.narrative;
  let narrative;
  if (!n) narrative = h("p", { class: "muted" }, "The AI narrative is off for this report.");
  else if (n.error || !n.summary) narrative = h("p", { class: "callout warn" }, `No executive summary: ${n.error ?? "the narrator wrote nothing"}. The files still render.`);
  else {
    narrative = h(
      "div",
      { class: "editor-narrative" },
      h("p", {}, n.summary),
      n.takeaways?.length ? h("ul", { "aria-label": "Key takeaways" }, n.takeaways.map((t) => h("li", {}, t))) : null,
      n.dropped?.length ? h("p", { class: "muted small" }, `${n.dropped.length} sentence(s) dropped: they quoted figures the data does not hold.`) : null,
    );
  }
  replace(
    ed.preview.summary,
    h("h3", {}, s.title),
    s.subtitle ? h("p", { class: "muted small" }, s.subtitle) : null,
    s.entries > 1 ? h("p", { class: "small" }, `A run makes ${s.entries} entries, one per row of the repeating source; this preview shows the first.`) : null,
    h("h4", {}, "Executive summary"),
    narrative,
    h("h4", {}, "Rows per section"),
    s.sections.length
      ? table(
        [
          { label: "Section", cell: (x) => x.title || SECTION_KINDS.find(([k]) => k === x.type)?.[1] || x.type },
          { label: "Source", cell: (x) => x.source ?? "—", className: "hide-narrow" },
          { label: "Rows", cell: (x) => String(x.rows) },
        ],
        s.sections,
        { caption: "Rows per section" },
      )
      : h("p", { class: "muted" }, "No sections: add a data source."),
  );
}

async function showDocument(ed, blob) {
  const pv = ed.preview;
  if (pv.url) URL.revokeObjectURL(pv.url);
  pv.url = null;
  if (pv.format === "html") {
    const html = await blob.text();
    const frame = h("iframe", { class: "preview-frame", title: "Rendered HTML" });
    replace(pv.frameHost, frame);
    fillHtmlFrame(frame, html);
    return;
  }
  pv.url = URL.createObjectURL(blob);
  replace(pv.frameHost, h("iframe", { class: "preview-frame", src: pv.url, title: "Rendered PDF" }));
}

async function exportFile(ed, format) {
  if (Object.keys(ed.local).length) return toast("Fix the marked fields first.", "error");
  try {
    await downloadPreview(previewBody(ed, format), ed.ctx.signal);
  } catch (e) {
    if (e.name !== "AbortError") toast(problemsOf(e).map((p) => `${describe(p.field)}: ${p.message}`).join("; ") || e.message, "error");
  }
}
