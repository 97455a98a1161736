// The destinations page: every destination of the workspace (email, Slack, Teams, webhook,
// S3, Google Drive) with what it points at, a form to create or change one with the fields of its kind,
// "Test connection" with the provider's answer shown inline, and delete. Secrets (chat
// webhook URLs, signing secrets) are write-only: the API shows them as `********`, the form
// says a secret is set, and leaving the field empty sends the placeholder back to keep it.

import { api } from "../api.js";
import {
  busy, button, confirmDialog, emptyState, errorState, field, fmtTime, h, loading, pageHeader, promptDialog, replace,
  select, setFieldError, table, toast,
} from "../ui.js";

/** The placeholder the API shows for a stored secret; sent back, it keeps the secret. */
const REDACTED = "********";

const KINDS = [
  ["email", "Email"],
  ["slack", "Slack"],
  ["teams", "Microsoft Teams"],
  ["webhook", "Webhook"],
  ["s3", "Amazon S3"],
  ["google_drive", "Google Drive"],
];
const kindLabel = (kind) => KINDS.find(([k]) => k === kind)?.[1] ?? kind;

const TRANSPORTS = [
  ["outbox", "Outbox folder (.eml files on this server)"],
  ["smtp", "The workspace's SMTP server"],
  ["ses", "Amazon SES"],
];

export async function render(ctx) {
  const canWrite = api.allows("destinations", "write");
  const formHost = h("div", {});
  const listHost = h("div", {}, loading());
  const page = { ctx, canWrite, formHost, listHost, items: [] };
  page.openForm = (destination) => openForm(page, destination);
  page.refresh = () => refresh(page);

  const newButton = canWrite ? button("New destination", () => page.openForm(null), { kind: "primary" }) : null;
  await refresh(page);
  return h(
    "section",
    { class: "destinations-page" },
    pageHeader("Destinations", newButton),
    h("p", { class: "muted" }, "Where report runs deliver: email, chat channels, webhooks, S3 buckets and Google Drive folders. ",
      h("a", { href: "#/settings" }, "Workspace settings"), " hold the SMTP server and the private addresses destinations may reach."),
    formHost,
    listHost,
  );
}

