// The connections page and the editor's SQL source in a real browser: a PostgreSQL connection
// created through the form (a 422 shown next to its fields first), listed with its password
// hidden, tested against an address the workspace's network policy blocks (the error shown,
// never the password), edited with the password kept, asked for again for another server,
// deleted after a confirmation; in the report editor the connection picker, "Run query" over
// an uploaded dataset with the preview's parameter value, and the database's own error for a
// bad query; what an editor without settings access and a viewer see. With
// HERALD_TEST_POSTGRES_* set (infra/test.sh starts a server), a real server is tested too; with
// HERALD_TEST_DRIVE_URL (the local Drive peer), a Google service account's key is uploaded,
// tested, and used by a Google Drive destination whose Test connection checks its folder.

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, test } from "node:test";
import { openConsole, shot, startHerald } from "./lib.mjs";

const PASSWORD = "pg-S3cret-pass!";
const OTHER_PASSWORD = "pg-0ther-pass!";

const DRIVE = process.env.HERALD_TEST_DRIVE_URL;
let herald;
let browser;
let page;
let errors;

before(async () => {
  herald = await startHerald({ env: DRIVE ? { HERALD_TEST_DRIVE_URL: DRIVE } : {} });
  const upload = await fetch(`${herald.url}/api/v1/ws/demo/datasets/regional-sales`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${herald.token}`, "Content-Type": "text/csv" },
    body: "region,amount\nnorth,1\nsouth,2\nnorth,3\neast,5\n",
  });
  assert.ok(upload.ok, await upload.text());
  ({ browser, page, errors } = await openConsole(herald));
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

const connections = async () => (await herald.api("GET", "/api/v1/ws/demo/connections")).body.data;
const row = (name) => page.getByRole("row").filter({ has: page.getByText(name, { exact: true }) });
/** The error shown under `input` (its aria-describedby's last id). */
async function fieldError(input) {
  const describedBy = (await input.getAttribute("aria-describedby")) ?? "";
  return page.locator(`[id="${describedBy.split(" ").pop()}"]`).textContent();
}
/** The page's HTML and the values of its inputs: where a password must never appear. */
async function everything(p = page) {
  const values = await p.locator("input, textarea").evaluateAll((els) => els.map((el) => el.value).join("\n"));
  return `${await p.content()}\n${values}`;
}

test("a connection created in the form is listed with where it points and its password hidden", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Connections" }).click();
  await page.getByRole("heading", { level: 1, name: "Connections" }).waitFor();
  await page.getByRole("heading", { name: "No connections yet" }).waitFor();
  await page.getByRole("button", { name: "Add your first connection" }).click();
  await page.getByRole("heading", { name: "New connection" }).waitFor();
  assert.equal(await page.getByLabel("Kind").inputValue(), "postgres");

  // The browser catches a name that is not a code; the API refuses the reserved name and a bad host.
  await page.getByLabel("Name").fill("Warehouse DB");
  await page.getByRole("button", { name: "Create connection" }).click();
  assert.match(await fieldError(page.getByLabel("Name")), /lowercase letters, digits/);
  await page.getByLabel("Name").fill("datasets");
  await page.getByLabel("Host").fill("db host");
  await page.getByLabel("Database", { exact: true }).fill("analytics");
  await page.getByLabel("User").fill("reporting");
  await page.getByRole("button", { name: "Create connection" }).click();
  await page.getByText("`datasets` is the built-in connection to the uploaded datasets").waitFor();
  assert.equal(await page.getByLabel("Name").getAttribute("aria-invalid"), "true");
  await page.getByLabel("Name").fill("warehouse");
  await page.getByRole("button", { name: "Create connection" }).click();
  await page.getByText("must be a host name or an IP address").waitFor();
  assert.equal(await fieldError(page.getByLabel("Host")), "must be a host name or an IP address");
  assert.equal(await page.getByLabel("Host").getAttribute("aria-invalid"), "true");
  assert.equal(await page.getByLabel("Name").getAttribute("aria-invalid"), null, "the name's error is gone");
  assert.equal((await connections()).length, 0, "nothing is created while a field is wrong");

  await page.getByLabel("Host").fill("10.0.0.1");
  await page.getByLabel("Port").fill("5432");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByLabel("TLS").selectOption("require");
  await shot(page, "connections-form");
  await page.getByRole("button", { name: "Create connection" }).click();
  await row("warehouse").waitFor();
  const [created] = await connections();
  assert.equal(created.name, "warehouse");
  assert.equal(created.kind, "postgres");
  assert.equal(created.host, "10.0.0.1");
  assert.equal(created.port, 5432);
  assert.equal(created.tls, "require");
  assert.equal(created.password, "********");
  const text = await row("warehouse").innerText();
  assert.match(text, /PostgreSQL/);
  assert.match(text, /10\.0\.0\.1:5432\/analytics/);
  assert.match(text, /reporting/);
  assert.match(text, /Password set \(hidden\)/);
  assert.doesNotMatch(await everything(), new RegExp(PASSWORD.replace(/[!$]/g, "\\$&")));
  await shot(page, "connections-list");
});

test("testing a connection the network policy blocks shows the policy's error, never the password", async () => {
  await page.getByRole("button", { name: "Test connection of warehouse" }).click();
  const result = row("warehouse").getByRole("status");
  await result.filter({ hasText: "Test failed" }).waitFor();
  const said = await result.innerText();
  assert.match(said, /10\.0\.0\.1 is not a public address/);
  assert.match(said, /settings\.network\.allowed_addresses/);
  assert.doesNotMatch(await everything(), /pg-S3cret/);
  await shot(page, "connections-test-failed");
});

test("editing keeps the password unless typed, asks for it again for another server, and shows limit errors", async () => {
  await page.getByRole("button", { name: "Edit warehouse" }).click();
  await page.getByRole("heading", { name: "Edit warehouse" }).waitFor();
  const password = page.getByLabel("Password");
  assert.equal(await password.inputValue(), "", "the password is never put back in the form");
  assert.match(await password.getAttribute("placeholder"), /Password set/);
  await page.getByText("A password is set and stays as it is unless you type a new one").waitFor();
  assert.equal(await page.getByLabel("Host").inputValue(), "10.0.0.1");

  await page.getByLabel("Database", { exact: true }).fill("dw");
  const sent = page.waitForRequest((r) => r.method() === "PATCH" && r.url().includes("/connections/"));
  await page.getByRole("button", { name: "Save changes" }).click();
  const body = (await sent).postDataJSON();
  assert.equal("password" in body, false, "an untyped password is not sent");
  await row("warehouse").getByText("10.0.0.1:5432/dw").waitFor();
  const kept = (await connections())[0];
  assert.equal(kept.database, "dw");
  assert.equal(kept.password, "********", "the stored password was kept");

  // Another host is another server: the stored password does not go there unless typed again.
  await page.getByRole("button", { name: "Edit warehouse" }).click();
  await page.getByLabel("Host").fill("10.0.0.2");
  await page.getByText("Query limits").click();
  await page.getByLabel("Pool size").fill("11");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("give the secret again").waitFor();
  assert.match(await fieldError(page.getByLabel("Password")), /give the secret again/);
  assert.equal(await fieldError(page.getByLabel("Pool size")), "must be between 1 and 10");
  assert.equal((await connections())[0].host, "10.0.0.1", "nothing was saved");

  await page.getByLabel("Password").fill(OTHER_PASSWORD);
  await page.getByLabel("Pool size").fill("4");
  await page.getByRole("button", { name: "Save changes" }).click();
  await row("warehouse").getByText("10.0.0.2:5432/dw").waitFor();
  const moved = (await connections())[0];
  assert.equal(moved.host, "10.0.0.2");
  assert.equal(moved.options.pool_size, 4);
  assert.equal(moved.password, "********");
  assert.doesNotMatch(await everything(), /pg-0ther/);
});

test("delete asks first, and cancelling keeps the connection", async () => {
  await page.getByRole("button", { name: "Delete warehouse" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  assert.equal((await connections()).length, 1);
  await page.getByRole("button", { name: "Delete warehouse" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete connection" }).click();
  await page.getByText("warehouse deleted").waitFor();
  await page.getByRole("heading", { name: "No connections yet" }).waitFor();
  assert.equal((await connections()).length, 0);
});

test("the editor's SQL source picks a connection and runs its query with the preview's parameter value", async () => {
  const made = await herald.api("POST", "/api/v1/ws/demo/connections", {
    name: "analytics", kind: "mysql", host: "10.0.0.3", database: "shop", user: "reader", password: PASSWORD,
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));

  const previewed = page.waitForResponse((r) => r.url().endsWith("/reports/preview"));
  await page.goto(`${herald.url}/console#/reports/new`);
  await previewed;
  await page.getByRole("button", { name: "Add parameter" }).click();
  await page.getByLabel("Parameter name").fill("region");
  await page.getByLabel("Kind").first().selectOption("sql");
  const picker = page.getByLabel("Connection", { exact: true });
  assert.equal(await picker.inputValue(), "datasets");
  assert.deepEqual(await picker.locator("option").allTextContents(), ["Uploaded datasets (built-in)", "analytics (MySQL / MariaDB)"]);

  await page.getByText("Preview with parameter values").click();
  await page.getByLabel("Preview value of region").fill("north");
  const rendered = page.waitForResponse((r) => r.url().endsWith("/reports/preview") && r.request().postDataJSON()?.format === "pdf");
  await page.getByLabel("SQL query").fill("SELECT region, amount FROM regional_sales WHERE region = {region} ORDER BY amount");
  const ran = page.waitForResponse((r) => r.url().endsWith("/connections/datasets/query"));
  await page.getByRole("button", { name: "Run query of source query" }).click();
  const answer = await ran;
  assert.equal(answer.status(), 200);
  assert.deepEqual(answer.request().postDataJSON().parameters, { region: "north" }, "the preview's value is bound");
  const result = page.getByRole("table", { name: "First rows of source query" });
  await result.waitFor();
  await page.getByText("2 rows in").waitFor();
  const cells = await result.getByRole("row").evaluateAll((rows) => rows.slice(1).map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(cells, [["north", "1"], ["north", "3"]]);
  assert.deepEqual(await result.getByRole("columnheader").allTextContents(), ["regiontext", "amountnumber"]);
  await rendered;
  await page.locator(".editor-preview:not([aria-busy])").waitFor();
  await page.getByRole("complementary", { name: "Preview" }).getByRole("row").filter({ hasText: "Query" }).getByText("2", { exact: true }).waitFor();
  await shot(page, "editor-run-query");

  // The database's own words for a query it refuses, next to the query box.
  await page.getByLabel("SQL query").fill("SELECT region FROM nowhere");
  await page.getByRole("button", { name: "Run query of source query" }).click();
  const refusal = page.getByRole("alert").filter({ hasText: "The query did not run" });
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /no such table: nowhere/);
  await shot(page, "editor-query-error");

  // Another connection: the source names it, and its query runs there (here: refused by policy).
  await picker.selectOption("analytics");
  assert.equal(await page.getByRole("alert").filter({ hasText: "The query did not run" }).count(), 0, "the old result goes with the old connection");
  await page.getByRole("button", { name: "Run query of source query" }).click();
  await page.getByRole("alert").filter({ hasText: /10\.0\.0\.3 is not a public address/ }).waitFor();
  await page.getByRole("button", { name: "Edit as JSON" }).click();
  const definition = JSON.parse(await page.getByLabel("Report definition").inputValue());
  assert.deepEqual(definition.sources[0], {
    name: "query", type: "sql", connection: "analytics", query: "SELECT region FROM nowhere",
  });
  assert.doesNotMatch(await everything(), /pg-S3cret/);
});

test("an editor whose token cannot read settings gets the built-in connection only; a viewer sees connections read-only", async () => {
  const token = async (body) => {
    const made = await herald.api("POST", "/api/v1/ws/demo/tokens", body);
    assert.equal(made.status, 201, JSON.stringify(made.body));
    return made.body.secret;
  };
  const signIn = async (secret) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await context.newPage();
    await p.goto(`${herald.url}/console`);
    await p.getByLabel("Access token").fill(secret);
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
    return { context, p };
  };

  const editor = await signIn(await token({ name: "Report writer", role: "editor", scopes: ["reports:write", "datasets:read"] }));
  try {
    const { p } = editor;
    await p.goto(`${herald.url}/console#/reports/new`);
    await p.getByRole("heading", { level: 1, name: "New report" }).waitFor();
    await p.getByLabel("Kind").first().selectOption("sql");
    const picker = p.getByLabel("Connection", { exact: true });
    assert.deepEqual(await picker.locator("option").allTextContents(), ["Uploaded datasets (built-in)"]);
    await p.getByText("Your token cannot list the workspace's connections").waitFor();
    await p.getByLabel("SQL query").fill("SELECT COUNT(*) AS n FROM regional_sales");
    await p.getByRole("button", { name: "Run query of source query" }).click();
    await p.getByText("1 row in").waitFor();
    assert.equal(await p.getByRole("table", { name: "First rows of source query" }).getByRole("cell").first().textContent(), "4");
    await p.goto(`${herald.url}/console#/connections`);
    await p.getByText("Your token cannot read the workspace's connections").waitFor();
    assert.equal(await p.getByRole("button", { name: "New connection" }).count(), 0);
  } finally {
    await editor.context.close();
  }

  const viewer = await signIn(await token({ name: "Reader", role: "viewer" }));
  try {
    const { p } = viewer;
    await p.goto(`${herald.url}/console#/connections`);
    await p.getByRole("heading", { level: 1, name: "Connections" }).waitFor();
    await p.getByText("Only workspace admins can add, change, test or delete connections").waitFor();
    await p.getByRole("row").filter({ has: p.getByText("analytics", { exact: true }) }).getByText("Read only").waitFor();
    assert.equal(await p.getByRole("button", { name: "New connection" }).count(), 0);
    assert.equal(await p.getByRole("button", { name: /^Test connection/ }).count(), 0);
    assert.doesNotMatch(await everything(p), /pg-S3cret/);
  } finally {
    await viewer.context.close();
  }
});

