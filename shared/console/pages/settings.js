// The workspace settings page: the private network addresses outbound requests may reach
// (webhooks, chat, HTTP sources), the SMTP server email destinations can send through (its
// password write-only), retention days and legal hold. Each section saves on its own with a
// partial change carrying the settings' version, so a change made meanwhile is a conflict.

import { api } from "../api.js";
import { busy, button, checkbox, field, h, pageHeader, select, setFieldError } from "../ui.js";

/** The placeholder the API shows for the stored SMTP password; sent back, it keeps it. */
const REDACTED = "********";

const SECURITY = [
  ["starttls", "STARTTLS (usually port 587)"],
  ["tls", "TLS from the start (usually port 465)"],
  ["none", "None (trusted relay only)"],
];

export async function render(ctx) {
  const current = await api.get(api.ws("/settings"), { signal: ctx.signal });
  const state = { current, canWrite: api.allows("settings", "write") };
  return h(
    "section",
    { class: "settings-page" },
    pageHeader("Workspace settings"),
    state.canWrite ? null : h("p", { class: "callout" }, "Only workspace admins can change these settings; you can read them."),
    networkSection(state),
    smtpSection(state),
    retentionSection(state),
  );
}

/**
 * One section: a form with its own Save button and result line. `read()` returns the partial
 * change; `inputs` maps API field paths (`settings.smtp.host`) to the inputs that show their
 * errors; `saved(settings)` refreshes the inputs from the answer.
 */
function section(state, { id, title, intro, body, read, inputs, saved }) {
  const status = h("p", { class: "settings-status", role: "status" });
  const save = button(`Save ${title.toLowerCase()}`, null, { kind: "primary", type: "submit", disabled: !state.canWrite });
  const form = h(
    "form",
    {
      class: "card settings-section",
      "aria-labelledby": id,
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        busy(save, async () => {
          Object.values(inputs()).forEach((input) => setFieldError(input, null));
          status.className = "settings-status";
          status.textContent = "";
          let change;
          try {
            change = read();
          } catch (problem) {
            status.className = "settings-status failed";
            status.textContent = problem.message;
            return;
          }
          try {
            state.current = await api.patch(api.ws("/settings"), { ...change, version: state.current.version });
            saved(state.current);
            status.className = "settings-status ok";
            status.textContent = `${title} saved.`;
          } catch (err) {
            showErrors(err, inputs(), status);
          }
        });
      },
    },
    h("h2", { id }, title),
    intro ? h("p", { class: "muted" }, intro) : null,
    h("fieldset", { disabled: !state.canWrite, class: "plain" }, h("legend", { class: "sr-only" }, title), body),
    h("div", { class: "actions" }, save, status),
  );
  return form;
}

function showErrors(err, inputs, status) {
  const errors = err.fieldErrors?.() ?? {};
  const unplaced = [];
  for (const [path, message] of Object.entries(errors)) {
    const key = path.replace(/^settings\./, "").replace(/\[\d+\]$/, "");
    const input = inputs[key];
    const line = path.match(/\[(\d+)\]$/)?.[1];
    if (input) setFieldError(input, line === undefined ? message : `Line ${Number(line) + 1}: ${message}`);
    else unplaced.push(`${path}: ${message}`);
  }
  status.className = "settings-status failed";
  status.textContent =
    err.status === 409
      ? "Someone changed the settings meanwhile. Reload the page to see their change, then try again."
      : unplaced.length
        ? unplaced.join("; ")
        : Object.keys(errors).length
          ? "Check the highlighted fields."
          : err.message;
}

function networkSection(state) {
  const list = h("textarea", { class: "code settings-addresses", spellcheck: "false", autocomplete: "off" });
  const fill = (s) => (list.value = (s.network?.allowed_addresses ?? []).join("\n"));
  fill(state.current);
  return section(state, {
    id: "settings-network",
    title: "Network",
    intro: "Webhooks, Slack, Teams and HTTP data sources may always reach public addresses. Private, loopback and link-local addresses only when listed here.",
    body: field("Allowed private addresses", list, { hint: "One IP address or CIDR range a line, e.g. 10.0.0.5, 10.1.0.0/16, 127.0.0.1 or fd00::/8." }),
    read: () => ({ network: { allowed_addresses: list.value.split(/[\n,]+/).map((s) => s.trim()).filter(Boolean) } }),
    inputs: () => ({ "network.allowed_addresses": list }),
    saved: fill,
  });
}

