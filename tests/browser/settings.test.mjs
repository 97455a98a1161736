// The destinations, workspace settings and tokens pages in a real browser: the network
// allow-list opened to loopback from the settings page, a webhook destination created,
// tested against a listener of this test (which checks the Standard Webhooks signature),
// edited with its secret kept, a failing test shown with its error, delete; a token created
// whose secret from the dialog works against the API until it is revoked in the console;
// what a viewer sees; and the tokens page at phone width.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { freePort, openConsole, shot, startHerald } from "./lib.mjs";

const SIGNING_SECRET = `whsec_${Buffer.from("herald-console-test-signing-key!").toString("base64")}`;

let herald;
let browser;
let context;
let page;
let errors;
let listener;
let listenerUrl;
const received = [];

before(async () => {
  listener = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise((resolve) => listener.listen(0, "127.0.0.1", resolve));
  listenerUrl = `http://127.0.0.1:${listener.address().port}`;
  herald = await startHerald();
  ({ browser, context, page, errors } = await openConsole(herald));
});

after(async () => {
  await browser?.close();
  await herald?.stop();
  await new Promise((resolve) => (listener ? listener.close(resolve) : resolve()));
});

const settings = async () => (await herald.api("GET", "/api/v1/ws/demo/settings")).body;
const destinations = async () => (await herald.api("GET", "/api/v1/ws/demo/destinations")).body.data;
const row = (name) => page.getByRole("row").filter({ has: page.getByText(name, { exact: true }) });

/** Whether a Standard Webhooks request was signed with `secret` (`whsec_` + base64 key). */
function signedWith(request, secret) {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const signed = `${request.headers["webhook-id"]}.${request.headers["webhook-timestamp"]}.${request.body}`;
  const expected = `v1,${createHmac("sha256", key).update(signed).digest("base64")}`;
  return request.headers["webhook-signature"].split(" ").includes(expected);
}

test("a bad allow-list entry is refused on its line and nothing is saved", async () => {
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { level: 1, name: "Workspace settings" }).waitFor();
  const before = await settings();
  await page.getByLabel("Allowed private addresses").fill("10.0.0.5\nintranet");
  await page.getByRole("button", { name: "Save network" }).click();
  await page.getByText("Line 2: `intranet` is not an IP address or a CIDR range").waitFor();
  assert.equal(await page.getByLabel("Allowed private addresses").getAttribute("aria-invalid"), "true");
  const after = await settings();
  assert.deepEqual(after.network.allowed_addresses, before.network.allowed_addresses);
  assert.equal(after.version, before.version);
});

test("the calendar's timezone is saved, a zone that does not exist is refused next to it, and empty means UTC", async () => {
  const zone = page.getByLabel("Timezone");
  await zone.fill("Mars/Olympus");
  await page.getByRole("button", { name: "Save calendar" }).click();
  await page.getByText("`Mars/Olympus` is not an IANA timezone").waitFor();
  assert.equal(await zone.getAttribute("aria-invalid"), "true");
  assert.equal((await settings()).timezone, null);
  const saved = async (value) => {
    await zone.fill(value);
    const answer = page.waitForResponse((r) => r.request().method() === "PATCH" && r.url().endsWith("/settings"));
    await page.getByRole("button", { name: "Save calendar" }).click();
    assert.equal((await answer).status(), 200);
    return (await settings()).timezone;
  };
  assert.equal(await saved("America/Los_Angeles"), "America/Los_Angeles");
  assert.equal(await saved(""), null, "empty means UTC");
});

