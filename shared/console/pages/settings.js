// The workspace settings page: the timezone runs started by hand count days in, the private
// network addresses outbound requests may reach
// (webhooks, chat, HTTP sources, model servers), the SMTP server email destinations can send
// through (its password write-only), the AI configuration that writes report narratives (the
// provider, its model and server, a write-only API key, and a Test that narrates a sample),
// retention days and legal hold. Each section saves on its own with a partial change carrying
// the settings' version, so a change made meanwhile is a conflict.

import { api, rememberSettings } from "../api.js";
import { busy, button, checkbox, field, fmtDuration, h, pageHeader, replace, select, setFieldError } from "../ui.js";
import { zones } from "./schedule.js";

/** The placeholder the API shows for a stored secret (SMTP password, API key); sent back, it keeps it. */
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
    calendarSection(state),
    networkSection(state),
    smtpSection(state),
    aiSection(state),
    retentionSection(state),
  );
}

/** A problem the page finds before sending: `{path: message}` for the section's inputs. */
class FieldProblems extends Error {
  constructor(problems) {
    super("Check the highlighted fields.");
    this.problems = problems;
  }
}

/**
 * One section: a form with its own Save button and result line. `read()` returns the partial
 * change (or throws an Error, or FieldProblems); `inputs` maps API field paths
 * (`settings.smtp.host`) to the inputs that show their errors; `saved(settings)` refreshes the
 * inputs from the answer. `saveLabel`, `actions` (more buttons after Save) and `after` (nodes
 * below the buttons) are optional.
 */
