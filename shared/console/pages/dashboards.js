// Dashboards (seed `001`): live, read-only views of report definitions — the built-in ones over
// the interaction analytics, the demo's customers and the data's health, and any saved report —
// with filters (the period and segment of the analytics: channel, kind of offer, customer tier;
// and the report's parameters) that redraw the view as
// they change; Export of exactly what is on screen (PDF, CSV, Markdown, HTML through the
// transient preview: nothing is recorded); and Save as report: the definition with the filters
// baked in and, when a schedule is picked, its first schedule, created in one call (both or
// neither).

import { api, workspaceZone } from "../api.js";
import { downloadPreview, fillHtmlFrame } from "../preview.js";
import { suggestCode } from "./editor.js";
import { typedParam } from "./run-now.js";
import { busy, button, checkbox, debounce, emptyState, field, formDialog, h, loading, pageHeader, replace, select, setFieldError, toast } from "../ui.js";

const PERIODS = [["today", "Today"], ["7d", "Last 7 days"], ["14d", "Last 14 days"], ["30d", "Last 30 days"], ["90d", "Last 90 days"]];
const CHANNELS = [["", "All channels"], ["email", "Email"], ["mobile", "Mobile"], ["social", "Social"], ["web", "Web"]];
const OFFER_KINDS = [["", "All offers"], ["bogo", "BOGO"], ["discount", "Discount"], ["informational", "Informational"]];
const ANALYTICS = new Set(["offer_performance", "channel_effectiveness"]);
/** Sources the Period filter applies to. */
const PERIODIC = new Set([...ANALYTICS, "ingest_health"]);
const FORMATS = [["pdf", "PDF"], ["csv", "CSV"], ["markdown", "Markdown"], ["html", "HTML"]];
/** Seed `001`'s schedule presets, as cron expressions. */
export const PRESETS = [
  ["", "No schedule (run it when asked)"],
  ["0 8 * * *", "Daily 8am"],
  ["0 8 * * 1", "Weekly Mon 8am"],
  ["0 8 1 * *", "Monthly 1st 8am"],
  ["custom", "Custom cron expression"],
];

const USD = { kind: "currency", code: "USD" };
const PCT = { kind: "percent", decimals: 1 };
const NUM = { kind: "number" };

/** The offers' names, from the workspace's `offers` dataset when it has one. */
const offerNames = (named) => (named ? { label: { dataset: "offers", key: "id", column: "name" } } : {});

