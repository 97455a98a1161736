// Alert rules: the list (each rule's overall state, on/off switch, severity, last evaluation
// and instances firing, plus the workspace's latest state changes) and one rule's page — its
// form (source, metric, condition, window and interval, timing, severity, no-data and error
// policies, destinations, message) with the API's field errors next to the fields, "Evaluate
// now" (a dry run showing each instance's value, verdict, state change and the notification
// that would be sent; "Evaluate and notify" for real after a confirmation), its instances, its
// state history with a small chart of values per instance, and its notifications. Reading
// needs reports:read; changing and evaluating reports:write (others see the rule read-only).
//
// The source form offers what the report editor's does (the kinds, periods, connections and
// known columns come from pages/editor.js). A stored HTTP header secret is never shown: the
// API answers `********`, and a change that would send the mask back asks for the secret.

import { api, ApiError } from "../api.js";
import {
  badge, busy, button, checkbox, confirmDialog, emptyState, errorState, field, fmtTime, h, nextId, pageHeader, replace,
  select, setFieldError, table, toast,
} from "../ui.js";
import {
  CONNECTION_KINDS, DATASETS_CONNECTION, KNOWN_COLUMNS, PERIODS, SOURCE_KINDS, SOURCE_NAMES, optionalList,
} from "./editor.js";

/** The tone of each instance state (the word is always shown too). */
const STATE_TONE = { firing: "bad", pending: "warn", recovering: "warn", error: "bad", no_data: "neutral", normal: "ok" };
const SEVERITIES = [["info", "Info"], ["warning", "Warning"], ["critical", "Critical"]];
const SEVERITY_TONE = { info: "info", warning: "warn", critical: "bad" };
const AGGREGATES = [
  ["count", "Count of rows"], ["sum", "Sum"], ["avg", "Average"], ["min", "Minimum"], ["max", "Maximum"], ["latest", "Latest (the last row's)"],
];
const OPS = [
  [">", "> is above"], [">=", "≥ is at least"], ["<", "< is below"], ["<=", "≤ is at most"], ["==", "= equals"], ["!=", "≠ differs from"],
  ["inside", "is inside a range"], ["outside", "is outside a range"], ["change", "changed on the previous window"],
  ["has_rows", "the source has rows"], ["has_no_rows", "the source has no rows"],
];
const WITH_THRESHOLD = new Set([">", ">=", "<", "<=", "==", "!=", "change"]);
const WITH_RECOVERY = new Set([">", ">=", "<", "<="]);
const WITH_RANGE = new Set(["inside", "outside"]);
const CHANGE_BY = [["percent", "Percent of the previous value"], ["absolute", "Absolute amount"]];
const DIRECTIONS = [["down", "Down"], ["up", "Up"], ["either", "Up or down"]];
const POLICIES = [
  ["own_state", "Its own state (nothing is sent)"], ["firing", "Treat as firing"], ["normal", "Treat as normal"], ["keep_last", "Keep the last state"],
];
/** `[key, label, hint]` of the timing fields, in minutes. */
const TIMING = [
  ["pending_for_minutes", "Pending for (minutes)", "A breach must last this long before it fires; 0 fires at once."],
  ["keep_firing_for_minutes", "Keep firing for (minutes)", "Stays firing this long after the condition clears; 0 resolves at once."],
  ["repeat_every_minutes", "Repeat every (minutes)", "While firing, notify again this often; 0 never repeats."],
  ["cooldown_minutes", "Cooldown (minutes)", "After a resolution, a new episode notifies no sooner than this."],
];
const TIMING_MAX = 43200;
const WINDOW_MAX = 527040;
const INTERVAL_MAX = 10080;
const SOURCE_NAME_RULE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** What the API shows instead of a stored secret. */
const REDACTED = "********";
/** State changes and notifications per page. */
const PAGE = 50;
/** Instances charted, and the points of each chart. */
const CHARTS_SHOWN = 12;
const POINTS_SHOWN = 20;
/** The fields a rule's form edits (the rest is the evaluation's bookkeeping). */
const WRITABLE = [
  "name", "description", "enabled", "source", "parameters", "metric", "condition", "window_minutes", "interval_minutes",
  "timing", "severity", "no_data", "on_error", "destinations", "message",
];
const NEW_RULE = {
  name: "",
  description: "",
  enabled: true,
  source: { name: "offers", type: "offer_performance", period: "7d" },
  parameters: {},
  metric: { aggregate: "count", column: null, group_by: null, previous_column: null },
  condition: { op: ">" },
  window_minutes: 5,
  interval_minutes: 5,
  timing: { pending_for_minutes: 0, keep_firing_for_minutes: 0, repeat_every_minutes: 240, cooldown_minutes: 60 },
  severity: "warning",
  no_data: "own_state",
  on_error: "own_state",
  destinations: [],
  message: null,
};

export async function render(ctx) {
  if (ctx.view === "list") return renderList(ctx);
  return renderRule(ctx, ctx.view === "rule" ? ctx.params[0] : null);
}

const enc = encodeURIComponent;
const rulePath = (id, rest = "") => api.ws(`/alerts/${enc(id)}${rest}`);

/** An instance state as a badge. */
const stateBadge = (state) => badge(state ?? "normal", STATE_TONE[state] ?? "neutral");
const severityBadge = (severity) => badge(severity, SEVERITY_TONE[severity] ?? "neutral");
/** An instance's name: its group's value, or the whole source's rows without `group_by`. */
const instanceLabel = (key) => (key ? key : "(all rows)");
const fmtValue = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString(undefined, { maximumFractionDigits: 4 }));
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "7 days", "1 h 30 min", "5 min". */
function minutesWords(n) {
  if (!Number.isInteger(n) || n <= 0) return "";
  const days = Math.floor(n / 1440);
  const hours = Math.floor((n % 1440) / 60);
  const minutes = n % 60;
  return [days ? plural(days, "day") : "", hours ? `${hours} h` : "", minutes ? `${minutes} min` : ""].filter(Boolean).join(" ");
}

/** When a rule was last evaluated: by the tick, or by "Evaluate and notify" (its instances' last slot). */
function lastEvaluated(rule) {
  const times = [rule.last_evaluated_at, ...(rule.instances ?? []).map((i) => i.last_slot)].filter(Boolean);
  return times.sort().at(-1) ?? null;
}

const firingCount = (rule) => (rule.instances ?? []).filter((i) => i.state === "firing").length;

// ---------------------------------------------------------------------------------------
// The list.

async function renderList(ctx) {
  const canWrite = api.allows("reports", "write");
  const [rules, events] = await Promise.all([
    api.listAll(api.ws("/alerts"), { signal: ctx.signal }),
    api.get(api.ws("/alert-events?limit=10"), { signal: ctx.signal }).then((p) => p.data, (e) => {
      if (e.name === "AbortError") throw e;
      return [];
    }),
  ]);
  const newRule = canWrite ? h("a", { class: "btn btn-primary", href: "#/alerts/new" }, "New alert rule") : null;
  const intro = h("p", { class: "muted" },
    "An alert rule reads a source every interval, reduces its rows to a number per group (an instance) and notifies its destinations when a condition holds.");
  const readOnly = canWrite
    ? null
    : h("p", { class: "callout" }, "You can see the alert rules; creating, changing, switching on or off and evaluating them needs reports:write.");
  if (!rules.length) {
    return h(
      "section",
      { class: "alerts-page" },
      pageHeader("Alerts", newRule),
      intro,
      readOnly,
      emptyState(
        "No alert rules yet",
        "A rule watches a metric of a source (completions of an offer, the sum of a dataset's column, rows of a query) and notifies when it crosses a threshold.",
        canWrite ? h("a", { class: "btn btn-primary", href: "#/alerts/new" }, "Create your first alert rule") : null,
      ),
    );
  }
  const rows = rules.slice().sort((a, b) => a.name.localeCompare(b.name));
  const names = new Map(rules.map((r) => [r.id, r.name]));
  return h(
    "section",
    { class: "alerts-page" },
    pageHeader("Alerts", newRule),
    intro,
    readOnly,
    table(
      [
        {
          label: "Name",
          cell: (r) => h("div", {}, h("a", { href: `#/alerts/${enc(r.id)}`, class: "strong" }, r.name), r.description ? h("p", { class: "muted small" }, r.description) : null),
        },
        { label: "State", cell: (r) => stateCell(r) },
        { label: "Enabled", cell: (r) => (canWrite ? enabledSwitch(r) : badge(r.enabled ? "enabled" : "disabled")) },
        { label: "Severity", cell: (r) => severityBadge(r.severity), className: "hide-narrow" },
        { label: "Last evaluated", cell: (r) => lastCell(r), className: "hide-narrow" },
        { label: "Firing", cell: (r) => firingCell(r) },
      ],
      rows,
      { caption: "Alert rules", rowProps: (r) => ({ "data-rule": r.id }) },
    ),
    events.length ? recentChanges(events, names) : null,
  );
}

