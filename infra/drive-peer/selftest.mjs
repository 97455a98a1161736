#!/usr/bin/env node
// Self-test of the Google Drive peer (server.js): starts it on a free loopback port, makes RSA
// service-account keys at run time, signs JWT assertions by hand with node:crypto (the peer
// verifies them with jose, so two independent implementations meet), and walks through the
// token endpoint, shared-drive and My Drive uploads, delegation, faults, queries, resumable
// uploads, deletes and the supportsAllDrives rule. Prints one line per check and a closing
// `selftest: N passed, N failed`; exits 1 on any failure.
//
//   node infra/drive-peer/selftest.mjs

import { spawn } from "node:child_process";
import crypto from "node:crypto";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const SCOPE = "https://www.googleapis.com/auth/drive";
const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

// ------------------------------------------------------------------ the peer
const peer = spawn(process.execPath, [fileURLToPath(new URL("./server.js", import.meta.url)), "--port", "0"],
    { stdio: ["ignore", "pipe", "pipe"] });
let peerLog = "";
peer.stderr.on("data", (d) => { peerLog += d; });
const base = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("the peer did not print its ready line in 10 s")), 10000);
    peer.stdout.on("data", (d) => {
        out += d;
        const m = /^drive-peer ready (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
        if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    peer.on("exit", (code) => reject(new Error(`the peer exited (${code}): ${peerLog}`)));
});
const TOKEN_URL = `${base}/token`;

async function call(method, path, { body, headers = {}, token } = {}) {
    if (token) headers = { Authorization: `Bearer ${token}`, ...headers };
    if (body !== undefined && !Buffer.isBuffer(body) && typeof body !== "string") {
        body = JSON.stringify(body);
        headers = { "Content-Type": "application/json", ...headers };
    }
    const res = await fetch(path.startsWith("http") ? path : base + path, { method, headers, body, redirect: "manual" });
    const raw = Buffer.from(await res.arrayBuffer());
    let json = null;
    try { json = JSON.parse(raw.toString("utf8")); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, raw, json };
}

// ------------------------------------------------------------------ service accounts, JWTs
async function account(email, { delegation = false } = {}) {
    const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const kid = crypto.randomBytes(20).toString("hex");
    const r = await call("POST", "/_peer/keys", {
        body: { client_email: email, kid, public_key_pem: publicKey.export({ type: "spki", format: "pem" }), delegation },
    });
    assert.equal(r.status, 201, r.raw.toString());
    return { email, kid, privateKey };
}

// RS256 by hand: base64url(header).base64url(claims).base64url(RSASSA-PKCS1-v1_5 SHA-256).
function assertion(acct, overrides = {}, { key = acct.privateKey, kid = acct.kid } = {}) {
    const iat = Math.floor(Date.now() / 1000);
    const claims = { iss: acct.email, scope: SCOPE, aud: TOKEN_URL, iat, exp: iat + 3600, ...overrides };
    const input = `${b64url({ alg: "RS256", typ: "JWT", kid })}.${b64url(claims)}`;
    return `${input}.${crypto.sign("sha256", Buffer.from(input), key).toString("base64url")}`;
}

function tokenRequest(jwt) {
    const form = new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: jwt });
    return call("POST", "/token", { body: form.toString(), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
}

async function accessToken(acct, overrides, signing) {
    const r = await tokenRequest(assertion(acct, overrides, signing));
    assert.equal(r.status, 200, r.raw.toString());
    return r.json.access_token;
}

function multipart(meta, content, type = "application/octet-stream") {
    const boundary = "herald" + crypto.randomBytes(8).toString("hex");
    const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify(meta)}\r\n`),
        Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\n\r\n`), content, Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    return { body, headers: { "Content-Type": `multipart/related; boundary=${boundary}` } };
}

const UPLOAD = "/upload/drive/v3/files?uploadType=multipart&supportsAllDrives=true&fields=id,webViewLink";
const upload = (token, meta, content, path = UPLOAD) => call("POST", path, { token, ...multipart(meta, content) });
const sha256 = (buf) => crypto.createHash("sha256").update(buf).digest("hex");
const driveReason = (r) => r.json?.error?.errors?.[0]?.reason;

// ------------------------------------------------------------------ checks
const checks = [];
const check = (name, fn) => checks.push({ name, fn });

const sa = await account("reports@herald-test.iam.gserviceaccount.com", { delegation: true });
const contributor = await account("contrib@herald-test.iam.gserviceaccount.com");
const USER = "alice@example.com";
await call("POST", "/_peer/folders", { body: { id: "sharedFolder1", name: "Reports", kind: "shared_drive",
    members: { [sa.email]: "fileOrganizer", [contributor.email]: "writer" } } });
