// SPDX-License-Identifier: MIT
// What the browser tests share: `make run`'s setup (deploy/run-local.sh) on a free port,
// started and stopped by PID, Chromium's flags, and a page that records every console
// error, page error, failed request and 5xx as a problem.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const TIMEOUT = 10_000; // any single wait in the page
export const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer().once("error", reject);
    srv.listen(0, "127.0.0.1", () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Starts deploy/run-local.sh with `args` (besides --port) and resolves, once it prints the
 *  demo URL and its log folder, to { child, output, url, logs, exited }. */
export async function startRunLocal(args = []) {
  const port = await freePort();
  const child = spawn(path.join(repo, "deploy/run-local.sh"), ["--port", String(port), ...args],
    { stdio: ["ignore", "pipe", "pipe"] });
  const s = { child, output: "", url: null, logs: null, exited: false };
  process.on("exit", () => { if (!s.exited) child.kill("SIGTERM"); });
  const ready = new Promise((resolve, reject) => {
    const scan = (chunk) => {
      s.output += chunk;
      s.url ??= s.output.match(/cppAPI demo: (https?:\/\/\S+)/)?.[1] ?? null;
      s.logs ??= s.output.match(/cppAPI logs: (\S+)/)?.[1] ?? null;
      if (s.url && s.logs) resolve(s);
    };
    child.stdout.setEncoding("utf8").on("data", scan);
    child.stderr.setEncoding("utf8").on("data", scan);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      s.exited = true;
      reject(new Error(`run-local.sh exited (${code ?? signal}) before serving:\n${s.output}`));
    });
  });
  await withTimeout(ready, 30_000, "deploy/run-local.sh");
  return s;
}

/** SIGTERM to the run script's PID (it stops nginx and cppapi); it must exit 0. SIGKILL after 15 s. */
export async function stopRunLocal(server) {
  if (!server || server.exited) return;
  const exited = new Promise((resolve) => server.child.once("exit", (code, signal) => resolve(code ?? signal)));
  server.child.kill("SIGTERM");
  try {
    const code = await withTimeout(exited, 15_000, "run-local.sh stop");
    assert.equal(code, 0, `run-local.sh should exit 0 on SIGTERM:\n${server.output}`);
  } catch (err) {
    server.child.kill("SIGKILL");
    throw err;
  }
}

/** For failure output only: "" if the file is not there. */
export function readLog(server, name) {
  try { return readFileSync(path.join(server.logs, name), "utf8"); } catch { return ""; }
}

/** Pushes onto `problems` every console error (but a 4xx whose URL matches `expected4xx`),
 *  page error, failed request and 5xx response of `page`. */
export function recordProblems(page, problems, expected4xx) {
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const url = msg.location()?.url ?? "";
    if (/status of 4\d\d/.test(msg.text()) && expected4xx.some((re) => re.test(url))) return;
    problems.push(`console error: ${msg.text()} (${url})`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (req) => problems.push(`request failed: ${req.url()}: ${req.failure()?.errorText}`));
  page.on("response", (res) => { if (res.status() >= 500) problems.push(`HTTP ${res.status()}: ${res.url()}`); });
}