test("the settings page opens the network to loopback and saves retention and the SMTP server", async () => {
  await page.getByLabel("Allowed private addresses").fill("127.0.0.1");
  await page.getByRole("button", { name: "Save network" }).click();
  await page.getByRole("status").filter({ hasText: "Network saved." }).waitFor();
  assert.deepEqual((await settings()).network.allowed_addresses, ["127.0.0.1"]);

  await page.getByLabel("Runs and their files (days)").fill("90");
  await page.getByRole("button", { name: "Save retention" }).click();
  await page.getByRole("status").filter({ hasText: "Retention saved." }).waitFor();
  assert.equal((await settings()).retention.run_days, 90);

  await page.getByLabel("Send email through this workspace's own SMTP server").check();
  await page.getByLabel("Host").fill("smtp.example.com");
  await page.getByLabel("Port").fill("2525");
  await page.getByLabel("Username").fill("reports");
  await page.getByLabel("Password").fill("smtp-s3cret");
  await page.getByLabel("From address").fill("reports@example.com");
  await page.getByRole("button", { name: "Save smtp server" }).click();
  await page.getByRole("status").filter({ hasText: "SMTP server saved." }).waitFor();
  const smtp = (await settings()).smtp;
  assert.equal(smtp.host, "smtp.example.com");
  assert.equal(smtp.port, 2525);
  assert.equal(smtp.password, "********");
  assert.equal(await page.getByLabel("Password").inputValue(), "", "the password is never shown back");
  assert.match(await page.getByText("A password is set").innerText(), /never shown/);
  await shot(page, "settings");

  // Saving again without typing the password keeps it while the server stays the same.
  await page.getByLabel("From address").fill("digest@example.com");
  await page.getByRole("button", { name: "Save smtp server" }).click();
  await page.getByRole("status").filter({ hasText: "SMTP server saved." }).waitFor();
  const kept = (await settings()).smtp;
  assert.equal(kept.from, "digest@example.com");
  assert.equal(kept.password, "********");

  // Another port is another server: the stored password does not go there unless typed again.
  await page.getByLabel("Port").fill("587");
  await page.getByRole("button", { name: "Save smtp server" }).click();
  await page.getByText("give the secret again").waitFor();
  assert.equal((await settings()).smtp.port, 2525, "nothing was saved");
  await page.getByLabel("Password").fill("smtp-s3cret");
  await page.getByRole("button", { name: "Save smtp server" }).click();
  await page.getByRole("status").filter({ hasText: "SMTP server saved." }).waitFor();
  assert.equal((await settings()).smtp.port, 587);
});

test("saving over a change made meanwhile is refused as a conflict, and nothing is overwritten", async () => {
  const current = await settings();
  const elsewhere = await herald.api("PATCH", "/api/v1/ws/demo/settings", { retention: { history_days: 400 }, version: current.version });
  assert.equal(elsewhere.status, 200);
  await page.getByLabel("Interaction history (days)").fill("500");
  await page.getByRole("button", { name: "Save retention" }).click();
  await page.getByRole("status").filter({ hasText: "Someone changed the settings meanwhile" }).waitFor();
  assert.equal((await settings()).retention.history_days, 400);
  await page.reload();
  await page.getByRole("heading", { level: 1, name: "Workspace settings" }).waitFor();
  assert.equal(await page.getByLabel("Interaction history (days)").inputValue(), "400");
});

test("a webhook destination created in the form is listed with its URL and its secret hidden", async () => {
  await page.getByRole("link", { name: "Destinations" }).click();
  await page.getByRole("heading", { level: 1, name: "Destinations" }).waitFor();
  await row("Demo outbox").waitFor();
  await shot(page, "destinations-list");

  await page.getByRole("button", { name: "New destination" }).click();
  await page.getByLabel("Name").fill("Ops webhook");
  await page.getByLabel("Kind").selectOption("webhook");
  await page.getByLabel("URL").fill(`${listenerUrl}/hooks/herald`);
  await page.getByLabel("Signing secret").fill("short");
  await page.getByRole("button", { name: "Create destination" }).click();
  await page.getByText("must be at least 16 characters").waitFor();
  assert.equal((await destinations()).length, 1, "nothing is created while a field is wrong");

  await page.getByLabel("Signing secret").fill(SIGNING_SECRET);
  await shot(page, "destinations-form");
  await page.getByRole("button", { name: "Create destination" }).click();
  await row("Ops webhook").waitFor();
  const created = (await destinations()).find((d) => d.name === "Ops webhook");
  assert.equal(created.config.url, `${listenerUrl}/hooks/herald`);
  assert.equal(created.config.signing_secret, "********");
  assert.match(await row("Ops webhook").innerText(), /signing secret set \(hidden\)/);
  assert.doesNotMatch(await page.content(), /whsec_/);
});

