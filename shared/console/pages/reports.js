// The reports list: every report of the workspace with Run now (asking for the run's parameter
// values first when the report has any; a toast names the run), enable/disable and delete,
// and the way into the editor, schedules and runs of each.

import { api } from "../api.js";
import { runNowButton } from "./run-now.js";
import { button, confirmDialog, emptyState, fmtTime, h, pageHeader, table, toast } from "../ui.js";

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
  const run = runNowButton(report);
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
