#!/usr/bin/env node
// Herald's test-only Google Drive peer: Google's OAuth 2.0 token endpoint for service-account
// JWT assertions and the part of Drive v3 that Herald's google_drive destination uses, in
// memory, on 127.0.0.1 only. Assertions are verified (RS256) with the `jose` package against
// public keys the tests register; everything else is plain node:http.
//
//   POST   /token                                  grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
//   POST   /upload/drive/v3/files?uploadType=multipart|media|resumable
//   PUT    /upload/drive/v3/files?upload_id=ID     a resumable session's bytes (Content-Range chunks)
//   GET    /drive/v3/files?q=...                   list (q: name, mimeType, trashed, 'ID' in parents,
//                                                  appProperties/properties has { key='k' and value='v' })
//   GET    /drive/v3/files/ID[?alt=media]          get (fields=..., capabilities)
//   DELETE /drive/v3/files/ID                      delete
//   GET    /health                                 {"status": "ok"}
//   /_peer/...                                     test control: keys, folders, faults, files, tokens,
//                                                  requests, reset (see CONTROL below)
//
// Errors have Google's shapes: {"error": "invalid_grant", "error_description": ...} from /token,
// {"error": {"code", "message", "errors": [{"domain", "reason", "message", ...}]}} from Drive.
// Items in a shared drive are found only with supportsAllDrives=true (404 otherwise, as Drive
// does); a service account without `sub` (domain-wide delegation) has no storage quota, so its
// uploads into a my_drive folder fail with 403 storageQuotaExceeded.
//
//   node server.js [--port 0]    --port 0 (the default) binds a free port; once listening it prints
//                                `drive-peer ready http://127.0.0.1:PORT` to stdout, then one line
//                                per request to stderr
//   node server.js --check       load jose, print its version, exit

import http from "node:http";
import crypto from "node:crypto";
import fs from "node:fs";
import { compactVerify, decodeProtectedHeader, decodeJwt, importSPKI } from "jose";

const HOST = "127.0.0.1";
const MAX_BODY_BYTES = 128 * 1024 * 1024;
const TOKEN_TTL_SECONDS = 3599;
const CLOCK_SKEW_SECONDS = 300;
const DRIVE_SCOPE = "https://www.googleapis.com/auth/drive";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const FOLDER_MIME = "application/vnd.google-apps.folder";
const ROLES = {
    shared_drive: ["organizer", "fileOrganizer", "writer", "commenter", "reader"],
    my_drive: ["owner", "writer", "commenter", "reader"],
};
const CAN_ADD = new Set(["owner", "organizer", "fileOrganizer", "writer"]);
const CAN_DELETE_IN_SHARED_DRIVE = new Set(["organizer", "fileOrganizer"]);
const FILE_FIELDS = new Set(`kind id name mimeType description starred trashed explicitlyTrashed
    parents properties appProperties spaces version webContentLink webViewLink iconLink hasThumbnail
    thumbnailLink thumbnailVersion viewedByMe viewedByMeTime createdTime modifiedTime modifiedByMeTime
    modifiedByMe sharedWithMeTime sharingUser owners teamDriveId driveId lastModifyingUser shared
    ownedByMe capabilities viewersCanCopyContent copyRequiresWriterPermission writersCanShare
    permissions permissionIds hasAugmentedPermissions folderColorRgb originalFilename fullFileExtension
    fileExtension md5Checksum sha1Checksum sha256Checksum size quotaBytesUsed headRevisionId
    contentHints imageMediaMetadata videoMediaMetadata isAppAuthorized exportLinks shortcutDetails
    contentRestrictions resourceKey linkShareMetadata labelInfo trashedTime trashingUser
    downloadRestrictions inheritedPermissionsDisabled`.split(/\s+/));
const LIST_FIELDS = new Set(["kind", "files", "nextPageToken", "incompleteSearch"]);
const DEFAULT_FILE_FIELDS = "kind,id,name,mimeType";
const DEFAULT_LIST_FIELDS = `kind,incompleteSearch,nextPageToken,files(${DEFAULT_FILE_FIELDS})`;
const SA_QUOTA_MESSAGE = "Service Accounts do not have storage quota. Leverage shared drives " +
    "(https://developers.google.com/workspace/drive/api/guides/about-shareddrives), or use OAuth " +
    "delegation (http://support.google.com/a/answer/7281227) instead.";

// ------------------------------------------------------------------ state
function emptyState() {
    return {
        keys: new Map(), // kid -> {kid, clientEmail, key (CryptoKey), revoked}
        delegation: new Set(), // client emails allowed domain-wide delegation (`sub`)
        items: new Map(), // id -> folder {isFolder, kind, members} or file {content, owner, ...}
        tokens: new Map(), // access token -> {clientEmail, sub, scopes, kid, issuedAt, expiresAt}
        uploads: new Map(), // upload_id -> resumable session
        faults: [],
        requests: [],
    };
}
let state = emptyState();
let nextFaultId = 1;
let seq = 0; // creation order, for a stable list order

// ------------------------------------------------------------------ errors and replies
class HttpError extends Error {
    constructor(status, body, headers = {}) {
        super(typeof body === "string" ? body : JSON.stringify(body));
        Object.assign(this, { status, body, headers });
    }
}

function driveError(code, reason, message, { domain = "global", location, headers } = {}) {
    const detail = { message, domain, reason };
    if (location) Object.assign(detail, { location, locationType: location === "Authorization" ? "header" : "parameter" });
    return new HttpError(code, { error: { code, message, errors: [detail] } }, headers);
}
const notFound = (id) => driveError(404, "notFound", `File not found: ${id}.`, { location: "fileId" });
const invalidValue = (location) => driveError(400, "invalid", "Invalid Value", { location });
const badRequest = (message) => driveError(400, "badRequest", message);
const noPermission = () => driveError(403, "insufficientFilePermissions",
    "The user does not have sufficient permissions for this file.");
