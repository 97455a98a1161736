// The connections page: the databases report sources read with SQL (PostgreSQL, MySQL or
// MariaDB, Amazon Athena), each with where it points and who it logs in as, and the Google
// service accounts Drive deliveries upload as (uploaded as their JSON key file, shown by their
// email and key id); a form to create or change one with the fields of its kind and its query
// limits; "Test connection" with the server's version, the user, the latency and any privilege
// beyond reading highlighted (for a service account: that Google gave its key a token), or the
// error; and delete. The password and the key are write-only: the API shows them as
// `********`, the form says one is set, and it is sent only when given. Admins
// (`settings:write`) manage connections; tokens that can read settings see them.

import { api } from "../api.js";
import {
  busy, button, confirmDialog, emptyState, errorState, field, fmtTime, h, loading, pageHeader, replace, select,
  setFieldError, table, toast,
} from "../ui.js";

export const KINDS = [
  ["postgres", "PostgreSQL"],
  ["mysql", "MySQL / MariaDB"],
  ["athena", "Amazon Athena"],
  ["google_service_account", "Google service account"],
];
const GOOGLE = "google_service_account";
export const kindLabel = (kind) => KINDS.find(([k]) => k === kind)?.[1] ?? kind;

const DEFAULT_PORTS = { postgres: 5432, mysql: 3306 };
const TLS = [
  ["disable", "Off (a database on the same private network)"],
  ["require", "Required (certificate and name checked)"],
];
/** The limits every query on a connection runs under: `[key, label, default, largest the API takes]`. */
const LIMITS = [
  ["statement_timeout_ms", "Statement timeout (ms)", 30000, 4294967295, "100 to 300000."],
  ["max_rows", "Most rows", 50000, 4294967295, "A query returning more fails (1 to 50000)."],
  ["max_bytes", "Most bytes", 67108864, 4294967295, "A query returning more data fails (1024 to 268435456)."],
  ["pool_size", "Pool size", 2, 255, "Connections kept open per running process (1 to 10)."],
];
const CODE_RULE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export async function render(ctx) {
  const canRead = api.allows("settings", "read");
  const canWrite = api.allows("settings", "write");
  const formHost = h("div", {});
  const listHost = h("div", {}, canRead ? loading() : null);
  const page = { ctx, canWrite, formHost, listHost, items: [] };
  page.openForm = (connection) => openForm(page, connection);
  page.refresh = () => refresh(page);

  if (canRead) await refresh(page);
  const newButton = canWrite ? button("New connection", () => page.openForm(null), { kind: "primary" }) : null;
  return h(
    "section",
    { class: "connections-page" },
    pageHeader("Connections", newButton),
    h("p", { class: "muted" },
      "The databases report sources read with SQL (every query runs read-only, under the connection's limits), and the Google service accounts Drive destinations upload as. ",
      "SQL over uploaded datasets needs no connection: sources name the built-in ", h("code", {}, "datasets"), ". ",
      h("a", { href: "#/settings" }, "Workspace settings"), " list the private addresses a connection may reach."),
    !canRead
      ? h("p", { class: "callout" }, "Your token cannot read the workspace's connections (that needs settings:read). Ask a workspace admin.")
      : canWrite
        ? null
        : h("p", { class: "callout" }, "Only workspace admins can add, change, test or delete connections; you can see them."),
    formHost,
    listHost,
  );
}

/** Loads the list and draws it (or its empty or error state) in place. */
async function refresh(page) {
  try {
    page.items = await api.listAll(api.ws("/connections"), { signal: page.ctx.signal });
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
      "No connections yet",
      "A connection lets report sources run SQL on your own database: PostgreSQL, MySQL or MariaDB, or Amazon Athena.",
      page.canWrite ? button("Add your first connection", () => page.openForm(null), { kind: "primary" }) : null,
    );
  }
  const rows = page.items.slice().sort((a, b) => a.name.localeCompare(b.name));
  return table(
    [
      { label: "Name", cell: (c) => h("code", { class: "strong" }, c.name) },
      { label: "Kind", cell: (c) => kindLabel(c.kind) },
      { label: "Database", cell: (c) => target(c) },
      { label: "User", cell: (c) => login(c) },
      { label: "Changed", cell: (c) => fmtTime(c.updated_at), className: "hide-narrow" },
      { label: "Actions", cell: (c) => actions(page, c), className: "row-actions" },
    ],
    rows,
    { caption: "Connections" },
  );
}

