// The tokens page: the personal access tokens this token may see (admins: every token of the
// workspace; others: their own and those they created) with role, scopes, use and expiry;
// a form to create one (never with more power than the signed-in token) whose secret is
// shown once in a dialog with a Copy button; and revoke, which stops a token at once.

import { api, currentSession } from "../api.js";
import {
  badge, busy, button, checkbox, confirmDialog, emptyState, errorState, field, fmtTime, h, loading, nextId, pageHeader,
  replace, select, setFieldError, table, toast,
} from "../ui.js";

const ROLES = [
  ["viewer", "Viewer"],
  ["editor", "Editor"],
  ["admin", "Admin"],
];
const RANK = { viewer: 0, editor: 1, admin: 2 };
const AREAS = ["reports", "schedules", "destinations", "runs", "jobs", "datasets", "interactions", "tokens", "settings"];
const EXPIRY = [
  ["30", "In 30 days"],
  ["7", "In 7 days"],
  ["90", "In 90 days"],
  ["365", "In a year"],
  ["never", "Never"],
  ["date", "On a date…"],
];

export async function render(ctx) {
  const page = { ctx, canWrite: api.allows("tokens", "write"), listHost: h("div", {}, loading()) };
  page.refresh = () => refresh(page);
  await refresh(page);
  const self = currentSession().token;
  return h(
    "section",
    { class: "tokens-page" },
    pageHeader("Access tokens"),
    h("p", { class: "muted" },
      self.role === "admin"
        ? "Every personal access token of this workspace. A token works for the API and this console until it expires or is revoked."
        : "Your token and the tokens you created. A token works for the API and this console until it expires or is revoked."),
    page.listHost,
    page.canWrite ? createForm(page) : h("p", { class: "callout" }, "Your token can read tokens but not create or revoke them."),
  );
}