const oauthError = (status, error, description) => new HttpError(status, { error, error_description: description });
const controlError = (status, message) => new HttpError(status, { error: message });

// Injected faults: a status's usual reason, and each reason's usual message (a fault's `reason` and
// `message` override them).
const FAULT_REASONS = { 400: "badRequest", 401: "authError", 403: "userRateLimitExceeded", 404: "notFound",
    429: "rateLimitExceeded", 500: "backendError", 502: "backendError", 503: "backendError" };
const REASON_MESSAGES = {
    badRequest: "Bad Request", authError: "Invalid Credentials", notFound: "Not Found",
    rateLimitExceeded: "Rate Limit Exceeded", userRateLimitExceeded: "User Rate Limit Exceeded",
    dailyLimitExceeded: "Daily Limit Exceeded", sharingRateLimitExceeded: "Sharing Rate Limit Exceeded",
    storageQuotaExceeded: "The user's Drive storage quota has been exceeded.",
    backendError: "Internal Error", internalError: "Internal Error",
};

function faultError(fault, pathname) {
    const { status, reason, message } = fault;
    const headers = fault.retry_after !== undefined ? { "Retry-After": String(fault.retry_after) } : {};
    if (pathname === "/token") {
        const error = reason ?? (status === 429 ? "rate_limit_exceeded" : status >= 500 ? "internal_failure" : "invalid_request");
        return new HttpError(status, { error, error_description: message ?? http.STATUS_CODES[status] ?? "Error" }, headers);
    }
    const r = reason ?? FAULT_REASONS[status] ?? (status >= 500 ? "backendError" : "badRequest");
    const domain = /LimitExceeded|QuotaExceeded/i.test(r) ? "usageLimits" : "global";
    if (status === 401) headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"';
    return driveError(status, r, message ?? REASON_MESSAGES[r] ?? http.STATUS_CODES[status] ?? "Error", { domain, headers });
}

function send(res, status, body, headers = {}) {
    if (body === undefined) {
        res.writeHead(status, status === 204 ? headers : { "Content-Length": 0, ...headers });
        res.end();
        return;
    }
    const text = Buffer.from(JSON.stringify(body, null, 2) + "\n");
    res.writeHead(status, { "Content-Type": "application/json; charset=UTF-8", "Content-Length": text.length, ...headers });
    res.end(text);
}

// ------------------------------------------------------------------ helpers
async function readBody(req) {
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) throw driveError(413, "uploadTooLarge", "Request entity too large.");
        chunks.push(chunk);
    }
    return Buffer.concat(chunks);
}

function parseJson(body, { control = false } = {}) {
    if (body.length === 0) return {};
    try {
        const value = JSON.parse(body.toString("utf8"));
        if (value && typeof value === "object" && !Array.isArray(value)) return value;
    } catch { /* below */ }
    throw control ? controlError(400, "the body must be a JSON object") : driveError(400, "parseError", "Parse Error");
}

const flag = (url, name) => url.searchParams.get(name) === "true";
const now = () => Math.floor(Date.now() / 1000);
const newId = () => "1" + crypto.randomBytes(24).toString("base64url");
const sha256 = (buf) => crypto.createHash("sha256").update(buf).digest("hex");
const md5 = (buf) => crypto.createHash("md5").update(buf).digest("hex");
const lower = (email) => String(email ?? "").trim().toLowerCase();

// ------------------------------------------------------------------ fields=
// "id,webViewLink", "files(id,name),nextPageToken", "capabilities/canAddChildren", "*"
function parseFields(text) {
    const spec = text.replace(/\s+/g, "");
    let i = 0;
    const item = () => { // name, name/item or name(list)
        const name = /^[A-Za-z*][A-Za-z0-9_]*/.exec(spec.slice(i))?.[0];
        if (!name) throw invalidFields(spec);
        i += name.length;
        if (spec[i] === "/") { i++; return { [name]: item() }; }
        if (spec[i] !== "(") return { [name]: true };
        i++;
        const sub = list();
        if (spec[i++] !== ")") throw invalidFields(spec);
        return { [name]: sub };
    };
    const list = () => {
        const tree = item();
        while (spec[i] === ",") { i++; Object.assign(tree, item()); }
        return tree;
    };
    const tree = list();
    if (i !== spec.length) throw invalidFields(spec);
    return tree;
}
function invalidFields(name) {
    const message = `Invalid field selection ${name}`;
    return driveError(400, "invalidParameter", message, { location: "fields" });
}
function checkFields(tree, allowed) {
    for (const name of Object.keys(tree)) {
        if (name !== "*" && !allowed.has(name)) throw invalidFields(name);
    }
}
function selectFields(value, tree) {
    if (tree === true || tree["*"]) return value;
    if (Array.isArray(value)) return value.map((v) => selectFields(v, tree));
    if (!value || typeof value !== "object") return value;
    const out = {};
    for (const [name, sub] of Object.entries(tree)) {
        if (value[name] !== undefined) out[name] = selectFields(value[name], sub);
    }
    return out;
}

// ------------------------------------------------------------------ q= (Drive's query language, a subset)
function invalidQuery() { return invalidValue("q"); }