function stateCell(rule) {
  return h("span", { class: "alert-state-cell" }, stateBadge(rule.state), rule.enabled ? null : h("span", { class: "muted small" }, " not evaluated while off"));
}

function lastCell(rule) {
  const at = lastEvaluated(rule);
  return h(
    "div",
    {},
    at ? fmtTime(at) : h("span", { class: "muted" }, "Never"),
    rule.last_error ? h("p", { class: "alert-error small" }, rule.last_error) : null,
  );
}

function firingCell(rule) {
  const n = rule.instances?.length ?? 0;
  if (!n) return h("span", { class: "muted" }, "No instances");
  return `${firingCount(rule)} of ${n}`;
}

/** The on/off switch of a rule in the list: PATCH `enabled`, the row's state redrawn. */
function enabledSwitch(rule) {
  const state = h("span", { "aria-hidden": "true" }, rule.enabled ? "On" : "Off");
  const input = h("input", {
    type: "checkbox",
    role: "switch",
    checked: rule.enabled,
    "aria-label": `Enabled: ${rule.name}`,
    onchange: async () => {
      const wanted = input.checked;
      input.disabled = true;
      try {
        let saved;
        try {
          saved = await api.patch(rulePath(rule.id), { enabled: wanted, version: rule.version });
        } catch (e) {
          if (e.status !== 409) throw e;
          // The schedule's evaluations move the version on: switch the newest version.
          const latest = await api.get(rulePath(rule.id));
          saved = latest.enabled === wanted ? latest : await api.patch(rulePath(rule.id), { enabled: wanted, version: latest.version });
        }
        Object.assign(rule, saved);
        state.textContent = saved.enabled ? "On" : "Off";
        const row = input.closest("tr");
        if (row) {
          replace(row.cells[1], stateCell(saved));
          replace(row.cells[5], firingCell(saved));
        }
        toast(`${rule.name} ${wanted ? "enabled: it is evaluated at the next tick" : "disabled: it is no longer evaluated"}.`, "success");
      } catch (e) {
        input.checked = !wanted;
        toast(e.message, "error");
      } finally {
        input.disabled = false;
      }
    },
  });
  return h("label", { class: "switch" }, input, state);
}

function recentChanges(events, names) {
  return h(
    "section",
    { "aria-labelledby": "alerts-recent" },
    h("h2", { id: "alerts-recent" }, "Latest state changes"),
    scrolling(table(
      [
        { label: "When", cell: (e) => fmtTime(e.at) },
        { label: "Rule", cell: (e) => h("a", { href: `#/alerts/${enc(e.rule_id)}` }, names.get(e.rule_id) ?? e.rule_id) },
        { label: "Instance", cell: (e) => h("code", {}, instanceLabel(e.instance)), className: "hide-narrow" },
        { label: "Change", cell: (e) => transition(e.from, e.to) },
        { label: "Value", cell: (e) => fmtValue(e.value) },
      ],
      events,
      { caption: "Latest state changes of the workspace's alert rules" },
    ), "Latest state changes (scrolls sideways)"),
  );
}

/** A table that may scroll sideways on a small screen: a named region the keyboard can reach. */
function scrolling(node, label) {
  node.setAttribute("tabindex", "0");
  node.setAttribute("role", "region");
  node.setAttribute("aria-label", label);
  return node;
}

/** `normal → firing` as two badges. */
function transition(from, to) {
  return h("span", { class: "alert-transition" }, stateBadge(from), h("span", { "aria-hidden": "true" }, " → "), h("span", { class: "sr-only" }, " to "), stateBadge(to));
}

// ---------------------------------------------------------------------------------------
// One rule: status, form with "Evaluate now", instances, history, notifications.

async function renderRule(ctx, id) {
  const canWrite = api.allows("reports", "write");
  const { signal } = ctx;
  const [rule, datasets, destinations, connections] = await Promise.all([
    id ? api.get(rulePath(id), { signal }) : null,
    optionalList("/datasets", signal),
    optionalList("/destinations", signal, null),
    // Connections are workspace settings: a token that cannot read them still has `datasets`.
    api.allows("settings", "read") ? optionalList("/connections", signal, null) : null,
  ]);
  if (!rule && !canWrite) {
    return h("section", {}, pageHeader("New alert rule"),
      h("p", { class: "callout" }, "Creating alert rules needs reports:write. ", h("a", { href: "#/alerts" }, "Back to the alerts")));
  }
  const page = {
    ctx,
    rule,
    canWrite,
    datasets,
    destinations: destinations ?? [],
    destinationsListed: destinations !== null,
    connections: connections ?? [],
    connectionsListed: connections !== null,
    dirty: false,
  };
  ctx.setTitle(rule ? rule.name : "New alert rule");
  page.dirtyNote = h("span", { class: "muted small", role: "status" }, "");
  const leaving = (e) => {
    if (page.dirty) e.preventDefault();
  };
  window.addEventListener("beforeunload", leaving);
  signal.addEventListener("abort", () => window.removeEventListener("beforeunload", leaving));

  const form = ruleForm(page);
  const back = h("p", { class: "small alert-back" }, h("a", { href: "#/alerts" }, "← All alert rules"));
  if (!rule) {
    return h("section", { class: "alert-page" }, pageHeader("New alert rule", page.dirtyNote), back, form);
  }

  const del = canWrite
    ? button("Delete", async () => {
      const ok = await confirmDialog(`Delete “${rule.name}” with its state history and notifications?`, {
        confirmLabel: "Delete rule", danger: true, title: "Delete alert rule",
      });
      if (!ok) return;
      try {
        await api.del(rulePath(rule.id));
        page.dirty = false;
        toast(`${rule.name} deleted`, "success");
        ctx.navigate("/alerts");
      } catch (e) {
        toast(e.message, "error");
      }
    }, { kind: "danger-link", "aria-label": `Delete ${rule.name}` })
    : null;

  page.statusHost = h("div", {});
  page.instancesHost = h("div", {});
  page.historyHost = h("div", {});
  page.notificationsHost = h("div", {});
  page.history = { events: [], cursor: null, error: null };
  page.notes = { items: [], cursor: null, error: null };
  page.refresh = () => refreshRule(page);
  await loadActivity(page);
  drawActivity(page);

  return h(
    "section",
    { class: "alert-page" },
    pageHeader(rule.name, page.dirtyNote, del),
    back,
    page.statusHost,
    h("div", { class: "alert-layout" }, form, evaluatePane(page)),
    page.instancesHost,
    page.historyHost,
    page.notificationsHost,
  );
}