async function refresh(page) {
  try {
    page.items = await api.listAll(api.ws("/tokens"), { signal: page.ctx.signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    replace(page.listHost, errorState(e, () => refresh(page)));
    return;
  }
  replace(page.listHost, listView(page));
}

/** Active, expired or revoked, at this moment. */
function status(t) {
  if (t.revoked_at) return "revoked";
  if (t.expires_at && new Date(t.expires_at) <= new Date()) return "expired";
  return "active";
}

function listView(page) {
  if (!page.items.length) {
    return emptyState("No tokens to show", "Create a token below to use the API from scripts or to sign in here.");
  }
  const selfId = currentSession().token.id;
  const rows = page.items.slice().sort((a, b) => (status(a) !== "active") - (status(b) !== "active") || b.created_at.localeCompare(a.created_at));
  return table(
    [
      {
        label: "Name",
        cell: (t) => h("div", {}, h("span", { class: "strong" }, t.name), t.id === selfId ? h("span", { class: "muted small" }, " (this session)") : null,
          h("p", {}, h("code", { class: "small", title: "The first characters of the secret" }, `${t.hint}…`))),
      },
      { label: "Role", cell: (t) => t.role },
      { label: "Scopes", cell: (t) => scopesSummary(t), className: "hide-narrow" },
      { label: "Created", cell: (t) => fmtTime(t.created_at), className: "hide-narrow" },
      { label: "Last used", cell: (t) => (t.last_used_at ? fmtTime(t.last_used_at) : "Never"), className: "hide-narrow" },
      { label: "Expires", cell: (t) => (t.expires_at ? fmtTime(t.expires_at) : "Never"), className: "hide-narrow" },
      { label: "Status", cell: (t) => h("div", {}, badge(status(t)), t.revoked_at ? h("p", { class: "muted small" }, fmtTime(t.revoked_at)) : null) },
      { label: "Actions", cell: (t) => actions(page, t, selfId), className: "row-actions" },
    ],
    rows,
    { caption: "Access tokens" },
  );
}

/** Scopes in a few words: "write: reports, runs · read: settings". */
function scopesSummary(t) {
  const by = { write: [], read: [] };
  for (const s of t.scopes) {
    const [area, access] = s.split(":");
    by[access]?.push(area);
  }
  const parts = [];
  if (by.write.length) parts.push(by.write.length === AREAS.length ? "write: everything" : `write: ${by.write.join(", ")}`);
  if (by.read.length) parts.push(`read: ${by.read.join(", ")}`);
  return h("span", { class: "small token-scopes" }, parts.join(" · ") || "none");
}

function actions(page, t, selfId) {
  if (!page.canWrite || status(t) === "revoked") return null;
  const own = t.id === selfId;
  const revoke = button("Revoke", async () => {
    const ok = await confirmDialog(
      own
        ? `Revoke “${t.name}”? It is the token of this session: you will be signed out at once.`
        : `Revoke “${t.name}”? Scripts and sessions using it stop working at once. This cannot be undone.`,
      { confirmLabel: "Revoke token", danger: true, title: "Revoke token" },
    );
    if (!ok) return;
    await busy(revoke, async () => {
      try {
        await api.del(api.ws(`/tokens/${encodeURIComponent(t.id)}`));
        toast(`${t.name} revoked`, "success");
        await page.refresh();
        document.querySelector(".tokens-page h1")?.focus();
      } catch (e) {
        toast(e.message, "error");
      }
    });
  }, { kind: "danger-link", "aria-label": `Revoke ${t.name}` });
  return h("div", { class: "actions" }, revoke);
}

function createForm(page) {
  const self = currentSession().token;
  const name = h("input", { type: "text", required: true, autocomplete: "off", placeholder: "Nightly export script" });
  const role = select(ROLES.filter(([r]) => RANK[r] <= RANK[self.role]), self.role === "admin" ? "editor" : self.role);
  const expiry = select(EXPIRY, "30");
  const date = h("input", { type: "date", min: isoDate(1) });
  const dateField = field("Expiry date", date, { hint: "The token stops working at the start of this day (your time)." });
  const syncDate = () => (dateField.hidden = expiry.value !== "date");
  expiry.addEventListener("change", syncDate);
  syncDate();

  const custom = checkbox("Choose scopes (otherwise the role's defaults)", false);
  const scopes = scopePicker(self);
  const syncScopes = () => (scopes.node.hidden = !custom.input.checked);
  custom.input.addEventListener("change", syncScopes);
  syncScopes();

  const formError = h("p", { class: "callout bad", role: "alert", hidden: true });
  const create = button("Create token", null, { kind: "primary", type: "submit" });
  const form = h(
    "form",
    {
      class: "card tokens-form",
      "aria-labelledby": "tokens-create-title",
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        busy(create, () => submit());
      },
    },
    h("h2", { id: "tokens-create-title" }, "Create a token"),
    h("div", { class: "grid-2" }, field("Name", name, { hint: "What the token is for, to recognise it later." }), field("Role", role, { hint: "Viewers only read; editors change everything but settings and others' tokens; admins do everything." })),
    h("div", { class: "grid-2" }, field("Expires", expiry), dateField),
    custom.node,
    scopes.node,
    formError,
    h("div", { class: "actions" }, create),
  );

  async function submit() {
    [name, role, expiry, date].forEach((i) => setFieldError(i, null));
    formError.hidden = true;
    if (!name.value.trim()) {
      setFieldError(name, "Give the token a name");
      return name.focus();
    }
    const body = { name: name.value.trim(), role: role.value };
    if (expiry.value === "date") {
      if (!date.value) {
        setFieldError(date, "Pick the day the token stops working");
        return date.focus();
      }
      body.expires_at = new Date(`${date.value}T00:00:00`).toISOString();
    } else if (expiry.value !== "never") {
      body.expires_at = new Date(Date.now() + Number(expiry.value) * 86400000).toISOString();
    }
    if (custom.input.checked) body.scopes = scopes.read();
    try {
      const created = await api.post(api.ws("/tokens"), body);
      name.value = "";
      await showSecret(created);
      await page.refresh();
    } catch (e) {
      const errors = e.fieldErrors?.() ?? {};
      const inputs = { name, role, expires_at: expiry.value === "date" ? date : expiry };
      const unplaced = [];
      for (const [path, message] of Object.entries(errors)) {
        if (inputs[path]) setFieldError(inputs[path], message);
        else unplaced.push(`${path.replace(/^scopes\[\d+\]$/, "Scopes")}: ${message}`);
      }
      if (!Object.keys(errors).length || unplaced.length) {
        formError.textContent = unplaced.length ? unplaced.join("; ") : e.message;
        formError.hidden = false;
      }
    }
  }
  return form;
}

/** One select per area (no access, read, write), offering only what the signed-in token has. */
function scopePicker(self) {
  const selects = {};
  const rows = AREAS.map((area) => {
    const options = [["none", "No access"]];
    if (self.scopes.includes(`${area}:read`) || self.scopes.includes(`${area}:write`)) options.push(["read", "Read"]);
    if (self.scopes.includes(`${area}:write`)) options.push(["write", "Read and write"]);
    selects[area] = select(options, options.length > 1 ? "read" : "none");
    return field(area[0].toUpperCase() + area.slice(1), selects[area]);
  });
  const node = h("fieldset", { class: "token-scope-picker" }, h("legend", {}, "Scopes"), h("div", { class: "scope-grid" }, rows));
  const read = () => AREAS.filter((a) => selects[a].value !== "none").map((a) => `${a}:${selects[a].value}`);
  return { node, read };
}

/** `n` days from today as `YYYY-MM-DD` (local). */
function isoDate(n) {
  const d = new Date(Date.now() + n * 86400000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** The new token's secret, shown this once, with a Copy button; resolves when closed. */
function showSecret(created) {
  return new Promise((resolve) => {
    const titleId = nextId("dlg");
    const secret = h("input", { type: "text", readonly: true, value: created.secret, class: "mono token-secret", spellcheck: "false" });
    const copied = h("p", { class: "small", role: "status" });
    const copy = button("Copy", async () => {
      try {
        await navigator.clipboard.writeText(created.secret);
        copied.textContent = "Copied to the clipboard.";
      } catch {
        secret.focus();
        secret.select();
        copied.textContent = "Copying was blocked: the secret is selected, press Ctrl+C (⌘C) to copy it.";
      }
    }, { "aria-label": "Copy the secret" });
    const dialog = h("dialog", { class: "dialog token-dialog", "aria-labelledby": titleId });
    const done = () => {
      dialog.close();
      dialog.remove();
      resolve();
    };
    dialog.append(
      h("h2", { id: titleId }, `Token “${created.name}” created`),
      h("p", { class: "callout warn" }, h("strong", {}, "Copy the secret now. "), "It is shown only this once: Herald keeps only its hash. If you lose it, revoke the token and create a new one."),
      h("div", { class: "row" }, field("Secret", secret), copy),
      copied,
      h("div", { class: "actions" }, button("Done", done, { kind: "primary" })),
    );
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done();
    });
    document.body.append(dialog);
    dialog.showModal();
    secret.focus();
    secret.select();
  });
}