function tokenize(text) {
    const tokens = [];
    let i = 0;
    while (i < text.length) {
        const c = text[i];
        if (/\s/.test(c)) { i++; continue; }
        if (c === "'") {
            let value = "";
            for (i++; ; i++) {
                if (i >= text.length) throw invalidQuery();
                if (text[i] === "\\" && i + 1 < text.length) { value += text[++i]; continue; }
                if (text[i] === "'") { i++; break; }
                value += text[i];
            }
            tokens.push({ type: "string", value });
        } else if ("(){}".includes(c)) {
            tokens.push({ type: c }); i++;
        } else if (/[=!<>]/.test(c)) {
            const op = /^(!=|<=|>=|=|<|>)/.exec(text.slice(i))?.[1];
            if (!op) throw invalidQuery();
            tokens.push({ type: "op", value: op }); i += op.length;
        } else {
            const word = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i))?.[0];
            if (!word) throw invalidQuery();
            tokens.push({ type: "word", value: word }); i += word.length;
        }
    }
    return tokens;
}

// Returns a predicate over stored items; anything outside the subset is 400 "Invalid Value".
function parseQuery(text) {
    const tokens = tokenize(text);
    let i = 0;
    const peek = () => tokens[i];
    const isWord = (w) => peek()?.type === "word" && peek().value.toLowerCase() === w;
    const take = (type, value) => {
        const t = tokens[i++];
        if (!t || t.type !== type || (value !== undefined && (t.value ?? "").toLowerCase() !== value)) throw invalidQuery();
        return t;
    };
    const or = () => {
        let left = and();
        while (isWord("or")) { i++; const a = left, b = and(); left = (f) => a(f) || b(f); }
        return left;
    };
    const and = () => {
        let left = not();
        while (isWord("and")) { i++; const a = left, b = not(); left = (f) => a(f) && b(f); }
        return left;
    };
    const not = () => {
        if (isWord("not")) { i++; const e = not(); return (f) => !e(f); }
        return term();
    };
    const term = () => {
        if (peek()?.type === "(") { i++; const e = or(); take(")"); return e; }
        const t = tokens[i++];
        if (t?.type === "string") { // 'ID' in parents
            take("word", "in");
            take("word", "parents");
            return (f) => (f.parents ?? []).includes(t.value);
        }
        if (t?.type !== "word") throw invalidQuery();
        const field = t.value;
        if (field === "appProperties" || field === "properties") {
            take("word", "has"); take("{");
            take("word", "key"); take("op", "="); const key = take("string").value;
            take("word", "and");
            take("word", "value"); take("op", "="); const value = take("string").value;
            take("}");
            return (f) => f[field]?.[key] === value;
        }
        if (field === "name" || field === "mimeType") {
            const op = tokens[i++];
            const value = take("string").value;
            if (op?.type === "word" && op.value === "contains") return (f) => f[field].includes(value);
            if (op?.type === "op" && op.value === "=") return (f) => f[field] === value;
            if (op?.type === "op" && op.value === "!=") return (f) => f[field] !== value;
            throw invalidQuery();
        }
        if (field === "trashed") {
            const op = take("op").value;
            const value = take("word").value;
            if (!["=", "!="].includes(op) || !["true", "false"].includes(value)) throw invalidQuery();
            return () => (op === "=") === (value === "false"); // nothing here is ever trashed
        }
        throw invalidQuery();
    };
    if (tokens.length === 0) return () => true;
    const predicate = or();
    if (i !== tokens.length) throw invalidQuery();
    return predicate;
}

// ------------------------------------------------------------------ access
// Who acts: the impersonated user (`sub`) or the service account itself.
const principal = (token) => token.sub ?? token.clientEmail;
const folderOf = (item) => (item.isFolder ? item : state.items.get(item.parents[0]));
const driveIdOf = (item) => (folderOf(item)?.kind === "shared_drive" ? folderOf(item).id : undefined);

// The caller's role on an item (a file inherits its folder's; a My Drive file's creator owns it),
// or null when the caller cannot see it, which includes shared-drive items without supportsAllDrives.
function roleOn(item, token, supportsAllDrives) {
    const folder = folderOf(item);
    const who = principal(token);
    let role = folder?.members.get(who) ?? null;
    if (!item.isFolder && folder?.kind !== "shared_drive" && item.owner === who) role = "owner";
    if (!role || (driveIdOf(item) && !supportsAllDrives)) return null;
    return role;
}

function capabilities(item, role) {
    const shared = folderOf(item)?.kind === "shared_drive";
    const write = CAN_ADD.has(role);
    const del = shared ? CAN_DELETE_IN_SHARED_DRIVE.has(role) : role === "owner";
    const caps = { canEdit: write, canRename: write, canDownload: true, canShare: write };
    if (!item.isFolder) return { ...caps, canAddChildren: false, canListChildren: false, canDelete: del, canTrash: del };
    // Folders here are set up by the tests and cannot be deleted through the API.
    return { ...caps, canAddChildren: write, canListChildren: true, canDeleteChildren: del, canTrashChildren: del,
        canRemoveChildren: shared ? del : write, canDelete: false, canTrash: false };
}

function resource(item, role) {
    const driveId = driveIdOf(item);
    const r = {
        kind: "drive#file", id: item.id, name: item.name, mimeType: item.mimeType,
        parents: item.parents.length ? [...item.parents] : undefined,
        driveId, teamDriveId: driveId, description: item.description,
        appProperties: item.appProperties, properties: item.properties,
        starred: false, trashed: false, explicitlyTrashed: false,
        createdTime: item.createdTime, modifiedTime: item.modifiedTime,
        webViewLink: item.isFolder
            ? `https://drive.google.com/drive/folders/${item.id}`
            : `https://drive.google.com/file/d/${item.id}/view?usp=drivesdk`,
        capabilities: capabilities(item, role),
    };
    if (!item.isFolder) {
        Object.assign(r, {
            size: String(item.content.length), quotaBytesUsed: String(item.content.length),
            md5Checksum: md5(item.content), sha256Checksum: sha256(item.content), originalFilename: item.name,
            version: "1",
        });
        if (!driveId) r.owners = [{ kind: "drive#user", emailAddress: item.owner }];
    }
    return r;
}

