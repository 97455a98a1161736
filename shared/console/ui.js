// Small DOM helpers shared by every page: element building, form fields with labels and
// errors, tables, tabs, status badges, toasts, confirmation dialogs, and the loading, empty
// and error states. No framework: pages build nodes and replace them.

let uid = 0;
/** A fresh id for linking labels, hints and errors to inputs. */
export const nextId = (prefix = "f") => `${prefix}-${++uid}`;

/**
 * Builds an element. `props`: attributes (`class`, `for`, `aria-*`, `data-*`…), `on<event>`
 * listeners, `value`/`checked`/`disabled`/`hidden` as properties; `false`/`null` skip.
 * Children: nodes, strings, numbers, arrays; `null`/`false` skip.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (["value", "checked", "disabled", "hidden", "selected", "indeterminate"].includes(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A labelled form field. `input` is an <input>, <select> or <textarea> (given an id if it has
 * none); `hint` and `error` are linked through aria-describedby.
 */
export function field(label, input, { hint, error, className } = {}) {
  if (!input.id) input.id = nextId();
  const described = [];
  const hintEl = hint ? h("p", { class: "hint", id: `${input.id}-hint` }, hint) : null;
  if (hintEl) described.push(hintEl.id);
  const errorEl = h("p", { class: "field-error", id: `${input.id}-error`, hidden: !error }, error ?? "");
  if (error) {
    described.push(errorEl.id);
    input.setAttribute("aria-invalid", "true");
  }
  if (described.length) input.setAttribute("aria-describedby", described.join(" "));
  return h("div", { class: `field ${className ?? ""}` }, h("label", { for: input.id }, label), input, hintEl, errorEl);
}

/** Shows (or clears, with null) the error of a field built by `field`; the input names it in aria-describedby. */
export function setFieldError(input, message) {
  const errorEl = document.getElementById(`${input.id}-error`);
  if (!errorEl) return;
  errorEl.textContent = message ?? "";
  errorEl.hidden = !message;
  const described = (input.getAttribute("aria-describedby") ?? "").split(" ").filter((id) => id && id !== errorEl.id);
  if (message) described.push(errorEl.id);
  if (described.length) input.setAttribute("aria-describedby", described.join(" "));
  else input.removeAttribute("aria-describedby");
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** A <select> of `[value, label]` pairs (or plain strings). */
export function select(options, value, props = {}) {
  return h(
    "select",
    props,
    options.map((o) => {
      const [v, label] = Array.isArray(o) ? o : [o, o];
      return h("option", { value: v, selected: String(v) === String(value) }, label);
    }),
  );
}

/** A checkbox with its label on the right. */
export function checkbox(label, checked, props = {}) {
  const input = h("input", { type: "checkbox", checked, ...props });
  if (!input.id) input.id = nextId();
  return { input, node: h("div", { class: "check" }, input, h("label", { for: input.id }, label)) };
}

export function button(label, onClick, { kind = "secondary", type = "button", ...props } = {}) {
  return h("button", { type, class: `btn btn-${kind}`, onclick: onClick, ...props }, label);
}

/**
 * Runs `work` with `btn` disabled and marked busy; errors go to a toast unless handled. A button
 * that had the keyboard gets it back unless `work` moved it elsewhere.
 */
export async function busy(btn, work) {
  const focused = document.activeElement === btn;
  btn.disabled = true;
  btn.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    btn.disabled = false;
    btn.removeAttribute("aria-busy");
    const lost = !document.activeElement || document.activeElement === document.body;
    if (focused && lost && btn.isConnected) btn.focus();
  }
}

/** A table: `columns` are `{label, cell: (row) => node|string, className}`. */
export function table(columns, rows, { caption, rowProps } = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.className }, c.label)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h("tr", rowProps ? rowProps(row) : {}, columns.map((c) => h("td", { class: c.className }, c.cell(row)))),
        ),
      ),
    ),
  );
}

/** Tab links (`items`: `{label, href}`), the active one marked for assistive technology. */
export function tabs(items, activeHref) {
  return h(
    "nav",
    { class: "tabs", "aria-label": "Sections" },
    items.map((t) =>
      h("a", { href: t.href, class: t.href === activeHref ? "tab active" : "tab", "aria-current": t.href === activeHref ? "page" : null }, t.label),
    ),
  );
}

const STATUS_TONE = {
  queued: "neutral", pending: "neutral", running: "info", rendering: "info", rendered: "info", delivering: "info",
  scheduled: "neutral", held: "warn", awaiting_approval: "warn", completed: "ok", completed_with_errors: "warn",
  succeeded: "ok", delivered: "ok", sent: "ok", approved: "ok", active: "ok", enabled: "ok", failed: "bad",
  rejected: "bad", cancelled: "neutral", canceled: "neutral", skipped: "neutral", skipped_condition: "neutral",
  expired: "neutral", revoked: "neutral", disabled: "neutral", paused: "neutral", partial: "warn",
};

/**
 * A status word as a coloured badge (colour is never the only signal: the word is shown).
 * `tone` (ok, warn, bad, info, neutral) overrides the tone the word has for runs.
 */
export function badge(status, tone) {
  const s = String(status ?? "unknown");
  const key = s.toLowerCase().replace(/[\s-]+/g, "_");
  return h("span", { class: `badge tone-${tone ?? STATUS_TONE[key] ?? "neutral"}` }, s.replace(/_/g, " "));
}

export function loading(label = "Loading…") {
  return h("p", { class: "loading", role: "status" }, label);
}