/** The built-in dashboards; `named` says whether offers can be shown by name. */
function builtIns(named) {
  const offers = { name: "offers", type: "offer_performance", period: "7d", ...offerNames(named) };
  const channels = { name: "channels", type: "channel_effectiveness", period: "7d" };
  return [
    {
      key: "executive",
      name: "Executive",
      description: "Headline figures against the period before, by channel, with the narrated summary.",
      report: {
        name: "Executive dashboard",
        sources: [offers, channels],
        sections: [
          { type: "kpi", title: "Headline", source: "channels", tiles: [
            { label: "Offers received", column: "received", format: NUM },
            { label: "Offers completed", column: "completed", format: NUM },
            { label: "Transactions", column: "transactions", format: NUM },
            { label: "Revenue", column: "revenue", format: USD },
          ] },
          { type: "chart", title: "Completions by channel, this period and the one before", source: "channels", chart: "bar", x: "channel", y: ["completed", "previous_completed"] },
          { type: "table", title: "Channels", source: "channels", totals: true, columns: [
            { key: "channel" }, { key: "received", format: NUM }, { key: "completed", format: NUM },
            { key: "completion_rate", label: "Completion", format: PCT }, { key: "transactions", format: NUM }, { key: "revenue", format: USD },
            { key: "completed_change", label: "Change", format: PCT },
          ] },
        ],
        narrative: { enabled: true },
      },
    },
    {
      key: "offers",
      name: "Offers",
      description: "Every offer's funnel and rewards, and its completions against the period before.",
      report: {
        name: "Offer performance",
        sources: [offers],
        sections: [
          { type: "chart", title: "Completions by offer", source: "offers", chart: "bar", x: "offer_id", y: ["completed", "previous_completed"] },
          { type: "table", title: "Offer performance", source: "offers", totals: true, columns: [
            { key: "offer_id", label: "Offer" }, { key: "offer_kind", label: "Kind" }, { key: "received", format: NUM },
            { key: "viewed", format: NUM }, { key: "completed", format: NUM }, { key: "completion_rate", label: "Completion", format: PCT },
            { key: "rewards", format: USD }, { key: "completed_change", label: "Change", format: PCT },
          ] },
        ],
        narrative: { enabled: true },
      },
    },
    {
      key: "channels",
      name: "Channels",
      description: "How each channel turns offers into completions, transactions and revenue.",
      report: {
        name: "Channel effectiveness",
        sources: [channels],
        sections: [
          { type: "chart", title: "Revenue by channel", source: "channels", chart: "bar", x: "channel", y: ["revenue"] },
          { type: "table", title: "Channel effectiveness", source: "channels", totals: true, columns: [
            { key: "channel" }, { key: "received", format: NUM }, { key: "view_rate", label: "Viewed", format: PCT },
            { key: "completed", format: NUM }, { key: "completion_rate", label: "Completion", format: PCT },
            { key: "transactions", format: NUM }, { key: "revenue", format: USD }, { key: "completed_change", label: "Change", format: PCT },
          ] },
        ],
        narrative: { enabled: true },
      },
    },
    {
      key: "customers",
      name: "Customers",
      description: "Customers by tier and by the year they joined, with what they bought (the customers and transactions datasets).",
      report: {
        name: "Customers",
        parameters: [{ name: "tier", type: "string", required: false, default: null, description: "Only this tier (all when empty)." }],
        sources: [
          { name: "tiers", type: "sql", connection: "datasets", query:
            "SELECT c.tier, COUNT(DISTINCT c.id) AS customers, COUNT(t.customer_id) AS purchases, COALESCE(SUM(t.amount), 0) AS spent\n" +
            "FROM customers c LEFT JOIN transactions t ON t.customer_id = c.id\nWHERE 1 = 1 [[AND c.tier = {tier}]]\nGROUP BY c.tier ORDER BY spent DESC" },
          { name: "tenure", type: "sql", connection: "datasets", query:
            "SELECT substr(c.became_member_on, 1, 4) AS joined, COUNT(DISTINCT c.id) AS customers, COALESCE(SUM(t.amount), 0) AS spent\n" +
            "FROM customers c LEFT JOIN transactions t ON t.customer_id = c.id\nWHERE 1 = 1 [[AND c.tier = {tier}]]\nGROUP BY joined ORDER BY joined" },
        ],
        sections: [
          { type: "chart", title: "Spend by tier", source: "tiers", chart: "bar", x: "tier", y: ["spent"] },
          { type: "table", title: "By tier", source: "tiers", totals: true, columns: [
            { key: "tier" }, { key: "customers", format: NUM }, { key: "purchases", format: NUM }, { key: "spent", format: USD },
          ] },
          { type: "chart", title: "Customers by the year they joined", source: "tenure", chart: "line", x: "joined", y: ["customers"] },
          { type: "table", title: "By tenure", source: "tenure", totals: true, columns: [
            { key: "joined", label: "Joined in" }, { key: "customers", format: NUM }, { key: "spent", format: USD },
          ] },
        ],
        narrative: { enabled: false },
      },
    },
    {
      key: "data-health",
      name: "Data health",
      description: "Whether the data is arriving: interactions received per day, refused and late batches, how fresh the summaries are and how far the export is behind.",
      report: {
        name: "Data health",
        sources: [
          { name: "ingest", type: "ingest_health", period: "14d", include_today: true },
          { name: "freshness", type: "data_freshness" },
        ],
        sections: [
          { type: "kpi", title: "Freshness", source: "freshness", tiles: [
            { label: "Minutes since data arrived", column: "minutes_since_received", aggregate: "first", format: NUM },
            { label: "Summary age (minutes)", column: "summary_age_minutes", aggregate: "first", format: NUM },
            { label: "Export behind by (minutes)", column: "export_lag_minutes", aggregate: "first", format: NUM },
          ] },
          { type: "kpi", title: "Ingest over the period", source: "ingest", tiles: [
            { label: "Interactions received", column: "received", format: NUM },
            { label: "Batches", column: "batches", format: NUM },
            { label: "Refused batches", column: "refused_batches", format: NUM },
            { label: "Late batches", column: "late_batches", format: NUM },
          ] },
          { type: "chart", title: "Interactions received per day", source: "ingest", chart: "line", x: "day", y: ["received"] },
          { type: "chart", title: "Refused and late batches per day", source: "ingest", chart: "bar", x: "day", y: ["refused_batches", "late_batches"] },
          { type: "table", title: "By day", source: "ingest", totals: true, columns: [
            { key: "day", format: { kind: "date" } }, { key: "batches", format: NUM }, { key: "refused_batches", label: "Refused", format: NUM },
            { key: "late_batches", label: "Late", format: NUM }, { key: "received", format: NUM }, { key: "duplicates", format: NUM },
            { key: "late", label: "Late interactions", format: NUM },
          ] },
          { type: "table", title: "Freshness", source: "freshness", columns: [
            { key: "last_received_at", label: "Last received" }, { key: "summaries_through", label: "Summaries through" },
            { key: "exported_through", label: "Exported through" }, { key: "export_status", label: "Export" }, { key: "export_error", label: "Export error" },
          ] },
        ],
        narrative: { enabled: false },
      },
    },
  ];
}