function fileReply(res, item, role, url, status = 200) {
    const tree = parseFields(url.searchParams.get("fields") || DEFAULT_FILE_FIELDS);
    checkFields(tree, FILE_FIELDS);
    send(res, status, selectFields(resource(item, role), tree));
}

// ------------------------------------------------------------------ POST /token
async function token(req, res, body) {
    const type = String(req.headers["content-type"] ?? "");
    if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
        throw oauthError(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded.");
    }
    const form = new URLSearchParams(body.toString("utf8"));
    const grantType = form.get("grant_type");
    if (!grantType) throw oauthError(400, "invalid_request", "Missing required parameter: grant_type");
    if (grantType !== JWT_BEARER) throw oauthError(400, "unsupported_grant_type", `Invalid grant_type: ${grantType}`);
    const assertion = form.get("assertion");
    if (!assertion) throw oauthError(400, "invalid_request", "Missing required parameter: assertion");

    let header, unverified;
    try {
        header = decodeProtectedHeader(assertion);
        unverified = decodeJwt(assertion);
    } catch {
        throw oauthError(400, "invalid_grant", "Invalid JWT: the assertion is not a well-formed JWS.");
    }
    if (header.alg !== "RS256") throw oauthError(400, "invalid_grant", `Invalid JWT: unsupported algorithm ${header.alg}.`);
    const iss = lower(unverified.iss);
    const accountKeys = [...state.keys.values()].filter((k) => k.clientEmail === iss);
    if (accountKeys.length === 0) throw oauthError(400, "invalid_grant", "Invalid grant: account not found");
    // Google tries the key named by `kid`, or every key of the account when there is none.
    const candidates = accountKeys.filter((k) => !k.revoked && (header.kid === undefined || k.kid === header.kid));
    let verified = null;
    for (const k of candidates) {
        try {
            verified = { key: k, payload: JSON.parse(new TextDecoder().decode((await compactVerify(assertion, k.key)).payload)) };
            break;
        } catch { /* next key */ }
    }
    if (!verified) throw oauthError(400, "invalid_grant", "Invalid JWT Signature.");
    const claims = verified.payload;

    const t = now();
    const timeframe = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. " +
        "Check your iat and exp values in the JWT claim.";
    if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp) || claims.exp <= t ||
        claims.iat > t + CLOCK_SKEW_SECONDS || claims.exp - claims.iat > 3600 || claims.exp <= claims.iat) {
        throw oauthError(400, "invalid_grant", timeframe);
    }
    const audiences = [`http://${HOST}:${server.address().port}/token`, `http://${req.headers.host}/token`];
    if (!audiences.includes(claims.aud)) {
        throw oauthError(400, "invalid_grant", `Invalid JWT: Failed audience check. The right audience is ${audiences[0]}`);
    }
    const scopes = typeof claims.scope === "string" ? claims.scope.split(" ").filter(Boolean) : [];
    if (scopes.length === 0) throw oauthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    const sub = claims.sub !== undefined && lower(claims.sub) !== iss ? lower(claims.sub) : undefined;
    if (sub && !state.delegation.has(iss)) {
        throw oauthError(401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, " +
            "or client not authorized for any of the scopes requested.");
    }
    const accessToken = "ya29.peer-" + crypto.randomBytes(24).toString("base64url");
    state.tokens.set(accessToken, {
        accessToken, clientEmail: iss, sub, scopes, kid: header.kid ?? null,
        issuedAt: t, expiresAt: t + TOKEN_TTL_SECONDS,
    });
    send(res, 200, { access_token: accessToken, expires_in: TOKEN_TTL_SECONDS, token_type: "Bearer" },
        { "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", Pragma: "no-cache" });
}

// ------------------------------------------------------------------ Drive v3
function authenticate(req) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ""));
    const challenge = { "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"' };
    if (!m) {
        throw driveError(401, "required", "Request is missing required authentication credential. Expected OAuth 2 " +
            "access token, login cookie or other valid authentication credential. See " +
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        { location: "Authorization", headers: challenge });
    }
    const token = state.tokens.get(m[1]);
    if (!token || token.expiresAt <= now()) {
        throw driveError(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access " +
            "token, login cookie or other valid authentication credential. See " +
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        { location: "Authorization", headers: { "WWW-Authenticate": challenge["WWW-Authenticate"] + ', error="invalid_token"' } });
    }
    if (!token.scopes.includes(DRIVE_SCOPE)) {
        throw driveError(403, "insufficientPermissions", "Request had insufficient authentication scopes.");
    }
    return token;
}

