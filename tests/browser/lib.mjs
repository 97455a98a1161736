// The harness of the console's browser tests: a fresh `herald serve --demo` per test file on
// a free loopback port, Debian's Chromium driven by Playwright, and screenshots saved for
// reviewers under target/console-screenshots (HERALD_SCREENSHOTS overrides).
//
// Environment: HERALD_BIN (default target/debug/herald), HERALD_CONSOLE_DIR (serve the console
// from a folder), HERALD_CHROMIUM (default /usr/bin/chromium).

import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOTS = process.env.HERALD_SCREENSHOTS ?? path.join(ROOT, "target", "console-screenshots");
const BIN = process.env.HERALD_BIN ?? path.join(ROOT, "target", "debug", "herald");
const CHROMIUM = process.env.HERALD_CHROMIUM ?? "/usr/bin/chromium";

/** Flags that keep Chromium on loopback: no background connections, no first-run work. */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `herald serve --demo` in a fresh folder. Resolves `{url, token, dir, outbox, api,
 * stop}` once it prints its URL and admin token; `api(method, path, body)` calls the API with
 * that token and resolves `{status, body}`.
 */
export async function startHerald({ env = {} } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "herald-console-"));
  const port = await freePort();
  const outbox = path.join(dir, "outbox");
  // Only what the test sets: no store, queue or AWS settings leak in from the shell.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("HERALD_") && !k.startsWith("AWS_") && !k.startsWith("SMTP_")),
  );
  const childEnv = {
    ...inherited,
    HERALD_RATE_LIMIT_PER_MINUTE: "0",
    HERALD_OUTBOX: outbox,
    ...(process.env.HERALD_CONSOLE_DIR ? { HERALD_CONSOLE_DIR: process.env.HERALD_CONSOLE_DIR } : {}),
    ...env,
  };
  const child = spawn(BIN, ["serve", "--demo", "--bind", `127.0.0.1:${port}`, "--data-dir", path.join(dir, "data")], {
    cwd: dir,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`herald serve did not start in 120 s:\n${output}`)), 120_000);
    const look = (chunk) => {
      output += chunk;
      const token = output.match(/Demo admin token \(shown once\): (hrld_pat_\w+)/)?.[1];
      const url = output.match(/Herald is running at (http:\/\/\S+)/)?.[1];
      if (token && url) {
        clearTimeout(timer);
        resolve({ token, url });
      }
    };
    child.stdout.on("data", look);
    child.stderr.on("data", look);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`herald serve exited with ${code}:\n${output}`));
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BIN}: ${e.message} (build it: cargo build -p herald-cli)`));
    });
  });
  const { token, url } = await ready;
  child.removeAllListeners("exit");

  const api = async (method, apiPath, body) => {
    const response = await fetch(`${url}${apiPath}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed };
  };

  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  return { url, token, dir, outbox, api, stop, log: () => output };
}

/**
 * Launches Chromium, opens the console and signs in with the server's token. Resolves
 * `{browser, context, page, errors}`; `errors` collects uncaught page errors and console
 * errors (a content-security-policy violation shows up there).
 */
export async function openConsole(herald, { width = 1280, height = 900, signIn = true } = {}) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      errors.push(`console: ${m.text()}`);
    }
  });
  await page.goto(`${herald.url}/console`);
  if (signIn) {
    await page.getByLabel("Access token").fill(herald.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
  }
  return { browser, context, page, errors };
}

/** Saves a full-page screenshot as `<SCREENSHOTS>/<name>.png`. */
export async function shot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