await call("POST", "/_peer/folders", { body: { id: "myFolder1", name: "Alice's reports", kind: "my_drive",
    members: { [USER]: "owner", [sa.email]: "writer" } } });
let token;

check("GET /health answers", async () => {
    const r = await call("GET", "/health");
    assert.equal(r.status, 200);
    assert.equal(r.json.status, "ok");
});

check("token: a valid assertion gets a Bearer token bound to the account and kid", async () => {
    const r = await tokenRequest(assertion(sa));
    assert.equal(r.status, 200, r.raw.toString());
    assert.equal(r.json.token_type, "Bearer");
    assert.ok(r.json.expires_in > 3000 && r.json.expires_in <= 3600);
    token = r.json.access_token;
    const issued = (await call("GET", "/_peer/tokens")).json.tokens.find((t) => t.access_token === token);
    assert.equal(issued.client_email, sa.email);
    assert.equal(issued.kid, sa.kid);
    assert.equal(issued.sub, null);
});

check("token: a bad signature is invalid_grant", async () => {
    const other = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const r = await tokenRequest(assertion(sa, {}, { key: other }));
    assert.equal(r.status, 400);
    assert.equal(r.json.error, "invalid_grant");
    assert.match(r.json.error_description, /Signature/);
});

check("token: wrong aud, expired exp and a missing scope are refused", async () => {
    let r = await tokenRequest(assertion(sa, { aud: "https://oauth2.googleapis.com/token" }));
    assert.equal(r.status, 400);
    assert.equal(r.json.error, "invalid_grant");
    const past = Math.floor(Date.now() / 1000) - 7200;
    r = await tokenRequest(assertion(sa, { iat: past, exp: past + 3600 }));
    assert.equal(r.json.error, "invalid_grant");
    r = await tokenRequest(assertion(sa, { scope: undefined }));
    assert.equal(r.status, 400);
    assert.equal(r.json.error, "invalid_scope");
});

check("token: a revoked key is invalid_grant", async () => {
    const second = await account(sa.email, { delegation: true }); // a second key of the same account
    await accessToken(second);
    assert.equal((await call("DELETE", `/_peer/keys/${second.kid}`)).status, 204);
    const r = await tokenRequest(assertion(second));
    assert.equal(r.status, 400);
    assert.equal(r.json.error, "invalid_grant");
    await accessToken(sa); // the account's other key still works
});

check("drive: no token or an unknown token is 401", async () => {
    let r = await call("GET", "/drive/v3/files/sharedFolder1?supportsAllDrives=true");
    assert.equal(r.status, 401);
    assert.equal(driveReason(r), "required");
    r = await call("GET", "/drive/v3/files/sharedFolder1?supportsAllDrives=true", { token: "ya29.nope" });
    assert.equal(r.status, 401);
    assert.equal(driveReason(r), "authError");
});

check("drive: GET a shared-drive folder with capabilities", async () => {
    const r = await call("GET", "/drive/v3/files/sharedFolder1?supportsAllDrives=true&fields=id,name,mimeType,capabilities", { token });
    assert.equal(r.status, 200, r.raw.toString());
    assert.deepEqual(Object.keys(r.json).sort(), ["capabilities", "id", "mimeType", "name"]);
    assert.equal(r.json.mimeType, "application/vnd.google-apps.folder");
    assert.equal(r.json.capabilities.canAddChildren, true);
    assert.equal(r.json.capabilities.canDeleteChildren, true);
});

check("drive: 404 notFound for an unknown folder, 400 for an unknown field", async () => {
    let r = await call("GET", "/drive/v3/files/noSuchFolder?supportsAllDrives=true", { token });
    assert.equal(r.status, 404);
    assert.equal(driveReason(r), "notFound");
    r = await call("GET", "/drive/v3/files/sharedFolder1?supportsAllDrives=true&fields=id,nmae", { token });
    assert.equal(r.status, 400);
    assert.equal(driveReason(r), "invalidParameter");
});