// Checks that `token` may create a file from `meta` (404 parent, 403 role, 403 quota) and returns
// the file's parents.
function checkCreate(token, meta, url) {
    if (meta.parents !== undefined && (!Array.isArray(meta.parents) || meta.parents.some((p) => typeof p !== "string"))) {
        throw invalidValue("parents");
    }
    const parents = (meta.parents ?? []).filter((p) => p !== "root");
    if (parents.length > 1) throw driveError(403, "cannotAddParent", "Increasing the number of parents is not allowed.");
    for (const [field, props] of [["appProperties", meta.appProperties], ["properties", meta.properties]]) {
        if (props === undefined) continue;
        if (!props || typeof props !== "object" || Array.isArray(props)) throw invalidValue(field);
        for (const [k, v] of Object.entries(props)) {
            if (typeof v !== "string" || Buffer.byteLength(k + v) > 124) throw invalidValue(field);
        }
    }
    let folder = null;
    if (parents.length === 1) {
        folder = state.items.get(parents[0]);
        const role = folder?.isFolder ? roleOn(folder, token, flag(url, "supportsAllDrives")) : null;
        if (!role) throw notFound(parents[0]);
        if (!CAN_ADD.has(role)) throw noPermission();
    }
    if (folder?.kind !== "shared_drive" && !token.sub) {
        throw driveError(403, "storageQuotaExceeded", SA_QUOTA_MESSAGE, { domain: "usageLimits" });
    }
    return parents;
}

function createFile(token, meta, content, mediaType, url) {
    const parents = checkCreate(token, meta, url);
    const time = new Date().toISOString();
    const item = {
        id: newId(), isFolder: false, name: typeof meta.name === "string" ? meta.name : "Untitled",
        mimeType: typeof meta.mimeType === "string" ? meta.mimeType : mediaType || "application/octet-stream",
        parents, appProperties: meta.appProperties, properties: meta.properties, description: meta.description,
        content, owner: principal(token), createdBy: { client_email: token.clientEmail, sub: token.sub ?? null },
        createdTime: time, modifiedTime: time, seq: seq++,
    };
    state.items.set(item.id, item);
    return item;
}

