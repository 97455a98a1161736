// Runs: every run of the workspace (or of one report) with filters and "Load more", and one
// run in detail — its summary and buckets, polled while it works; its entries with files,
// per-destination deliveries (retry a failed one) and review decisions (approve, reject,
// deliver, in bulk too); the consolidated review document; and cancelling a running run.

import { api } from "../api.js";
import { runNowButton } from "./run-now.js";
import {
  badge, busy, button, confirmDialog, emptyState, errorState, field, fmtBytes, fmtDuration, fmtTime, h, loading,
  pageHeader, promptDialog, replace, reportTabs, select, toast,
} from "../ui.js";

/** How often a run that is not finished is read again. */
const POLL_MS = 1500;
/** Runs per page. */
const PAGE = 25;
/** Entries shown at first, and added by "Show more entries". */
const SHOWN = 25;

const RUN_STATUSES = ["preparing", "running", "awaiting_review", "finished", "failed", "cancelled"];
const TRIGGERS = ["manual", "schedule", "api"];
const ENTRY_STATUSES = [
  "ParametersPrepared", "Queued", "InProgress", "PendingReview", "Completed", "CompletedWithErrors",
  "GenerationFailed", "DeliveryFailed", "Cancelled",
];
const BUCKETS = ["queued", "completed", "errors", "review", "cancelled"];

/** "3 errors", "1 error", "2 held for review": a bucket's count in words. */
const bucketWords = (bucket, n) => ({ errors: n === 1 ? "error" : "errors", review: "held for review" })[bucket] ?? bucket;

/** Entry statuses in words, each with the tone of its bucket. */
const ENTRY_LABEL = {
  ParametersPrepared: ["prepared", "queued"], Queued: ["queued", "queued"], InProgress: ["in progress", "running"],
  PendingReview: ["held for review", "held"], Completed: ["completed", "completed"],
  CompletedWithErrors: ["completed with errors", "completed_with_errors"], GenerationFailed: ["generation failed", "failed"],
  DeliveryFailed: ["delivery failed", "failed"], Cancelled: ["cancelled", "cancelled"],
};

export async function render(ctx) {
  if (ctx.view === "detail") return renderDetail(ctx, ctx.params[0]);
  return renderList(ctx, ctx.view === "report" ? ctx.params[0] : null);
}

/* ---------- Lists ---------- */

async function renderList(ctx, reportId) {
  const filters = { status: ctx.query.get("status") ?? "", trigger: ctx.query.get("trigger") ?? "", report: reportId ?? ctx.query.get("report") ?? "" };
  const [reports, report] = await Promise.all([
    reportId ? null : api.listAll(api.ws("/reports"), { signal: ctx.signal }),
    reportId ? api.get(api.ws(`/reports/${encodeURIComponent(reportId)}`), { signal: ctx.signal }) : null,
  ]);
  const names = new Map((reports ?? [report]).map((r) => [r.id, r.name]));
  const base = reportId ? `/reports/${encodeURIComponent(reportId)}/runs` : "/runs";
  const body = h("div", {}, loading("Loading runs…"));
  const page = h(
    "section",
    {},
    pageHeader(report ? `Runs of ${report.name}` : "Runs", report ? runNowButton(report) : null),
    report ? reportTabs(report.id, "runs") : null,
    filterBar(ctx, base, filters, reports),
    body,
  );
  await loadRuns(ctx, body, filters, names, base);
  return page;
}

function filterBar(ctx, base, filters, reports) {
  const apply = () => {
    const q = new URLSearchParams();
    if (status.value) q.set("status", status.value);
    if (trigger.value) q.set("trigger", trigger.value);
    if (report?.value) q.set("report", report.value);
    ctx.navigate(q.size ? `${base}?${q}` : base);
  };
  const status = select([["", "Any status"], ...RUN_STATUSES], filters.status, { onchange: apply });
  const trigger = select([["", "Any trigger"], ...TRIGGERS], filters.trigger, { onchange: apply });
  const report = reports
    ? select([["", "Every report"], ...reports.slice().sort((a, b) => a.name.localeCompare(b.name)).map((r) => [r.id, r.name])], filters.report, { onchange: apply })
    : null;
  return h(
    "form",
    { class: "row runs-filters", role: "search", "aria-label": "Filter runs", onsubmit: (e) => e.preventDefault() },
    field("Status", status),
    field("Trigger", trigger),
    report ? field("Report", report) : null,
  );
}