/** Where a connection points: `host:port/database`, Athena's catalog, database and workgroup, or a service account's key. */
function target(c) {
  if (c.kind === GOOGLE) {
    return h("span", {}, h("code", { class: "conn-target" }, c.client_email),
      h("p", { class: "muted small" }, `Key ${c.private_key_id}${c.key_uploaded_at ? ` · uploaded ${fmtTime(c.key_uploaded_at)}` : ""}`));
  }
  if (c.kind === "athena") {
    return h("span", {}, h("code", { class: "conn-target" }, `${c.catalog}.${c.database}`),
      h("p", { class: "muted small" }, `Workgroup ${c.workgroup}${c.output_location ? ` · results in ${c.output_location}` : ""}`));
  }
  return h("span", {}, h("code", { class: "conn-target" }, `${c.host}:${c.port ?? DEFAULT_PORTS[c.kind] ?? ""}/${c.database}`),
    h("p", { class: "muted small" }, c.tls === "require" ? "TLS required" : "No TLS"));
}

/** Who a connection logs in as; the password only as "set". */
function login(c) {
  if (c.kind === "athena") return h("span", { class: "muted" }, "The deployment's AWS role");
  if (c.kind === GOOGLE) return h("span", { class: "muted" }, "Its key file (hidden)");
  return h("span", {}, c.user, h("p", { class: "muted small" }, c.password ? "Password set (hidden)" : "No password"));
}

function actions(page, c) {
  if (!page.canWrite) return h("span", { class: "muted small" }, "Read only");
  const result = h("div", { class: "conn-test-result", role: "status", "aria-live": "polite", id: `conn-test-${c.id}` });
  const test = button("Test connection", () => busy(test, () => testConnection(c, result)), { "aria-label": `Test connection of ${c.name}`, "aria-describedby": result.id });
  const edit = button("Edit", () => page.openForm(c), { "aria-label": `Edit ${c.name}` });
  const del = button("Delete", async () => {
    const ok = await confirmDialog(`Delete “${c.name}”? Reports whose SQL sources use it fail until they name another connection.`, {
      confirmLabel: "Delete connection",
      danger: true,
      title: "Delete connection",
    });
    if (!ok) return;
    try {
      await api.del(api.ws(`/connections/${encodeURIComponent(c.id)}`));
      toast(`${c.name} deleted`, "success");
      if (page.formHost.dataset.editing === c.id) replace(page.formHost);
      await page.refresh();
      document.querySelector(".connections-page h1")?.focus();
    } catch (e) {
      toast(e.message, "error");
    }
  }, { kind: "danger-link", "aria-label": `Delete ${c.name}` });
  return h("div", { class: "dest-actions" }, h("div", { class: "actions" }, test, edit, del), result);
}

