// Run now, wherever a report is shown (the reports list, and the report's own Editor, Schedule
// and Runs tabs): asks for the run's parameter values when the report has any, starts the run
// of the saved report, and names it in a toast that links to it.

import { api, workspaceZone } from "../api.js";
import { derivedValue, isDerived, isWallClock } from "../dates.js";
import { badge, busy, button, field, formDialog, h, toast } from "../ui.js";

/** The Run now button of `report` (its saved version); `label` names it for assistive technology. */
export function runNowButton(report, { label = `Run now: ${report.name}`, kind = null } = {}) {
  const run = button("Run now", async () => {
    const params = await parameterValues(report);
    if (params === null) return;
    await busy(run, async () => {
      try {
        const started = await api.post(api.ws(`/reports/${encodeURIComponent(report.id)}/runs`), { params });
        toast(h("span", {}, "Run ", h("a", { href: `#/runs/${encodeURIComponent(started.id)}` }, started.id), " started: ", badge(started.status)), "success");
      } catch (e) {
        // A required parameter without a value is named, so the user knows what to set.
        toast(typeof e.summary === "function" ? e.summary() : e.message, "error");
      }
    });
  },
  { "aria-label": label, kind });
  return run;
}

/** A parameter's value typed in a text input, as the API takes it (a number that is not one is sent as typed, for the API to name). */
export function typedParam(p, raw) {
  if (p.type === "number") return Number.isFinite(Number(raw)) ? Number(raw) : raw;
  if (p.type === "boolean") return raw === "true";
  return raw;
}

/**
 * The values of this one run, asked for in a dialog prefilled with the saved defaults (a
 * derived date or time shows the value it gives now in the workspace's timezone, and is left
 * to the server, which works it out as the run starts, unless changed): `{}` when the report
 * takes none, null when the user cancels. Parameters filled from the repeating row are not
 * asked for.
 */
function parameterValues(report) {
  const asked = (report.parameters ?? []).filter((p) => !p.from_row);
  if (!asked.length) return Promise.resolve({});
  const zone = workspaceZone();
  const inputs = asked.map((p) => {
    const saved = p.default ?? null;
    const dated = p.type === "date" || p.type === "datetime";
    const derived = dated && isDerived(saved);
    const initial = derived ? derivedValue(p.type, saved, new Date(), zone) : saved === null ? "" : String(saved);
    const type = p.type === "date" ? "date" : p.type === "datetime" && (initial === "" || isWallClock(initial)) ? "datetime-local" : "text";
    const input =
      p.type === "boolean"
        ? h("select", {}, ...[["", "No value"], ["true", "Yes"], ["false", "No"]].map(([v, l]) => h("option", { value: v, selected: v === initial }, l)))
        : h("input", { type, step: type === "datetime-local" ? "1" : null, value: initial, inputmode: p.type === "number" ? "decimal" : null, required: p.required });
    const now = p.type === "datetime" ? "now" : "today";
    const hint = [p.description, derived ? `Default: ${saved.replaceAll("_", " ")}, ${initial.replace("T", " ")} ${now} (${zone}).` : null].filter(Boolean).join(" ");
    return { p, input, derived, initial, node: field(p.name + (p.required ? " (required)" : ""), input, { hint: hint || null }) };
  });
  const values = () => {
    const params = {};
    for (const { p, input, derived, initial } of inputs) {
      const raw = input.value.trim();
      if (raw !== "" && !(derived && raw === initial)) params[p.name] = typedParam(p, raw);
    }
    return params;
  };
  const intro = h("p", { class: "muted" }, "Values for this run only; the saved defaults stay as they are.");
  return formDialog(`Run ${report.name} now`, [intro, ...inputs.map((i) => i.node)], {
    confirmLabel: "Run now",
    read: values,
    focus: inputs[0].input,
  });
}