function runsQuery(filters, cursor) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (filters.status) q.set("status", filters.status);
  if (filters.trigger) q.set("trigger", filters.trigger);
  if (filters.report) q.set("report_id", filters.report);
  if (cursor) q.set("cursor", cursor);
  return api.ws(`/runs?${q}`);
}

/** Fills `body` with the first page of runs, and a "Load more" button while more follow. */
async function loadRuns(ctx, body, filters, names, base) {
  let first;
  try {
    first = await api.get(runsQuery(filters), { signal: ctx.signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    return replace(body, errorState(e, () => loadRuns(ctx, body, filters, names, base)));
  }
  if (!first.data.length) return replace(body, emptyRuns(filters, base));
  const rows = h("tbody", {});
  const more = h("div", { class: "runs-more" });
  const status = h("p", { class: "sr-only", role: "status" });
  const addPage = (listing) => {
    const added = listing.data.map((run) => runRow(run, names));
    rows.append(...added);
    replace(more, listing.has_more ? loadMoreButton(listing.next_cursor) : null);
    status.textContent = `${rows.children.length} runs shown${listing.has_more ? ", more available" : ""}`;
    return added;
  };
  const loadMoreButton = (cursor) => {
    const btn = button("Load more", () =>
      busy(btn, async () => {
        try {
          const added = addPage(await api.get(runsQuery(filters, cursor), { signal: ctx.signal }));
          // The button is gone or replaced: the keyboard goes on at the first run added.
          added[0]?.querySelector("a")?.focus();
        } catch (e) {
          if (e.name !== "AbortError") toast(e.message, "error");
        }
      }));
    return btn;
  };
  replace(
    body,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h("caption", { class: "sr-only" }, "Runs, newest first"),
        h("thead", {}, h("tr", {}, ["Run", "Report", "Trigger", "Created", "Duration", "Entries"].map((label, i) =>
          h("th", { scope: "col", class: i === 2 || i === 3 ? "hide-narrow" : null }, label)))),
        rows,
      ),
    ),
    more,
    status,
  );
  addPage(first);
}

function runRow(run, names) {
  const name = names.get(run.report_id) ?? run.inputs?.report?.name ?? run.report_id;
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(run.id)}`, class: "mono", "aria-label": `Run ${shortId(run.id)}` }, shortId(run.id)), " ", runBadge(run)),
    h("td", {}, h("a", { href: `#/reports/${encodeURIComponent(run.report_id)}/runs` }, name)),
    h("td", { class: "hide-narrow" }, run.trigger),
    h("td", { class: "hide-narrow" }, fmtTime(run.created_at)),
    h("td", {}, duration(run)),
    h("td", {}, bucketSummary(run)),
  );
}

function emptyRuns(filters, base) {
  const filtered = filters.status || filters.trigger || (filters.report && base === "/runs");
  if (filtered) {
    return emptyState("No runs match these filters", "Try another status, trigger or report.", h("a", { class: "btn btn-secondary", href: `#${base}` }, "Clear filters"));
  }
  return emptyState(
    "No runs yet",
    "A run starts when a schedule fires or when someone runs a report now.",
    h("a", { class: "btn btn-primary", href: "#/reports" }, "Go to reports to run one"),
  );
}

/** A run's status; a finished run with failed or held entries shows in the colour of a warning. */
function runBadge(run) {
  const tone = { preparing: "queued", running: "running", awaiting_review: "held", failed: "failed", cancelled: "cancelled" }[run.status];
  const word = String(run.status).replaceAll("_", " ");
  return toneBadge(word, tone ?? (run.counts?.errors ? "completed_with_errors" : "completed"));
}

/** A badge showing `word` in the colour `badge` gives the status `tone`. */
function toneBadge(word, tone) {
  const b = badge(tone);
  b.textContent = word;
  return b;
}

/** The last 8 characters of an id: enough to tell runs apart at a glance. */
const shortId = (id) => `…${String(id).slice(-8)}`;

