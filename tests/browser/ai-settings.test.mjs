// The AI configuration section of the workspace settings page in a real browser: the provider
// picker shows only the fields each provider uses; a missing model is refused on its field;
// an OpenAI-compatible server on a private address is saved with its API key write-only (masked
// by the API, never shown back) and its Test shows the network policy's refusal with a way to
// the allow-list; the same server on loopback, once allowed, is a model server of this test
// whose answer quotes numbers the sample does not hold, so the Test shows the dropped sentences
// with those numbers highlighted, and the stored key is sent only while the server stays the
// same; back on Built-in the Test shows the summary, the takeaways and that every sentence is
// grounded; narration turned off; a conflict; what a viewer sees; and the section on a phone.

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { openConsole, shot, startHerald } from "./lib.mjs";

const API_KEY = "sk-herald-console-test-key-0123456789";
const OTHER_KEY = "sk-herald-console-other-key-9876543210";

let herald;
let browser;
let page;
let errors;
let model;
let modelUrl;
const received = [];

/** What the model server of this test answers: two grounded sentences and two that are not. */
const ANSWER = {
  summary: "Completions reached 1,240 in the last 7 days. Revenue grew 37% to $98,000 on the back of the discount.",
  takeaways: ["Discount $5 completions rose to 520.", "Churn fell to 4.2%."],
};

before(async () => {
  model = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: JSON.parse(body || "null") });
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({
        id: "chatcmpl-test",
        object: "chat.completion",
        choices: [{ index: 0, message: { role: "assistant", content: JSON.stringify(ANSWER) }, finish_reason: "stop" }],
      }));
    });
  });
  await new Promise((resolve) => model.listen(0, "127.0.0.1", resolve));
  modelUrl = `http://127.0.0.1:${model.address().port}`;
  herald = await startHerald();
  ({ browser, page, errors } = await openConsole(herald));
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { level: 1, name: "Workspace settings" }).waitFor();
});

after(async () => {
  await browser?.close();
  await herald?.stop();
  await new Promise((resolve) => (model ? model.close(resolve) : resolve()));
});

const settings = async () => (await herald.api("GET", "/api/v1/ws/demo/settings")).body;
const section = () => page.getByRole("form", { name: "AI configuration" });
const status = () => section().getByRole("status").filter({ hasText: /saved\.|failed|changed|Check/ }).first();
const result = () => page.locator("#settings-ai-test-result");
const save = () => section().getByRole("button", { name: "Save AI configuration" }).click();
const runTest = () => section().getByRole("button", { name: "Test AI configuration" }).click();
const savedOk = () => section().getByRole("status").filter({ hasText: "AI configuration saved." }).waitFor();

/** The labels of the AI section's fields that are shown. */
async function shownFields() {
  return section().locator(".ai-fields > .field:visible > label").allInnerTexts();
}