test("test connection reaches the listener with a signed request and says so inline", async () => {
  received.length = 0;
  await page.getByRole("button", { name: "Test connection of Ops webhook" }).click();
  const result = row("Ops webhook").getByRole("status");
  await result.filter({ hasText: "Connection OK" }).waitFor();
  assert.equal(received.length, 1);
  const request = received[0];
  assert.equal(request.method, "POST");
  assert.equal(request.url, "/hooks/herald");
  assert.ok(signedWith(request, SIGNING_SECRET), "signed with the secret typed in the form");
  const body = JSON.parse(request.body);
  assert.equal(body.type, "report.delivered");
  assert.match(body.subject, /Ops webhook/);
  await shot(page, "destinations-test-ok");
});

test("a destination on a closed port shows the connection error inline", async () => {
  const closed = await freePort();
  await page.getByRole("button", { name: "New destination" }).click();
  await page.getByLabel("Name").fill("Closed port");
  await page.getByLabel("Kind").selectOption("webhook");
  await page.getByLabel("URL").fill(`http://127.0.0.1:${closed}/nothing`);
  await page.getByRole("button", { name: "Generate a secret" }).click();
  assert.match(await page.getByLabel("Signing secret").inputValue(), /^whsec_[A-Za-z0-9+/=]{32}$/);
  await page.getByRole("button", { name: "Create destination" }).click();
  await row("Closed port").waitFor();
  await page.getByRole("button", { name: "Test connection of Closed port" }).click();
  const result = row("Closed port").getByRole("status");
  await result.filter({ hasText: "Test failed" }).waitFor();
  assert.match(await result.innerText(), /cannot connect to 127\.0\.0\.1.*refused/i);
  await shot(page, "destinations-test-failed");
});

test("editing keeps the stored secret when its field is left empty", async () => {
  await page.getByRole("button", { name: "Edit Ops webhook" }).click();
  await page.getByRole("heading", { name: "Edit Ops webhook" }).waitFor();
  assert.equal(await page.getByLabel("Signing secret").inputValue(), "");
  assert.equal(await page.getByLabel("Kind").isDisabled(), true);
  await page.getByLabel("Name").fill("Ops webhook v2");
  await page.getByLabel("URL").fill(`${listenerUrl}/hooks/v2`);
  await page.getByRole("button", { name: "Save changes" }).click();
  await row("Ops webhook v2").waitFor();
  const saved = (await destinations()).find((d) => d.name === "Ops webhook v2");
  assert.equal(saved.config.url, `${listenerUrl}/hooks/v2`);

  received.length = 0;
  await page.getByRole("button", { name: "Test connection of Ops webhook v2" }).click();
  await row("Ops webhook v2").getByRole("status").filter({ hasText: "Connection OK" }).waitFor();
  assert.equal(received[0].url, "/hooks/v2");
  assert.ok(signedWith(received[0], SIGNING_SECRET), "still signed with the original secret");
});