function duration(run) {
  if (run.duration_ms !== null && run.duration_ms !== undefined) return fmtDuration(run.duration_ms);
  // Held work waits for a person, not for the workers: no clock running.
  if (run.status === "awaiting_review") return h("span", { class: "muted" }, "waiting for review");
  if (!run.finished && run.started_at) return h("span", { class: "muted" }, `running ${fmtDuration(run.started_at, new Date().toISOString())}`);
  return "—";
}

/** "12 entries: 10 completed · 2 review" — the non-empty buckets of a run. */
function bucketSummary(run) {
  const counts = run.counts ?? {};
  const parts = BUCKETS.filter((b) => counts[b]).map((b) => `${counts[b]} ${bucketWords(b, counts[b])}`);
  return h("span", {}, h("span", { class: "strong" }, `${run.entries ?? 0}`), ` ${run.entries === 1 ? "entry" : "entries"}`, parts.length ? h("span", { class: "muted small" }, `: ${parts.join(" · ")}`) : null);
}

/* ---------- Detail ---------- */

async function renderDetail(ctx, runId) {
  const path = api.ws(`/runs/${encodeURIComponent(runId)}`);
  const [run, destinations] = await Promise.all([
    api.get(path, { signal: ctx.signal }),
    api.listAll(api.ws("/destinations"), { signal: ctx.signal }).catch((e) => {
      if (e.name === "AbortError") throw e;
      return [];
    }),
  ]);
  const state = {
    ctx,
    path,
    run,
    destinations: new Map(destinations.map((d) => [d.id, d.name])),
    tokens: null,
    filter: "",
    selected: new Set(),
    extra: [],
    cursor: null,
    shown: SHOWN,
    signature: "",
    actionsKey: "",
  };
  state.summary = h("div", {});
  state.actions = h("div", { class: "actions" });
  state.entries = h("div", {});
  state.live = h("p", { class: "sr-only", role: "status" });
  state.reviewDoc = h("div", { role: "status", class: "runs-review-doc" });
  const page = h(
    "section",
    { class: "run-detail" },
    pageHeader(`Run ${shortId(run.id)}`, state.actions),
    h("p", { class: "muted small" }, "Run id ", h("code", {}, run.id)),
    state.summary,
    state.reviewDoc,
    h("h2", { id: "entries-title" }, "Entries"),
    entryFilter(state),
    state.entries,
    state.live,
  );
  await paint(state);
  poll(state);
  return page;
}

/** Reads the run again every POLL_MS until it is finished or the user leaves. */
function poll(state) {
  const { ctx } = state;
  const tick = async () => {
    if (ctx.signal.aborted || !working(state.run)) return;
    try {
      state.run = await api.get(state.path, { signal: ctx.signal });
      await paint(state);
      if (!working(state.run)) state.live.textContent = `Run ${state.run.status}`;
    } catch (e) {
      if (e.name === "AbortError") return;
      state.live.textContent = `Could not refresh the run: ${e.message}`;
    }
    if (!ctx.signal.aborted && working(state.run)) timer = setTimeout(tick, POLL_MS);
  };
  let timer = setTimeout(tick, POLL_MS);
  ctx.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
}

/**
 * Whether the run may still change by itself: its status is not final yet, or entries are
 * still at work (a cancelled run's taken entries finish their step). A run awaiting review
 * waits for a person.
 */
const working = (run) => run.status === "preparing" || run.status === "running" || (!run.finished && run.status !== "awaiting_review");

/** Re-reads the run after an action and repaints it (and polls again if it reopened). */
async function refresh(state) {
  const wasWorking = working(state.run);
  state.run = await api.get(state.path, { signal: state.ctx.signal });
  state.signature = "";
  await paint(state);
  if (!wasWorking && working(state.run)) poll(state);
}