/** The first page of state changes and of notifications (each may fail on its own). */
async function loadActivity(page) {
  const { ctx, rule } = page;
  const first = (path) => api.get(rulePath(rule.id, `${path}?limit=${PAGE}`), { signal: ctx.signal }).catch((e) => {
    if (e.name === "AbortError") throw e;
    return e;
  });
  const [events, notes] = await Promise.all([first("/events"), first("/notifications")]);
  page.history = events instanceof Error ? { events: [], cursor: null, error: events } : { events: events.data, cursor: events.has_more ? events.next_cursor : null, error: null };
  page.notes = notes instanceof Error ? { items: [], cursor: null, error: notes } : { items: notes.data, cursor: notes.has_more ? notes.next_cursor : null, error: null };
}

/**
 * Reads the rule and its activity again (after "Evaluate and notify") and redraws them; the
 * form keeps the user's edits and the version they are based on.
 */
async function refreshRule(page) {
  page.current = await api.get(rulePath(page.rule.id), { signal: page.ctx.signal });
  await loadActivity(page);
  drawActivity(page);
}

function drawActivity(page) {
  replace(page.statusHost, statusCard(page));
  replace(page.instancesHost, instancesCard(page));
  replace(page.historyHost, historyCard(page));
  replace(page.notificationsHost, notificationsCard(page));
}

function statusCard(page) {
  const rule = page.current ?? page.rule;
  const at = lastEvaluated(rule);
  const n = rule.instances?.length ?? 0;
  return h(
    "section",
    { class: "card alert-status", "aria-labelledby": "alert-status-title" },
    h("h2", { id: "alert-status-title", class: "sr-only" }, "Status"),
    h(
      "dl",
      { class: "alert-status-list" },
      h("div", {}, h("dt", {}, "State"), h("dd", {}, stateBadge(rule.state))),
      h("div", {}, h("dt", {}, "Enabled"), h("dd", {}, badge(rule.enabled ? "enabled" : "disabled"))),
      h("div", {}, h("dt", {}, "Severity"), h("dd", {}, severityBadge(rule.severity))),
      h("div", {}, h("dt", {}, "Firing"), h("dd", {}, n ? `${firingCount(rule)} of ${plural(n, "instance")}` : "No instances yet")),
      h("div", {}, h("dt", {}, "Last evaluated"), h("dd", {}, at ? fmtTime(at) : "Never")),
      h("div", {}, h("dt", {}, "Next evaluation"), h("dd", {}, rule.enabled ? fmtTime(rule.next_evaluation_at) : "Off: not evaluated")),
    ),
    rule.last_error ? h("p", { class: "callout bad alert-last-error" }, h("span", { class: "strong" }, "Last error: "), rule.last_error) : null,
  );
}

// ---------------------------------------------------------------------------------------
// The form.

/** The source's columns the rule may name, for suggestions. */
function columnsOf(page, source) {
  if (source.type === "dataset") return (page.datasets.find((d) => d.code === source.dataset)?.columns ?? []).map((c) => c.name ?? c);
  if (source.type === "inline") return Object.keys(source.rows?.[0] ?? {});
  return KNOWN_COLUMNS[source.type] ?? [];
}

function sourceDefaults(page, type) {
  switch (type) {
    case "dataset":
      return { type, dataset: page.datasets[0]?.code ?? "" };
    case "http":
      return { type, url: "" };
    case "inline":
      return { type, rows: [] };
    case "sql":
      return { type, connection: DATASETS_CONNECTION, query: `SELECT * FROM ${(page.datasets[0]?.code ?? "customers").replaceAll("-", "_")}` };
    default:
      return { type, period: "7d" };
  }
}

/** `name = value` lines; a value that reads as JSON (a number, true, "text") is taken as such. */
function parseLines(text, { json = false } = {}) {
  const out = {};
  let bad = null;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) {
      bad = `“${line.trim()}” is not name = value`;
      continue;
    }
    const raw = line.slice(at + 1).trim();
    let value = raw;
    if (json) {
      try {
        const parsed = JSON.parse(raw);
        if (parsed === null || typeof parsed !== "object") value = parsed;
      } catch {
        // plain text
      }
    }
    out[line.slice(0, at).trim()] = value;
  }
  return { out, bad };
}

