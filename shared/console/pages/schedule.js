// The Schedule tab of a report: the "Enable scheduled generation" switch (off: the report is
// manual-only and its schedules stay hidden behind the switch), its schedules (the rule in
// words, timezone, next fire, destinations; edit, pause/resume, delete) and the form that adds
// or changes one, with a cron
// expression from a preset or the recurrence builder of seed 003, a timezone, destinations to
// tick and a pane of the next fire times (local and UTC, DST-moved ones marked).

import { ApiError, api } from "../api.js";
import { runNowButton } from "./run-now.js";
import {
  badge, busy, button, checkbox, confirmDialog, debounce, emptyState, field, fmtTime, fmtUtc, h, pageHeader,
  replace, reportTabs, select, setFieldError, table, toast,
} from "../ui.js";

/** Presets: `[label, cron]`; picking one fills the cron field, which stays editable. */
const PRESETS = [
  ["Hourly", "0 * * * *"],
  ["Daily 08:00", "0 8 * * *"],
  ["Weekdays 08:00", "0 8 * * 1-5"],
  ["Weekly Monday 08:00", "0 8 * * 1"],
  ["Monthly 1st 08:00", "0 8 1 * *"],
];
const TRIGGERS = [["yearly", "Yearly"], ["monthly", "Monthly"], ["weekly", "Weekly"], ["daily", "Daily"], ["hourly", "Hourly"], ["once", "Once"]];
const UNITS = { yearly: "years", monthly: "months", weekly: "weeks", daily: "days", hourly: "hours", once: "" };
const DAYS = [["Mon", "Monday"], ["Tue", "Tuesday"], ["Wed", "Wednesday"], ["Thu", "Thursday"], ["Fri", "Friday"], ["Sat", "Saturday"], ["Sun", "Sunday"]];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const ORDINALS = ["1st", "2nd", "3rd", "4th", "5th"];
const CRON_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const PREVIEW_COUNT = 10;
/** What happens to a fire time that comes while the previous run is still going. */
const OVERLAP = [["buffer_one", "Run when the previous run ends (at most one waiting)"], ["skip", "Skip that fire time"], ["allow", "Run alongside the previous run"]];
/** How a rule is written: `[value, label]`. */
const MODES = [["cron", "Preset / cron"], ["recurrence", "Recurrence"], ["text", "RFC 5545 text"]];
const RRULE_EXAMPLE = "DTSTART;TZID=Europe/London:20270104T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1";

export async function render(ctx) {
  const [reportId] = ctx.params;
  const base = api.ws(`/reports/${encodeURIComponent(reportId)}`);
  const [report, schedules, destinations] = await Promise.all([
    api.get(base, { signal: ctx.signal }),
    api.listAll(`${base}/schedules`, { signal: ctx.signal }),
    api.listAll(api.ws("/destinations"), { signal: ctx.signal }),
  ]);
  ctx.setTitle(`Schedule · ${report.name}`);

  const listHost = h("section", { "aria-labelledby": "schedules-title" });
  const formHost = h("section", { class: "card schedule-form-card", "aria-labelledby": "schedule-form-title" });
  const page = { ctx, report, base, schedules, destinations, listHost, formHost };
  page.reload = async () => {
    page.schedules = await api.listAll(`${base}/schedules`, { signal: ctx.signal });
    renderList(page);
  };
  page.edit = (schedule) => {
    renderForm(page, schedule);
    formHost.querySelector("input")?.focus();
  };
  renderList(page);
  renderForm(page, null);
  const rules = h("div", { hidden: report.scheduled === false }, listHost, formHost);
  const manualOnly = h("p", { class: "muted", hidden: report.scheduled !== false },
    "Scheduled generation is off: the report runs only when asked (Run now, the API). Its schedules are kept and fire again when it is switched on.");
  return h(
    "section",
    {},
    pageHeader(`Schedule · ${report.name}`, runNowButton(report)),
    reportTabs(report.id, "schedule"),
    report.enabled ? null : h("p", { class: "callout warn" }, `${report.name} is disabled: its schedules do not fire until it is enabled again.`),
    scheduledSwitch(page, (on) => {
      rules.hidden = !on;
      manualOnly.hidden = on;
    }),
    manualOnly,
    rules,
  );
}