/** Paints the summary, actions and entries; entries only when something in them changed. */
async function paint(state) {
  const { run } = state;
  replace(state.summary, summaryCard(run));
  // Actions are rebuilt only when they change, so polling never takes the keyboard focus away.
  const actions = JSON.stringify([run.counts?.review, run.status, run.entries]);
  if (actions !== state.actionsKey) {
    state.actionsKey = actions;
    replace(state.actions, runActions(state));
  }
  if (state.filter) {
    await loadFiltered(state);
    return;
  }
  const entries = run.entry_list?.data ?? [];
  const signature = JSON.stringify(entries.map((e) => [e.id, e.version, (e.deliveries ?? []).map((d) => d.version)]));
  if (signature === state.signature) return;
  state.signature = signature;
  await decisionMakers(state, entries);
  if (!state.extra.length) state.cursor = run.entry_list?.next_cursor ?? null;
  paintEntries(state, entries);
}

function summaryCard(run) {
  const counts = run.counts ?? {};
  const name = run.inputs?.report?.name ?? run.report_id;
  return h(
    "div",
    { class: "card run-summary" },
    h(
      "dl",
      { class: "kv" },
      h("dt", {}, "Status"), h("dd", { class: "run-status" }, runBadge(run), working(run) ? h("span", { class: "muted small" }, " refreshing every 1.5 s") : null),
      h("dt", {}, "Report"), h("dd", {}, h("a", { href: `#/reports/${encodeURIComponent(run.report_id)}/runs` }, name)),
      h("dt", {}, "Trigger"), h("dd", {}, run.trigger, run.scheduled_for ? ` (slot ${fmtTime(run.scheduled_for)})` : ""),
      h("dt", {}, "Created"), h("dd", {}, fmtTime(run.created_at, { seconds: true })),
      h("dt", {}, "Started"), h("dd", {}, fmtTime(run.started_at, { seconds: true })),
      h("dt", {}, "Finished"), h("dd", {}, fmtTime(run.finished_at, { seconds: true })),
      h("dt", {}, "Duration"), h("dd", {}, duration(run)),
      parameters(run),
      run.note ? [h("dt", {}, "Note"), h("dd", {}, run.note)] : null,
      run.error ? [h("dt", {}, "Error"), h("dd", { class: "field-error" }, run.error)] : null,
    ),
    h("h2", { class: "sr-only" }, "Entries by status"),
    h(
      "ul",
      { class: "run-buckets", "aria-label": "Entries by status" },
      h("li", {}, h("span", { class: "strong" }, String(run.entries ?? 0)), " total"),
      BUCKETS.map((b) => h("li", { class: `bucket bucket-${b}` }, h("span", { class: "strong" }, String(counts[b] ?? 0)), ` ${bucketWords(b, counts[b] ?? 0)}`)),
    ),
    narrative(run.narrative),
  );
}

/** The parameter values the run was started with, as `name = value`. */
function parameters(run) {
  const values = Object.entries(run.inputs?.parameters ?? {});
  if (!values.length) return null;
  return [
    h("dt", {}, "Parameters"),
    h("dd", {}, h("ul", { class: "plain-list" }, values.map(([k, v]) => h("li", {}, h("code", {}, k), ` = ${typeof v === "string" ? v : JSON.stringify(v)}`)))),
  ];
}

/** The executive summary and takeaways the narrator wrote for the run. */
function narrative(n) {
  if (!n?.summary && !n?.error) return null;
  return h(
    "div",
    { class: "run-narrative" },
    h("h3", {}, "Executive summary"),
    n.summary ? h("p", {}, n.summary) : h("p", { class: "muted" }, `No summary: ${n.error}`),
    n.takeaways?.length ? h("ul", {}, n.takeaways.map((t) => h("li", {}, t))) : null,
  );
}

/** The run's actions: bulk review decisions, deliver, review document, cancel. */
function runActions(state) {
  const { run } = state;
  const out = [];
  const held = run.counts?.review ?? 0;
  if (held) {
    out.push(actionButton(state, `Approve all held (${held})`, () => bulk(state, "approve", null), { kind: "primary" }));
    out.push(actionButton(state, `Reject all held (${held})`, () => bulk(state, "reject", null)));
  }
  if (run.entries && (held || run.inputs?.report?.hold_for_review)) out.push(reviewDocumentButton(state));
  if (run.status === "preparing" || run.status === "running" || run.status === "awaiting_review") {
    out.push(actionButton(state, "Cancel run", () => cancelRun(state), { kind: "danger" }));
  }
  return out;
}