const linesOf = (map) => Object.entries(map ?? {}).map(([k, v]) => `${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n");

/** A value with empty strings, nulls and empty objects left out, keys sorted: for comparing. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) {
      const v = canonical(value[key]);
      if (v === null || v === undefined || v === "") continue;
      out[key] = v;
    }
    return out;
  }
  return value ?? null;
}
const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** A readable name for a field path: `destinations[0].to` → `Destination 1 › to`. */
function describe(path) {
  if (!path) return "Rule";
  return path
    .replace(/^destinations\[(\d+)\]/, (_, n) => `Destination ${Number(n) + 1}`)
    .replace(/\[(\d+)\]/g, (_, n) => ` ${Number(n) + 1}`)
    .replace(/^\w/, (c) => c.toUpperCase())
    .replace(/\./g, " › ")
    .replace(/_/g, " ");
}

/**
 * The field problems of an error answer as `[path, message]`: a 422's `details.errors`, or the
 * field a 400's reason names (`… target type: source.name: must be …`).
 */
function problemsOf(e) {
  if (!(e instanceof ApiError) || ![400, 422].includes(e.status)) return [];
  if (e.details?.errors?.length) return e.details.errors.map((x) => [x.field, x.message]);
  const reason = e.details?.reason;
  if (!reason) return [["", e.message]];
  const m = reason.match(/target type: ([\w.[\]]+): (.*?)(?: at line \d+ column \d+)?$/);
  return [m ? [m[1], m[2]] : ["", reason.replace(/ at line \d+ column \d+$/, "")]];
}

function ruleForm(page) {
  const { rule, canWrite } = page;
  const r = structuredClone(rule ?? NEW_RULE);
  const source = structuredClone(r.source);
  // A stored header secret (shown as the mask) belongs to the stored source: another kind drops it.
  let hadSecret = Boolean(source.header_secret);
  let autoNamed = !rule;
  const targets = (r.destinations ?? []).map((t) => ({ destination_id: t.destination_id, to: (t.to ?? []).join(", ") }));
  /** Inputs by the API's field path, so its errors land next to them. */
  const inputs = new Map();
  /** Problems found in the browser (JSON that does not parse…): they block saving. */
  const local = {};
  const reg = (path, el) => {
    el.dataset.path = path;
    inputs.set(path, el);
    return el;
  };
  const text = (path, value, props = {}) => reg(path, h("input", { type: "text", value: value ?? "", autocomplete: "off", ...props }));
  const area = (path, value, props = {}) => reg(path, h("textarea", { rows: 3, ...props }, value ?? ""));
  const number = (path, value, props = {}) => reg(path, h("input", { type: "number", inputmode: "decimal", step: "any", value: value ?? "", ...props }));
  const whole = (path, value, props = {}) => reg(path, h("input", { type: "number", inputmode: "numeric", min: "0", step: "1", value: value ?? "", ...props }));
  const choose = (path, options, value, props = {}) => reg(path, select(options, value, props));
  const localError = (path, input, message) => {
    if (message) local[path] = message;
    else delete local[path];
    setFieldError(input, message);
  };

  // Details.
  const name = text("name", r.name, { required: true });
  const description = area("description", r.description, { rows: 2 });
  const enabled = checkbox("Enabled (evaluated every interval)", r.enabled);
  reg("enabled", enabled.input);
  const severity = choose("severity", SEVERITIES, r.severity);

  // Source.
  const columns = h("datalist", { id: nextId("alert-cols") });
  const updateColumns = () => replace(columns, columnsOf(page, source).map((c) => h("option", { value: c })));
  const sourceName = text("source.name", source.name, { spellcheck: "false", required: true });
  sourceName.addEventListener("input", () => {
    source.name = sourceName.value.trim();
    autoNamed = false;
  });
  const kinds = SOURCE_KINDS.some(([k]) => k === source.type) ? SOURCE_KINDS : [...SOURCE_KINDS, [source.type, source.type]];
  const kind = choose("source.type", kinds, source.type);
  const sourceHost = h("div", {});
  kind.addEventListener("change", () => {
    for (const key of Object.keys(source)) if (!["name", "role"].includes(key)) delete source[key];
    Object.assign(source, sourceDefaults(page, kind.value));
    hadSecret = false;
    if (autoNamed) {
      source.name = SOURCE_NAMES[kind.value] ?? "data";
      sourceName.value = source.name;
    }
    drawSourceFields();
  });
  const parameters = area("parameters", linesOf(r.parameters), { rows: 2, spellcheck: "false" });
  parameters.addEventListener("input", () => localError("parameters", parameters, parseLines(parameters.value, { json: true }).bad));

  function drawSourceFields() {
    for (const key of [...inputs.keys()]) {
      if (key.startsWith("source.") && !["source.name", "source.type"].includes(key)) inputs.delete(key);
      if (key.startsWith("source.") && local[key]) delete local[key];
    }
    replace(sourceHost, sourceFields());
    updateColumns();
  }

  function sourceFields() {
    const bind = (input, key, convert = (v) => v) => {
      input.addEventListener("input", () => {
        const v = convert(input.value);
        if (v === undefined) delete source[key];
        else source[key] = v;
      });
      return input;
    };
    switch (source.type) {
      case "offer_performance":
      case "channel_effectiveness": {
        const period = choose("source.period", PERIODS, source.period ?? "7d");
        period.addEventListener("change", () => (source.period = period.value));
        return field("Period", period, { hint: "The rows compare this period with the one before it (the previous_… columns)." });
      }
      case "dataset": {
        const codes = page.datasets.map((d) => [d.code, `${d.code} (${d.row_count} rows)`]);
        const known = codes.some(([c]) => c === source.dataset);
        let dataset;
        if (codes.length && (known || !source.dataset)) {
          dataset = choose("source.dataset", codes, source.dataset);
          if (!source.dataset) source.dataset = dataset.value;
          dataset.addEventListener("change", () => {
            source.dataset = dataset.value;
            updateColumns();
          });
        } else {
          dataset = bind(text("source.dataset", source.dataset, { spellcheck: "false" }), "dataset", (v) => v.trim());
        }
        const filter = area("source.filter", linesOf(source.filter), { rows: 2, spellcheck: "false" });
        filter.addEventListener("input", () => {
          const { out, bad } = parseLines(filter.value);
          localError("source.filter", filter, bad && bad.replace("name = value", "column = value"));
          if (Object.keys(out).length) source.filter = out;
          else delete source.filter;
        });
        return h(
          "div",
          {},
          field("Dataset", dataset, codes.length ? {} : { hint: "The code of an uploaded dataset (none uploaded yet)." }),
          field("Only rows where", filter, { hint: "One per line: column = value; {param} fills in a parameter." }),
        );
      }
      case "sql": {
        const choices = [
          [DATASETS_CONNECTION, "Uploaded datasets (built-in)"],
          ...page.connections.map((c) => [c.name, `${c.name} (${CONNECTION_KINDS[c.kind] ?? c.kind})`]),
        ];
        if (!choices.some(([v]) => v === source.connection)) {
          choices.push([source.connection ?? "", source.connection ? `${source.connection}${page.connectionsListed ? " (not found)" : ""}` : "Pick a connection"]);
        }
        const connection = choose("source.connection", choices, source.connection);
        connection.addEventListener("change", () => (source.connection = connection.value));
        const query = bind(area("source.query", source.query, { class: "code", spellcheck: "false" }), "query");
        return h(
          "div",
          {},
          field("Connection", connection, {
            hint: page.connectionsListed
              ? "Datasets you uploaded, or a database of the workspace."
              : "Your token cannot list the workspace's connections: only the built-in one is offered.",
          }),
          field("SQL query", query, {
            hint: "One read-only statement. {window_start}, {window_end}, {window_minutes} and {as_of} are bound to the evaluation's window; other {names} come from the parameters.",
          }),
        );
      }
      case "http": {
        const url = bind(text("source.url", source.url, { type: "url", spellcheck: "false", placeholder: "https://…" }), "url", (v) => v.trim());
        const headerName = bind(text("source.header_name", source.header_name, { spellcheck: "false", placeholder: "Authorization" }), "header_name", (v) => v.trim() || undefined);
        // Write-only: typed to set or change it; the stored one is never put back in the form.
        const secret = reg("source.header_secret", h("input", {
          type: "password",
          autocomplete: "new-password",
          spellcheck: "false",
          placeholder: hadSecret ? "Set: leave empty to keep it" : "",
        }));
        secret.addEventListener("input", () => {
          if (secret.value) source.header_secret = secret.value;
          else if (hadSecret) source.header_secret = REDACTED;
          else delete source.header_secret;
        });
        const timeout = bind(whole("source.timeout_ms", source.timeout_ms, { min: "100", max: "60000", placeholder: "10000" }), "timeout_ms", (v) => (v.trim() === "" ? undefined : Number(v)));
        return h(
          "div",
          {},
          field("URL", url, { hint: "Answers JSON: an array of objects, or an object. {window_start}, {window_end} and parameters fill in." }),
          h("div", { class: "grid-2" },
            field("Header name", headerName),
            field("Header value (secret)", secret, { hint: hadSecret ? "A secret is set; it is never shown. Changing the source asks for it again." : "Write-only: never shown after saving." })),
          field("Timeout (ms)", timeout, { hint: "100 to 60000; 10000 when empty." }),
        );
      }
      case "inline": {
        const rows = area("source.rows", JSON.stringify(source.rows ?? [], null, 2), { class: "code", spellcheck: "false" });
        rows.addEventListener("input", () => {
          let parsed;
          try {
            parsed = JSON.parse(rows.value || "[]");
          } catch (e) {
            return localError("source.rows", rows, `Not valid JSON: ${e.message}`);
          }
          if (!Array.isArray(parsed) || parsed.some((x) => !x || typeof x !== "object" || Array.isArray(x))) {
            return localError("source.rows", rows, "Must be an array of objects, one per row");
          }
          localError("source.rows", rows, null);
          source.rows = parsed;
          updateColumns();
        });
        return field("Rows (JSON)", rows, { hint: 'An array of objects, e.g. [{"region": "north", "sales": 12}].' });
      }
      default:
        return h("p", { class: "muted" }, `A source of kind ${source.type}: kept as it is.`);
    }
  }

  // Metric.
  const m = r.metric ?? {};
  const aggregate = choose("metric.aggregate", AGGREGATES, m.aggregate ?? "count");
  const column = text("metric.column", m.column, { spellcheck: "false", list: columns.id });
  const groupBy = text("metric.group_by", m.group_by, { spellcheck: "false", list: columns.id });
  const previous = text("metric.previous_column", m.previous_column, { spellcheck: "false", list: columns.id });

  // Condition.
  const c = r.condition ?? { op: ">" };
  const op = choose("condition.op", OPS, c.op);
  const threshold = number("condition.threshold", c.threshold);
  const recovery = number("condition.recovery_threshold", c.recovery_threshold);
  const low = number("condition.low", c.low);
  const high = number("condition.high", c.high);
  const by = choose("condition.by", CHANGE_BY, c.by ?? "percent");
  const direction = choose("condition.direction", DIRECTIONS, c.direction ?? "down");
  const thresholdField = field("Threshold", threshold);
  const recoveryHint = h("span", {});
  const recoveryField = field("Recovery threshold", recovery, { hint: recoveryHint });
  const rangeFields = h("div", { class: "grid-2" }, field("Low", low), field("High", high, { hint: "Both ends count as inside." }));
  const changeFields = h("div", { class: "grid-2" }, field("Measured as", by), field("Direction", direction));
  const opWords = h("p", { class: "hint alert-op-words" });
  const syncOp = () => {
    const v = op.value;
    thresholdField.hidden = !WITH_THRESHOLD.has(v);
    recoveryField.hidden = !WITH_RECOVERY.has(v);
    rangeFields.hidden = !WITH_RANGE.has(v);
    changeFields.hidden = v !== "change";
    recoveryHint.textContent = v === ">" || v === ">="
      ? "Optional, at most the threshold: a firing instance clears only once the value falls below it, so a value hovering at the threshold does not flap."
      : "Optional, at least the threshold: a firing instance clears only once the value rises above it, so a value hovering at the threshold does not flap.";
    opWords.textContent = {
      change: "Breached when the value moved beyond the threshold from the previous window's (the previous column, or the source read again for the window before).",
      has_rows: "Breached when the source returns any row; no metric is needed.",
      has_no_rows: "Breached when the source returns no row; no metric is needed.",
      inside: "Breached when the value is between low and high.",
      outside: "Breached when the value is below low or above high.",
    }[v] ?? "Breached when the metric's value compares so with the threshold.";
  };
  op.addEventListener("change", syncOp);
  syncOp();

  // Window, interval and timing.
  const windowMinutes = whole("window_minutes", r.window_minutes, { min: "1", max: String(WINDOW_MAX) });
  const intervalMinutes = whole("interval_minutes", r.interval_minutes, { min: "1", max: String(INTERVAL_MAX) });
  const words = (input, before) => {
    const out = h("span", {});
    const sync = () => {
      const w = minutesWords(Number(input.value));
      out.textContent = w ? `${before} ${w}.` : "";
    };
    input.addEventListener("input", sync);
    sync();
    return out;
  };
  const timing = Object.fromEntries(TIMING.map(([key]) => [key, whole(`timing.${key}`, r.timing?.[key] ?? NEW_RULE.timing[key], { max: String(TIMING_MAX) })]));
  const noData = choose("no_data", POLICIES, r.no_data);
  const onError = choose("on_error", POLICIES, r.on_error);

  // Notifications.
  const destHost = h("div", { class: "alert-targets" });
  const destGroupError = h("p", { class: "field-error", hidden: true });
  const destGroup = h("fieldset", { class: "editor-group alert-targets-group" }, h("legend", {}, "Destinations"), destGroupError, destHost);
  destGroup.id = nextId("targets");
  destGroupError.id = `${destGroup.id}-error`;
  reg("destinations", destGroup);
  const message = area("message", r.message, { rows: 3 });

  const destinationById = (id) => page.destinations.find((d) => d.id === id);
  const isEmail = (id) => {
    const d = destinationById(id);
    return !d || (d.type ?? d.config?.type) === "email";
  };
  function drawTargets(focusPath) {
    for (const key of [...inputs.keys()]) if (/^destinations\[/.test(key)) inputs.delete(key);
    const options = page.destinations.map((d) => [d.id, `${d.name} (${d.type ?? d.config?.type})`]);
    replace(
      destHost,
      targets.length ? null : h("p", { class: "muted" }, "No destinations: the rule changes state without notifying anyone."),
      targets.map((t, i) => {
        const p = `destinations[${i}]`;
        const choices = options.some(([id]) => id === t.destination_id)
          ? options
          : [[t.destination_id, page.destinationsListed ? `${t.destination_id} (not found)` : t.destination_id], ...options];
        const dest = choose(`${p}.destination_id`, choices, t.destination_id);
        const to = text(`${p}.to`, t.to, { spellcheck: "false", placeholder: "ops@example.com, oncall@example.com" });
        const toField = field("Recipients", to, { hint: "Comma-separated email addresses." });
        toField.hidden = !isEmail(t.destination_id);
        dest.addEventListener("change", () => {
          t.destination_id = dest.value;
          toField.hidden = !isEmail(t.destination_id);
        });
        to.addEventListener("input", () => (t.to = to.value));
        const remove = button("Remove", () => {
          targets.splice(i, 1);
          markDirty();
          drawTargets("destinations:add");
        }, { kind: "danger-link", "aria-label": `Remove destination ${i + 1}` });
        return h("fieldset", { class: "editor-item" }, h("legend", {}, `Notify ${i + 1}`), h("div", { class: "grid-2" }, field("Destination", dest), toField),
          h("div", { class: "actions editor-item-actions" }, remove));
      }),
      options.length
        ? h("div", { class: "actions" }, (() => {
          const add = button("Add destination", () => {
            targets.push({ destination_id: options[0][0], to: "" });
            markDirty();
            drawTargets(`destinations[${targets.length - 1}].destination_id`);
          });
          add.dataset.path = "destinations:add";
          return add;
        })())
        : h("p", { class: "muted small" }, page.destinationsListed
          ? h("span", {}, "No destinations yet: ", h("a", { href: "#/destinations" }, "add one"), " to be notified.")
          : "Your token cannot list the workspace's destinations."),
    );
    if (focusPath) destHost.querySelector(`[data-path="${CSS.escape(focusPath)}"]`)?.focus();
  }

  drawSourceFields();
  drawTargets();

  const problemsBox = h("div", { class: "callout bad alert-problems", role: "alert", tabindex: "-1", hidden: true });
  const save = canWrite ? button(rule ? "Save changes" : "Create alert rule", null, { kind: "primary", type: "submit" }) : null;

  const markDirty = () => {
    if (page.dirty) return;
    page.dirty = true;
    page.dirtyNote.textContent = "Unsaved changes";
    page.onDirty?.();
  };
  const card = (id, title, ...children) => h("section", { class: "card alert-form-section", "aria-labelledby": id }, h("h2", { id }, title), ...children);
  const body = h(
    "fieldset",
    { class: "plain alert-form-fields", disabled: !canWrite },
    h("legend", { class: "sr-only" }, "Alert rule"),
    card("alert-details", "Details",
      h("div", { class: "grid-2" }, field("Name", name), field("Severity", severity)),
      field("Description", description),
      enabled.node),
    card("alert-source", "Source",
      h("div", { class: "grid-2" },
        field("Source name", sourceName, { hint: "A letter or _, then letters, digits or _." }),
        field("Kind", kind)),
      sourceHost,
      h("details", { class: "alert-params", open: Object.keys(r.parameters ?? {}).length > 0 },
        h("summary", {}, "Parameters"),
        field("Parameter values", parameters, { hint: "One per line: name = value, filling the source's {name} placeholders." }))),
    card("alert-metric", "Metric",
      h("p", { class: "hint" }, "The rows are reduced to one number per group: each group is an instance with its own state."),
      h("div", { class: "grid-2" },
        field("Aggregate", aggregate),
        field("Column", column, { hint: "The column aggregated; not needed to count rows." }),
        field("Group by", groupBy, { hint: "Optional: one instance per value of this column." }),
        field("Previous column", previous, { hint: "Optional, for “changed” conditions: a column holding the previous window's value." })),
      columns),
    card("alert-condition", "Condition",
      field("Breached when the value", op),
      opWords,
      h("div", { class: "grid-2" }, thresholdField, recoveryField),
      rangeFields,
      changeFields),
    card("alert-timing", "Window and timing",
      h("div", { class: "grid-2" },
        field("Window (minutes)", windowMinutes, { hint: words(windowMinutes, "The period the source reads, ending at each evaluation:") }),
        field("Evaluate every (minutes)", intervalMinutes, { hint: words(intervalMinutes, "Every") })),
      h("div", { class: "grid-2" }, TIMING.map(([key, label, hint]) => field(label, timing[key], { hint }))),
      h("div", { class: "grid-2" },
        field("When there is no data", noData, { hint: "A group vanished, or its value is not a number." }),
        field("When the source fails", onError))),
    card("alert-notify", "Notifying",
      destGroup,
      field("Message", message, { hint: "Empty: Herald's own sentence. {rule}, {instance}, {value}, {threshold}, {state} and {since} are filled in." })),
  );

  const form = h(
    "form",
    {
      class: "alert-form stack",
      "aria-label": rule ? `Alert rule ${rule.name}` : "New alert rule",
      novalidate: true,
      oninput: (e) => {
        markDirty();
        if (e.target.getAttribute("aria-invalid") === "true" && !local[e.target.dataset.path]) setFieldError(e.target, null);
      },
      onchange: () => markDirty(),
      onsubmit: (e) => {
        e.preventDefault();
        if (save) busy(save, () => submit());
      },
    },
    canWrite ? null : h("p", { class: "callout" }, "You can see this rule; changing or evaluating it needs reports:write."),
    body,
    problemsBox,
    save ? h("div", { class: "actions alert-form-actions" }, save, h("a", { href: "#/alerts", class: "btn btn-secondary" }, "Cancel")) : null,
  );

  /** The body to send, and the problems the browser can already tell. */
  function read() {
    const problems = [];
    const num = (input, path, { optional = false } = {}) => {
      const raw = input.value.trim();
      if (raw === "" && optional) return null;
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) {
        problems.push([path, "Give a number."]);
        return null;
      }
      return n;
    };
    const minutes = (input, path, min, max) => {
      const raw = input.value.trim();
      const n = Number(raw);
      if (raw === "" || !Number.isInteger(n) || n < min || n > max) {
        problems.push([path, `Give a whole number of minutes from ${min} to ${max}.`]);
        return null;
      }
      return n;
    };
    if (!name.value.trim()) problems.push(["name", "Give the rule a name."]);
    if (!SOURCE_NAME_RULE.test(sourceName.value.trim())) problems.push(["source.name", "Use a letter or _, then letters, digits or _ (at most 64)."]);
    for (const [path, msg] of Object.entries(local)) problems.push([path, msg]);

    const v = op.value;
    const condition = { op: v };
    if (WITH_THRESHOLD.has(v)) condition.threshold = num(threshold, "condition.threshold");
    if (WITH_RECOVERY.has(v)) {
      const rec = num(recovery, "condition.recovery_threshold", { optional: true });
      if (rec !== null) condition.recovery_threshold = rec;
    }
    if (WITH_RANGE.has(v)) {
      condition.low = num(low, "condition.low");
      condition.high = num(high, "condition.high");
    }
    if (v === "change") Object.assign(condition, { by: by.value, direction: direction.value });

    const sent = structuredClone(source);
    sent.name = sourceName.value.trim();
    if (sent.type === "http" && !sent.header_name) delete sent.header_secret;
    const out = {
      name: name.value.trim(),
      description: description.value.trim(),
      enabled: enabled.input.checked,
      severity: severity.value,
      source: sent,
      parameters: parseLines(parameters.value, { json: true }).out,
      metric: {
        aggregate: aggregate.value,
        column: column.value.trim() || null,
        group_by: groupBy.value.trim() || null,
        previous_column: previous.value.trim() || null,
      },
      condition,
      window_minutes: minutes(windowMinutes, "window_minutes", 1, WINDOW_MAX),
      interval_minutes: minutes(intervalMinutes, "interval_minutes", 1, INTERVAL_MAX),
      timing: Object.fromEntries(TIMING.map(([key]) => [key, minutes(timing[key], `timing.${key}`, 0, TIMING_MAX)])),
      no_data: noData.value,
      on_error: onError.value,
      destinations: targets.map((t) => ({
        destination_id: t.destination_id,
        to: isEmail(t.destination_id) ? t.to.split(",").map((s) => s.trim()).filter(Boolean) : [],
      })),
      message: message.value.trim(),
    };
    return { body: out, problems };
  }

  /** What changed from `base` (the stored rule): a change sends only that. */
  function changes(out, base) {
    const diff = {};
    for (const [key, value] of Object.entries(out)) if (!same(value, base[key])) diff[key] = value;
    // The mask of a stored secret keeps it only while the source is unchanged; another source needs it again.
    if (diff.source?.header_secret === REDACTED) return { diff, problems: [["source.header_secret", "Type the header secret again: a changed source does not keep the stored one."]] };
    return { diff, problems: [] };
  }

  async function submit(base = rule, retried = false) {
    clearProblems();
    const { body: out, problems } = read();
    if (problems.length) return showProblems(problems);
    try {
      if (!rule) {
        if (!out.description) delete out.description;
        if (!out.message) delete out.message;
        const saved = await api.post(api.ws("/alerts"), out);
        page.dirty = false;
        toast(`${saved.name} created`, "success");
        page.ctx.navigate(`/alerts/${enc(saved.id)}`);
        return;
      }
      const { diff, problems: more } = changes(out, base);
      if (more.length) return showProblems(more);
      if (!Object.keys(diff).length) {
        page.dirty = false;
        page.dirtyNote.textContent = "";
        return toast("Nothing changed.", "info");
      }
      const saved = await api.patch(rulePath(rule.id), { ...diff, version: base.version });
      page.dirty = false;
      toast(`${saved.name} saved${diff.source || diff.metric || diff.condition || diff.window_minutes ? ": its instances start over" : ""}`, "success");
      page.ctx.navigate(`/alerts/${enc(saved.id)}`);
    } catch (e) {
      if (e.name === "AbortError") return;
      if (e instanceof ApiError && e.status === 409 && rule) {
        // The schedule's evaluations move the version on too: when nobody changed what the
        // form edits, the change is simply made on the newer version.
        const latest = retried ? null : await api.get(rulePath(rule.id), { signal: page.ctx.signal }).catch(() => null);
        if (latest && WRITABLE.every((key) => same(latest[key], base[key]))) return submit(latest, true);
        return showConflict(e);
      }
      const found = problemsOf(e);
      if (found.length) return showProblems(found);
      problemsBox.hidden = false;
      replace(problemsBox, h("p", {}, `The rule was not saved: ${e.message}`));
      problemsBox.focus();
    }
  }

  function clearProblems() {
    for (const input of inputs.values()) if (!local[input.dataset.path]) setFieldError(input, null);
    problemsBox.hidden = true;
    replace(problemsBox);
  }

  /** The input for an error path, or the nearest enclosing one (`destinations[0].to[1]` → `destinations[0].to`). */
  function inputFor(path) {
    const alias = { condition: "condition.op", metric: "metric.aggregate", source: "source.type", timing: `timing.${TIMING[0][0]}` };
    for (let p = path; p; p = p.replace(/(\.[^.[\]]*|\[\d+\])$/, "")) {
      const key = inputs.has(p) ? p : alias[p];
      if (key && inputs.has(key)) return inputs.get(key);
      if (!/(\.[^.[\]]*|\[\d+\])$/.test(p)) break;
    }
    return null;
  }

  /** Puts each `[path, message]` next to its field and lists them all above the buttons. */
  function showProblems(problems) {
    let first = null;
    const items = [];
    const seen = new Set();
    for (const [path, msg] of problems) {
      const input = inputFor(path);
      if (input && !seen.has(input)) {
        seen.add(input);
        setFieldError(input, msg);
        input.closest("details")?.setAttribute("open", "");
        first ??= input;
      }
      items.push(h("li", {}, path ? `${describe(path)}: ${msg}` : msg));
    }
    problemsBox.hidden = false;
    replace(
      problemsBox,
      h("p", { class: "strong" }, `The rule was not saved: ${plural(problems.length, "problem")}.`),
      h("ul", {}, items),
    );
    (first ?? problemsBox).focus();
  }

  function showConflict(err) {
    const overwrite = button("Save mine over it", () =>
      busy(overwrite, async () => {
        try {
          const latest = await api.get(rulePath(rule.id));
          await submit(latest);
        } catch (e) {
          toast(e.message, "error");
        }
      }));
    problemsBox.hidden = false;
    replace(
      problemsBox,
      h("p", { class: "strong" }, "Someone else changed this rule after you opened it."),
      h("p", {}, `${err.message}. Reload to see their version (your edits here are lost), or save yours over it.`),
      h("div", { class: "actions" },
        button("Reload the saved version", () => {
          page.dirty = false;
          page.ctx.navigate(`/alerts/${enc(rule.id)}`);
        }, { kind: "primary" }),
        overwrite),
    );
    problemsBox.focus();
  }

  return form;
}

// ---------------------------------------------------------------------------------------
// Evaluate now.

function evaluatePane(page) {
  const pane = h("aside", { class: "card alert-evaluate", "aria-labelledby": "alert-evaluate-title" }, h("h2", { id: "alert-evaluate-title" }, "Evaluate now"));
  if (!page.canWrite) {
    pane.append(h("p", { class: "muted" }, "Evaluating a rule needs reports:write."));
    return pane;
  }
  const result = h("div", { class: "alert-eval-result" });
  const unsaved = h("p", { class: "callout warn small", hidden: !page.dirty }, "You have unsaved changes: the rule is evaluated as saved.");
  page.onDirty = () => (unsaved.hidden = false);
  const dry = button("Evaluate now", () => busy(dry, () => evaluate(page, result, false)), { kind: "primary" });
  const real = button("Evaluate and notify", async () => {
    const ok = await confirmDialog(
      `Evaluate “${page.rule.name}” for real? Its instances take the new states, the changes are recorded and the notifications they call for are sent to its destinations.`,
      { confirmLabel: "Evaluate and notify", title: "Evaluate and notify" },
    );
    if (ok) await busy(real, () => evaluate(page, result, true));
  });
  pane.append(
    h("p", { class: "muted small" }, "A dry run reads the source now and shows each instance's value, its verdict, the state it would move to and the notification that would be sent. Nothing is written or sent."),
    unsaved,
    h("div", { class: "actions" }, dry, real),
    result,
  );
  return pane;
}

async function evaluate(page, result, notify) {
  replace(result, h("p", { class: "muted small", role: "status" }, "Evaluating…"));
  try {
    const answer = await api.post(rulePath(page.rule.id, "/evaluate"), notify ? { notify: true } : {}, { signal: page.ctx.signal });
    replace(result, evaluation(page, answer));
    if (notify) {
      toast(`Evaluated: ${plural(answer.notified, "notification")} sent, ${answer.firing} firing.`, "success");
      await page.refresh();
    }
  } catch (e) {
    if (e.name === "AbortError") return;
    replace(result, h("p", { class: "callout bad", role: "alert" }, `The rule was not evaluated: ${e.message}`));
  }
}

function verdictBadge(breached) {
  if (breached === true) return badge("breached", "bad");
  if (breached === false) return badge("clear", "ok");
  return badge("no verdict", "neutral");
}

/** What one evaluation found, one item per instance. */
function evaluation(page, ev) {
  const destinations = page.rule.destinations?.length ?? 0;
  const line = ev.dry_run
    ? `Dry run at ${fmtTime(ev.evaluated_at, { seconds: true })}: nothing was written or sent. ${plural(ev.instances.length, "instance")}, ${ev.firing} would be firing.`
    : `Evaluated at ${fmtTime(ev.evaluated_at, { seconds: true })}: ${plural(ev.notified, "notification")} sent, ${ev.firing} firing.`;
  return h(
    "div",
    {},
    h("p", { class: "small strong", role: "status" }, line),
    ev.error ? h("p", { class: "callout bad alert-eval-error" }, h("span", { class: "strong" }, "The source could not be read: "), ev.error) : null,
    ev.instances.length
      ? h(
        "ul",
        { class: "alert-verdicts", "aria-label": "Verdict per instance" },
        ev.instances.map((v) =>
          h(
            "li",
            { class: "alert-verdict" },
            h("div", { class: "alert-verdict-head" }, h("code", { class: "strong" }, instanceLabel(v.instance)), verdictBadge(v.breached)),
            h(
              "dl",
              { class: "kv small" },
              h("dt", {}, "Value"),
              h("dd", {}, h("span", { class: "strong alert-value" }, fmtValue(v.value)),
                v.previous !== null && v.previous !== undefined ? h("span", { class: "muted" }, ` (previous ${fmtValue(v.previous)})`) : null,
                h("span", { class: "muted" }, ` · ${plural(v.rows, "row")}`)),
              h("dt", {}, "State"),
              h("dd", {}, v.state_before === v.state_after ? h("span", {}, stateBadge(v.state_after), h("span", { class: "muted" }, " unchanged")) : transition(v.state_before, v.state_after)),
              h("dt", {}, "Notification"),
              h("dd", {}, v.notification
                ? h("span", {}, badge(v.notification, v.notification === "resolved" ? "ok" : "bad"),
                  h("span", { class: "muted" }, destinations ? ` to ${plural(destinations, "destination")}` : " (no destination to send it to)"))
                : h("span", { class: "muted" }, "None")),
            ),
            v.message ? h("blockquote", { class: "alert-message" }, v.message) : null,
          ),
        ),
      )
      : h("p", { class: "muted" }, "No instances: the source gave no group to judge."),
  );
}

// ---------------------------------------------------------------------------------------
// Instances, state history with charts, notifications.

function instancesCard(page) {
  const rule = page.current ?? page.rule;
  const instances = (rule.instances ?? []).slice().sort((a, b) => a.key.localeCompare(b.key));
  return h(
    "section",
    { class: "alert-section", "aria-labelledby": "alert-instances" },
    h("h2", { id: "alert-instances" }, "Instances"),
    instances.length
      ? scrolling(table(
        [
          { label: "Instance", cell: (i) => h("code", {}, instanceLabel(i.key)) },
          { label: "State", cell: (i) => stateBadge(i.state) },
          { label: "Value", cell: (i) => fmtValue(i.value) },
          { label: "Since", cell: (i) => fmtTime(i.since) },
          { label: "Episode", cell: (i) => (i.episode ? h("span", {}, `#${i.episode}`, i.fired_at && i.state === "firing" ? h("p", { class: "muted small" }, `firing since ${fmtTime(i.fired_at)}`) : null) : "—"), className: "hide-narrow" },
          { label: "Error", cell: (i) => (i.error ? h("span", { class: "alert-error" }, i.error) : "—"), className: "hide-narrow" },
        ],
        instances,
        { caption: "Instances of the rule" },
      ), "Instances (scrolls sideways)")
      : emptyState("No instances yet", "Instances appear once the rule is evaluated (by the schedule while it is on, or with “Evaluate and notify”)."),
  );
}

