// The API client of the console: bearer token from session storage, JSON in and out, the
// error envelope turned into an ApiError, paths under the signed-in workspace.

const TOKEN_KEY = "herald.token";

/** An error answer of the API (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(status, code, message, details, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }

  /** The message with each field's problem after it, for a toast. */
  summary() {
    const fields = (this.details?.errors ?? []).map((e) => `${e.field}: ${e.message}`);
    return fields.length ? `${this.message}: ${fields.join("; ")}` : this.message;
  }

  /** Field errors of a 422 as `{field: message}`. */
  fieldErrors() {
    const out = {};
    for (const e of this.details?.errors ?? []) out[e.field] = e.message;
    return out;
  }
}

let session = null;
const listeners = new Set();

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** The signed-in session (`{token, workspace}` from `GET /api/v1/session`), or null. */
export const currentSession = () => session;

/** The workspace's timezone (runs started by hand count their days in it), UTC when unset. */
export const workspaceZone = () => session?.workspace?.settings?.timezone || "UTC";

/** Keeps the session's copy of the workspace settings current after they are saved. */
export function rememberSettings(settings) {
  if (session?.workspace) session.workspace.settings = { ...session.workspace.settings, ...settings };
}

/** Called with no arguments whenever the API answers 401 (token expired or revoked). */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

/** Signs in: checks the token against the API and keeps it for this browser tab. */
export async function signIn(secret) {
  const found = await request("GET", "/api/v1/session", { secret });
  token.set(secret);
  session = found;
  return found;
}

/** Restores the session of this tab, if its token still works. */
export async function resume() {
  if (!token.get()) return null;
  try {
    session = await request("GET", "/api/v1/session");
    return session;
  } catch (e) {
    if (e.status === 401) token.clear();
    throw e;
  }
}

/**
 * Whether the signed-in token may use `access` (`read` or `write`) on `area` (`reports`,
 * `destinations`, `tokens`, `settings`…): its role allows it and one of its scopes covers it.
 * The API has the final word; pages use this to hide what would only be refused.
 */
export function allows(area, access) {
  const t = session?.token;
  if (!t) return false;
  const roleAllows = t.role === "admin" || (t.role === "editor" ? access === "read" || area !== "settings" : access === "read");
  return roleAllows && (t.scopes ?? []).some((s) => s === `${area}:write` || s === `${area}:${access}`);
}

export function signOut() {
  token.clear();
  session = null;
}

/**
 * One API call. `body` is sent as JSON; `as` is `json` (default), `blob` or `response`.
 * Throws ApiError for non-2xx answers and network failures.
 */
export async function request(method, path, { body, signal, as = "json", secret, headers = {} } = {}) {
  const bearer = secret ?? token.get();
  const init = { method, signal, headers: { Accept: "application/json", ...headers } };
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network_error", "Herald could not be reached. Check your connection and try again.");
  }
  if (!response.ok) {
    let envelope = {};
    try {
      envelope = await response.json();
    } catch {
      // not JSON: keep the status line
    }
    const err = envelope.error ?? {};
    const failure = new ApiError(
      response.status,
      err.code ?? "http_error",
      err.message ?? `${response.status} ${response.statusText}`,
      err.details,
      envelope.request_id,
    );
    if (response.status === 401 && !secret) listeners.forEach((fn) => fn());
    throw failure;
  }
  if (as === "response") return response;
  if (as === "blob") return response.blob();
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** A path under the signed-in workspace: `ws("/reports")` → `/api/v1/ws/{id}/reports`. */
export function ws(path) {
  if (!session) throw new ApiError(401, "unauthorized", "Not signed in");
  return `/api/v1/ws/${encodeURIComponent(session.workspace.id)}${path}`;
}

/** Every item of a paginated listing (follows `next_cursor`, at most `max` items). */
export async function listAll(path, { signal, max = 1000 } = {}) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const url = cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path;
    const page = await request("GET", url, { signal });
    items.push(...page.data);
    cursor = page.has_more ? page.next_cursor : null;
  } while (cursor && items.length < max);
  return items;
}

export const api = {
  get: (path, opts) => request("GET", path, opts),
  post: (path, body, opts) => request("POST", path, { ...opts, body }),
  put: (path, body, opts) => request("PUT", path, { ...opts, body }),
  patch: (path, body, opts) => request("PATCH", path, { ...opts, body }),
  del: (path, opts) => request("DELETE", path, opts),
  ws,
  listAll,
  allows,
};