function actionButton(state, label, work, opts = {}) {
  const btn = button(label, () => busy(btn, () => work().catch((e) => e.name !== "AbortError" && toast(e.message, "error"))), opts);
  return btn;
}

async function cancelRun(state) {
  const ok = await confirmDialog("Entries not yet started and entries held for review are cancelled; entries being worked on finish their step.", { title: "Cancel this run?", confirmLabel: "Cancel run", danger: true });
  if (!ok) return;
  const answer = await api.post(`${state.path}/cancel`);
  toast(`Run cancelled: ${answer.cancelled_entries ?? 0} entries cancelled.`, "success");
  await refresh(state);
}

/**
 * Approve, reject or deliver entries in bulk: `ids` null means every held entry (approve,
 * reject) or every deliverable entry (deliver).
 */
async function bulk(state, action, ids) {
  let body = ids ? { entry_ids: ids } : {};
  if (action === "reject") {
    const reason = await promptDialog(ids ? `Reject ${ids.length} entries` : "Reject every held entry", "Reason (kept on each entry)", { confirmLabel: "Reject" });
    if (reason === null) return;
    if (reason) body = { ...body, reason };
  }
  const answer = await api.post(`${state.path}/${action}`, body);
  const done = answer.approved ?? answer.rejected ?? answer.queued ?? 0;
  const verb = { approve: "approved", reject: "rejected", deliver: "queued for delivery" }[action];
  const skipped = answer.skipped?.length ? `, ${answer.skipped.length} left as they were` : "";
  toast(`${done} ${done === 1 ? "entry" : "entries"} ${verb}${skipped}.`, "success");
  state.selected.clear();
  await refresh(state);
}

/* ---------- Review document ---------- */

/** Seconds to wait for a review document before suggesting to ask again. */
const REVIEW_DOC_TRIES = 120;

function reviewDocumentButton(state) {
  const btn = button("Review document", () => busy(btn, () => makeReviewDocument(state)), { "aria-describedby": "review-doc-hint" });
  return [btn, h("span", { id: "review-doc-hint", class: "sr-only" }, "Makes one PDF of every entry's files behind a cover page")];
}