function section(state, { id, title, intro, body, read, inputs, saved, saveLabel, actions, after }) {
  const status = h("p", { class: "settings-status", role: "status" });
  const save = button(saveLabel ?? `Save ${title.toLowerCase()}`, null, { kind: "primary", type: "submit", disabled: !state.canWrite });
  const form = h(
    "form",
    {
      class: "card settings-section",
      "aria-labelledby": id,
      novalidate: true,
      // A field's error goes once the field is changed; the next save checks it again.
      oninput: (e) => {
        if (e.target.getAttribute?.("aria-invalid") === "true") setFieldError(e.target, null);
      },
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
            const all = inputs();
            for (const [path, message] of Object.entries(problem.problems ?? {})) {
              if (all[path]) setFieldError(all[path], message);
            }
            status.className = "settings-status failed";
            status.textContent = problem.message;
            form.querySelector("[aria-invalid='true']")?.focus();
            return;
          }
          try {
            state.current = await api.patch(api.ws("/settings"), { ...change, version: state.current.version });
            rememberSettings({ timezone: state.current.timezone ?? null });
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
    h("div", { class: "actions" }, save, actions ?? null, status),
    after ?? null,
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

function calendarSection(state) {
  const zone = h("input", { type: "text", list: "settings-zones", autocomplete: "off", spellcheck: "false", placeholder: "UTC" });
  const fill = (s) => (zone.value = s.timezone ?? "");
  fill(state.current);
  return section(state, {
    id: "settings-calendar",
    title: "Calendar",
    intro: "Runs started by hand (Run now, the API, the CLI) and previews count their days in this timezone: derived dates such as the start of the month, and the analytics periods. A scheduled run counts in its schedule's timezone.",
    body: h("div", {}, field("Timezone", zone, { hint: "An IANA zone, e.g. Europe/London or America/New_York; empty means UTC." }),
      h("datalist", { id: "settings-zones" }, zones().map((z) => h("option", { value: z })))),
    read: () => ({ timezone: zone.value.trim() || null }),
    inputs: () => ({ timezone: zone }),
    saved: fill,
  });
}

function networkSection(state) {
  const list = h("textarea", { class: "code settings-addresses", spellcheck: "false", autocomplete: "off" });
  const fill = (s) => (list.value = (s.network?.allowed_addresses ?? []).join("\n"));
  fill(state.current);
  state.networkInput = list;
  return section(state, {
    id: "settings-network",
    title: "Network",
    intro: "Webhooks, Slack, Teams, HTTP data sources and AI model servers may always reach public addresses. Private, loopback and link-local addresses only when listed here.",
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

/** The narrators a workspace can choose: `[value, label]`. */
const NARRATORS = [
  ["builtin", "Built-in"],
  ["bedrock", "Amazon Bedrock"],
  ["openai_compatible", "OpenAI-compatible"],
  ["anthropic", "Anthropic"],
];
const narratorLabel = (kind) => NARRATORS.find(([k]) => k === kind)?.[1] ?? kind;

/** What each narrator is, shown under the picker. */
const NARRATOR_NOTES = {
  builtin: "Herald's own narrator: states the headline figures, the biggest movers and the drops past the threshold. Deterministic; nothing leaves Herald.",
  bedrock: "A model on Amazon Bedrock (Converse API), called with the deployment's AWS credentials. The report's figures are sent to it.",
  openai_compatible: "OpenAI, or any server speaking its chat completions protocol: Ollama, vLLM, llama.cpp. The report's figures are sent to it.",
  anthropic: "Anthropic's Messages API, or a server speaking it. The report's figures are sent to it.",
};

/** Which input each narrator uses (the rest are hidden and not sent). */
const USES = {
  builtin: [],
  bedrock: ["model", "timeout"],
  openai_compatible: ["baseUrl", "model", "key", "timeout", "tokenLimit", "structured"],
  anthropic: ["baseUrl", "model", "key", "timeout"],
};

/** The provider's own server, used when no base URL is given. */
const DEFAULT_SERVERS = { openai_compatible: "https://api.openai.com", anthropic: "https://api.anthropic.com" };

const TOKEN_LIMITS = [
  ["max_tokens", "max_tokens"],
  ["max_completion_tokens", "max_completion_tokens"],
];
const STRUCTURED = [
  ["json_schema", "JSON schema"],
  ["tool", "Forced tool call"],
];

/** Whether a narrator is a model server reached over HTTP, the ones that take an API key. */
const usesKey = (narrator) => USES[narrator]?.includes("key") ?? false;

/** The origin a narrator's requests go to (`null` when the URL does not parse). */
function origin(narrator, baseUrl) {
  try {
    return new URL((baseUrl ?? "").trim() || DEFAULT_SERVERS[narrator] || "").origin;
  } catch {
    return null;
  }
}

function aiSection(state) {
  const enabled = checkbox("Write narratives with AI (executive summary and key takeaways)", state.current.ai?.enabled ?? true);
  enabled.node.classList.add("ai-enabled");
  const provider = select(NARRATORS, state.current.ai?.narrator ?? "builtin");
  const providerNote = h("span", {});
  const baseUrl = h("input", { type: "url", autocomplete: "off", spellcheck: "false", inputmode: "url" });
  const baseUrlHint = h("span", {});
  const model = h("input", { type: "text", autocomplete: "off", spellcheck: "false" });
  const modelHint = h("span", {});
  const key = h("input", { type: "password", autocomplete: "new-password", spellcheck: "false" });
  const keyHint = h("span", {});
  const timeout = h("input", { type: "number", min: "5", max: "300", step: "1", inputmode: "numeric" });
  const tokenLimit = select(TOKEN_LIMITS, "max_tokens");
  const structured = select(STRUCTURED, "json_schema");

  const fields = {
    baseUrl: field("Base URL", baseUrl, { hint: baseUrlHint }),
    model: field("Model", model, { hint: modelHint }),
    key: field("API key", key, { hint: keyHint }),
    timeout: field("Timeout (seconds)", timeout, { hint: "How long a narration may take, 5 to 300. A report whose model is slower or fails gets the built-in narrative instead." }),
    tokenLimit: field("Token-limit parameter", tokenLimit, {
      hint: "What the server calls the answer's token limit: max_tokens for Ollama, vLLM, llama.cpp and older OpenAI models; max_completion_tokens for current OpenAI models.",
    }),
    structured: field("Structured output", structured, {
      hint: "How the summary and takeaways are asked for: a JSON schema (response_format), or a forced tool call for servers without response_format.",
    }),
  };
  const fieldGrid = h("div", { class: "grid-2 ai-fields" }, Object.values(fields));
  const providerFields = h("div", {}, field("Provider", provider, { hint: providerNote }), fieldGrid);
  const offNote = h("p", { class: "muted" }, "Reports render without a narrative. The provider settings stay saved for when it is turned back on.");

  /** The saved AI settings (`api_key` is `********` when one is stored). */
  const saved = () => state.current.ai ?? {};
  /** Whether the form shows a stored key: one saved for a narrator that uses it. */
  const keySet = () => Boolean(saved().api_key) && usesKey(saved().narrator);
  /** Whether the stored key would be kept: same narrator, same server origin. */
  const keyKept = () =>
    keySet() && provider.value === saved().narrator && origin(provider.value, baseUrl.value) === origin(saved().narrator, saved().base_url);

  const sync = () => {
    const narrator = provider.value;
    providerFields.hidden = !enabled.input.checked;
    offNote.hidden = enabled.input.checked;
    for (const [name, node] of Object.entries(fields)) node.hidden = !USES[narrator].includes(name);
    fieldGrid.hidden = USES[narrator].length === 0;
    providerNote.textContent = NARRATOR_NOTES[narrator];
    baseUrl.placeholder = DEFAULT_SERVERS[narrator] ?? "";
    baseUrlHint.textContent =
      narrator === "anthropic"
        ? "Anthropic's own API when empty. A server on a private or loopback address must be allowed under Network."
        : "OpenAI's own API when empty, or your own server without /v1: Ollama (http://host:11434), vLLM (http://host:8000), llama.cpp (http://host:8080). A private or loopback address must be allowed under Network.";
    model.placeholder = { bedrock: "the deployment's default", openai_compatible: "gpt-4o-mini, llama3.1:8b", anthropic: "claude-3-5-haiku-latest" }[narrator] ?? "";
    modelHint.textContent =
      narrator === "bedrock"
        ? "Optional: a Bedrock model id or inference profile. When empty, the deployment's default model (HERALD_BEDROCK_MODEL_ID) applies."
        : "The model the server runs (required).";
    key.placeholder = keyKept() ? "Key set: leave empty to keep it" : "";
    keyHint.textContent = keyKept()
      ? "A key is set and stays as it is unless you type a new one. It is never shown."
      : keySet()
        ? "A key is set for another provider or server and is not sent to this one: type the key for this server (it is never shown after saving)."
        : "Optional for servers that need none (e.g. Ollama). Write-only: it is never shown after saving.";
  };

  /** The inputs' values, to tell unsaved changes from the saved configuration. */
  const snapshot = () => JSON.stringify([enabled.input.checked, provider.value, baseUrl.value, model.value, key.value, timeout.value, tokenLimit.value, structured.value]);
  let clean = "";
  const fill = (s) => {
    const ai = s.ai ?? {};
    enabled.input.checked = ai.enabled ?? true;
    provider.value = ai.narrator ?? "builtin";
    baseUrl.value = ai.base_url ?? "";
    model.value = ai.model_id ?? "";
    key.value = "";
    timeout.value = ai.timeout_seconds ?? 60;
    tokenLimit.value = ai.token_limit_parameter ?? "max_tokens";
    structured.value = ai.structured_output ?? "json_schema";
    sync();
    clean = snapshot();
  };
  enabled.input.addEventListener("change", sync);
  provider.addEventListener("change", sync);
  baseUrl.addEventListener("input", sync);
  fill(state.current);

  const read = () => {
    const current = saved();
    if (!enabled.input.checked) {
      // Off: the saved provider settings stay as they are (the key, left out, is kept).
      const { api_key: _kept, ...rest } = current;
      return { ai: { ...rest, enabled: false } };
    }
    const narrator = provider.value;
    const uses = (name) => USES[narrator].includes(name);
    const problems = {};
    const seconds = Number(timeout.value);
    if (uses("timeout") && (!timeout.value.trim() || !Number.isInteger(seconds))) {
      problems["ai.timeout_seconds"] = "Give a whole number of seconds, 5 to 300.";
    }
    const url = baseUrl.value.trim().replace(/\/+$/, "");
    if (uses("baseUrl") && /\/v1(\/chat\/completions|\/messages)?$/.test(url)) {
      problems["ai.base_url"] = `Leave out the path: Herald adds ${narrator === "anthropic" ? "/v1/messages" : "/v1/chat/completions"} itself.`;
    }
    if (Object.keys(problems).length) throw new FieldProblems(problems);
    const ai = {
      enabled: true,
      narrator,
      model_id: uses("model") ? model.value.trim() || null : null,
      base_url: uses("baseUrl") ? url || null : null,
      token_limit_parameter: tokenLimit.value,
      structured_output: structured.value,
      timeout_seconds: uses("timeout") ? seconds : (current.timeout_seconds ?? 60),
    };
    // The key is write-only and sent only when typed; left out, the API keeps the stored one
    // for the same narrator and server (and asks for it again otherwise).
    if (uses("key") && key.value) ai.api_key = key.value;
    else if (current.api_key && !(uses("key") && keySet())) {
      // A stored key this narrator does not use (or one the form never showed): the API keeps
      // a key only for the same narrator and server and refuses the change otherwise, so the
      // empty text clears it instead.
      ai.api_key = "";
    }
    return { ai };
  };

  const result = h("div", { class: "ai-test-result", role: "status", "aria-live": "polite", id: "settings-ai-test-result" });
  const test = state.canWrite
    ? button("Test", () => busy(test, () => runTest(state, result, { dirty: snapshot() !== clean })), {
      "aria-label": "Test AI configuration",
      "aria-describedby": "settings-ai-test-hint",
    })
    : null;
  const testHint = state.canWrite
    ? h("p", { class: "hint", id: "settings-ai-test-hint" }, "Test narrates a built-in sample of figures (no report data) with the saved configuration and shows what the grounding check kept.")
    : null;

  return section(state, {
    id: "settings-ai",
    title: "AI configuration",
    saveLabel: "Save AI configuration",
    intro: "Reports with a narrative get an executive summary and key takeaways written from their figures. Every sentence quoting a number the figures do not hold is dropped; when a model fails, the built-in narrator writes instead.",
    body: [enabled.node, offNote, providerFields],
    read,
    inputs: () => ({
      "ai.enabled": enabled.input, "ai.narrator": provider, "ai.base_url": baseUrl, "ai.model_id": model, "ai.api_key": key,
      "ai.timeout_seconds": timeout, "ai.token_limit_parameter": tokenLimit, "ai.structured_output": structured,
    }),
    saved: fill,
    actions: test,
    after: [testHint, result],
  });
}

/** Runs the AI test and shows what the narrator wrote, what grounding dropped, or why it failed. */
async function runTest(state, result, { dirty }) {
  result.className = "ai-test-result";
  replace(result, h("p", {}, "Testing…"));
  const unsaved = dirty
    ? h("p", { class: "callout warn small" }, "The form has unsaved changes: this tested the saved configuration. Save, then test again.")
    : null;
  let answer;
  try {
    answer = await api.post(api.ws("/settings/ai/test"));
  } catch (e) {
    result.className = "ai-test-result failed";
    const fields = Object.values(e.fieldErrors?.() ?? {});
    replace(result, h("p", { class: "ai-test-line" }, `Test failed: ${fields.length ? fields.join("; ") : e.message}`), unsaved);
    return;
  }
  const took = h("p", { class: "muted small" }, `${narratorLabel(answer.narrator)} · took ${fmtDuration(answer.elapsed_ms)}`);
  const dropped = answer.dropped ?? [];
  const verdict = dropped.length
    ? h(
      "div",
      { class: "callout warn ai-dropped" },
      h("p", { class: "strong" },
        `The grounding check dropped ${dropped.length === 1 ? "1 sentence" : `${dropped.length} sentences`}: ${dropped.length === 1 ? "it quotes" : "they quote"} numbers the sample does not hold (highlighted).`),
      h("ul", {}, dropped.map((d) => h("li", {}, highlight(d.sentence, d.ungrounded ?? []),
        h("span", { class: "muted small" }, ` (not in the figures: ${(d.ungrounded ?? []).join(", ")})`)))),
    )
    : answer.ok
      ? h("p", { class: "ai-grounded" }, "Every sentence is grounded: each number it quotes is one of the sample's figures.")
      : null;
  if (!answer.ok) {
    result.className = "ai-test-result failed";
    const error = answer.error ?? "the narrator wrote nothing usable";
    const address = error.match(/(\S+) is not a public address/)?.[1];
    const blocked = /settings\.network\.allowed_addresses/.test(error);
    const allow = blocked && state.networkInput
      ? h("p", { class: "small" }, h("a", {
        href: "#/settings",
        onclick: (e) => {
          e.preventDefault();
          state.networkInput.scrollIntoView({ block: "center" });
          state.networkInput.focus();
        },
      }, address ? `Allow ${address} under Network` : "Allow the address under Network"))
      : null;
    replace(result, h("p", { class: "ai-test-line" }, `Test failed: ${error}`), allow, verdict, took, unsaved);
    return;
  }
  result.className = "ai-test-result ok";
  const takeaways = answer.takeaways ?? [];
  replace(
    result,
    h("p", { class: "ai-test-line" }, "Test passed: the narrator answered."),
    h("h3", {}, "Summary"),
    h("p", { class: "ai-summary" }, answer.summary),
    takeaways.length ? [h("h3", {}, "Takeaways"), h("ul", { class: "ai-takeaways" }, takeaways.map((t) => h("li", {}, t)))] : null,
    verdict,
    took,
    unsaved,
  );
}

/** A sentence with its ungrounded numbers marked. */
function highlight(sentence, numbers) {
  const wanted = [...new Set(numbers.filter(Boolean))].sort((a, b) => b.length - a.length);
  if (!wanted.length) return sentence;
  const pattern = new RegExp(`(${wanted.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`, "g");
  return sentence.split(pattern).map((part, i) => (i % 2 ? h("mark", {}, part) : part));
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