const PG = {
  host: process.env.HERALD_TEST_POSTGRES_HOST,
  port: process.env.HERALD_TEST_POSTGRES_PORT,
  database: process.env.HERALD_TEST_POSTGRES_DATABASE,
  admin: process.env.HERALD_TEST_POSTGRES_ADMIN_USER,
  adminPassword: process.env.HERALD_TEST_POSTGRES_ADMIN_PASSWORD,
};

test("a real PostgreSQL server answers the test with its version and user, a superuser login highlighted", { skip: !PG.host && "HERALD_TEST_POSTGRES_* not set" }, async () => {
  const settings = (await herald.api("GET", "/api/v1/ws/demo/settings")).body;
  const opened = await herald.api("PATCH", "/api/v1/ws/demo/settings", { network: { allowed_addresses: [PG.host] }, version: settings.version });
  assert.equal(opened.status, 200, JSON.stringify(opened.body));
  await page.goto(`${herald.url}/console#/connections`);
  await page.getByRole("heading", { level: 1, name: "Connections" }).waitFor();
  await page.getByRole("button", { name: "New connection" }).click();
  await page.getByLabel("Name").fill("local-pg");
  await page.getByLabel("Host").fill(PG.host);
  await page.getByLabel("Port").fill(PG.port);
  await page.getByLabel("Database", { exact: true }).fill(PG.database);
  await page.getByLabel("User").fill(PG.admin);
  await page.getByLabel("Password").fill(PG.adminPassword);
  await page.getByRole("button", { name: "Create connection" }).click();
  await row("local-pg").waitFor();
  await page.getByRole("button", { name: "Test connection of local-pg" }).click();
  const result = row("local-pg").getByRole("status");
  await result.filter({ hasText: "Connection OK" }).waitFor();
  const said = await result.innerText();
  assert.match(said, /PostgreSQL \d+/);
  assert.match(said, new RegExp(`Logged in as ${PG.admin} · \\d+ ms`));
  await result.getByText("Warning: this login can do more than read").waitFor();
  assert.match(said, /superuser/i);
  assert.doesNotMatch(await everything(), new RegExp(PG.adminPassword));
  await shot(page, "connections-test-ok");

  // The editor runs a query there, and shows PostgreSQL's own words for one it refuses.
  await page.goto(`${herald.url}/console#/reports/new`);
  await page.getByRole("heading", { level: 1, name: "New report" }).waitFor();
  await page.getByLabel("Kind").first().selectOption("sql");
  await page.getByLabel("Connection", { exact: true }).selectOption("local-pg");
  await page.getByLabel("SQL query").fill("SELECT current_user AS who, 40 + 2 AS answer");
  await page.getByRole("button", { name: "Run query of source query" }).click();
  const table = page.getByRole("table", { name: "First rows of source query" });
  await table.waitFor();
  const cells = await table.getByRole("row").evaluateAll((rows) => rows.slice(1).map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(cells, [[PG.admin, "42"]]);
  await page.getByLabel("SQL query").fill("SELECT * FROM nowhere");
  await page.getByRole("button", { name: "Run query of source query" }).click();
  const refusal = page.getByRole("alert").filter({ hasText: "The query did not run" });
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /relation "nowhere" does not exist/);
});