function historyCard(page) {
  const { history } = page;
  const section = h("section", { class: "alert-section", "aria-labelledby": "alert-history" }, h("h2", { id: "alert-history" }, "State history"));
  if (history.error) {
    section.append(errorState(history.error, () => page.refresh().catch((e) => toast(e.message, "error"))));
    return section;
  }
  if (!history.events.length) {
    section.append(emptyState("No state changes yet", "Each change of an instance's state (normal, pending, firing, recovering, no data, error) is recorded here."));
    return section;
  }
  section.append(...[
    charts(page),
    scrolling(table(
      [
        { label: "When", cell: (e) => fmtTime(e.at, { seconds: true }) },
        { label: "Instance", cell: (e) => h("code", {}, instanceLabel(e.instance)) },
        { label: "Change", cell: (e) => transition(e.from, e.to) },
        { label: "Value", cell: (e) => fmtValue(e.value) },
        { label: "Error", cell: (e) => (e.error ? h("span", { class: "alert-error" }, e.error) : "—"), className: "hide-narrow" },
      ],
      history.events,
      { caption: "State changes, newest first" },
    ), "State changes (scrolls sideways)"),
    moreButton(page, "/events", history, "events", "Load more state changes", () => replace(page.historyHost, historyCard(page))),
  ].filter(Boolean));
  return section;
}

