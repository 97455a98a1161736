// The console's shell: sign-in, the top navigation and a hash router. Each page module
// exports `render(ctx)` returning a node; `ctx` carries the route's params, an AbortSignal
// that fires when the user leaves the page (stop polling, cancel fetches), and `navigate`.

import { ApiError, currentSession, onUnauthorized, resume, signIn, signOut } from "./api.js";
import { button, errorState, field, h, loading, replace, setFieldError, toast } from "./ui.js";
import * as dashboards from "./pages/dashboards.js";
import * as reports from "./pages/reports.js";
import * as editor from "./pages/editor.js";
import * as schedule from "./pages/schedule.js";
import * as runs from "./pages/runs.js";
import * as alerts from "./pages/alerts.js";
import * as destinations from "./pages/destinations.js";
import * as connections from "./pages/connections.js";
import * as tokens from "./pages/tokens.js";
import * as settings from "./pages/settings.js";

/** `[pattern, page, view]`: the first pattern matching the fragment's path wins. */
const ROUTES = [
  [/^\/dashboards$/, dashboards, "gallery"],
  [/^\/dashboards\/([^/]+)$/, dashboards, "view"],
  [/^\/reports$/, reports, "list"],
  [/^\/reports\/new$/, editor, "create"],
  [/^\/reports\/([^/]+)$/, editor, "edit"],
  [/^\/reports\/([^/]+)\/schedule$/, schedule, "report"],
  [/^\/reports\/([^/]+)\/runs$/, runs, "report"],
  [/^\/runs$/, runs, "list"],
  [/^\/runs\/([^/]+)$/, runs, "detail"],
  [/^\/alerts$/, alerts, "list"],
  [/^\/alerts\/new$/, alerts, "create"],
  [/^\/alerts\/([^/]+)$/, alerts, "rule"],
  [/^\/destinations$/, destinations, "list"],
  [/^\/connections$/, connections, "list"],
  [/^\/tokens$/, tokens, "list"],
  [/^\/settings$/, settings, "workspace"],
];

const NAV = [
  ["#/dashboards", "Dashboards"],
  ["#/reports", "Reports"],
  ["#/runs", "Runs"],
  ["#/alerts", "Alerts"],
  ["#/destinations", "Destinations"],
  ["#/connections", "Connections"],
  ["#/tokens", "Tokens"],
  ["#/settings", "Settings"],
];

const app = document.getElementById("app");
let leave = null;

export function navigate(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/reports";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

async function route() {
  leave?.abort();
  const controller = new AbortController();
  leave = controller;
  const session = currentSession();
  if (!session) return showSignIn();

  const { path, query } = parseHash();
  const found = ROUTES.map(([re, page, view]) => [path.match(re), page, view]).find(([m]) => m);
  const main = shell(path);
  if (!found) {
    replace(main, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/reports" }, "Back to reports")));
    return focusHeading(main);
  }
  const [match, page, view] = found;
  replace(main, loading());
  const ctx = {
    view,
    params: match.slice(1).map(decodeURIComponent),
    query,
    signal: controller.signal,
    session,
    navigate,
    setTitle: (title) => (document.title = `${title} · Herald`),
  };
  try {
    const node = await page.render(ctx);
    if (controller.signal.aborted) return;
    replace(main, node);
  } catch (e) {
    if (controller.signal.aborted || e.name === "AbortError") return;
    replace(main, errorState(e, () => route()));
  }
  focusHeading(main);
}

function focusHeading(main) {
  const heading = main.querySelector("h1");
  if (heading) {
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    document.title = `${heading.textContent} · Herald`;
    heading.focus({ preventScroll: true });
  }
}

/** The signed-in frame (header, navigation, main); returns the main element. */
function shell(path) {
  const session = currentSession();
  const section = `#/${path.split("/")[1] ?? ""}`;
  const main = h("main", { id: "main", tabindex: "-1" });
  replace(
    app,
    h(
      "header",
      { class: "topbar" },
      h("a", { class: "brand", href: "#/reports" }, "Herald"),
      h(
        "nav",
        { class: "mainnav", "aria-label": "Main" },
        NAV.map(([href, label]) => h("a", { href, "aria-current": href === section ? "page" : null }, label)),
      ),
      h(
        "div",
        { class: "who" },
        h("span", { class: "workspace", title: `Workspace ${session.workspace.code}` }, session.workspace.name),
        h("span", { class: "muted small" }, `${session.token.name} · ${session.token.role}`),
        button("Sign out", () => {
          signOut();
          location.hash = "";
          showSignIn();
        }, { kind: "link" }),
      ),
    ),
    main,
  );
  app.removeAttribute("aria-busy");
  return main;
}

function showSignIn(message) {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", spellcheck: "false", placeholder: "hrld_pat_…", required: true });
  const submit = button("Sign in", null, { kind: "primary", type: "submit" });
  const form = h(
    "form",
    {
      class: "signin card",
      "aria-labelledby": "signin-title",
      onsubmit: async (e) => {
        e.preventDefault();
        const secret = input.value.trim();
        if (!secret) return setFieldError(input, "Paste a personal access token");
        submit.disabled = true;
        try {
          await signIn(secret);
          setFieldError(input, null);
          route();
        } catch (err) {
          setFieldError(
            input,
            err instanceof ApiError && err.status === 401
              ? "That token was not accepted: it may be mistyped, expired or revoked."
              : err.message,
          );
          input.focus();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h1", { id: "signin-title" }, "Sign in to Herald"),
    h("p", { class: "muted" }, "Use a personal access token of your workspace. It is kept only in this browser tab."),
    field("Access token", input, { error: message }),
    submit,
  );
  replace(app, h("main", { id: "main", class: "signin-page", tabindex: "-1" }, form));
  app.removeAttribute("aria-busy");
  document.title = "Sign in · Herald";
  input.focus();
}

const SESSION_ENDED = "Your session ended (the token expired or was revoked). Sign in again.";

onUnauthorized(() => {
  signOut();
  leave?.abort();
  showSignIn(SESSION_ENDED);
});

document.addEventListener("click", (e) => {
  const skip = e.target.closest("[data-skip-to-main]");
  if (skip) {
    e.preventDefault();
    document.getElementById("main")?.focus();
  }
});

window.addEventListener("hashchange", route);

(async () => {
  try {
    await resume();
  } catch (e) {
    if (e.status === 401) return showSignIn(SESSION_ENDED);
    toast(e.message, "error");
  }
  route();
})();