async function makeReviewDocument(state) {
  const { run, ctx } = state;
  replace(state.reviewDoc, h("p", { class: "callout" }, "Making the review document…"));
  try {
    const req = await api.post(api.ws(`/jobs/${encodeURIComponent(run.report_id)}/runs/${encodeURIComponent(run.id)}/generate-review-document`));
    let file;
    for (let tries = 0; tries < REVIEW_DOC_TRIES; tries++) {
      file = await api.get(api.ws(`/temporary-files/${encodeURIComponent(req.temporaryFileId)}`), { signal: ctx.signal });
      if (file.status !== "pending") break;
      await sleep(1000, ctx.signal);
    }
    if (file.status === "pending") {
      replace(state.reviewDoc, h("p", { class: "callout warn" }, "The review document is still being made. Ask for it again in a minute."));
    } else if (file.status === "ready") {
      replace(state.reviewDoc, h("p", { class: "callout" }, "Review document ready: ", h("a", { href: file.download_url, download: file.file_name }, "Download the review document"), ` ${file.file_name}`, file.size ? ` (${fmtBytes(file.size)})` : ""));
    } else {
      replace(state.reviewDoc, h("p", { class: "callout bad" }, `The review document could not be made: ${file.error ?? file.status}`));
    }
  } catch (e) {
    if (e.name === "AbortError") return;
    replace(state.reviewDoc, h("p", { class: "callout bad" }, `The review document could not be made: ${e.message}`));
  }
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      reject(new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}

/* ---------- Entries ---------- */

function entryFilter(state) {
  const input = select([["", "Every status"], ...ENTRY_STATUSES.map((s) => [s, ENTRY_LABEL[s][0]])], "", {
    onchange: async () => {
      state.filter = input.value;
      state.signature = "";
      state.shown = SHOWN;
      state.extra = [];
      state.selected.clear();
      replace(state.entries, loading("Loading entries…"));
      try {
        await paint(state);
      } catch (e) {
        if (e.name !== "AbortError") replace(state.entries, errorState(e, () => input.dispatchEvent(new Event("change"))));
      }
    },
  });
  return h("div", { class: "row runs-filters" }, field("Show entries", input));
}

/** Entries in one status, through the entries listing (deliveries from the run's detail). */
async function loadFiltered(state) {
  const q = new URLSearchParams({ status: state.filter, limit: "100" });
  const listing = await api.get(`${state.path}/entries?${q}`, { signal: state.ctx.signal });
  const signature = JSON.stringify([state.filter, listing.next_cursor, listing.data.map((e) => [e.id, e.version])]);
  if (signature === state.signature) return;
  state.signature = signature;
  await decisionMakers(state, listing.data);
  state.cursor = listing.next_cursor ?? null;
  state.extra = [];
  paintEntries(state, withDeliveries(state, listing.data));
}

/** Gives listed entries the deliveries the run's detail holds for them. */
function withDeliveries(state, entries) {
  const known = new Map((state.run.entry_list?.data ?? []).map((e) => [e.id, e.deliveries]));
  return entries.map((e) => (e.deliveries || !known.has(e.id) ? e : { ...e, deliveries: known.get(e.id) }));
}

/** Names of the tokens that decided on entries (the API records the token's id). */
async function decisionMakers(state, entries) {
  if (state.tokens || !entries.some((e) => e.review?.by)) return;
  try {
    const list = await api.listAll(api.ws("/tokens"), { signal: state.ctx.signal });
    state.tokens = new Map(list.map((t) => [t.id, t.name]));
  } catch (e) {
    if (e.name === "AbortError") throw e;
    state.tokens = new Map();
  }
}

const ENTRY_COLUMNS = ["Select", "Entry", "Status", "Files", "Deliveries", "Review"];

function paintEntries(state, entries) {
  const all = [...entries, ...state.extra];
  if (!all.length) {
    replace(state.entries, state.filter
      ? emptyState("No entries in this status", "Choose another status to see the run's other entries.")
      : emptyState("No entries", state.run.note ?? (working(state.run) ? "The run is still preparing its entries." : "This run made no entries.")));
    return;
  }
  const shown = all.slice(0, state.shown);
  replace(
    state.entries,
    selectionBar(state, all),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "entries-table" },
        h("caption", { class: "sr-only" }, `Entries of run ${state.run.id}`),
        h("thead", {}, h("tr", {}, ENTRY_COLUMNS.map((label) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, shown.map((e) => entryRow(state, e, all))),
      ),
    ),
    h("p", { class: "muted small runs-count" }, state.filter
      ? `${shown.length} of ${all.length}${state.cursor ? "+" : ""} matching entries shown`
      : `${shown.length} of ${state.run.entries ?? all.length} entries shown`),
    all.length > shown.length || state.cursor ? moreEntries(state, entries, all.length - shown.length) : null,
  );
}

function entryRow(state, e, all) {
  const cells = [selectBox(state, e, all), entryName(e), entryStatus(e), artifacts(e), deliveries(state, e), review(state, e)];
  return h(
    "tr",
    { "data-entry": e.id, class: e.status === "PendingReview" ? "entry-held" : null },
    cells.map((cell, i) => h("td", { "data-label": ENTRY_COLUMNS[i] }, cell)),
  );
}

/** Shows the next entries: those already read first, then the next page of the listing. */
function moreEntries(state, entries, waiting) {
  const label = waiting > 0 ? `Show ${Math.min(waiting, SHOWN)} more entries` : "Load more entries";
  const btn = button(label, () =>
    busy(btn, async () => {
      try {
        if (waiting <= 0) {
          const q = new URLSearchParams({ limit: "100", cursor: state.cursor });
          if (state.filter) q.set("status", state.filter);
          const listing = await api.get(`${state.path}/entries?${q}`, { signal: state.ctx.signal });
          await decisionMakers(state, listing.data);
          state.extra.push(...withDeliveries(state, listing.data));
          state.cursor = listing.next_cursor ?? null;
        }
        const first = state.shown;
        state.shown += SHOWN;
        paintEntries(state, entries);
        // The button was replaced: the keyboard goes on at the first entry added.
        state.entries.querySelectorAll("tbody tr")[first]?.querySelector("input")?.focus();
      } catch (e) {
        if (e.name !== "AbortError") toast(e.message, "error");
      }
    }));
  return h("div", { class: "runs-more" }, btn);
}