function notificationsCard(page) {
  const { notes } = page;
  const names = new Map(page.destinations.map((d) => [d.id, d.name]));
  const section = h("section", { class: "alert-section", "aria-labelledby": "alert-notifications" }, h("h2", { id: "alert-notifications" }, "Notifications"));
  if (notes.error) {
    section.append(errorState(notes.error, () => page.refresh().catch((e) => toast(e.message, "error"))));
    return section;
  }
  if (!notes.items.length) {
    section.append(emptyState("No notifications yet", "A notification is sent to each destination when an instance starts firing, repeats while firing, and resolves."));
    return section;
  }
  section.append(...[
    scrolling(table(
      [
        { label: "Created", cell: (n) => fmtTime(n.created_at, { seconds: true }) },
        { label: "Instance", cell: (n) => h("code", {}, instanceLabel(n.instance)) },
        { label: "Kind", cell: (n) => h("span", {}, badge(n.kind, n.kind === "resolved" ? "ok" : "warn"), n.episode ? h("span", { class: "muted small" }, ` episode ${n.episode}`) : null) },
        {
          label: "Destination",
          cell: (n) => h("span", {}, names.get(n.destination_id) ?? h("code", {}, n.destination_id), n.to?.length ? h("p", { class: "muted small" }, n.to.join(", ")) : null),
          className: "hide-narrow",
        },
        { label: "Status", cell: (n) => h("span", {}, badge(n.status), n.error ? h("p", { class: "alert-error small" }, n.error) : null) },
        { label: "Sent", cell: (n) => (n.sent_at ? fmtTime(n.sent_at, { seconds: true }) : "—"), className: "hide-narrow" },
      ],
      // The API lists them by key: the newest first here.
      notes.items.slice().sort((a, b) => new Date(b.created_at) - new Date(a.created_at)),
      { caption: "Notifications, newest first" },
    ), "Notifications (scrolls sideways)"),
    moreButton(page, "/notifications", notes, "items", "Load more notifications", () => replace(page.notificationsHost, notificationsCard(page))),
  ].filter(Boolean));
  return section;
}