function smtpSection(state) {
  const smtp = state.current.smtp;
  const enabled = checkbox("Send email through this workspace's own SMTP server", Boolean(smtp));
  const host = h("input", { type: "text", autocomplete: "off", spellcheck: "false", placeholder: "smtp.example.com" });
  const port = h("input", { type: "number", min: "1", max: "65535", inputmode: "numeric" });
  const security = select(SECURITY, smtp?.security ?? "starttls");
  const username = h("input", { type: "text", autocomplete: "off", spellcheck: "false" });
  const password = h("input", { type: "password", autocomplete: "new-password" });
  const from = h("input", { type: "email", autocomplete: "off", placeholder: "reports@example.com" });
  const replyTo = h("input", { type: "email", autocomplete: "off" });
  const passwordHint = h("span", {});
  const fill = (s) => {
    const v = s.smtp;
    enabled.input.checked = Boolean(v);
    host.value = v?.host ?? "";
    port.value = v?.port ?? 587;
    security.value = v?.security ?? "starttls";
    username.value = v?.username ?? "";
    password.value = "";
    password.placeholder = v?.password ? "Password set: leave empty to keep it" : "";
    passwordHint.textContent = v?.password
      ? "A password is set and stays as it is unless you type a new one, as long as the host, port, security and username stay the same (another server gets it only when typed again). It is never shown."
      : "Optional. Write-only: it is never shown after saving.";
    from.value = v?.from ?? "";
    replyTo.value = v?.reply_to ?? "";
    sync();
  };
  const serverFields = h(
    "div",
    {},
    h("div", { class: "grid-2" }, field("Host", host), field("Port", port)),
    field("Security", security),
    h("div", { class: "grid-2" }, field("Username", username, { hint: "Optional." }), field("Password", password, { hint: passwordHint })),
    h("div", { class: "grid-2" }, field("From address", from), field("Reply-to", replyTo, { hint: "Optional." })),
  );
  const sync = () => (serverFields.hidden = !enabled.input.checked);
  enabled.input.addEventListener("change", sync);
  fill(state.current);
  return section(state, {
    id: "settings-smtp",
    title: "SMTP server",
    intro: "Email destinations that send through SMTP use this server.",
    body: [enabled.node, serverFields],
    read: () => {
      if (!enabled.input.checked) return { smtp: null };
      const portNumber = Number(port.value);
      return {
        smtp: {
          host: host.value.trim(),
          port: Number.isInteger(portNumber) && portNumber >= 0 && portNumber <= 65535 ? portNumber : 0,
          security: security.value,
          username: username.value.trim() || null,
          password: password.value || (state.current.smtp?.password ? REDACTED : null),
          from: from.value.trim(),
          reply_to: replyTo.value.trim() || null,
        },
      };
    },
    inputs: () => ({
      "smtp.host": host, "smtp.port": port, "smtp.security": security, "smtp.username": username,
      "smtp.password": password, "smtp.from": from, "smtp.reply_to": replyTo,
    }),
    saved: fill,
  });
}

function retentionSection(state) {
  const days = (value) => h("input", { type: "number", min: "1", max: "36500", inputmode: "numeric", value: String(value) });
  const r = state.current.retention;
  const history = days(r.history_days);
  const summary = days(r.summary_days);
  const runs = days(r.run_days);
  const hold = checkbox("Legal hold: purge nothing of this workspace, whatever the retention", state.current.legal_hold);
  const fill = (s) => {
    history.value = s.retention.history_days;
    summary.value = s.retention.summary_days;
    runs.value = s.retention.run_days;
    hold.input.checked = s.legal_hold;
  };
  const number = (input, label) => {
    const n = Number(input.value);
    if (!input.value.trim() || !Number.isInteger(n) || n < 0) throw new Error(`${label}: give a whole number of days.`);
    return n;
  };
  return section(state, {
    id: "settings-retention",
    title: "Retention",
    intro: "How long Herald keeps each kind of data before the daily cleanup removes it (1 to 36500 days).",
    body: [
      h("div", { class: "row" },
        field("Runs and their files (days)", runs),
        field("Interaction history (days)", history),
        field("Interaction summaries (days)", summary)),
      hold.node,
    ],
    read: () => ({
      retention: {
        run_days: number(runs, "Runs"),
        history_days: number(history, "Interaction history"),
        summary_days: number(summary, "Interaction summaries"),
      },
      legal_hold: hold.input.checked,
    }),
    inputs: () => ({ "retention.run_days": runs, "retention.history_days": history, "retention.summary_days": summary }),
    saved: fill,
  });
}