/** Loads the list and draws it (or its empty or error state) in place. */
async function refresh(page) {
  try {
    page.items = await api.listAll(api.ws("/destinations"), { signal: page.ctx.signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    replace(page.listHost, errorState(e, () => refresh(page)));
    return;
  }
  replace(page.listHost, listView(page));
}

function listView(page) {
  if (!page.items.length) {
    return emptyState(
      "No destinations yet",
      "A destination is where reports go: an email sender, a Slack or Teams channel, a webhook, an S3 bucket or a Google Drive folder.",
      page.canWrite ? button("Add your first destination", () => page.openForm(null), { kind: "primary" }) : null,
    );
  }
  const rows = page.items.slice().sort((a, b) => a.name.localeCompare(b.name));
  return table(
    [
      { label: "Name", cell: (d) => h("span", { class: "strong" }, d.name) },
      { label: "Kind", cell: (d) => kindLabel(d.type) },
      { label: "Target", cell: (d) => target(d.config) },
      { label: "Created", cell: (d) => fmtTime(d.created_at), className: "hide-narrow" },
      { label: "Actions", cell: (d) => actions(page, d), className: "row-actions" },
    ],
    rows,
    { caption: "Destinations" },
  );
}

/** What a destination points at, in a few words; secrets only as "set". */
function target(config) {
  switch (config.type) {
    case "email": {
      const via = { outbox: "outbox folder", smtp: "SMTP", ses: "Amazon SES" }[config.transport] ?? config.transport;
      return h("span", {}, `Email via ${via}`, config.from ? h("span", { class: "muted" }, ` · from ${config.from}`) : null);
    }
    case "slack":
    case "teams":
      return h("span", { class: "muted" }, "Webhook URL set (hidden)");
    case "webhook":
      return h("span", {}, h("code", { class: "dest-url" }, config.url), h("p", { class: "muted small" }, "Signed; signing secret set (hidden)"));
    case "s3":
      return h("code", {}, `s3://${config.bucket}/${config.prefix ?? ""}`);
    case "google_drive":
      return h("span", {},
        h("a", { href: `https://drive.google.com/drive/folders/${encodeURIComponent(config.folder)}`, target: "_blank", rel: "noopener" }, h("code", {}, config.folder)),
        h("p", { class: "muted small" }, `As ${config.service_account}${config.impersonate ? ` acting as ${config.impersonate}` : ""}`));
    default:
      return "—";
  }
}

function actions(page, d) {
  const id = encodeURIComponent(d.id);
  const result = h("p", { class: "dest-test-result", role: "status", "aria-live": "polite", id: `test-${d.id}` });
  if (!page.canWrite) return h("span", { class: "muted small" }, "Read only");
  const test = button("Test connection", () => busy(test, () => testConnection(d, result)), { "aria-label": `Test connection of ${d.name}`, "aria-describedby": result.id });
  const edit = button("Edit", () => page.openForm(d), { "aria-label": `Edit ${d.name}` });
  const del = button("Delete", async () => {
    const ok = await confirmDialog(`Delete “${d.name}”? Schedules that deliver to it will no longer reach it.`, { confirmLabel: "Delete destination", danger: true, title: "Delete destination" });
    if (!ok) return;
    try {
      await api.del(api.ws(`/destinations/${id}`));
      toast(`${d.name} deleted`, "success");
      await page.refresh();
      document.querySelector(".destinations-page h1")?.focus();
    } catch (e) {
      toast(e.message, "error");
    }
  }, { kind: "danger-link", "aria-label": `Delete ${d.name}` });
  return h("div", { class: "dest-actions" }, h("div", { class: "actions" }, test, edit, del), result);
}

/** Sends a real test message and shows the provider's answer next to the button. */
async function testConnection(d, result) {
  let body = {};
  if (d.type === "email") {
    const to = await promptDialog("Send a test email", "Send the test email to", { confirmLabel: "Send test", required: true });
    if (to === null) return;
    body = { to: to.split(/[,;\s]+/).filter(Boolean) };
  }
  result.className = "dest-test-result";
  result.textContent = "Testing…";
  try {
    const answer = await api.post(api.ws(`/destinations/${encodeURIComponent(d.id)}/test`), body);
    if (answer.ok) {
      result.className = "dest-test-result ok";
      result.textContent = `Connection OK: ${d.name} accepted the test message${answer.provider_message_id ? ` (id ${answer.provider_message_id})` : ""}.`;
    } else {
      result.className = "dest-test-result failed";
      result.textContent = `Test failed: ${answer.error}${answer.transient ? " (temporary: trying again later may work)" : ""}`;
    }
  } catch (e) {
    result.className = "dest-test-result failed";
    const fields = Object.values(e.fieldErrors?.() ?? {});
    result.textContent = `Test failed: ${fields.length ? fields.join("; ") : e.message}`;
  }
}

/** Opens the create (destination null) or edit form above the list. */
function openForm(page, destination) {
  const form = destinationForm(page, destination);
  replace(page.formHost, form);
  form.querySelector("h2")?.focus();
}

function closeForm(page) {
  replace(page.formHost);
  document.querySelector(".destinations-page h1")?.focus();
}

function destinationForm(page, destination) {
  const editing = Boolean(destination);
  const config = destination?.config ?? { type: "email", transport: "outbox" };
  const name = h("input", { type: "text", value: destination?.name ?? "", required: true, autocomplete: "off" });
  const kind = select(KINDS, config.type, { disabled: editing });
  const kindFields = h("div", {});
  const formError = h("p", { class: "callout bad", role: "alert", tabindex: "-1", hidden: true });
  let inputs = {};
  const drawKind = () => {
    const built = kindInputs(kind.value, kind.value === config.type ? config : { type: kind.value }, editing);
    inputs = built.inputs;
    replace(kindFields, built.nodes);
  };
  kind.addEventListener("change", drawKind);
  drawKind();

  const save = button(editing ? "Save changes" : "Create destination", null, { kind: "primary", type: "submit" });
  const titleId = `dest-form-title`;
  const form = h(
    "form",
    {
      class: "card dest-form",
      "aria-labelledby": titleId,
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        busy(save, () => submit());
      },
    },
    h("h2", { id: titleId, tabindex: "-1" }, editing ? `Edit ${destination.name}` : "New destination"),
    h("div", { class: "grid-2" }, field("Name", name), field("Kind", kind, { hint: editing ? "The kind of a destination cannot change; create a new one instead." : null })),
    kindFields,
    formError,
    h("div", { class: "actions" }, save, button("Cancel", () => closeForm(page))),
  );

  async function submit() {
    const all = { name, ...inputs };
    Object.values(all).forEach((input) => setFieldError(input, null));
    formError.hidden = true;
    const body = { name: name.value.trim(), config: readConfig(kind.value, inputs, editing) };
    if (editing) body.version = destination.version;
    try {
      const saved = editing
        ? await api.patch(api.ws(`/destinations/${encodeURIComponent(destination.id)}`), body)
        : await api.post(api.ws("/destinations"), body);
      toast(`${saved.name} ${editing ? "saved" : "created"}`, "success");
      closeForm(page);
      await page.refresh();
    } catch (e) {
      const errors = e.fieldErrors?.() ?? {};
      const unplaced = [];
      for (const [path, message] of Object.entries(errors)) {
        const input = all[path.replace(/^config\./, "")];
        if (input) setFieldError(input, message);
        else unplaced.push(`${path}: ${message}`);
      }
      if (!Object.keys(errors).length || unplaced.length) {
        formError.textContent = unplaced.length ? unplaced.join("; ") : e.message;
        formError.hidden = false;
      }
      (form.querySelector("[aria-invalid='true']") ?? formError).focus();
    }
  }
  return form;
}

/** The inputs of one kind of destination and the field nodes that label them. */
function kindInputs(kind, config, editing) {
  const text = (value, props = {}) => h("input", { type: "text", value: value ?? "", autocomplete: "off", spellcheck: "false", ...props });
  switch (kind) {
    case "email": {
      const transport = select(TRANSPORTS, config.transport ?? "outbox");
      const from = text(config.from, { type: "email", placeholder: "reports@example.com" });
      const reply = text(config.reply_to, { type: "email" });
      const configurationSet = text(config.configuration_set);
      const sesOnly = field("SES configuration set", configurationSet, { hint: "Optional: publishes delivery events of SES." });
      const syncSes = () => (sesOnly.hidden = transport.value !== "ses");
      transport.addEventListener("change", syncSes);
      syncSes();
      return {
        inputs: { transport, from, reply_to: reply, configuration_set: configurationSet },
        nodes: [
          field("Send through", transport),
          h("div", { class: "grid-2" },
            field("From", from, { hint: "Optional: the workspace's SMTP sender is used when empty." }),
            field("Reply-to", reply, { hint: "Optional." })),
          sesOnly,
        ],
      };
    }
    case "slack":
    case "teams": {
      const url = secretInput(editing);
      return {
        inputs: { webhook_url: url },
        nodes: [field(`${kindLabel(kind)} incoming webhook URL`, url, { hint: secretHint(editing, "The URL is a secret: it is never shown again after saving.") })],
      };
    }
    case "webhook": {
      const url = text(config.url, { type: "url", placeholder: "https://example.com/hooks/herald" });
      const secret = secretInput(editing);
      const generate = button("Generate a secret", () => {
        secret.type = "text";
        secret.value = newSigningSecret();
        secret.focus();
        secret.select();
      });
      return {
        inputs: { url, signing_secret: secret },
        nodes: [
          field("URL", url, { hint: "Herald POSTs each delivery here as JSON, signed the Standard Webhooks way." }),
          field("Signing secret", secret, { hint: secretHint(editing, "At least 16 characters; whsec_… secrets are base64 keys. Give the same secret to the receiver.") }),
          h("div", { class: "actions dest-generate" }, generate),
        ],
      };
    }
    case "s3": {
      const bucket = text(config.bucket, { placeholder: "acme-reports" });
      const prefix = text(config.prefix, { placeholder: "herald/" });
      return {
        inputs: { bucket, prefix },
        nodes: [h("div", { class: "grid-2" }, field("Bucket", bucket), field("Key prefix", prefix, { hint: "Optional; must not start with /." }))],
      };
    }
    case "google_drive": {
      const account = text(config.service_account, { list: "drive-accounts", placeholder: "reports-drive" });
      const accounts = h("datalist", { id: "drive-accounts" });
      // Service accounts are connections (settings:read); without that, the name is typed.
      api.listAll(api.ws("/connections")).then(
        (all) => replace(accounts, ...all.filter((c) => c.kind === "google_service_account").map((c) => h("option", { value: c.name }, c.client_email))),
        () => {},
      );
      const folder = text(config.folder, { placeholder: "https://drive.google.com/drive/folders/…" });
      const impersonate = text(config.impersonate, { type: "email", placeholder: "Optional: reports@example.com" });
      return {
        inputs: { service_account: account, folder, impersonate },
        nodes: [
          field("Service account", account, { hint: "The name of a Google service account connection (Connections → New connection → Google service account), whose key uploads the files." }),
          accounts,
          field("Folder", folder, { hint: "The folder's link or id. Put it in a shared drive where the service account is a Content manager: a service account has no storage of its own, so it cannot own files in someone's My Drive." }),
          field("Act as user", impersonate, { hint: "Optional, with domain-wide delegation: the files are then that user's, so a folder in their My Drive works too." }),
        ],
      };
    }
    default:
      return { inputs: {}, nodes: [] };
  }
}

/** A write-only secret input: empty, and when editing it says a secret is already set. */
function secretInput(editing) {
  return h("input", {
    type: "password",
    autocomplete: "new-password",
    spellcheck: "false",
    placeholder: editing ? "Secret set: leave empty to keep it" : "",
  });
}

const secretHint = (editing, hint) => (editing ? `A secret is set and stays as it is unless you type a new one. ${hint}` : hint);

/** A Standard Webhooks secret: `whsec_` and the base64 of 24 random bytes. */
function newSigningSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

/** The `config` to send; an empty secret while editing sends the placeholder that keeps it. */
function readConfig(kind, inputs, editing) {
  const value = (key) => inputs[key].value.trim();
  const optional = (key) => value(key) || null;
  const secret = (key) => value(key) || (editing ? REDACTED : "");
  switch (kind) {
    case "email":
      return {
        type: "email",
        transport: value("transport"),
        from: optional("from"),
        reply_to: optional("reply_to"),
        configuration_set: value("transport") === "ses" ? optional("configuration_set") : null,
      };
    case "slack":
    case "teams":
      return { type: kind, webhook_url: secret("webhook_url") };
    case "webhook":
      return { type: "webhook", url: value("url"), signing_secret: secret("signing_secret") };
    case "s3":
      return { type: "s3", bucket: value("bucket"), prefix: value("prefix") };
    case "google_drive":
      return { type: "google_drive", service_account: value("service_account"), folder: value("folder"), impersonate: optional("impersonate") };
    default:
      return { type: kind };
  }
}