export async function render(ctx) {
  const [named, reports] = await Promise.all([
    api.get(api.ws("/datasets/offers"), { signal: ctx.signal }).then(() => true, () => false),
    api.listAll(api.ws("/reports"), { signal: ctx.signal }).catch(() => []),
  ]);
  const dashboards = builtIns(named);
  const key = ctx.params[0] ?? null;
  if (!key) return gallery(dashboards, reports);
  const builtIn = dashboards.find((d) => d.key === key);
  const saved = builtIn ? null : reports.find((r) => r.id === key || r.code === key);
  if (!builtIn && !saved) {
    return h("section", {}, pageHeader("Dashboard not found"),
      emptyState("No such dashboard", "It may have been a report that was deleted.", h("a", { class: "btn btn-secondary", href: "#/dashboards" }, "All dashboards")));
  }
  const dashboard = builtIn ?? { key: saved.id, name: saved.name, description: saved.description, report: saved };
  return view(ctx, dashboard);
}

/** Every dashboard: the built-in ones, then each saved report. */
function gallery(dashboards, reports) {
  const card = (href, name, description) =>
    h("li", { class: "card dashboard-card" }, h("h2", {}, h("a", { href }, name)), h("p", { class: "muted" }, description ?? ""));
  return h(
    "section",
    { class: "dashboards-page" },
    pageHeader("Dashboards"),
    h("p", { class: "muted" }, "Live views of your data. Change the filters, export what you see, or save it as a scheduled report. ",
      "Model health and attribution dashboards need decisioning data Herald does not hold."),
    h("ul", { class: "dashboard-grid", "aria-label": "Built-in dashboards" },
      dashboards.map((d) => card(`#/dashboards/${d.key}`, d.name, d.description))),
    reports.length
      ? h("div", {}, h("h2", {}, "Your reports as dashboards"),
        h("ul", { class: "dashboard-grid", "aria-label": "Reports" }, reports.map((r) => card(`#/dashboards/${encodeURIComponent(r.id)}`, r.name, r.description))))
      : null,
  );
}

/** The dataset and column customer segments pick by (the demo's customers and their tier). */
const TIER = { dataset: "customers", key: "id", column: "tier" };

/**
 * The customer tiers a tier filter offers: the distinct values of the `customers` dataset's
 * `tier` column (through a transient SQL preview), or none when there is no such column.
 */