/** Connects and shows what the server answered next to the button. */
async function testConnection(c, result) {
  result.className = "conn-test-result";
  replace(result, "Testing…");
  try {
    const answer = await api.post(api.ws(`/connections/${encodeURIComponent(c.id)}/test`));
    if (answer.ok && c.kind === GOOGLE) {
      result.className = "conn-test-result ok";
      replace(result, h("p", { class: "conn-test-line" }, `Key OK: Google gave ${answer.user} a token`),
        h("p", { class: "muted small" }, `${answer.latency_ms} ms · each Drive destination's Test connection also checks its folder`));
    } else if (answer.ok) {
      const warnings = answer.warnings ?? [];
      result.className = `conn-test-result ${warnings.length ? "warn" : "ok"}`;
      replace(
        result,
        h("p", { class: "conn-test-line" }, `Connection OK: ${answer.server_version}`),
        h("p", { class: "muted small" }, `Logged in as ${answer.user} · ${answer.latency_ms} ms`),
        warnings.length
          ? h("div", { class: "callout warn conn-warnings" },
            h("p", { class: "strong" }, "Warning: this login can do more than read. Queries still run read-only, but a reader-only login is safer."),
            h("ul", {}, warnings.map((w) => h("li", {}, w))))
          : null,
      );
    } else {
      result.className = "conn-test-result failed";
      const blocked = /settings\.network\.allowed_addresses/.test(answer.error ?? "");
      replace(
        result,
        h("p", { class: "conn-test-line" }, `Test failed: ${answer.error}`),
        blocked && api.allows("settings", "write")
          ? h("p", { class: "small" }, h("a", { href: "#/settings" }, "Allow the address in the workspace settings"))
          : null,
      );
    }
  } catch (e) {
    result.className = "conn-test-result failed";
    const fields = Object.values(e.fieldErrors?.() ?? {});
    replace(result, h("p", { class: "conn-test-line" }, `Test failed: ${fields.length ? fields.join("; ") : e.message}`));
  }
}

/** Opens the create (connection null) or edit form above the list. */
function openForm(page, connection) {
  const form = connectionForm(page, connection);
  page.formHost.dataset.editing = connection?.id ?? "";
  replace(page.formHost, form);
  form.querySelector("h2")?.focus();
}

function closeForm(page) {
  replace(page.formHost);
  delete page.formHost.dataset.editing;
  document.querySelector(".connections-page h1")?.focus();
}