/** The empty state of a list: what is missing and, optionally, the action that fills it. */
export function emptyState(title, text, action) {
  return h("div", { class: "empty" }, h("h3", {}, title), text ? h("p", {}, text) : null, action ?? null);
}

/** An error state for a failed load, with the API's message and a retry button. */
export function errorState(err, retry) {
  return h(
    "div",
    { class: "error-state", role: "alert" },
    h("h3", {}, "Something went wrong"),
    h("p", {}, err?.message ?? String(err)),
    err?.requestId ? h("p", { class: "muted small" }, `Request id: ${err.requestId}`) : null,
    retry ? button("Try again", retry) : null,
  );
}

/** Toasts shown at once; a new one pushes out the oldest. */
const MAX_TOASTS = 3;

/**
 * A short-lived message in the corner; `kind` is info, success or error. It stays while the
 * pointer or the keyboard is on it, so its link and Dismiss button can be reached in time.
 */
export function toast(message, kind = "info", { timeout = 6000 } = {}) {
  const host = document.getElementById("toasts");
  const close = button("Dismiss", () => node.remove(), { kind: "link", "aria-label": "Dismiss notification" });
  const node = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : null }, h("span", {}, message), close);
  host.append(node);
  // At most a few at once: the oldest go first, unless the user is on them.
  const stale = [...host.children].slice(0, -MAX_TOASTS).filter((t) => !t.matches(":hover") && !t.contains(document.activeElement));
  stale.forEach((t) => t.remove());
  if (timeout) {
    let timer = setTimeout(() => node.remove(), timeout);
    const hold = () => clearTimeout(timer);
    const release = () => {
      clearTimeout(timer);
      if (!node.matches(":hover") && !node.contains(document.activeElement)) timer = setTimeout(() => node.remove(), timeout);
    };
    node.addEventListener("mouseenter", hold);
    node.addEventListener("focusin", hold);
    node.addEventListener("mouseleave", release);
    node.addEventListener("focusout", () => setTimeout(release));
  }
  return node;
}

/** A modal confirmation; resolves true when confirmed. Escape or Cancel resolves false. */
export function confirmDialog(message, { confirmLabel = "Confirm", danger = false, title = "Are you sure?" } = {}) {
  return new Promise((resolve) => {
    const titleId = nextId("dlg");
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId });
    const done = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.append(
      h("h2", { id: titleId }, title),
      h("p", {}, message),
      h("div", { class: "actions" }, button("Cancel", () => done(false)), button(confirmLabel, () => done(true), { kind: danger ? "danger" : "primary" })),
    );
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * A modal form: `title`, then `children` (fields), Cancel and `confirmLabel`. On submit
 * `read()` gives (or promises) the value to resolve, or undefined to stay open (it showed
 * why); Cancel or Escape resolves null. `focus` is the input focused first.
 */
export function formDialog(title, children, { confirmLabel = "OK", read, focus } = {}) {
  return new Promise((resolve) => {
    const titleId = nextId("dlg");
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId });
    const done = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    const form = h(
      "form",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          const value = await read();
          if (value !== undefined) done(value);
        },
      },
      h("h2", { id: titleId }, title),
      ...children,
      h("div", { class: "actions" }, button("Cancel", () => done(null)), button(confirmLabel, null, { kind: "primary", type: "submit" })),
    );
    dialog.append(form);
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    focus?.focus();
  });
}

/** A modal that asks for one line of text (a reason, a name); resolves the text or null. */
export function promptDialog(title, label, { confirmLabel = "OK", required = false, initial = "" } = {}) {
  const input = h("input", { type: "text", value: initial, required });
  const read = () => {
    if (required && !input.value.trim()) {
      setFieldError(input, "Required");
      return undefined;
    }
    return input.value.trim();
  };
  return formDialog(title, [field(label, input)], { confirmLabel, read, focus: input });
}

/** Calls `fn` once `ms` milliseconds have passed without another call. */
export function debounce(fn, ms) {
  let timer;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

/** An instant in the browser's local time, e.g. "Mon 23 Nov 2026, 08:00". */
export function fmtTime(iso, { timeZone, seconds = false } = {}) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, {
    weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    second: seconds ? "2-digit" : undefined, timeZone, timeZoneName: timeZone ? "short" : undefined,
  });
}

/** An instant in UTC, ISO-like: "2026-11-23 08:00 UTC". */
export function fmtUtc(iso) {
  if (!iso) return "—";
  return `${new Date(iso).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** A duration between two instants (or of milliseconds): "1.2 s", "3 min 4 s". */
export function fmtDuration(fromOrMs, to) {
  const ms = to === undefined ? fromOrMs : new Date(to) - new Date(fromOrMs);
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const min = Math.floor(ms / 60000);
  const s = Math.round((ms % 60000) / 1000);
  return min < 60 ? `${min} min ${s} s` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A page heading with optional actions on the right. */
export function pageHeader(title, ...actions) {
  return h("header", { class: "page-header" }, h("h1", { tabindex: "-1" }, title), h("div", { class: "actions" }, actions));
}

/** The tabs of one report: Editor, Schedule, Runs. `active` is one of those three words. */
export function reportTabs(reportId, active) {
  const base = `#/reports/${encodeURIComponent(reportId)}`;
  const items = [
    { label: "Editor", href: base },
    { label: "Schedule", href: `${base}/schedule` },
    { label: "Runs", href: `${base}/runs` },
  ];
  return tabs(items, items.find((t) => t.label.toLowerCase() === active)?.href);
}