async function customerTiers(signal) {
  const meta = await api.get(api.ws(`/datasets/${TIER.dataset}`), { signal }).catch(() => null);
  if (!meta?.columns?.some((c) => c.name === TIER.column)) return [];
  const query = `SELECT DISTINCT ${TIER.column} FROM ${TIER.dataset} WHERE ${TIER.column} IS NOT NULL ORDER BY 1 LIMIT 100`;
  const request = { report: { sources: [{ name: "tiers", type: "sql", connection: "datasets", query }], sections: [{ type: "table", source: "tiers" }] }, format: "csv" };
  const csv = await api.post(api.ws("/reports/preview"), request, { signal, as: "blob" }).then((b) => b.text()).catch(() => "");
  return csv.replace(/^\uFEFF/, "").split(/\r?\n/).slice(1).map((line) => line.replace(/^"|"$/g, "").replaceAll('""', '"')).filter(Boolean);
}

/** The definition as the filters have it: the period and segment in every analytics source. */
function filtered(report, filters) {
  const copy = structuredClone(report);
  const segment = {};
  if (filters.channel) segment.channel = filters.channel;
  if (filters.offer_kind) segment.offer_kind = filters.offer_kind;
  if (filters.tier) segment.customers = { ...TIER, equals: filters.tier };
  for (const source of copy.sources ?? []) {
    if (!PERIODIC.has(source.type)) continue;
    source.period = filters.period;
    if (!ANALYTICS.has(source.type)) continue;
    if (Object.keys(segment).length) source.segment = segment;
    else delete source.segment;
  }
  return copy;
}

/** A report definition as a preview request takes it (no identity, no bookkeeping). */
function definition(report) {
  const { id, workspace_id, code, created_at, updated_at, version, object, ...rest } = report;
  return rest;
}

function view(ctx, dashboard) {
  const report = dashboard.report;
  const analytics = (report.sources ?? []).some((s) => ANALYTICS.has(s.type));
  const periodic = (report.sources ?? []).find((s) => PERIODIC.has(s.type));
  const firstPeriod = periodic?.period ?? "7d";
  const filters = { period: firstPeriod, channel: "", offer_kind: "", tier: "", params: {} };
  const status = h("p", { class: "muted small", role: "status", "aria-live": "polite" });
  const frameHost = h("div", { class: "dashboard-frame" }, loading("Loading…"));
  const asked = (report.parameters ?? []).filter((p) => !p.from_row);

  const request = (format) => ({ report: definition(filtered(report, filters)), params: paramValues(asked, filters.params), format });
  let seq = 0;
  let controller = null;
  const refresh = async () => {
    const mine = ++seq;
    controller?.abort();
    controller = new AbortController();
    status.textContent = "Updating…";
    frameHost.setAttribute("aria-busy", "true");
    try {
      const html = await api.post(api.ws("/reports/preview"), request("html"), { signal: controller.signal, as: "blob" });
      if (mine !== seq) return;
      const frame = h("iframe", { class: "preview-frame dashboard-view", title: `${dashboard.name} dashboard` });
      replace(frameHost, frame);
      fillHtmlFrame(frame, await html.text());
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (e.name === "AbortError" || mine !== seq) return;
      status.textContent = "Not updated";
      const problems = Object.entries(e.fieldErrors?.() ?? {}).map(([f, m]) => `${f}: ${m}`);
      replace(frameHost, h("div", { class: "callout bad", role: "alert" }, h("p", {}, problems.length ? problems.join("; ") : e.message)));
    } finally {
      if (mine === seq) frameHost.removeAttribute("aria-busy");
    }
  };
  const soon = debounce(refresh, 400);

  const controls = [];
  if (periodic) {
    controls.push(field("Period", select(PERIODS, filters.period, { onchange: (e) => { filters.period = e.target.value; refresh(); } })));
  }
  if (analytics) {
    const tierField = field("Customer tier", select([["", "All tiers"]], "", { onchange: (e) => { filters.tier = e.target.value; refresh(); } }));
    tierField.hidden = true;
    customerTiers(ctx.signal).then((tiers) => {
      if (!tiers.length) return;
      const pick = tierField.querySelector("select");
      for (const tier of tiers) pick.append(h("option", { value: tier }, tier));
      tierField.hidden = false;
    });
    controls.push(
      tierField,
      field("Channel", select(CHANNELS, "", { onchange: (e) => { filters.channel = e.target.value; refresh(); } })),
      field("Offers", select(OFFER_KINDS, "", { onchange: (e) => { filters.offer_kind = e.target.value; refresh(); } })),
    );
  }
  for (const p of asked) {
    const input = h("input", {
      type: p.type === "date" ? "date" : p.type === "datetime" ? "datetime-local" : "text",
      placeholder: p.default === null || p.default === undefined ? "All" : String(p.default),
      oninput: (e) => {
        filters.params[p.name] = e.target.value.trim();
        soon();
      },
    });
    controls.push(field(p.name, input, { hint: p.description ?? null }));
  }

  const exports = FORMATS.map(([format, label]) => {
    const b = button(label, () => busy(b, async () => {
      try {
        await downloadPreview(request(format), ctx.signal);
      } catch (e) {
        if (e.name !== "AbortError") toast(e.message, "error");
      }
    }), { "aria-label": `Export ${label}` });
    return b;
  });
  const save = button("Save as report", () => saveAsReport(ctx, dashboard, filtered(report, filters), paramValues(asked, filters.params), filters), { kind: "primary" });

  refresh();
  return h(
    "section",
    { class: "dashboard" },
    pageHeader(`${dashboard.name} dashboard`, h("div", { class: "actions", role: "group", "aria-label": "Export" }, h("span", { class: "muted small" }, "Export"), ...exports), save),
    dashboard.description ? h("p", { class: "muted" }, dashboard.description) : null,
    controls.length ? h("div", { class: "row dashboard-filters", role: "group", "aria-label": "Filters" }, controls) : null,
    status,
    frameHost,
  );
}