function connectionForm(page, connection) {
  const editing = Boolean(connection);
  const c = connection ?? { kind: "postgres", tls: "disable", options: {} };
  const server = c.kind === "athena" ? {} : c;
  const athena = c.kind === "athena" ? c : {};
  const text = (value, props = {}) => h("input", { type: "text", value: value ?? "", autocomplete: "off", spellcheck: "false", ...props });
  const number = (value, props = {}) => h("input", { type: "number", value: value ?? "", inputmode: "numeric", min: "1", ...props });

  const name = text(c.name, { required: true, placeholder: "warehouse" });
  const kind = select(KINDS, c.kind);
  const host = text(server.host, { placeholder: "db.internal.example.com" });
  const port = number(server.port, { max: "65535" });
  const database = text(server.database, { placeholder: "analytics" });
  const user = text(server.user, { placeholder: "reporting" });
  const password = h("input", {
    type: "password",
    autocomplete: "new-password",
    spellcheck: "false",
    placeholder: server.password ? "Password set: leave empty to keep it" : "",
  });
  const tls = select(TLS, server.tls ?? "disable");
  const athenaDatabase = text(athena.database, { placeholder: "sales" });
  const catalog = text(athena.catalog, { placeholder: "AwsDataCatalog" });
  const workgroup = text(athena.workgroup, { placeholder: "primary" });
  const output = text(athena.output_location, { placeholder: "s3://acme-athena-results/herald/" });
  const limits = Object.fromEntries(LIMITS.map(([key, , fallback]) => [key, number(c.options?.[key] ?? fallback)]));
  const keyFile = h("input", { type: "file", accept: ".json,application/json" });
  const keyText = h("textarea", { class: "code", rows: "4", spellcheck: "false", autocomplete: "off", placeholder: "Or paste the key file's JSON here" });

  const serverFields = h(
    "div",
    {},
    h("div", { class: "grid-2" },
      field("Host", host, { hint: "A host name or IP address. A private address must be allowed in the workspace settings." }),
      field("Port", port)),
    h("div", { class: "grid-2" }, field("Database", database), field("User", user, { hint: "Best a login that may only read." })),
    h("div", { class: "grid-2" },
      field("Password", password, {
        hint: server.password
          ? "A password is set and stays as it is unless you type a new one, as long as the kind, host, port and user stay the same (another server gets it only when typed again). It is never shown."
          : "Write-only: it is never shown after saving.",
      }),
      field("TLS", tls)),
  );
  const athenaFields = h(
    "div",
    {},
    h("p", { class: "muted small" }, "Athena queries run on the AWS deployment only, with its AWS role; results land where the workgroup says unless an output location is given."),
    h("div", { class: "grid-2" },
      field("Glue database", athenaDatabase, { hint: "Unqualified table names refer to it." }),
      field("Catalog", catalog, { hint: "AwsDataCatalog when empty." })),
    h("div", { class: "grid-2" },
      field("Workgroup", workgroup, { hint: "primary when empty." }),
      field("Output location", output, { hint: "Optional: an s3:// location for query results." })),
  );
  const accountFields = h(
    "div",
    {},
    c.kind === GOOGLE && c.client_email
      ? h("p", { class: "muted small" }, `Current key: ${c.private_key_id} of ${c.client_email}. Choose a new key file only to replace it; Drive destinations use the new key at once.`)
      : h("p", { class: "muted small" }, "In the Google Cloud console: IAM & Admin → Service accounts → the account → Keys → Add key → JSON. Then share the Drive folder with the account's email (in a shared drive, as Content manager)."),
    field("JSON key file", keyFile, { hint: "Checked when saved, then kept write-only: it is never shown again." }),
    field("Key file contents", keyText),
  );
  const limitFields = h(
    "details",
    { class: "conn-limits" },
    h("summary", {}, "Query limits"),
    h("div", { class: "grid-2" }, LIMITS.map(([key, label, , , hint]) => field(label, limits[key], { hint }))),
  );
  const syncKind = () => {
    const isAthena = kind.value === "athena";
    const isGoogle = kind.value === GOOGLE;
    serverFields.hidden = isAthena || isGoogle;
    athenaFields.hidden = !isAthena;
    accountFields.hidden = !isGoogle;
    limitFields.hidden = isGoogle;
    port.placeholder = String(DEFAULT_PORTS[kind.value] ?? "");
  };
  kind.addEventListener("change", syncKind);
  syncKind();

  const formError = h("p", { class: "callout bad", role: "alert", tabindex: "-1", hidden: true });
  const save = button(editing ? "Save changes" : "Create connection", null, { kind: "primary", type: "submit" });
  const titleId = "conn-form-title";
  const form = h(
    "form",
    {
      class: "card dest-form conn-form",
      "aria-labelledby": titleId,
      novalidate: true,
      // A field's error goes once the field is changed; the next save checks it again.
      oninput: (e) => {
        if (e.target.getAttribute("aria-invalid") === "true") setFieldError(e.target, null);
      },
      onsubmit: (e) => {
        e.preventDefault();
        busy(save, () => submit());
      },
    },
    h("h2", { id: titleId, tabindex: "-1" }, editing ? `Edit ${connection.name}` : "New connection"),
    h("div", { class: "grid-2" },
      field("Name", name, { hint: "What SQL sources call it: lowercase letters, digits, - and _." }),
      field("Kind", kind, { hint: editing ? "Another kind starts a fresh configuration: give its password again." : null })),
    serverFields,
    athenaFields,
    accountFields,
    limitFields,
    formError,
    h("div", { class: "actions" }, save, button("Cancel", () => closeForm(page))),
  );

  /** The inputs the API's field paths name, for the kind being edited. */
  const inputs = () => ({
    name,
    kind,
    ...(kind.value === "athena"
      ? { database: athenaDatabase, catalog, workgroup, output_location: output }
      : kind.value === GOOGLE ? { key: keyFile.files?.length ? keyFile : keyText } : { host, port, database, user, password, tls }),
    ...Object.fromEntries(LIMITS.map(([key]) => [`options.${key}`, limits[key]])),
  });

  /** The body to send, and the problems the browser can already tell. */
  async function read() {
    const problems = {};
    const nameValue = name.value.trim();
    if (!nameValue) problems.name = "Give the connection a name.";
    else if (!CODE_RULE.test(nameValue)) problems.name = "Use 1 to 64 lowercase letters, digits, - and _, starting with a letter or digit.";
    const whole = (input, path, max, { optional = false } = {}) => {
      const raw = input.value.trim();
      if (!raw && optional) return null;
      const n = Number(raw);
      if (!raw || !Number.isInteger(n) || n < 0 || n > max) {
        problems[path] = `Give a whole number${max < 4294967295 ? ` up to ${max}` : ""}.`;
        return null;
      }
      return n;
    };
    const options = Object.fromEntries(LIMITS.map(([key, , , max]) => [key, whole(limits[key], `options.${key}`, max)]));
    const body = { name: nameValue, kind: kind.value };
    if (kind.value === GOOGLE) {
      // Write-only: sent only when chosen or pasted; left out, the stored key is kept.
      const key = keyFile.files?.[0] ? await keyFile.files[0].text() : keyText.value.trim();
      if (key) body.key = key;
      else if (!(editing && connection.kind === GOOGLE)) problems.key = "Choose the service account's JSON key file, or paste it.";
      if (editing) body.version = connection.version;
      return { body, problems };
    }
    if (kind.value === "athena") {
      Object.assign(body, {
        database: athenaDatabase.value.trim(),
        catalog: catalog.value.trim() || "AwsDataCatalog",
        workgroup: workgroup.value.trim() || "primary",
        output_location: output.value.trim() || null,
        options,
      });
    } else {
      const portNumber = whole(port, "port", 65535, { optional: true });
      Object.assign(body, {
        host: host.value.trim(),
        port: portNumber,
        database: database.value.trim(),
        user: user.value.trim(),
        tls: tls.value,
        options,
      });
      // Write-only: sent only when typed; left out, the stored one is kept (same server and user).
      if (password.value) body.password = password.value;
    }
    if (editing) body.version = connection.version;
    return { body, problems };
  }

  async function submit() {
    const all = inputs();
    Object.values(all).forEach((input) => setFieldError(input, null));
    formError.hidden = true;
    const { body, problems } = await read();
    if (Object.keys(problems).length) return showProblems(problems);
    try {
      const saved = editing
        ? await api.patch(api.ws(`/connections/${encodeURIComponent(connection.id)}`), body)
        : await api.post(api.ws("/connections"), body);
      toast(`${saved.name} ${editing ? "saved" : "created"}`, "success");
      closeForm(page);
      await page.refresh();
    } catch (e) {
      if (e.status === 409 && editing) {
        formError.textContent = "Someone changed this connection meanwhile. Cancel and open it again to see their change, then make yours.";
        formError.hidden = false;
        return formError.focus();
      }
      const problems = fieldProblems(e);
      if (!Object.keys(problems).length) {
        formError.textContent = e.message;
        formError.hidden = false;
        return formError.focus();
      }
      showProblems(problems);
    }
  }

  /** Puts each `{path: message}` next to its input; the rest above the buttons. */
  function showProblems(problems) {
    const all = inputs();
    const unplaced = [];
    for (const [path, message] of Object.entries(problems)) {
      const input = all[path];
      if (input) {
        setFieldError(input, message);
        if (path.startsWith("options.")) limitFields.open = true;
      } else unplaced.push(path && path !== "body" ? `${path}: ${message}` : message);
    }
    if (unplaced.length) {
      formError.textContent = unplaced.join("; ");
      formError.hidden = false;
    }
    (form.querySelector("[aria-invalid='true']") ?? formError).focus();
  }

  return form;
}

/**
 * The field problems of an error answer as `{path: message}`: a 422's `details.errors`, or the
 * field a 400's reason names (`… target type: name: may only contain …`).
 */
function fieldProblems(e) {
  const out = e.fieldErrors?.() ?? {};
  if (Object.keys(out).length || e.status !== 400) return out;
  const reason = e.details?.reason;
  if (!reason) return out;
  const m = reason.match(/target type: ([\w.[\]]+): (.*?)(?: at line \d+ column \d+)?$/);
  if (m) out[m[1]] = m[2];
  else out.body = reason.replace(/^Failed to deserialize the JSON body into the target type: /, "").replace(/ at line \d+ column \d+$/, "");
  return out;
}