/** Seed 003's "Enable scheduled generation", saved on the report as soon as it is switched. */
function scheduledSwitch(page, shown) {
  const { report } = page;
  const input = h("input", {
    type: "checkbox",
    role: "switch",
    checked: report.scheduled !== false,
    onchange: async () => {
      const wanted = input.checked;
      input.disabled = true;
      try {
        const saved = await api.patch(api.ws(`/reports/${encodeURIComponent(report.id)}`), { scheduled: wanted, version: report.version });
        Object.assign(report, saved);
        shown(wanted);
        toast(wanted ? `Scheduled generation on: ${report.name} runs on its schedules.` : `Scheduled generation off: ${report.name} runs only when asked.`, "success");
      } catch (e) {
        input.checked = !wanted;
        toast(e.message, "error");
      } finally {
        input.disabled = false;
      }
    },
  });
  const hold = report.hold_for_review ? " Deliveries wait for review either way." : "";
  return h("div", { class: "card" },
    h("label", { class: "switch" }, input, h("span", {}, "Enable scheduled generation")),
    h("p", { class: "hint" }, `When off, the report is manual-only; when on, it runs on the schedules below.${hold}`));
}

// ---------------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------------

function renderList(page) {
  const heading = h("h2", { id: "schedules-title", tabindex: "-1" }, "Schedules");
  if (!page.schedules.length) {
    replace(
      page.listHost,
      heading,
      emptyState(
        "No schedules yet",
        `${page.report.name} runs only when asked. Add a schedule below to run it on a cadence.`,
        button("Add a schedule", () => page.formHost.querySelector("input")?.focus(), { kind: "primary" }),
      ),
    );
    return;
  }
  const names = new Map(page.destinations.map((d) => [d.id, d.name]));
  replace(
    page.listHost,
    heading,
    table(
      [
        { label: "Name", cell: (s) => h("div", {}, h("span", { class: "strong" }, s.name), h("p", { class: "muted small" }, describeRule(s.rule))) },
        { label: "Timezone", cell: (s) => s.timezone, className: "hide-narrow" },
        { label: "Next fire", cell: (s) => nextFire(s) },
        { label: "Status", cell: scheduleStatus },
        { label: "Destinations", cell: (s) => (s.destinations.length ? s.destinations.map((d) => names.get(d) ?? d).join(", ") : h("span", { class: "muted" }, "The report's deliveries")), className: "hide-narrow" },
        { label: "Actions", cell: (s) => rowActions(page, s), className: "row-actions" },
      ],
      page.schedules,
      { caption: `Schedules of ${page.report.name}` },
    ),
  );
}

function nextFire(s) {
  if (!s.enabled) return h("span", { class: "muted" }, "Paused");
  if (!s.next_run_at) return h("span", { class: "muted" }, "No further fire time");
  return h("div", {}, localTime(s.next_run_at, s.timezone), h("p", { class: "muted small" }, fmtUtc(s.next_run_at)));
}

function rowActions(page, s) {
  const path = api.ws(`/schedules/${encodeURIComponent(s.id)}`);
  const toggle = button(s.enabled ? "Pause" : "Resume", () =>
    busy(toggle, async () => {
      try {
        await api.patch(path, { enabled: !s.enabled, version: s.version });
        toast(`${s.name} ${s.enabled ? "paused: it no longer fires" : "resumed: it fires from its next time"}.`, "success");
        await page.reload();
        page.listHost.querySelector(`[data-toggle="${s.id}"]`)?.focus();
      } catch (e) {
        toast(e.message, "error");
      }
    }),
  { "aria-label": `${s.enabled ? "Pause" : "Resume"} ${s.name}`, "data-toggle": s.id });
  const del = button("Delete", async () => {
    const ok = await confirmDialog(`Delete the schedule “${s.name}”? Past runs stay.`, { confirmLabel: "Delete schedule", danger: true, title: "Delete schedule" });
    if (!ok) return;
    try {
      await api.del(path);
      toast(`${s.name} deleted`, "success");
      await page.reload();
      page.listHost.querySelector("h2")?.focus();
    } catch (e) {
      toast(e.message, "error");
    }
  }, { kind: "danger-link", "aria-label": `Delete ${s.name}` });
  return h("div", { class: "actions" }, button("Edit", () => page.edit(s), { "aria-label": `Edit ${s.name}` }), toggle, del);
}