/** "Load more" for a paged listing kept in `state[key]` with its `cursor`. */
function moreButton(page, path, state, key, label, redraw) {
  if (!state.cursor) return null;
  const btn = button(label, () =>
    busy(btn, async () => {
      try {
        const next = await api.get(rulePath(page.rule.id, `${path}?limit=${PAGE}&cursor=${enc(state.cursor)}`), { signal: page.ctx.signal });
        state[key].push(...next.data);
        state.cursor = next.has_more ? next.next_cursor : null;
        redraw();
      } catch (e) {
        if (e.name !== "AbortError") toast(e.message, "error");
      }
    }));
  return h("div", { class: "runs-more" }, btn);
}

/** The reference lines of a condition: its threshold (and recovery threshold), or its range. */
function limitsOf(condition) {
  if (!condition) return [];
  if (WITH_RANGE.has(condition.op)) return [["low", condition.low], ["high", condition.high]];
  if (condition.op === "change" || !WITH_THRESHOLD.has(condition.op)) return [];
  const out = [["threshold", condition.threshold]];
  if (Number.isFinite(condition.recovery_threshold)) out.push(["recovery", condition.recovery_threshold]);
  return out;
}

/** One small chart per instance of the values at its last state changes, the current value last. */
function charts(page) {
  const rule = page.current ?? page.rule;
  const byInstance = new Map();
  // Events come newest first: the chart reads oldest to newest.
  for (const e of page.history.events.slice().reverse()) {
    if (e.value === null || e.value === undefined) continue;
    if (!byInstance.has(e.instance)) byInstance.set(e.instance, []);
    byInstance.get(e.instance).push({ at: e.at, value: e.value, state: e.to });
  }
  const current = new Map((rule.instances ?? []).map((i) => [i.key, i]));
  for (const [key, points] of byInstance) {
    const now = current.get(key);
    const last = points.at(-1);
    if (now?.value !== null && now?.value !== undefined && now.last_slot && now.last_slot > last.at) {
      points.push({ at: now.last_slot, value: now.value, state: now.state });
    }
  }
  const rank = { firing: 0, pending: 1, recovering: 2, error: 3, no_data: 4, normal: 5 };
  const keys = [...byInstance.keys()].sort((a, b) =>
    (rank[current.get(a)?.state] ?? 6) - (rank[current.get(b)?.state] ?? 6) || a.localeCompare(b));
  if (!keys.length) return null;
  const limits = limitsOf(rule.condition);
  const shown = keys.slice(0, CHARTS_SHOWN);
  return h(
    "div",
    { class: "alert-charts-wrap" },
    h("p", { class: "muted small" },
      `Values at each instance's last state changes, the latest evaluation last${limits.length ? "; dashed: the condition's limits" : ""}.`,
      keys.length > shown.length ? ` The first ${shown.length} of ${keys.length} instances are charted; the table lists every change.` : ""),
    h("div", { class: "alert-charts" }, shown.map((key) => {
      const state = current.get(key)?.state ?? byInstance.get(key).at(-1).state;
      return h(
        "figure",
        { class: "alert-chart-figure" },
        valueChart(key, byInstance.get(key).slice(-POINTS_SHOWN), limits),
        h("figcaption", {}, h("code", {}, instanceLabel(key)), " ", stateBadge(state)),
      );
    })),
  );
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** An SVG element (attributes set as given; `null` skips). */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  for (const child of children.flat()) if (child !== null && child !== undefined) el.append(child);
  return el;
}