const content = Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.from([...Array(256).keys()]), Buffer.from("\r\n--x\r\n")]);
let uploadedId;
check("drive: multipart upload into a shared-drive folder keeps bytes and appProperties", async () => {
    const r = await upload(token, { name: "report.pdf", parents: ["sharedFolder1"], mimeType: "application/pdf",
        appProperties: { herald_delivery: "abc" } }, content);
    assert.equal(r.status, 200, r.raw.toString());
    assert.deepEqual(Object.keys(r.json).sort(), ["id", "webViewLink"]);
    uploadedId = r.json.id;
    const stored = (await call("GET", "/_peer/files?parent=sharedFolder1")).json.files.find((f) => f.id === uploadedId);
    assert.equal(stored.name, "report.pdf");
    assert.deepEqual(stored.parents, ["sharedFolder1"]);
    assert.deepEqual(stored.appProperties, { herald_delivery: "abc" });
    assert.equal(stored.mimeType, "application/pdf");
    assert.equal(stored.size, content.length);
    assert.equal(stored.sha256, sha256(content));
    assert.ok((await call("GET", `/_peer/files/${uploadedId}/content`)).raw.equals(content));
});

check("drive: a service account uploading into a my_drive folder gets 403 storageQuotaExceeded", async () => {
    const r = await upload(token, { name: "x.pdf", parents: ["myFolder1"] }, content);
    assert.equal(r.status, 403, r.raw.toString());
    assert.equal(driveReason(r), "storageQuotaExceeded");
    assert.equal(r.json.error.errors[0].domain, "usageLimits");
    assert.equal(r.json.error.code, 403);
});

check("token + drive: delegation (sub) uploads into my_drive as the user; no delegation is unauthorized_client", async () => {
    const userToken = await accessToken(sa, { sub: USER });
    const r = await upload(userToken, { name: "delegated.pdf", parents: ["myFolder1"] }, content);
    assert.equal(r.status, 200, r.raw.toString());
    const stored = (await call("GET", "/_peer/files?parent=myFolder1")).json.files[0];
    assert.equal(stored.owner, USER);
    assert.deepEqual(stored.created_by, { client_email: sa.email, sub: USER });
    const denied = await tokenRequest(assertion(contributor, { sub: USER }));
    assert.equal(denied.status, 401);
    assert.equal(denied.json.error, "unauthorized_client");
});

check("faults: a 429 on the next upload, then success", async () => {
    const f = await call("POST", "/_peer/faults", { body: { path_prefix: "/upload/drive/v3/files", status: 429, times: 1,
        client_email: sa.email, retry_after: 1 } });
    assert.equal(f.status, 201);
    let r = await upload(token, { name: "retry.pdf", parents: ["sharedFolder1"] }, content);
    assert.equal(r.status, 429);
    assert.equal(driveReason(r), "rateLimitExceeded");
    assert.equal(r.json.error.errors[0].domain, "usageLimits");
    assert.equal(r.headers.get("retry-after"), "1");
    r = await upload(token, { name: "retry.pdf", parents: ["sharedFolder1"] }, content);
    assert.equal(r.status, 200, r.raw.toString());
    const log = (await call("GET", `/_peer/requests?client_email=${sa.email}`)).json.requests.filter((q) => q.path.startsWith("/upload"));
    assert.deepEqual(log.slice(-2).map((q) => [q.status, q.fault]), [[429, true], [200, false]]);
});

check("drive: list by appProperties query", async () => {
    const q = (value) => encodeURIComponent(`appProperties has { key='herald_delivery' and value='${value}' } ` +
        "and 'sharedFolder1' in parents and trashed=false");
    const list = (value, extra = "&includeItemsFromAllDrives=true") =>
        call("GET", `/drive/v3/files?q=${q(value)}&supportsAllDrives=true${extra}&fields=files(id,name,appProperties)`, { token });
    let r = await list("abc");
    assert.equal(r.status, 200, r.raw.toString());
    assert.deepEqual(r.json.files.map((f) => f.id), [uploadedId]);
    assert.deepEqual(r.json.files[0].appProperties, { herald_delivery: "abc" });
    assert.deepEqual((await list("other")).json.files, []);
    assert.deepEqual((await list("abc", "")).json.files, []); // shared-drive items need includeItemsFromAllDrives
    r = await call("GET", `/drive/v3/files?q=${encodeURIComponent("appProperties = 'x'")}&supportsAllDrives=true`, { token });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.errors[0].location, "q");
});