/** An instant in a zone, falling back to UTC when the browser does not know the zone. */
function localTime(iso, timeZone) {
  try {
    return fmtTime(iso, { timeZone });
  } catch {
    return fmtUtc(iso);
  }
}

// ---------------------------------------------------------------------------------------------
// The rule in words
// ---------------------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

/** A stored or edited rule as a sentence ("Monthly on the last Friday at 09:00"). */
export function describeRule(rule) {
  if (rule.type === "rrule") return describeText(rule.text);
  return rule.type === "cron" ? describeCron(rule.expression) : describeRecurrence(rule);
}

/** RFC 5545 text the builder cannot draw, named by its RRULE ("RFC 5545: FREQ=MONTHLY;BYMONTHDAY=-1"). */
function describeText(text) {
  const line = String(text).split(/\n|\\n/).find((l) => /^(RRULE:)?FREQ=/i.test(l.trim())) ?? "";
  const extra = /^(RDATE|EXDATE)/im.test(text) ? " (with added or excluded dates)" : "";
  return `RFC 5545: ${line.trim().replace(/^RRULE:/i, "")}${extra}`;
}

function describeCron(expression) {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) return `Cron ${expression}`;
  const [min, hour, dom, mon, dow] = parts;
  const number = /^\d+$/;
  if (mon !== "*" || !number.test(min)) return `Cron ${expression}`;
  if (hour === "*" && dom === "*" && dow === "*") return `Every hour at minute ${Number(min)}`;
  if (!number.test(hour)) return `Cron ${expression}`;
  const at = `at ${pad(hour)}:${pad(min)}`;
  if (dom === "*" && dow === "*") return `Every day ${at}`;
  if (dom === "*" && dow === "1-5") return `Weekdays ${at}`;
  if (dom === "*" && /^[0-7]$/.test(dow)) return `Every ${CRON_DAYS[Number(dow)]} ${at}`;
  if (number.test(dom) && dow === "*") return `Monthly on day ${Number(dom)} ${at}`;
  return `Cron ${expression}`;
}

function dayWords(days) {
  const set = new Set(days);
  if (!days.length || set.size === 7) return "day";
  if (set.size === 5 && ["Mon", "Tue", "Wed", "Thu", "Fri"].every((d) => set.has(d))) return "weekday";
  return DAYS.filter(([d]) => set.has(d)).map(([, name]) => name).join(" or ");
}

function describeRecurrence(r) {
  const start = String(r.start ?? "");
  const time = start.slice(11, 16);
  const date = start.slice(0, 10);
  const every = Number(r.every) || 1;
  const days = r.allowed_days ?? [];
  const until = r.until ? `, until ${r.until}` : "";
  const period = (unit) => (every === 1 ? `Every ${unit}` : `Every ${every} ${unit}s`);
  const filter = days.length && days.length < 7 ? ` on ${dayWords(days)}s` : "";
  switch (r.trigger) {
    case "once":
      return `Once, on ${date} at ${time}`;
    case "hourly":
      return `${period("hour")}${filter} from ${time}${until}`;
    case "daily":
      return `${period("day")}${filter} at ${time}${until}`;
    case "weekly": {
      const on = days.length ? dayWords(days) : weekdayOf(date);
      return `${period("week")} on ${on} at ${time}${until}`;
    }
    case "monthly":
    case "yearly": {
      const unit = r.trigger === "monthly" ? "month" : "year";
      const inMonth = r.trigger === "yearly" ? ` in ${MONTHS[(r.month ?? Number(date.slice(5, 7))) - 1] ?? "?"}` : "";
      let on;
      if (r.occurrence) {
        const n = Number(r.occurrence);
        const nth = r.count_from_end ? (n === 1 ? "last" : `${ORDINALS[n - 1]}-to-last`) : ORDINALS[n - 1];
        on = `the ${nth} ${dayWords(days)}`;
      } else {
        on = `day ${Number(date.slice(8, 10))}${filter ? ` when it falls${filter}` : ""}`;
      }
      return `${period(unit)}${inMonth} on ${on} at ${time}${until}`;
    }
    default:
      return "Recurrence rule";
  }
}