// multipart/related: a JSON metadata part, then the media part (binary-safe; base64 transfer encoding too).
function parseMultipart(body, contentType) {
    const malformed = () => badRequest("Malformed multipart body.");
    const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
    if (!/^\s*multipart\/related\s*;/i.test(contentType) || !m) throw malformed();
    const delimiter = Buffer.from(`--${m[1] ?? m[2]}`);
    const parts = [];
    let at = body.indexOf(delimiter);
    if (at < 0) throw malformed();
    for (;;) {
        let pos = at + delimiter.length;
        if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // closing "--"
        while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
        if (body[pos] === 0x0d) pos++;
        if (body[pos] !== 0x0a) throw malformed();
        pos++;
        let next = body.indexOf(delimiter, pos);
        while (next >= 0 && body[next - 1] !== 0x0a) next = body.indexOf(delimiter, next + 1);
        if (next < 0) throw malformed();
        const end = body[next - 2] === 0x0d ? next - 2 : next - 1;
        parts.push(parsePart(body.subarray(pos, Math.max(pos, end)), malformed));
        at = next;
    }
}
function parsePart(raw, malformed) {
    let split = raw.indexOf("\r\n\r\n"), skip = 4;
    if (split < 0 || (raw.indexOf("\n\n") >= 0 && raw.indexOf("\n\n") < split)) { split = raw.indexOf("\n\n"); skip = 2; }
    if (raw.subarray(0, 2).toString() === "\r\n") { split = 0; skip = 2; } // no headers
    if (split < 0) throw malformed();
    const headers = {};
    for (const line of raw.subarray(0, split).toString("latin1").split(/\r?\n/)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let content = raw.subarray(split + skip);
    if (/^base64$/i.test(headers["content-transfer-encoding"] ?? "")) content = Buffer.from(content.toString("latin1"), "base64");
    return { headers, content: Buffer.from(content) };
}

async function upload(req, res, body, url, base) {
    if (req.method === "PUT" || url.searchParams.has("upload_id")) return resumableChunk(req, res, body, url);
    const uploadType = url.searchParams.get("uploadType");
    if (req.method !== "POST") throw driveError(405, "httpMethodNotAllowed", "Method Not Allowed");
    const token = authenticate(req);
    const contentType = String(req.headers["content-type"] ?? "");
    if (uploadType === "multipart") {
        const parts = parseMultipart(body, contentType);
        if (parts.length !== 2) throw badRequest("Malformed multipart body.");
        const meta = parseJson(parts[0].content);
        const item = createFile(token, meta, parts[1].content, parts[1].headers["content-type"], url);
        return fileReply(res, item, roleOn(item, token, true), url);
    }
    if (uploadType === "media") {
        const item = createFile(token, {}, body, contentType.split(";")[0].trim(), url);
        return fileReply(res, item, roleOn(item, token, true), url);
    }
    if (uploadType === "resumable") {
        const meta = parseJson(body);
        checkCreate(token, meta, url);
        parseFields(url.searchParams.get("fields") || DEFAULT_FILE_FIELDS); // a bad selection fails now
        const id = "peer-" + crypto.randomBytes(18).toString("base64url");
        const length = req.headers["x-upload-content-length"];
        state.uploads.set(id, {
            id, token, meta, mediaType: req.headers["x-upload-content-type"], expected: length === undefined ? null : Number(length),
            chunks: [], received: 0, query: new URLSearchParams(url.searchParams), item: null,
        });
        const location = new URL("/upload/drive/v3/files", base);
        for (const [k, v] of url.searchParams) location.searchParams.append(k, v);
        location.searchParams.set("upload_id", id);
        return send(res, 200, undefined, { Location: location.href, "X-GUploader-UploadID": id });
    }
    throw invalidValue("uploadType");
}

// PUT of a resumable session: `Content-Range: bytes A-B/TOTAL` (TOTAL may be *), `bytes */TOTAL`
// to ask for the status, or no Content-Range for the whole file at once. 308 + Range until complete.
function resumableChunk(req, res, body, url) {
    const session = state.uploads.get(url.searchParams.get("upload_id") ?? "");
    if (!session) throw driveError(404, "notFound", "Upload session not found.", { location: "upload_id" });
    const fieldsUrl = url.searchParams.has("fields") ? url : { searchParams: session.query };
    if (session.item) return fileReply(res, session.item, roleOn(session.item, session.token, true), fieldsUrl);
    const range = String(req.headers["content-range"] ?? "");
    let total = null;
    if (!range) {
        session.chunks = [body];
        session.received = body.length;
        total = body.length;
    } else {
        const status = /^bytes \*\/(\d+|\*)$/.exec(range);
        const chunk = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
        if (status) {
            total = status[1] === "*" ? null : Number(status[1]);
        } else if (chunk) {
            const [start, end] = [Number(chunk[1]), Number(chunk[2])];
            total = chunk[3] === "*" ? null : Number(chunk[3]);
            if (end - start + 1 !== body.length || end < start) throw badRequest("Failed to parse Content-Range header.");
            if (start > session.received) {
                throw badRequest(`Invalid request. According to the Content-Range header, the upload offset is ${start} ` +
                    `byte(s), which exceeds already uploaded size of ${session.received} byte(s).`);
            }
            if (end + 1 > session.received) {
                session.chunks.push(body.subarray(session.received - start));
                session.received = end + 1;
            }
        } else {
            throw badRequest("Failed to parse Content-Range header.");
        }
    }
    if (total === null || session.received < total) {
        return send(res, 308, undefined, session.received > 0 ? { Range: `bytes=0-${session.received - 1}` } : {});
    }
    if (session.received > total) throw badRequest("Invalid request. The number of bytes uploaded exceeds the declared size.");
    const content = Buffer.concat(session.chunks);
    if (session.expected !== null && session.expected !== content.length) {
        throw badRequest(`Invalid request. The uploaded size ${content.length} does not match X-Upload-Content-Length ${session.expected}.`);
    }
    session.item = createFile(session.token, session.meta, content, session.mediaType, { searchParams: session.query });
    session.chunks = [];
    return fileReply(res, session.item, roleOn(session.item, session.token, true), fieldsUrl);
}

function listFiles(req, res, url) {
    const token = authenticate(req);
    const allDrives = flag(url, "supportsAllDrives") && flag(url, "includeItemsFromAllDrives");
    const driveId = url.searchParams.get("driveId");
    const corpora = url.searchParams.get("corpora");
    if ((corpora === "drive") !== Boolean(driveId)) {
        throw badRequest("The driveId parameter must be specified if and only if corpora is set to drive.");
    }
    const predicate = parseQuery(url.searchParams.get("q") ?? "");
    const pageSize = Number(url.searchParams.get("pageSize") ?? 100);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw invalidValue("pageSize");
    const offset = Number(url.searchParams.get("pageToken") ? Buffer.from(url.searchParams.get("pageToken"), "base64url").toString() : 0);
    if (!Number.isInteger(offset) || offset < 0) throw invalidValue("pageToken");
    const tree = parseFields(url.searchParams.get("fields") || DEFAULT_LIST_FIELDS);
    checkFields(tree, LIST_FIELDS);
    if (tree.files && tree.files !== true) checkFields(tree.files, FILE_FIELDS);

    const matches = [...state.items.values()]
        .map((item) => ({ item, role: roleOn(item, token, allDrives) }))
        .filter(({ item, role }) => role && (!driveId || driveIdOf(item) === driveId) && predicate(item))
        .sort((a, b) => a.item.createdTime.localeCompare(b.item.createdTime) || a.item.seq - b.item.seq);
    const page = matches.slice(offset, offset + pageSize);
    const more = offset + pageSize < matches.length;
    send(res, 200, selectFields({
        kind: "drive#fileList", incompleteSearch: false,
        nextPageToken: more ? Buffer.from(String(offset + pageSize)).toString("base64url") : undefined,
        files: page.map(({ item, role }) => resource(item, role)),
    }, tree));
}

function getOrDelete(req, res, url, id) {
    const token = authenticate(req);
    const item = state.items.get(id);
    const role = item ? roleOn(item, token, flag(url, "supportsAllDrives")) : null;
    if (!role) throw notFound(id);
    if (req.method === "GET") {
        if (url.searchParams.get("alt") === "media") {
            if (item.isFolder) throw driveError(403, "fileNotDownloadable", "Only files with binary content can be downloaded.");
            res.writeHead(200, { "Content-Type": item.mimeType, "Content-Length": item.content.length });
            return res.end(item.content);
        }
        return fileReply(res, item, role, url);
    }
    if (item.isFolder || !capabilities(item, role).canDelete) throw noPermission();
    state.items.delete(id);
    send(res, 204);
}

// ------------------------------------------------------------------ CONTROL (/_peer/..., tests only)
//   POST   /_peer/keys            {client_email, kid, public_key_pem, delegation?: bool (per
//                                 account; needed for `sub`)}, or a whole
//                                 service-account JSON key (private_key_id, private_key): register
//   DELETE /_peer/keys/KID        revoke (its tokens stay valid until they expire, as at Google)
//   POST   /_peer/folders         {id?, name, kind: shared_drive|my_drive, members: {email: role}}
//   POST   /_peer/faults          {path_prefix, status?, times?, method?, client_email?, delay_ms?,
//                                 retry_after?, reason?, message?}
//   GET    /_peer/faults          faults not yet used up
//   GET    /_peer/files[?parent=ID]             files with name, parents, appProperties, sha256, ...
//   GET    /_peer/files/ID/content              a file's bytes
//   GET    /_peer/tokens          issued access tokens; POST /_peer/tokens/expire {client_email?}
//   GET    /_peer/requests[?client_email=E]     the request log
//   POST   /_peer/reset           forget everything
async function control(req, res, body, url) {
    const path = url.pathname.replace(/\/+$/, "");
    const route = `${req.method} ${path}`;
    let m;
    if (route === "POST /_peer/keys") return send(res, 201, await registerKey(parseJson(body, { control: true })));
    if (req.method === "DELETE" && (m = /^\/_peer\/keys\/([^/]+)$/.exec(path))) {
        const key = state.keys.get(decodeURIComponent(m[1]));
        if (!key) throw controlError(404, "unknown key id");
        key.revoked = true;
        return send(res, 204);
    }
    if (route === "POST /_peer/folders") return send(res, 201, addFolder(parseJson(body, { control: true })));
    if (route === "POST /_peer/faults") return send(res, 201, addFault(parseJson(body, { control: true })));
    if (route === "GET /_peer/faults") return send(res, 200, { faults: state.faults });
    if (route === "GET /_peer/files") {
        const parent = url.searchParams.get("parent");
        const files = [...state.items.values()].filter((i) => !i.isFolder && (!parent || i.parents.includes(parent)));
        return send(res, 200, { files: files.map(describeFile) });
    }
    if (req.method === "GET" && (m = /^\/_peer\/files\/([^/]+)\/content$/.exec(path))) {
        const item = state.items.get(decodeURIComponent(m[1]));
        if (!item || item.isFolder) throw controlError(404, "unknown file id");
        res.writeHead(200, { "Content-Type": item.mimeType, "Content-Length": item.content.length });
        return res.end(item.content);
    }
    if (route === "GET /_peer/tokens") {
        return send(res, 200, { tokens: [...state.tokens.values()].map((t) => ({
            access_token: t.accessToken, client_email: t.clientEmail, sub: t.sub ?? null, scope: t.scopes.join(" "),
            kid: t.kid, issued_at: t.issuedAt, expires_at: t.expiresAt, expired: t.expiresAt <= now(),
        })) });
    }
    if (route === "POST /_peer/tokens/expire") {
        const email = lower(parseJson(body, { control: true }).client_email);
        let expired = 0;
        for (const t of state.tokens.values()) {
            if ((!email || t.clientEmail === email) && t.expiresAt > now()) { t.expiresAt = now() - 1; expired++; }
        }
        return send(res, 200, { expired });
    }
    if (route === "GET /_peer/requests") {
        const email = lower(url.searchParams.get("client_email"));
        return send(res, 200, { requests: state.requests.filter((r) => !email || r.client_email === email) });
    }
    if (route === "POST /_peer/reset") {
        state = emptyState();
        return send(res, 204);
    }
    throw controlError(404, `no control endpoint ${route}`);
}

async function registerKey(b) {
    const clientEmail = lower(b.client_email);
    const kid = b.kid ?? b.private_key_id;
    const pem = b.public_key_pem ?? b.private_key;
    if (!clientEmail || typeof kid !== "string" || !kid || typeof pem !== "string") {
        throw controlError(400, "need client_email, kid (or private_key_id) and public_key_pem (or private_key)");
    }
    let spki;
    try {
        const keyObject = pem.includes("BEGIN CERTIFICATE") ? new crypto.X509Certificate(pem).publicKey : crypto.createPublicKey(pem);
        if (keyObject.asymmetricKeyType !== "rsa") throw new Error("not an RSA key");
        spki = keyObject.export({ type: "spki", format: "pem" });
    } catch (e) {
        throw controlError(400, `unusable key: ${e.message}`);
    }
    state.keys.set(kid, { kid, clientEmail, key: await importSPKI(spki, "RS256"), revoked: false });
    if (b.delegation !== undefined) state.delegation[b.delegation === true ? "add" : "delete"](clientEmail);
    return { client_email: clientEmail, kid, delegation: state.delegation.has(clientEmail) };
}

function addFolder(b) {
    const id = b.id ?? "0A" + crypto.randomBytes(12).toString("base64url");
    if (typeof id !== "string" || !/^[A-Za-z0-9_-]+$/.test(id)) throw controlError(400, "id must be letters, digits, - or _");
    if (state.items.has(id)) throw controlError(409, `id ${id} exists`);
    if (!ROLES[b.kind]) throw controlError(400, "kind must be shared_drive or my_drive");
    const members = new Map();
    for (const [email, role] of Object.entries(b.members ?? {})) {
        if (!ROLES[b.kind].includes(role)) throw controlError(400, `role of ${email} must be one of ${ROLES[b.kind].join(", ")}`);
        members.set(lower(email), role);
    }
    const time = new Date().toISOString();
    state.items.set(id, {
        id, isFolder: true, kind: b.kind, name: String(b.name ?? id), mimeType: FOLDER_MIME, parents: [], members,
        createdTime: time, modifiedTime: time, seq: seq++,
    });
    return { id, name: String(b.name ?? id), kind: b.kind, members: Object.fromEntries(members) };
}

function addFault(b) {
    if (typeof b.path_prefix !== "string" || !b.path_prefix.startsWith("/")) throw controlError(400, "path_prefix must start with /");
    if (b.status !== undefined && !(Number.isInteger(b.status) && b.status >= 400 && b.status <= 599)) {
        throw controlError(400, "status must be an HTTP error status (400-599)");
    }
    if (b.status === undefined && !(b.delay_ms > 0)) throw controlError(400, "need status or delay_ms");
    const fault = {
        id: nextFaultId++, path_prefix: b.path_prefix, method: b.method ? String(b.method).toUpperCase() : undefined,
        client_email: b.client_email ? lower(b.client_email) : undefined, status: b.status,
        times: Number.isInteger(b.times) && b.times > 0 ? b.times : 1, delay_ms: b.delay_ms,
        retry_after: b.retry_after, reason: b.reason, message: b.message,
    };
    state.faults.push(fault);
    return fault;
}

function describeFile(i) {
    return {
        id: i.id, name: i.name, parents: i.parents, mimeType: i.mimeType, appProperties: i.appProperties ?? {},
        properties: i.properties ?? {}, description: i.description ?? null, size: i.content.length,
        sha256: sha256(i.content), md5: md5(i.content), drive_id: driveIdOf(i) ?? null, owner: i.owner,
        created_by: i.createdBy, created_time: i.createdTime,
    };
}

// ------------------------------------------------------------------ dispatch
// Who a request speaks for, for faults with client_email and the request log.
function identify(req, url, body) {
    if (url.pathname === "/token") {
        try { return { client_email: lower(decodeJwt(new URLSearchParams(body.toString("utf8")).get("assertion") ?? "").iss) }; }
        catch { return {}; }
    }
    const session = state.uploads.get(url.searchParams.get("upload_id") ?? "");
    const token = session?.token ?? state.tokens.get(/^Bearer\s+(\S+)/i.exec(String(req.headers.authorization ?? ""))?.[1]);
    return token ? { client_email: token.clientEmail, sub: token.sub ?? null } : {};
}

function takeFault(req, url, who) {
    const index = state.faults.findIndex((f) => url.pathname.startsWith(f.path_prefix) &&
        (!f.method || f.method === req.method) && (!f.client_email || f.client_email === who.client_email));
    if (index < 0) return null;
    const fault = state.faults[index];
    if (--fault.times <= 0) state.faults.splice(index, 1);
    return fault;
}

async function route(req, res, url, body) {
    const base = `http://${req.headers.host ?? `${HOST}:${server.address().port}`}`;
    const path = url.pathname;
    if (path === "/token") {
        if (req.method !== "POST") throw oauthError(405, "invalid_request", "Only POST is supported.");
        return token(req, res, body);
    }
    if (path === "/upload/drive/v3/files") return upload(req, res, body, url, base);
    if (path === "/drive/v3/files" && req.method === "GET") return listFiles(req, res, url);
    const m = /^\/drive\/v3\/files\/([^/]+)$/.exec(path);
    if (m && (req.method === "GET" || req.method === "DELETE")) return getOrDelete(req, res, url, decodeURIComponent(m[1]));
    throw driveError(404, "notFound", `Not Found: ${req.method} ${path}`);
}

async function handle(req, res) {
    const started = Date.now();
    const url = new URL(req.url, `http://${HOST}`);
    let who = {};
    let faulted = false;
    res.on("finish", () => {
        const ms = Date.now() - started;
        process.stderr.write(`${req.method} ${url.pathname}${url.search} -> ${res.statusCode} ${ms} ms` +
            `${who.client_email ? ` ${who.client_email}${who.sub ? ` as ${who.sub}` : ""}` : ""}${faulted ? " (fault)" : ""}\n`);
        if (url.pathname.startsWith("/_peer/") || url.pathname === "/health") return;
        state.requests.push({
            time: new Date(started).toISOString(), method: req.method, path: url.pathname,
            query: Object.fromEntries(url.searchParams), status: res.statusCode, client_email: who.client_email ?? null,
            sub: who.sub ?? null, fault: faulted,
        });
        if (state.requests.length > 10000) state.requests.splice(0, state.requests.length - 10000);
    });
    try {
        const body = await readBody(req);
        if (url.pathname === "/health") return send(res, 200, { status: "ok" });
        if (url.pathname.startsWith("/_peer/")) return await control(req, res, body, url);
        who = identify(req, url, body);
        const fault = takeFault(req, url, who);
        if (fault) {
            faulted = true;
            if (fault.delay_ms > 0) await new Promise((r) => setTimeout(r, fault.delay_ms));
            if (fault.status) throw faultError(fault, url.pathname);
        }
        await route(req, res, url, body);
    } catch (e) {
        if (!(e instanceof HttpError)) {
            process.stderr.write(`error: ${e.stack ?? e}\n`);
            e = driveError(500, "backendError", "Internal Error");
        }
        if (!res.headersSent) send(res, e.status, e.body, e.headers);
        else res.destroy();
    }
}

// ------------------------------------------------------------------ main
function parseArgs(argv) {
    let port = "0";
    for (let i = 0; i < argv.length; i++) {
        const [name, inline] = argv[i].split(/=(.*)/s);
        if (name === "--check") return { check: true };
        if (name === "--port") port = inline ?? argv[++i];
        else { console.error(`drive-peer: unknown argument ${argv[i]}`); process.exit(2); }
    }
    if (!/^\d+$/.test(port ?? "") || Number(port) > 65535) { console.error("drive-peer: --port needs 0-65535"); process.exit(2); }
    return { port: Number(port) };
}

const opts = parseArgs(process.argv.slice(2));
if (opts.check) {
    const jose = JSON.parse(fs.readFileSync(new URL("./node_modules/jose/package.json", import.meta.url), "utf8"));
    console.log(`drive-peer check ok: jose ${jose.version}, node ${process.version}`);
    process.exit(0);
}
const server = http.createServer((req, res) => { handle(req, res); });
server.keepAliveTimeout = 5000;
server.listen(opts.port, HOST, () => {
    console.log(`drive-peer ready http://${HOST}:${server.address().port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => { server.close(); server.closeAllConnections(); process.exit(0); });
}