function selectionBar(state, all) {
  const ids = [...state.selected].filter((id) => all.some((e) => e.id === id));
  const n = ids.length;
  const bar = h(
    "div",
    { class: "actions runs-selection", role: "group", "aria-label": "Selected entries" },
    h("span", { class: "muted" }, n ? `${n} selected` : "Select entries to approve, reject or deliver them together."),
    n ? actionButton(state, `Approve selected (${n})`, () => bulk(state, "approve", ids)) : null,
    n ? actionButton(state, `Reject selected (${n})`, () => bulk(state, "reject", ids)) : null,
    n ? actionButton(state, `Deliver selected (${n})`, () => deliverSelected(state, ids, all)) : null,
  );
  return bar;
}

/** Delivers the selected entries; sending already delivered ones again is confirmed first. */
async function deliverSelected(state, ids, all) {
  const again = all.filter((e) => ids.includes(e.id) && e.status !== "PendingReview").length;
  if (again) {
    const ok = await confirmDialog(
      `${again} of the selected entries ${again === 1 ? "is" : "are"} not held for review: every delivery of ${again === 1 ? "it" : "them"} is sent again from the stored files. Held entries are approved and sent.`,
      { title: "Deliver again?", confirmLabel: "Deliver" },
    );
    if (!ok) return;
  }
  await bulk(state, "deliver", ids);
}

function selectBox(state, entry, all) {
  const input = h("input", {
    type: "checkbox",
    checked: state.selected.has(entry.id),
    "aria-label": `Select entry ${entry.seq + 1}`,
    onchange: () => {
      if (input.checked) state.selected.add(entry.id);
      else state.selected.delete(entry.id);
      const bar = state.entries.querySelector(".runs-selection");
      bar?.replaceWith(selectionBar(state, all));
    },
  });
  return input;
}

/** "#3 · Ana Lima" — the entry's position and what its row is about. */
function entryName(entry) {
  const row = entry.row ?? {};
  const label = row.name ?? row.title ?? row.email ?? row.id ?? null;
  return h("div", {}, h("span", { class: "strong" }, `#${entry.seq + 1}`), label ? ` ${label}` : "", row.email && row.email !== label ? h("p", { class: "muted small" }, row.email) : null);
}

function entryStatus(entry) {
  const [word, tone] = ENTRY_LABEL[entry.status] ?? [entry.status, entry.status];
  return h(
    "div",
    {},
    toneBadge(word, tone),
    entry.error ? h("p", { class: "field-error small" }, entry.error) : null,
    (entry.generation_errors ?? []).map((e) => h("p", { class: "field-error small" }, e)),
  );
}

function artifacts(entry) {
  const files = entry.artifacts ?? [];
  if (!files.length) return h("span", { class: "muted" }, "none yet");
  return h(
    "ul",
    { class: "plain-list" },
    files.map((a) =>
      h(
        "li",
        {},
        h("a", { href: a.download_url, download: a.file_name, "aria-label": `Download ${a.format.toUpperCase()} ${a.file_name}` }, a.format.toUpperCase()),
        h("span", { class: "muted small" }, ` ${fmtBytes(a.size)}`),
        a.format === "pdf" || a.format === "html" ? [" · ", openButton(a)] : null,
      ),
    ),
  );
}

/** Opens a PDF or HTML file in a new tab (the signed link itself downloads). */
function openButton(artifact) {
  const btn = button("Open", () =>
    busy(btn, async () => {
      const tab = window.open("", "_blank");
      try {
        const response = await fetch(artifact.download_url);
        if (!response.ok) throw new Error(`The file could not be read (${response.status}); refresh the run for a new link.`);
        const blob = new Blob([await response.arrayBuffer()], { type: artifact.content_type.split(";")[0] });
        const url = URL.createObjectURL(blob);
        if (tab) tab.location = url;
        else window.location.assign(url);
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      } catch (e) {
        tab?.close();
        toast(e.message, "error");
      }
    }), { kind: "link", "aria-label": `Open ${artifact.file_name}` });
  return btn;
}