function weekdayOf(date) {
  const d = new Date(`${date}T12:00:00Z`);
  return Number.isNaN(d.getTime()) ? "the start's weekday" : DAYS[(d.getUTCDay() + 6) % 7][1];
}

// ---------------------------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------------------------

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** Every IANA zone the browser knows, UTC first when it lacks it. */
export function zones() {
  try {
    const list = Intl.supportedValuesOf("timeZone");
    return list.includes("UTC") ? list : ["UTC", ...list];
  } catch {
    return ["UTC"];
  }
}

/** Tomorrow 08:00 in the browser, as a `datetime-local` value. */
function defaultStart() {
  const d = new Date(Date.now() + 86400000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T08:00`;
}

/** Builds the inputs of the form, filled from `schedule` (or the defaults of a new one). */
function buildInputs(page, schedule) {
  const rule = schedule?.rule ?? { type: "cron", expression: PRESETS[1][1] };
  const rec = rule.type === "recurrence" ? rule : null;
  const cronValue = rule.type === "cron" ? rule.expression : PRESETS[1][1];
  const inputs = {
    name: h("input", { type: "text", name: "name", value: schedule?.name ?? "", required: true, autocomplete: "off" }),
    modes: MODES.map(([value, label]) => ({ value, label, input: h("input", { type: "radio", name: "mode", value, checked: value === (rule.type === "rrule" ? "text" : rec ? "recurrence" : "cron"), id: `schedule-mode-${value}` }) })),
    rruleText: h("textarea", { name: "rrule", class: "code schedule-rrule-input", spellcheck: "false", value: schedule?.rrule ?? RRULE_EXAMPLE }),
    preset: select([["", "Custom"], ...PRESETS.map(([label, cron]) => [cron, label])], PRESETS.find(([, c]) => c === cronValue)?.[1] ?? "", { name: "preset" }),
    cron: h("input", { type: "text", name: "cron", value: cronValue, class: "mono", spellcheck: "false", autocomplete: "off" }),
    trigger: select(TRIGGERS, rec?.trigger ?? "monthly", { name: "trigger" }),
    every: h("input", { type: "number", name: "every", min: "1", max: "1000", value: String(rec?.every ?? 1) }),
    start: h("input", { type: "datetime-local", name: "start", value: rec ? String(rec.start).slice(0, 16) : defaultStart() }),
    until: h("input", { type: "date", name: "until", value: rec?.until ?? "" }),
    month: select([["", "The start's month"], ...MONTHS.map((m, i) => [String(i + 1), m])], String(rec?.month ?? ""), { name: "month" }),
    occurrence: select([["", "Any (a fixed date)"], ...ORDINALS.map((o, i) => [String(i + 1), o])], String(rec?.occurrence ?? ""), { name: "occurrence" }),
    fromEnd: checkbox("Start at the end and count backwards (1st = last)", !!rec?.count_from_end, { name: "count_from_end" }),
    days: DAYS.map(([code, label]) => ({ code, ...checkbox(label, !!rec?.allowed_days?.includes(code), { name: "allowed_days", value: code }) })),
    timezone: h("input", { type: "text", name: "timezone", list: "schedule-zones", value: schedule?.timezone ?? browserZone(), autocomplete: "off", spellcheck: "false" }),
    enabled: checkbox("Enabled (fires on its schedule)", schedule ? schedule.enabled : true, { name: "enabled" }),
    destinations: page.destinations.map((d) => ({ id: d.id, ...checkbox(`${d.name} (${d.type})`, !!schedule?.destinations?.includes(d.id), { name: "destinations", value: d.id }) })),
    after: h("input", { type: "date", name: "after" }),
    overlap: select(OVERLAP, schedule?.overlap ?? "buffer_one", { name: "overlap" }),
    catchUp: h("input", { type: "number", name: "catch_up_minutes", min: "0", max: "10080", value: String(schedule?.catch_up_minutes ?? 60) }),
  };
  inputs.previewSeq = 0;
  inputs.ruleError = h("p", { class: "field-error", id: "schedule-rule-error", role: "alert", hidden: true });
  return inputs;
}

/** The way the rule is written: `cron`, `recurrence` or `text`. */
const modeOf = (inputs) => inputs.modes.find((m) => m.input.checked)?.value ?? "cron";

/** The rule as the API takes it, from the form. */
function ruleOf(inputs) {
  const mode = modeOf(inputs);
  if (mode === "cron") return { type: "cron", expression: inputs.cron.value.trim() };
  if (mode === "text") return { type: "rrule", text: inputs.rruleText.value.trim() };
  const trigger = inputs.trigger.value;
  const rule = {
    type: "recurrence",
    trigger,
    every: inputs.every.value === "" ? 1 : Number(inputs.every.value),
    start: inputs.start.value ? `${inputs.start.value.slice(0, 16)}:00` : "",
    until: inputs.until.value || null,
    allowed_days: inputs.days.filter((d) => d.input.checked).map((d) => d.code),
    occurrence: null,
    count_from_end: false,
  };
  if (trigger === "yearly") rule.month = Number(inputs.month.value) || null;
  if ((trigger === "monthly" || trigger === "yearly") && inputs.occurrence.value) {
    rule.occurrence = Number(inputs.occurrence.value);
    rule.count_from_end = inputs.fromEnd.input.checked;
  }
  return rule;
}

/** Which inputs show an API field error; `rule` errors go next to the cron field or the builder. */
function errorTarget(inputs, fieldName) {
  const map = {
    name: inputs.name, timezone: inputs.timezone, "rule.expression": inputs.cron, "rule.every": inputs.every,
    "rule.start": inputs.start, "rule.text": inputs.rruleText, catch_up_minutes: inputs.catchUp, "rule.until": inputs.until, "rule.month": inputs.month, "rule.occurrence": inputs.occurrence,
  };
  if (map[fieldName]) return map[fieldName];
  if (fieldName === "rule" && modeOf(inputs) === "cron") return inputs.cron;
  if (fieldName === "rule" && modeOf(inputs) === "text") return inputs.rruleText;
  return null;
}

const ERROR_INPUTS = ["name", "timezone", "cron", "rruleText", "every", "start", "until", "month", "occurrence", "catchUp"];

/** Links each input to its error line, so an error shown later is read with the field. */
function linkErrors(inputs) {
  for (const key of ERROR_INPUTS) {
    const input = inputs[key];
    const ids = new Set((input.getAttribute("aria-describedby") ?? "").split(" ").filter(Boolean));
    ids.add(`${input.id}-error`);
    input.setAttribute("aria-describedby", [...ids].join(" "));
  }
}

function clearErrors(inputs, { keepName = false } = {}) {
  for (const key of ERROR_INPUTS) if (!(keepName && key === "name")) setFieldError(inputs[key], null);
  inputs.ruleError.hidden = true;
  inputs.ruleError.textContent = "";
}

/** Shows a 422's field errors next to their fields; the rest in the rule's error line. Returns true if shown. */
function showErrors(inputs, err) {
  if (!(err instanceof ApiError) || (err.status !== 422 && err.status !== 400)) return false;
  const errors = err.fieldErrors();
  const rest = [];
  for (const [fieldName, message] of Object.entries(errors)) {
    const target = errorTarget(inputs, fieldName);
    if (target) setFieldError(target, message);
    else rest.push(fieldName.startsWith("destinations") ? `Destinations: ${message}` : message);
  }
  if (!Object.keys(errors).length) rest.push(err.details?.reason ?? err.message);
  if (rest.length) {
    inputs.ruleError.textContent = rest.join(" ");
    inputs.ruleError.hidden = false;
  }
  return true;
}

function renderForm(page, schedule) {
  page.cancelPreview?.();
  const inputs = buildInputs(page, schedule);
  const editing = !!schedule;
  const cronPanel = h(
    "div",
    { class: "schedule-panel", id: "schedule-cron-panel" },
    h("div", { class: "row" }, field("Preset", inputs.preset), field("Cron expression", inputs.cron, { hint: "Five fields: minute hour day-of-month month day-of-week, e.g. 0 8 * * 1" })),
  );
  const daysSet = h("fieldset", { class: "schedule-days" }, h("legend", {}, "Allowed days"), h("div", { class: "schedule-day-list" }, inputs.days.map((d) => d.node)), h("p", { class: "hint" }, "None ticked: every day (weekly: the start's weekday)."));
  const monthField = field("Month", inputs.month, { className: "only-yearly" });
  const occurrenceField = field("At which possible occurrence of the day", inputs.occurrence, { className: "only-nth" });
  const everyField = field("Every", inputs.every, { className: "not-once", hint: UNITS[inputs.trigger.value] || " " });
  const untilField = field("Until (inclusive; empty: forever)", inputs.until, { className: "not-once" });
  const recPanel = h(
    "div",
    { class: "schedule-panel", id: "schedule-recurrence-panel" },
    h("div", { class: "row" }, field("Trigger", inputs.trigger), everyField),
    h("div", { class: "row" }, field("Start", inputs.start, { hint: "Local date and time; it sets the time of day." }), untilField),
    daysSet,
    h("div", { class: "row only-nth" }, monthField, occurrenceField),
    h("div", { class: "only-nth" }, inputs.fromEnd.node),
    inputs.ruleError,
  );
  const textPanel = h(
    "div",
    { class: "schedule-panel", id: "schedule-text-panel" },
    field("Rule as RFC 5545 text", inputs.rruleText, { hint: "A DTSTART line, an RRULE line with any RFC 5545 parts (COUNT, BYMONTHDAY=-1, BYSETPOS lists, BYWEEKNO, WKST…) and any RDATE or EXDATE lines; the DTSTART's TZID is the timezone (UTC when it ends in Z). A rule the builder can draw opens in the builder next time." }),
  );
  const timezoneField = field("Timezone", inputs.timezone, { hint: "An IANA zone; the rule's times are read in it." });
  const words = h("p", { class: "schedule-words", "aria-live": "polite" });
  const previewBody = h("div", { role: "status", "aria-live": "polite", class: "schedule-preview-body" });
  const submit = button(editing ? "Save changes" : "Add schedule", null, { kind: "primary", type: "submit" });

  const sync = () => {
    const mode = modeOf(inputs);
    cronPanel.hidden = mode !== "cron";
    recPanel.hidden = mode !== "recurrence";
    textPanel.hidden = mode !== "text";
    timezoneField.hidden = mode === "text";
    const trigger = inputs.trigger.value;
    const nth = trigger === "monthly" || trigger === "yearly";
    recPanel.querySelectorAll(".only-nth").forEach((el) => (el.hidden = !nth));
    monthField.hidden = trigger !== "yearly";
    recPanel.querySelectorAll(".not-once").forEach((el) => (el.hidden = trigger === "once"));
    everyField.querySelector(".hint").textContent = UNITS[trigger] || " ";
    inputs.fromEnd.input.disabled = !inputs.occurrence.value;
    if (mode !== "recurrence") inputs.ruleError.hidden = true;
    words.textContent = ruleReady(inputs) && mode !== "text" ? describeRule(ruleOf(inputs)) : "";
  };
  const preview = debounce(() => refreshPreview(page, inputs, previewBody), 400);
  page.cancelPreview = () => {
    preview.cancel();
    inputs.previewSeq++;
  };
  const changed = () => {
    sync();
    clearErrors(inputs, { keepName: true });
    preview();
  };
  inputs.preset.addEventListener("change", () => {
    if (inputs.preset.value) inputs.cron.value = inputs.preset.value;
  });
  inputs.cron.addEventListener("input", () => {
    inputs.preset.value = PRESETS.find(([, c]) => c === inputs.cron.value.trim())?.[1] ?? "";
  });
  const form = h(
    "form",
    {
      class: "schedule-form",
      novalidate: true,
      oninput: (e) => e.target !== inputs.name && changed(),
      onchange: (e) => e.target !== inputs.name && changed(),
      onsubmit: (e) => {
        e.preventDefault();
        busy(submit, () => save(page, schedule, inputs));
      },
    },
    h(
      "div",
      { class: "grid-2" },
      h(
        "div",
        {},
        field("Schedule name", inputs.name, { hint: "Shown in the list and on the runs it starts." }),
        h(
          "fieldset",
          {},
          h("legend", {}, "Rule"),
          h("div", { class: "row schedule-modes" }, inputs.modes.map((m) => h("div", { class: "check" }, m.input, h("label", { for: m.input.id }, m.label)))),
          cronPanel,
          recPanel,
          textPanel,
          words,
        ),
        timezoneField,
        h("datalist", { id: "schedule-zones" }, zones().map((z) => h("option", { value: z }))),
        destinationsSet(page, inputs),
        inputs.enabled.node,
        h(
          "details",
          { class: "schedule-advanced", open: editing && (schedule.overlap !== "buffer_one" || schedule.catch_up_minutes !== 60) },
          h("summary", {}, "Overlap and missed fire times"),
          field("When a fire time comes while the previous run is still going", inputs.overlap),
          field("Catch-up window (minutes)", inputs.catchUp, { hint: "A fire time missed while Herald was down still runs once if it is younger than this (0–10080)." }),
        ),
        h("div", { class: "actions schedule-submit" }, submit, editing ? button("Cancel", () => renderForm(page, null)) : null),
      ),
      h(
        "aside",
        { class: "schedule-preview", "aria-labelledby": "schedule-preview-title" },
        h("h3", { id: "schedule-preview-title" }, "Next fire times"),
        field("Show times after (empty: now)", inputs.after),
        previewBody,
      ),
    ),
  );
  replace(page.formHost, h("h2", { id: "schedule-form-title" }, editing ? `Edit schedule “${schedule.name}”` : "Add a schedule"), form);
  linkErrors(inputs);
  sync();
  refreshPreview(page, inputs, previewBody);
}

function destinationsSet(page, inputs) {
  const legend = h("legend", {}, "Destinations");
  if (!inputs.destinations.length) {
    return h("fieldset", {}, legend, h("p", { class: "muted small" }, "No destinations yet: runs go to the report's own deliveries. ", h("a", { href: "#/destinations" }, "Add a destination")));
  }
  return h("fieldset", {}, legend, inputs.destinations.map((d) => d.node), h("p", { class: "hint" }, "None ticked: the report's own deliveries."));
}

/** True when the form holds enough of a rule to preview. */
function ruleReady(inputs) {
  const mode = modeOf(inputs);
  if (mode === "cron") return !!inputs.cron.value.trim();
  if (mode === "text") return !!inputs.rruleText.value.trim();
  return !!inputs.start.value;
}

/** What to enter when the rule is still empty, per mode. */
const EMPTY_RULE = {
  cron: "Enter a cron expression to see its fire times.",
  recurrence: "Pick a start date and time to see the fire times.",
  text: "Enter a DTSTART and an RRULE line to see the fire times.",
};

/** The timezone to send: none for RFC 5545 text, which names its own. */
function zoneOf(inputs) {
  return modeOf(inputs) === "text" ? undefined : inputs.timezone.value.trim() || "UTC";
}

/** What the browser can tell before asking the API: `[input, message]`, or null when fine. */
function localProblem(inputs) {
  const mode = modeOf(inputs);
  if (mode !== "text" && !inputs.timezone.value.trim()) return [inputs.timezone, "Pick a timezone"];
  if (!ruleReady(inputs)) return [{ cron: inputs.cron, recurrence: inputs.start, text: inputs.rruleText }[mode], EMPTY_RULE[mode]];
  const every = inputs.every.value;
  if (mode === "recurrence" && every !== "" && !/^\d+$/.test(every)) return [inputs.every, "Enter a whole number from 1 to 1000"];
  return null;
}

/** Shows the next fire times of the form's rule in `host`; only the latest answer is shown. */
async function refreshPreview(page, inputs, host) {
  const seq = ++inputs.previewSeq;
  const problem = localProblem(inputs);
  if (problem) {
    if (ruleReady(inputs)) setFieldError(...problem);
    replace(host, h("p", { class: "muted" }, ruleReady(inputs) ? `No preview: ${problem[1]}.` : EMPTY_RULE[modeOf(inputs)]));
    return;
  }
  const body = { rule: ruleOf(inputs), timezone: zoneOf(inputs), count: PREVIEW_COUNT };
  if (inputs.after.value) body.after = `${inputs.after.value}T00:00:00Z`;
  host.setAttribute("aria-busy", "true");
  try {
    const result = await api.post(api.ws("/schedules/preview"), body, { signal: page.ctx.signal });
    if (seq !== inputs.previewSeq) return;
    replace(host, previewList(result));
  } catch (e) {
    if (e.name === "AbortError" || seq !== inputs.previewSeq) return;
    showErrors(inputs, e);
    const reasons = e instanceof ApiError ? [...Object.values(e.fieldErrors()), e.details?.reason].filter(Boolean) : [];
    replace(host, h("p", { class: "callout bad" }, "No preview: ", reasons.length ? reasons.join(" ") : e.message));
  } finally {
    if (seq === inputs.previewSeq) host.removeAttribute("aria-busy");
  }
}

function previewList(result) {
  if (!result.occurrences.length) {
    return h("p", { class: "callout warn" }, "Your rule selects no dates: usually Allowed Days exclude the weekday a fixed-date rule lands on.");
  }
  const moved = result.occurrences.some((o) => o.dst_shifted);
  return h(
    "div",
    {},
    h(
      "ol",
      { class: "schedule-times", "aria-label": `Next ${result.occurrences.length} fire times` },
      result.occurrences.map((o) =>
        h(
          "li",
          { class: o.dst_shifted ? "dst-moved" : null },
          h("span", { class: "schedule-local" }, localTime(o.at, result.timezone)),
          o.dst_shifted ? h("span", { class: "badge tone-warn", title: "The named local time does not exist that day; it runs after the clocks change." }, "Moved by DST") : null,
          h("span", { class: "muted small schedule-utc" }, fmtUtc(o.at)),
        ),
      ),
    ),
    moved ? h("p", { class: "hint" }, "Moved by DST: the clocks skip the named local time that day, so it runs at the time shown.") : null,
    result.rrule ? h("details", {}, h("summary", {}, "As RFC 5545 text"), h("pre", { class: "schedule-rrule" }, result.rrule)) : null,
  );
}

async function save(page, schedule, inputs) {
  clearErrors(inputs);
  const name = inputs.name.value.trim();
  if (!name) {
    setFieldError(inputs.name, "Give the schedule a name");
    inputs.name.focus();
    return;
  }
  const problem = localProblem(inputs) ?? (/^\d+$/.test(inputs.catchUp.value) ? null : [inputs.catchUp, "Enter a whole number of minutes from 0 to 10080"]);
  if (problem) {
    setFieldError(...problem);
    problem[0].focus();
    return;
  }
  const body = {
    name,
    rule: ruleOf(inputs),
    timezone: zoneOf(inputs),
    enabled: inputs.enabled.input.checked,
    destinations: inputs.destinations.filter((d) => d.input.checked).map((d) => d.id),
    overlap: inputs.overlap.value,
    catch_up_minutes: Number(inputs.catchUp.value),
  };
  try {
    let saved;
    if (schedule) {
      saved = await api.patch(api.ws(`/schedules/${encodeURIComponent(schedule.id)}`), { ...body, version: schedule.version });
    } else {
      saved = await api.post(`${page.base}/schedules`, body);
    }
    toast(`${saved.name} ${schedule ? "saved" : "added"}: next fire ${saved.next_run_at ? fmtUtc(saved.next_run_at) : "none"}.`, "success");
    await page.reload();
    renderForm(page, null);
  } catch (e) {
    if (!showErrors(inputs, e)) toast(e.message, "error");
    page.formHost.querySelector("[aria-invalid='true']")?.focus();
  }
}

/**
 * A schedule's state: on or paused, what became of its last slot, how the run that slot
 * started ended (with a link to it), and why it failed.
 */
function scheduleStatus(s) {
  const words = (text) => String(text).replace(/_/g, " ");
  const lastRun = s.last_run_status
    ? h("p", { class: "small" }, "Last run: ", badge(s.last_run_status), s.last_run_id ? [" ", h("a", { href: `#/runs/${encodeURIComponent(s.last_run_id)}` }, "open")] : null)
    : null;
  return h(
    "div",
    {},
    badge(s.enabled ? "active" : "paused"),
    s.last_status ? h("p", { class: "muted small" }, `Last slot: ${words(s.last_status)}`) : null,
    lastRun,
    s.last_error ? h("p", { class: "field-error" }, s.last_error) : null,
  );
}
