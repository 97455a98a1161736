// The reports list: every report of the workspace with Run now (asking for the run's parameter
// values first when the report has any; a toast names the run), enable/disable and delete,
// and the way into the editor, schedules and runs of each.

import { api, workspaceZone } from "../api.js";
import { derivedValue, isDerived, isWallClock } from "../dates.js";
import { typedParam } from "./editor.js";
import { badge, busy, button, confirmDialog, emptyState, field, fmtTime, formDialog, h, pageHeader, table, toast } from "../ui.js";

export async function render(ctx) {
  const list = await api.listAll(api.ws("/reports"), { signal: ctx.signal });
  const newReport = h("a", { class: "btn btn-primary", href: "#/reports/new" }, "New report");
  if (!list.length) {
    return h(
      "section",
      {},
      pageHeader("Reports", newReport),
      emptyState("No reports yet", "A report reads data sources, lays them out in sections and renders PDF, CSV, Markdown or HTML.", h("a", { class: "btn btn-primary", href: "#/reports/new" }, "Create your first report")),
    );
  }
  const rows = list.slice().sort((a, b) => a.name.localeCompare(b.name));
  return h(
    "section",
    {},
    pageHeader("Reports", newReport),
    table(
      [
        { label: "Name", cell: (r) => h("div", {}, h("a", { href: `#/reports/${encodeURIComponent(r.id)}`, class: "strong" }, r.name), r.description ? h("p", { class: "muted small" }, r.description) : null) },
        { label: "Code", cell: (r) => h("code", {}, r.code), className: "hide-narrow" },
        { label: "Formats", cell: (r) => r.formats.join(", ").toUpperCase(), className: "hide-narrow" },
        { label: "Enabled", cell: (r) => enabledSwitch(r) },
        { label: "Updated", cell: (r) => fmtTime(r.updated_at), className: "hide-narrow" },
        { label: "Actions", cell: (r) => actions(r, ctx), className: "row-actions" },
      ],
      rows,
      { caption: "Reports" },
    ),
  );
}

function enabledSwitch(report) {
  const state = h("span", { "aria-hidden": "true" }, report.enabled ? "On" : "Off");
  const input = h("input", {
    type: "checkbox",
    role: "switch",
    checked: report.enabled,
    "aria-label": `Enabled: ${report.name}`,
    onchange: async () => {
      const wanted = input.checked;
      input.disabled = true;
      try {
        const saved = await api.patch(api.ws(`/reports/${encodeURIComponent(report.id)}`), { enabled: wanted, version: report.version });
        Object.assign(report, saved);
        state.textContent = saved.enabled ? "On" : "Off";
        toast(`${report.name} ${wanted ? "enabled" : "disabled"}: its schedules ${wanted ? "fire again" : "no longer fire"}.`, "success");
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

function actions(report, ctx) {
  const id = encodeURIComponent(report.id);
  const run = button("Run now", async () => {
    const params = await parameterValues(report);
    if (params === null) return;
    await busy(run, async () => {
      try {
        const started = await api.post(api.ws(`/reports/${id}/runs`), { params });
        toast(h("span", {}, "Run ", h("a", { href: `#/runs/${encodeURIComponent(started.id)}` }, started.id), " started: ", badge(started.status)), "success");
      } catch (e) {
        // A required parameter without a value is named, so the user knows what to set.
        toast(typeof e.summary === "function" ? e.summary() : e.message, "error");
      }
    });
  },
  { "aria-label": `Run now: ${report.name}` });
  const del = button("Delete", async () => {
    const ok = await confirmDialog(`Delete “${report.name}”? Past runs and their files stay.`, { confirmLabel: "Delete report", danger: true, title: "Delete report" });
    if (!ok) return;
    try {
      await api.del(api.ws(`/reports/${id}`));
      toast(`${report.name} deleted`, "success");
      ctx.navigate("/reports");
    } catch (e) {
      toast(e.message, "error");
    }
  }, { kind: "danger-link", "aria-label": `Delete ${report.name}` });
  return h(
    "div",
    { class: "actions" },
    run,
    h("a", { class: "btn btn-secondary", href: `#/reports/${id}/schedule`, "aria-label": `Schedule ${report.name}` }, "Schedule"),
    h("a", { class: "btn btn-secondary", href: `#/reports/${id}/runs`, "aria-label": `Runs of ${report.name}` }, "Runs"),
    del,
  );
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