/** The typed values of the parameters given a value (the rest take their defaults). */
function paramValues(asked, raw) {
  const params = {};
  for (const p of asked) if (raw[p.name]) params[p.name] = typedParam(p, raw[p.name]);
  return params;
}

/** A report code from a name (the editor's suggestion), with a short suffix so it is free. */
function codeFrom(name) {
  return `${suggestCode(name).slice(0, 58) || "report"}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The filters in words, for the saved report's default name. */
function filterWords(filters) {
  const words = [PERIODS.find(([p]) => p === filters.period)?.[1]?.toLowerCase()];
  if (filters.channel) words.push(filters.channel);
  if (filters.offer_kind) words.push(`${filters.offer_kind} offers`);
  if (filters.tier) words.push(`${filters.tier} customers`);
  return words.filter(Boolean).join(", ");
}

/**
 * Save as report: a modal prefilled with the dashboard's name, its formats, the narrative on, a
 * schedule preset and the workspace's timezone, and the destinations to check; on confirm one
 * call creates the report (with the filters baked in and the parameter values as its defaults)
 * and, when a schedule is picked, the schedule with it. Server errors stay in the modal.
 */
async function saveAsReport(ctx, dashboard, report, params, filters) {
  const destinations = await api.listAll(api.ws("/destinations"), { signal: ctx.signal }).catch(() => []);
  const analytics = (report.sources ?? []).some((s) => ANALYTICS.has(s.type));
  const name = h("input", { type: "text", value: `${dashboard.name}${analytics ? ` (${filterWords(filters)})` : ""}`, required: true });
  const formats = FORMATS.map(([value, label]) => ({ value, box: checkbox(label, value === "pdf" || value === "csv") }));
  const narrative = checkbox("Narrated executive summary", report.narrative?.enabled !== false);
  const preset = select(PRESETS, "0 8 * * 1");
  const cron = h("input", { type: "text", placeholder: "0 8 * * 1", spellcheck: "false", autocomplete: "off" });
  const cronField = field("Cron expression", cron, { hint: "Five fields: minute, hour, day of month, month, day of week." });
  const zone = h("input", { type: "text", value: workspaceZone(), spellcheck: "false", autocomplete: "off" });
  const scheduleFields = h("div", {}, cronField, field("Timezone", zone, { hint: "The schedule's times are read in this IANA zone." }));
  const sync = () => {
    cronField.hidden = preset.value !== "custom";
    scheduleFields.hidden = preset.value === "";
  };
  preset.addEventListener("change", sync);
  sync();
  const picks = destinations.map((d) => ({ d, box: checkbox(`${d.name} (${d.type})`, false) }));
  const to = h("input", { type: "text", placeholder: "ops@example.com", autocomplete: "off" });
  const toField = field("Email to", to, { hint: "For email destinations: addresses, separated by commas." });
  const formError = h("p", { class: "callout bad", role: "alert", hidden: true });

  const read = async () => {
    formError.hidden = true;
    [name, cron, zone, to].forEach((input) => setFieldError(input, null));
    const chosen = formats.filter((f) => f.box.input.checked).map((f) => f.value);
    if (!name.value.trim()) return setFieldError(name, "Give the report a name."), undefined;
    if (!chosen.length) {
      formError.textContent = "Pick at least one format.";
      formError.hidden = false;
      return undefined;
    }
    const recipients = to.value.split(/[,;\s]+/).filter(Boolean);
    const deliveries = picks.filter((p) => p.box.input.checked).map(({ d }) => (d.type === "email" ? { destination_id: d.id, to: recipients } : { destination_id: d.id }));
    if (deliveries.some((d) => d.to && !d.to.length)) return setFieldError(to, "Give the addresses to email the report to."), undefined;
    const parameters = (report.parameters ?? []).map((p) => (p.name in params ? { ...p, default: params[p.name] } : p));
    const body = {
      ...definition(report),
      code: codeFrom(name.value.trim()),
      name: name.value.trim(),
      formats: chosen,
      parameters,
      narrative: { ...(report.narrative ?? {}), enabled: narrative.input.checked },
      deliveries,
    };
    const expression = preset.value === "custom" ? cron.value.trim() : preset.value;
    if (expression) body.schedule = { name: PRESETS.find(([p]) => p === preset.value)?.[1] ?? "Custom", rule: { type: "cron", expression }, timezone: zone.value.trim() || "UTC" };
    try {
      return await api.post(api.ws("/reports"), body);
    } catch (e) {
      const fields = e.fieldErrors?.() ?? {};
      const placed = { "schedule.rule.expression": cron, "schedule.rule": cron, "schedule.timezone": zone, name };
      const unplaced = [];
      for (const [path, message] of Object.entries(fields)) {
        if (placed[path] && !(placed[path] === cron && preset.value !== "custom")) setFieldError(placed[path], message);
        else unplaced.push(`${path}: ${message}`);
      }
      if (unplaced.length || !Object.keys(fields).length) {
        formError.textContent = unplaced.length ? unplaced.join("; ") : e.message;
        formError.hidden = false;
      }
      return undefined;
    }
  };
  const saved = await formDialog("Save as report", [
    h("p", { class: "muted" }, "The report keeps the filters on screen. It can be run any time; a schedule also runs it on its own."),
    field("Name", name),
    h("fieldset", { class: "checks" }, h("legend", {}, "Formats"), formats.map((f) => f.box.node)),
    narrative.node,
    field("Schedule", preset),
    scheduleFields,
    destinations.length
      ? h("fieldset", { class: "checks" }, h("legend", {}, "Destinations"), picks.map((p) => p.box.node))
      : h("p", { class: "muted small" }, "No destinations yet: the report can still be run on demand."),
    destinations.some((d) => d.type === "email") ? toField : null,
    formError,
  ], { confirmLabel: "Save report", read, focus: name });
  if (!saved) return;
  const next = saved.schedule?.next_run_at;
  toast(h("span", {}, h("a", { href: `#/reports/${encodeURIComponent(saved.id)}` }, saved.name), " saved",
    next ? `; its first scheduled run is ${new Date(next).toLocaleString()}` : ""), "success");
  ctx.navigate(`/reports/${encodeURIComponent(saved.id)}/schedule`);
}