/** A line of values with a dot per point coloured by the state it entered, and the limits dashed. */
function valueChart(key, points, limits) {
  const W = 300;
  const H = 90;
  const left = 44;
  const right = 10;
  const top = 10;
  const bottom = 10;
  const values = points.map((p) => p.value);
  const refs = limits.map(([, v]) => v).filter(Number.isFinite);
  let lo = Math.min(...values, ...refs);
  let hi = Math.max(...values, ...refs);
  if (lo === hi) {
    lo -= Math.abs(lo) * 0.1 || 1;
    hi += Math.abs(hi) * 0.1 || 1;
  }
  const x = (i) => (points.length === 1 ? (left + W - right) / 2 : left + (i * (W - left - right)) / (points.length - 1));
  const y = (v) => top + ((hi - v) * (H - top - bottom)) / (hi - lo);
  const titleId = nextId("chart");
  const words = `Instance ${instanceLabel(key)}: ${points.map((p) => `${fmtValue(p.value)} (${p.state.replace(/_/g, " ")})`).join(", ")}`
    + (refs.length ? `; ${limits.filter(([, v]) => Number.isFinite(v)).map(([n, v]) => `${n} ${fmtValue(v)}`).join(", ")}` : "");
  const maxValue = Math.max(...values);
  const minValue = Math.min(...values);
  return svg(
    "svg",
    { class: "alert-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": titleId },
    svg("title", { id: titleId }, words),
    svg("line", { class: "alert-chart-axis", x1: left, x2: left, y1: top, y2: H - bottom }),
    limits.filter(([, v]) => Number.isFinite(v)).map(([n, v]) =>
      svg("line", { class: `alert-chart-limit limit-${n}`, x1: left, x2: W - right, y1: y(v), y2: y(v) })),
    svg("text", { class: "alert-chart-label", x: left - 4, y: y(maxValue) + 4, "text-anchor": "end" }, fmtValue(maxValue)),
    minValue !== maxValue ? svg("text", { class: "alert-chart-label", x: left - 4, y: y(minValue) + 4, "text-anchor": "end" }, fmtValue(minValue)) : null,
    points.length > 1 ? svg("polyline", { class: "alert-chart-line", points: points.map((p, i) => `${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ") }) : null,
    points.map((p, i) =>
      svg("circle", { class: `alert-chart-dot state-${p.state}`, cx: x(i).toFixed(1), cy: y(p.value).toFixed(1), r: 3.5 },
        svg("title", {}, `${fmtTime(p.at, { seconds: true })}: ${fmtValue(p.value)} (${p.state.replace(/_/g, " ")})`))),
  );
}