test("a Google service account's key file is uploaded and tested, and a Drive destination on a folder link tests its folder", { skip: !DRIVE && "HERALD_TEST_DRIVE_URL not set" }, async () => {
  const email = `console-${Date.now()}@herald-test.iam.gserviceaccount.com`;
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
  const keyFile = JSON.stringify({ type: "service_account", project_id: "herald-test", private_key_id: "console-key", private_key: privateKey, client_email: email, token_uri: "https://elsewhere.example/token" });
  const peer = (path, body) => fetch(`${DRIVE}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  assert.ok((await peer("/_peer/keys", JSON.parse(keyFile))).ok);
  const folder = `consolefolder${Date.now()}`;
  assert.ok((await peer("/_peer/folders", { id: folder, name: "Board packs", kind: "shared_drive", members: { [email]: "fileOrganizer" } })).ok);

  await page.goto(`${herald.url}/console#/connections`);
  await page.getByRole("button", { name: "New connection" }).click();
  await page.getByLabel("Name", { exact: true }).fill("board-drive");
  await page.getByLabel("Kind", { exact: true }).selectOption("google_service_account");
  await page.getByRole("button", { name: "Create connection" }).click();
  assert.match(await fieldError(page.getByLabel("Key file contents")), /JSON key file/, "a key is required");
  await page.getByLabel("JSON key file").setInputFiles({ name: "herald-test-key.json", mimeType: "application/json", buffer: Buffer.from(keyFile) });
  await page.getByRole("button", { name: "Create connection" }).click();
  await row("board-drive").waitFor();
  assert.match(await row("board-drive").innerText(), new RegExp(`${email}[\\s\\S]*Key console-key`));
  assert.ok(!(await everything()).includes("PRIVATE KEY"), "the key is never shown");
  await page.getByRole("button", { name: "Test connection of board-drive" }).click();
  await page.getByText(`Key OK: Google gave ${email} a token`).waitFor();
  await shot(page, "connections-google-service-account");

  await page.goto(`${herald.url}/console#/destinations`);
  await page.getByRole("button", { name: "New destination" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Board Drive");
  await page.getByLabel("Kind", { exact: true }).selectOption("google_drive");
  await page.getByLabel("Service account").fill("board-drive");
  await page.getByLabel("Folder").fill(`https://drive.google.com/drive/folders/${folder}?usp=sharing`);
  await page.getByRole("button", { name: "Create destination" }).click();
  const listed = page.getByRole("row").filter({ has: page.getByText("Board Drive", { exact: true }) });
  await listed.waitFor();
  assert.match(await listed.innerText(), new RegExp(`${folder}[\\s\\S]*As board-drive`));
  await page.getByRole("button", { name: "Test connection of Board Drive" }).click();
  await page.getByText(/Connection OK: Board Drive accepted the test message \(id folder “Board packs” in a shared drive: a test file was written and removed\)/).waitFor();
  await shot(page, "destinations-google-drive");
});

test("no page error or content-security-policy violation happened", () => {
  assert.deepEqual(errors, []);
});