test("delete asks first, and cancelling keeps the destination", async () => {
  await page.getByRole("button", { name: "Delete Closed port" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  assert.ok((await destinations()).some((d) => d.name === "Closed port"));
  await page.getByRole("button", { name: "Delete Closed port" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete destination" }).click();
  await page.getByText("Closed port deleted").waitFor();
  await row("Closed port").waitFor({ state: "detached" });
  assert.ok(!(await destinations()).some((d) => d.name === "Closed port"));
});

test("a Slack destination keeps its webhook URL secret: hidden in the list, kept on edit", async () => {
  await page.getByRole("button", { name: "New destination" }).click();
  await page.getByLabel("Name").fill("Team channel");
  await page.getByLabel("Kind").selectOption("slack");
  await page.getByLabel("Slack incoming webhook URL").fill(`${listenerUrl}/slack/T0/B0/secret-part`);
  await page.getByRole("button", { name: "Create destination" }).click();
  await row("Team channel").waitFor();
  assert.match(await row("Team channel").innerText(), /Webhook URL set \(hidden\)/);
  assert.equal((await destinations()).find((d) => d.name === "Team channel").config.webhook_url, "********");

  await page.getByRole("button", { name: "Edit Team channel" }).click();
  await page.getByLabel("Name").fill("Team channel (ops)");
  await page.getByRole("button", { name: "Save changes" }).click();
  await row("Team channel (ops)").waitFor();
  received.length = 0;
  await page.getByRole("button", { name: "Test connection of Team channel (ops)" }).click();
  await row("Team channel (ops)").getByRole("status").filter({ hasText: "Connection OK" }).waitFor();
  assert.equal(received[0].url, "/slack/T0/B0/secret-part", "the stored URL was kept");
  assert.match(received[0].body, /Team channel \(ops\)/);
});

test("testing an email destination asks where to send it and writes the message to the outbox", async () => {
  await page.getByRole("button", { name: "Test connection of Demo outbox" }).click();
  const ask = page.getByRole("dialog", { name: "Send a test email" });
  await ask.getByLabel("Send the test email to").fill("ops@example.com");
  await ask.getByRole("button", { name: "Send test" }).click();
  await row("Demo outbox").getByRole("status").filter({ hasText: "Connection OK" }).waitFor();
  const files = (await readdir(herald.outbox)).filter((f) => f.endsWith(".eml"));
  const mails = await Promise.all(files.map((f) => readFile(path.join(herald.outbox, f), "utf8")));
  assert.ok(mails.some((m) => /^To: .*ops@example\.com/m.test(m) && m.includes("Herald test message for Demo outbox")), "the test email is in the outbox");
});

let created;

test("a token created in the console shows its secret once, and that secret works", async () => {
  await page.getByRole("link", { name: "Tokens" }).click();
  await page.getByRole("heading", { level: 1, name: "Access tokens" }).waitFor();
  await row("admin (created from the CLI)").waitFor();
  await shot(page, "tokens-list");

  await page.getByLabel("Name", { exact: true }).fill("Nightly export");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByLabel("Expires").selectOption("7");
  await page.getByRole("button", { name: "Create token" }).click();
  const dialog = page.getByRole("dialog", { name: "Token “Nightly export” created" });
  await dialog.waitFor();
  await dialog.getByText("It is shown only this once").waitFor();
  const secret = await dialog.getByRole("textbox", { name: "Secret" }).inputValue();
  assert.match(secret, /^hrld_pat_[0-9a-f]{48}$/);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: herald.url });
  await dialog.getByRole("button", { name: "Copy the secret" }).click();
  await dialog.getByRole("status").filter({ hasText: "Copied to the clipboard." }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await shot(page, "tokens-created");

  const session = await fetch(`${herald.url}/api/v1/session`, { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(session.status, 200);
  const body = await session.json();
  assert.equal(body.token.name, "Nightly export");
  assert.equal(body.token.role, "viewer");
  const days = (new Date(body.token.expires_at) - Date.now()) / 86400000;
  assert.ok(days > 6.9 && days <= 7, `expires in 7 days (${days})`);
  created = { secret, id: body.token.id };

  await dialog.getByRole("button", { name: "Done" }).click();
  await dialog.waitFor({ state: "detached" });
  await row("Nightly export").waitFor();
  assert.doesNotMatch(await page.content(), new RegExp(secret));
});

test("what a viewer signing in with that token sees: no way to change destinations, settings or tokens", async () => {
  const viewer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const vpage = await viewer.newPage();
  await vpage.goto(`${herald.url}/console`);
  await vpage.getByLabel("Access token").fill(created.secret);
  await vpage.getByRole("button", { name: "Sign in" }).click();
  await vpage.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
  await vpage.goto(`${herald.url}/console#/destinations`);
  await vpage.getByRole("heading", { level: 1, name: "Destinations" }).waitFor();
  assert.equal(await vpage.getByRole("button", { name: "New destination" }).count(), 0);
  assert.equal(await vpage.getByRole("button", { name: /^Test connection/ }).count(), 0);
  await vpage.goto(`${herald.url}/console#/tokens`);
  await vpage.getByText("Your token can read tokens but not create or revoke them.").waitFor();
  await vpage.goto(`${herald.url}/console#/settings`);
  await vpage.getByText("Only workspace admins can change these settings").waitFor();
  assert.equal(await vpage.getByRole("button", { name: "Save network" }).isDisabled(), true);
  await viewer.close();
});

test("revoking the token in the console makes the API refuse it", async () => {
  await page.getByRole("button", { name: "Revoke Nightly export" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke token" }).click();
  await page.getByText("Nightly export revoked").waitFor();
  await row("Nightly export").getByText("revoked", { exact: true }).waitFor();
  const session = await fetch(`${herald.url}/api/v1/session`, { headers: { Authorization: `Bearer ${created.secret}` } });
  assert.equal(session.status, 401);
  assert.equal(await page.getByRole("button", { name: "Revoke Nightly export" }).count(), 0);
});

test("a token with chosen scopes gets exactly those, and a past expiry date is refused", async () => {
  await page.getByLabel("Name", { exact: true }).fill("Report reader");
  await page.getByLabel("Role", { exact: true }).selectOption("editor");
  await page.getByLabel("Expires").selectOption("never");
  await page.getByLabel("Choose scopes (otherwise the role's defaults)").check();
  const picker = page.getByRole("group", { name: "Scopes" });
  for (const area of ["Schedules", "Destinations", "Runs", "Jobs", "Datasets", "Interactions", "Tokens", "Settings"]) {
    await picker.getByLabel(area, { exact: true }).selectOption("none");
  }
  await picker.getByLabel("Reports", { exact: true }).selectOption("write");
  await page.getByRole("button", { name: "Create token" }).click();
  const dialog = page.getByRole("dialog", { name: "Token “Report reader” created" });
  const secret = await dialog.getByRole("textbox", { name: "Secret" }).inputValue();
  await dialog.getByRole("button", { name: "Done" }).click();
  const session = await (await fetch(`${herald.url}/api/v1/session`, { headers: { Authorization: `Bearer ${secret}` } })).json();
  assert.deepEqual(session.token.scopes, ["reports:write"]);
  assert.equal(session.token.expires_at, null);
  const refused = await fetch(`${herald.url}/api/v1/ws/demo/destinations`, { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(refused.status, 403);

  const count = (await herald.api("GET", "/api/v1/ws/demo/tokens")).body.data.length;
  await page.getByLabel("Name", { exact: true }).fill("Too late");
  await page.getByLabel("Expires").selectOption("date");
  await page.getByLabel("Expiry date").evaluate((input) => input.removeAttribute("min"));
  await page.getByLabel("Expiry date").fill("2020-01-01");
  await page.getByRole("button", { name: "Create token" }).click();
  await page.getByText("must be in the future").waitFor();
  assert.equal((await herald.api("GET", "/api/v1/ws/demo/tokens")).body.data.length, count, "no token was created");
});

test("the tokens page fits a phone screen", async () => {
  await page.setViewportSize({ width: 375, height: 800 });
  await page.reload();
  await page.getByRole("heading", { level: 1, name: "Access tokens" }).waitFor();
  const table = page.locator(".tokens-page .table-wrap");
  const hidden = await table.evaluate((el) => el.scrollWidth - el.clientWidth);
  assert.ok(hidden <= 0, `the token list needs no sideways scrolling (${hidden}px hidden)`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px too wide)`);
  await page.getByLabel("Name").focus();
  await shot(page, "tokens-narrow");
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("with no destinations left the page says what is missing and offers to add one", async () => {
  for (const d of await destinations()) {
    assert.equal((await herald.api("DELETE", `/api/v1/ws/demo/destinations/${d.id}`)).status, 204);
  }
  await page.goto(`${herald.url}/console#/destinations`);
  await page.getByRole("heading", { name: "No destinations yet" }).waitFor();
  await shot(page, "destinations-empty");
  await page.getByRole("button", { name: "Add your first destination" }).click();
  await page.getByRole("heading", { name: "New destination" }).waitFor();
  assert.equal(await page.getByRole("heading", { name: "New destination" }).evaluate((el) => el === document.activeElement), true);
});

test("no page error or content-security-policy violation happened", () => {
  assert.deepEqual(errors, []);
});