test("the AI configuration section shows only the fields each provider uses", async () => {
  await section().getByRole("heading", { name: "AI configuration" }).waitFor();
  const ai = (await settings()).ai;
  assert.equal(ai.narrator, "builtin");
  assert.equal(await section().getByLabel("Write narratives with AI").isChecked(), true);
  assert.equal(await section().getByLabel("Provider").inputValue(), "builtin");
  assert.deepEqual(await shownFields(), [], "the built-in narrator needs nothing");
  await section().getByText("Deterministic; nothing leaves Herald").waitFor();
  assert.deepEqual(
    await section().getByLabel("Provider").locator("option").allInnerTexts(),
    ["Built-in", "Amazon Bedrock", "OpenAI-compatible", "Anthropic"],
  );

  await section().getByLabel("Provider").selectOption("bedrock");
  assert.deepEqual(await shownFields(), ["Model", "Timeout (seconds)"]);
  assert.match(await section().getByText(/^Optional: a Bedrock model id/).innerText(), /deployment's default model/);

  await section().getByLabel("Provider").selectOption("anthropic");
  assert.deepEqual(await shownFields(), ["Base URL", "Model", "API key", "Timeout (seconds)"]);
  assert.equal(await section().getByLabel("Base URL").getAttribute("placeholder"), "https://api.anthropic.com");

  await section().getByLabel("Provider").selectOption("openai_compatible");
  assert.deepEqual(await shownFields(), ["Base URL", "Model", "API key", "Timeout (seconds)", "Token-limit parameter", "Structured output"]);
  assert.equal(await section().getByLabel("Base URL").getAttribute("placeholder"), "https://api.openai.com");
  const hint = await section().getByText(/^OpenAI's own API when empty/).innerText();
  for (const server of ["Ollama", "vLLM", "llama.cpp"]) assert.ok(hint.includes(server), `the base URL hint names ${server}`);
  assert.equal(await section().getByLabel("Timeout (seconds)").inputValue(), "60");
});

test("a missing model is refused on its field and nothing is saved", async () => {
  const before = await settings();
  await section().getByLabel("Base URL").fill("http://10.0.0.7:11434");
  await section().getByLabel("Model").fill("");
  await save();
  await section().getByText("name the model the server runs").waitFor();
  assert.equal(await section().getByLabel("Model").getAttribute("aria-invalid"), "true");
  assert.match(await status().innerText(), /Check the highlighted fields/);
  const after = await settings();
  assert.equal(after.ai.narrator, "builtin");
  assert.equal(after.version, before.version);
  await shot(page, "settings-ai-missing-model");
  // Typing in the field clears its error.
  await section().getByLabel("Model").fill("llama3.1:8b");
  assert.equal(await section().getByLabel("Model").getAttribute("aria-invalid"), null);
});

test("an OpenAI-compatible server on a private address is saved with its key masked, and Test shows the network policy", async () => {
  await section().getByLabel("API key").fill(API_KEY);
  await section().getByLabel("Token-limit parameter").selectOption("max_completion_tokens");
  await section().getByLabel("Structured output").selectOption("tool");
  await section().getByLabel("Timeout (seconds)").fill("20");
  await save();
  await savedOk();
  const ai = (await settings()).ai;
  assert.equal(ai.enabled, true);
  assert.equal(ai.narrator, "openai_compatible");
  assert.equal(ai.base_url, "http://10.0.0.7:11434");
  assert.equal(ai.model_id, "llama3.1:8b");
  assert.equal(ai.api_key, "********", "the API answers the key masked");
  assert.equal(ai.token_limit_parameter, "max_completion_tokens");
  assert.equal(ai.structured_output, "tool");
  assert.equal(ai.timeout_seconds, 20);
  assert.equal(await section().getByLabel("API key").inputValue(), "", "the key is never shown back");
  assert.equal(await section().getByLabel("API key").getAttribute("placeholder"), "Key set: leave empty to keep it");
  await section().getByText("A key is set and stays as it is unless you type a new one. It is never shown.").waitFor();
  assert.doesNotMatch(await page.content(), new RegExp(API_KEY));

  await runTest();
  await result().getByText(/^Test failed:/).waitFor();
  const text = await result().innerText();
  assert.match(text, /10\.0\.0\.7 is not a public address/);
  assert.match(text, /settings\.network\.allowed_addresses/);
  assert.match(text, /OpenAI-compatible · took \d+ ms/);
  assert.equal(await result().getAttribute("class"), "ai-test-result failed");
  await shot(page, "settings-ai-blocked");

  // The link leads to the allow-list on the same page.
  await result().getByRole("link", { name: "Allow 10.0.0.7 under Network" }).click();
  assert.equal(await page.getByLabel("Allowed private addresses").evaluate((el) => el === document.activeElement), true);
  assert.doesNotMatch(await page.content(), new RegExp(API_KEY));
});

test("the stored key goes only to the server it was given for; a model's ungrounded numbers are highlighted", async () => {
  // Another server (here: another origin) does not get the stored key unless it is typed again.
  await section().getByLabel("Base URL").fill(modelUrl);
  await section().getByText("A key is set for another provider or server").waitFor();
  // Testing before saving tests the saved configuration, and says so.
  await runTest();
  await result().getByText("The form has unsaved changes").waitFor();
  await save();
  await section().getByText("give the secret again").waitFor();
  assert.equal(await section().getByLabel("API key").getAttribute("aria-invalid"), "true");
  assert.equal((await settings()).ai.base_url, "http://10.0.0.7:11434", "nothing was saved");

  // Typed again, with loopback allowed, the model server of this test gets it.
  await page.getByLabel("Allowed private addresses").fill("127.0.0.1");
  await page.getByRole("button", { name: "Save network" }).click();
  await page.getByRole("status").filter({ hasText: "Network saved." }).waitFor();
  await section().getByLabel("API key").fill(OTHER_KEY);
  await save();
  await savedOk();
  assert.equal((await settings()).ai.base_url, modelUrl);

  received.length = 0;
  await runTest();
  await result().getByText("Test passed: the narrator answered.").waitFor();
  assert.equal(received.length, 1);
  assert.equal(received[0].url, "/v1/chat/completions");
  assert.equal(received[0].headers.authorization, `Bearer ${OTHER_KEY}`);
  assert.equal(received[0].body.model, "llama3.1:8b");
  assert.ok("max_completion_tokens" in received[0].body, "the chosen token-limit parameter is used");
  assert.ok(received[0].body.tools, "structured output through a forced tool call");

  // What was kept, and what the grounding check dropped with its numbers marked.
  assert.equal(await result().locator(".ai-summary").innerText(), "Completions reached 1,240 in the last 7 days.");
  assert.deepEqual(await result().locator(".ai-takeaways li").allInnerTexts(), ["Discount $5 completions rose to 520."]);
  const dropped = result().locator(".ai-dropped");
  assert.match(await dropped.innerText(), /The grounding check dropped 2 sentences: they quote numbers the sample does not hold/);
  assert.deepEqual(await dropped.locator("mark").allInnerTexts(), ["37%", "$98,000", "4.2%"]);
  assert.match(await dropped.locator("li").first().innerText(), /Revenue grew 37% to \$98,000 on the back of the discount\. \(not in the figures: 37%, \$98,000\)/);
  assert.equal(await result().getByText("Every sentence is grounded").count(), 0);
  await result().getByText(/OpenAI-compatible · took \d+(\.\d)? m?s/).waitFor();
  await shot(page, "settings-ai-dropped");

  // Saving the same server without typing the key keeps the stored one.
  await section().getByLabel("Timeout (seconds)").fill("30");
  await save();
  await savedOk();
  assert.equal((await settings()).ai.timeout_seconds, 30);
  received.length = 0;
  await runTest();
  await result().getByText("Test passed: the narrator answered.").waitFor();
  assert.equal(received[0].headers.authorization, `Bearer ${OTHER_KEY}`, "the stored key was kept");
  assert.doesNotMatch(await page.content(), new RegExp(`${API_KEY}|${OTHER_KEY}`));
});

test("back on Built-in, Test shows the summary, the takeaways and that every sentence is grounded", async () => {
  await section().getByLabel("Provider").selectOption("builtin");
  assert.deepEqual(await shownFields(), []);
  await save();
  await savedOk();
  const ai = (await settings()).ai;
  assert.equal(ai.narrator, "builtin");
  assert.equal(ai.base_url, null);
  assert.equal(ai.model_id, null);

  received.length = 0;
  await runTest();
  await result().getByText("Test passed: the narrator answered.").waitFor();
  assert.equal(received.length, 0, "the built-in narrator calls no server");
  await result().getByRole("heading", { name: "Summary" }).waitFor();
  assert.match(await result().locator(".ai-summary").innerText(), /^Weekly digest \(sample\)/);
  assert.ok((await result().locator(".ai-takeaways li").count()) >= 1, "takeaways are listed");
  await result().getByText("Every sentence is grounded: each number it quotes is one of the sample's figures.").waitFor();
  assert.equal(await result().locator(".ai-dropped").count(), 0);
  await result().getByText(/^Built-in · took \d+ ms$/).waitFor();
  await shot(page, "settings-ai-builtin");
});

test("turned off, the provider fields hide and Test says narration is off", async () => {
  await section().getByLabel("Write narratives with AI").uncheck();
  assert.equal(await section().getByLabel("Provider").isVisible(), false);
  await section().getByText("Reports render without a narrative.").waitFor();
  await save();
  await savedOk();
  const ai = (await settings()).ai;
  assert.equal(ai.enabled, false);
  assert.equal(ai.narrator, "builtin", "the provider stays saved");
  await runTest();
  await result().getByText("Test failed: narration is turned off for this workspace").waitFor();

  await section().getByLabel("Write narratives with AI").check();
  await save();
  await savedOk();
  assert.equal((await settings()).ai.enabled, true);
});

test("saving over a change made meanwhile is refused as a conflict", async () => {
  const current = await settings();
  const elsewhere = await herald.api("PATCH", "/api/v1/ws/demo/settings", { ai: { ...current.ai, api_key: undefined, timeout_seconds: 45 }, version: current.version });
  assert.equal(elsewhere.status, 200, JSON.stringify(elsewhere.body));
  await section().getByLabel("Provider").selectOption("anthropic");
  await section().getByLabel("Model").fill("claude-3-5-haiku-latest");
  await save();
  await section().getByRole("status").filter({ hasText: "Someone changed the settings meanwhile" }).waitFor();
  assert.equal((await settings()).ai.narrator, "builtin");
  await page.reload();
  await page.getByRole("heading", { level: 1, name: "Workspace settings" }).waitFor();
  assert.equal(await section().getByLabel("Provider").inputValue(), "builtin");
});

test("a viewer sees the AI configuration but cannot change or test it", async () => {
  const created = await herald.api("POST", "/api/v1/ws/demo/tokens", { name: "AI viewer", role: "viewer" });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const viewer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const vpage = await viewer.newPage();
  await vpage.goto(`${herald.url}/console`);
  await vpage.getByLabel("Access token").fill(created.body.secret);
  await vpage.getByRole("button", { name: "Sign in" }).click();
  await vpage.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
  await vpage.goto(`${herald.url}/console#/settings`);
  const form = vpage.getByRole("form", { name: "AI configuration" });
  await form.getByRole("heading", { name: "AI configuration" }).waitFor();
  assert.equal(await form.getByRole("button", { name: "Save AI configuration" }).isDisabled(), true);
  assert.equal(await form.getByLabel("Provider").isDisabled(), true);
  assert.equal(await form.getByRole("button", { name: "Test AI configuration" }).count(), 0);
  await viewer.close();
});

test("the AI configuration fits a phone screen", async () => {
  await page.setViewportSize({ width: 375, height: 800 });
  await section().getByLabel("Provider").selectOption("openai_compatible");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px too wide)`);
  await section().scrollIntoViewIfNeeded();
  await shot(page, "settings-ai-narrow");
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("no page error or content-security-policy violation happened", () => {
  assert.deepEqual(errors, []);
});