function deliveries(state, entry) {
  if (!entry.deliveries) {
    const btn = button("Show deliveries", () =>
      busy(btn, async () => {
        try {
          const full = await api.get(`${state.path}/entries/${encodeURIComponent(entry.id)}`, { signal: state.ctx.signal });
          entry.deliveries = full.deliveries ?? [];
          btn.replaceWith(deliveries(state, entry));
        } catch (e) {
          if (e.name !== "AbortError") toast(e.message, "error");
        }
      }), { kind: "link", "aria-label": `Show deliveries of entry ${entry.seq + 1}` });
    return btn;
  }
  if (!entry.deliveries.length) return h("span", { class: "muted" }, entry.status === "PendingReview" ? "after approval" : "none");
  return h("ul", { class: "plain-list" }, entry.deliveries.map((d) => deliveryItem(state, entry, d)));
}

function deliveryItem(state, entry, d) {
  const name = state.destinations.get(d.destination_id) ?? `Destination ${shortId(d.destination_id)}`;
  const failed = d.status === "failed_transient" || d.status === "failed_permanent";
  const retry = failed
    ? actionButton(state, "Retry", async () => {
      await api.post(`${state.path}/deliveries/${encodeURIComponent(d.id)}/retry`);
      toast(`Delivery to ${name} queued again.`, "success");
      await refresh(state);
      refocus(state, `[data-delivery="${d.id}"]`);
    }, { kind: "link", "aria-label": `Retry delivery to ${name} for entry ${entry.seq + 1}` })
    : null;
  return h(
    "li",
    { class: "delivery", "data-delivery": d.id },
    h("span", {}, name), " ", toneBadge(d.status.replace(/_/g, " "), failed ? "failed" : d.status),
    d.attempts > 1 ? h("span", { class: "muted small" }, ` ${d.attempts} attempts`) : null,
    d.sent_at ? h("span", { class: "muted small hide-narrow" }, ` ${fmtTime(d.sent_at)}`) : null,
    retry ? [" ", retry] : null,
    d.error ? h("p", { class: "field-error small" }, d.error) : null,
    d.next_attempt_at && d.status === "failed_transient" ? h("p", { class: "muted small" }, `Next attempt ${fmtTime(d.next_attempt_at)}`) : null,
  );
}

/** After an action in a row repainted the entries, puts the keyboard focus back in that row. */
function refocus(state, selector) {
  const target = state.entries.querySelector(selector);
  if (!target) return;
  target.tabIndex = -1;
  target.focus();
}

/** The review decision on an entry, or approve / reject buttons while it is held. */
function review(state, entry) {
  if (entry.review) {
    const r = entry.review;
    const who = r.by ? state.tokens?.get(r.by) ?? `token ${shortId(r.by)}` : "automatically";
    return h(
      "div",
      { class: "decision" },
      badge(r.decision),
      h("p", { class: "small" }, `by ${who}, ${fmtTime(r.at)}`),
      r.note ? h("p", { class: "small" }, `Reason: ${r.note}`) : null,
    );
  }
  if (entry.status !== "PendingReview") return h("span", { class: "muted" }, "—");
  const label = `entry ${entry.seq + 1}`;
  return h(
    "div",
    { class: "actions" },
    actionButton(state, "Approve", async () => {
      await api.post(`${state.path}/entries/${encodeURIComponent(entry.id)}/approve`);
      toast(`Entry ${entry.seq + 1} approved: its deliveries are queued.`, "success");
      await refresh(state);
      refocus(state, `tr[data-entry="${entry.id}"] .decision`);
    }, { kind: "primary", "aria-label": `Approve ${label}` }),
    actionButton(state, "Reject", async () => {
      const reason = await promptDialog(`Reject entry ${entry.seq + 1}`, "Reason (kept on the entry)", { confirmLabel: "Reject" });
      if (reason === null) return;
      await api.post(`${state.path}/entries/${encodeURIComponent(entry.id)}/reject`, reason ? { reason } : {});
      toast(`Entry ${entry.seq + 1} rejected: it will not be delivered.`, "success");
      await refresh(state);
      refocus(state, `tr[data-entry="${entry.id}"] .decision`);
    }, { "aria-label": `Reject ${label}` }),
  );
}