check("drive: resumable upload in two chunks with a status query", async () => {
    const big = crypto.randomBytes(300 * 1024);
    const init = await call("POST", "/upload/drive/v3/files?uploadType=resumable&supportsAllDrives=true&fields=id,webViewLink", {
        token, body: { name: "big.pdf", parents: ["sharedFolder1"], appProperties: { herald_delivery: "big" } },
        headers: { "Content-Type": "application/json; charset=UTF-8", "X-Upload-Content-Type": "application/pdf",
            "X-Upload-Content-Length": String(big.length) },
    });
    assert.equal(init.status, 200, init.raw.toString());
    const location = init.headers.get("location");
    assert.match(location, /upload_id=/);
    const half = 256 * 1024;
    let r = await call("PUT", location, { body: big.subarray(0, half), headers: { "Content-Range": `bytes 0-${half - 1}/*` } });
    assert.equal(r.status, 308);
    assert.equal(r.headers.get("range"), `bytes=0-${half - 1}`);
    r = await call("PUT", location, { body: Buffer.alloc(0), headers: { "Content-Range": `bytes */${big.length}` } });
    assert.equal(r.status, 308);
    r = await call("PUT", location, { body: big.subarray(half),
        headers: { "Content-Range": `bytes ${half}-${big.length - 1}/${big.length}` } });
    assert.equal(r.status, 200, r.raw.toString());
    assert.deepEqual(Object.keys(r.json).sort(), ["id", "webViewLink"]);
    const stored = (await call("GET", "/_peer/files")).json.files.find((f) => f.id === r.json.id);
    assert.equal(stored.sha256, sha256(big));
    assert.equal(stored.mimeType, "application/pdf");
    assert.deepEqual(stored.appProperties, { herald_delivery: "big" });
});

check("drive: resumable initiation into my_drive fails up front with storageQuotaExceeded", async () => {
    const r = await call("POST", "/upload/drive/v3/files?uploadType=resumable&supportsAllDrives=true",
        { token, body: { name: "x", parents: ["myFolder1"] } });
    assert.equal(r.status, 403);
    assert.equal(driveReason(r), "storageQuotaExceeded");
});

check("drive: delete needs a content manager in a shared drive (contributor 403, fileOrganizer 204)", async () => {
    const probe = await upload(token, { name: "probe", parents: ["sharedFolder1"] }, Buffer.from("probe"));
    const id = probe.json.id;
    const contribToken = await accessToken(contributor);
    let r = await call("DELETE", `/drive/v3/files/${id}?supportsAllDrives=true`, { token: contribToken });
    assert.equal(r.status, 403);
    assert.equal(driveReason(r), "insufficientFilePermissions");
    r = await call("DELETE", `/drive/v3/files/${id}?supportsAllDrives=true`, { token });
    assert.equal(r.status, 204);
    assert.equal(r.raw.length, 0);
    r = await call("GET", `/drive/v3/files/${id}?supportsAllDrives=true`, { token });
    assert.equal(r.status, 404);
});

check("drive: shared-drive items are 404 without supportsAllDrives=true", async () => {
    let r = await call("GET", "/drive/v3/files/sharedFolder1?fields=id,name,mimeType,capabilities", { token });
    assert.equal(r.status, 404);
    assert.equal(driveReason(r), "notFound");
    r = await upload(token, { name: "x", parents: ["sharedFolder1"] }, content, "/upload/drive/v3/files?uploadType=multipart");
    assert.equal(r.status, 404);
    r = await call("DELETE", `/drive/v3/files/${uploadedId}`, { token });
    assert.equal(r.status, 404);
    r = await call("GET", "/drive/v3/files/myFolder1?fields=id", { token }); // My Drive items need no flag
    assert.equal(r.status, 200);
});

check("control: expiring tokens gives 401; reset forgets everything", async () => {
    assert.equal((await call("POST", "/_peer/tokens/expire", { body: { client_email: sa.email } })).status, 200);
    let r = await call("GET", "/drive/v3/files/sharedFolder1?supportsAllDrives=true", { token });
    assert.equal(r.status, 401);
    assert.equal((await call("POST", "/_peer/reset")).status, 204);
    assert.deepEqual((await call("GET", "/_peer/files")).json.files, []);
    r = await tokenRequest(assertion(sa));
    assert.equal(r.json.error, "invalid_grant"); // the key is gone too
});

// ------------------------------------------------------------------ run
let passed = 0, failed = 0;
for (const { name, fn } of checks) {
    try {
        await fn();
        passed++;
        console.log(`ok    ${name}`);
    } catch (e) {
        failed++;
        console.log(`FAIL  ${name}\n      ${String(e.stack ?? e).split("\n").slice(0, 6).join("\n      ")}`);
    }
}
peer.kill("SIGTERM");
if (failed) console.log(`--- peer log ---\n${peerLog.split("\n").slice(-30).join("\n")}`);
console.log(`selftest: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
