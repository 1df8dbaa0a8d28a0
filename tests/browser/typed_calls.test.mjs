// SPDX-License-Identifier: MIT
// The typed proxies (/api/calls.js) and the docs page (www/docs.html) in Chromium, through
// nginx and cppapi as `make run` starts them (deploy/run-local.sh). No console error, page
// error or failed request is allowed, but for the 404 a test asks for.
//
// CPPAPI_BIN   cppapi to run (default: the run script's build/cppapi)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { chromium } from "playwright-core";
import * as support from "./support.mjs";
import { CHROMIUM_ARGS, repo, TIMEOUT, withTimeout } from "./support.mjs";

const BIN = path.resolve(process.env.CPPAPI_BIN ?? path.join(repo, "build/cppapi"));
const EXPECTED_4XX = [/\/api\/notes\/get&999$/, /\/api\/add&1&x$/];

let server; // { child, output, url, logs, exited }
let browser, page;
const problems = [];

async function startServer() {
  server = await support.startRunLocal(["--cppapi", BIN]);
}

const stopServer = () => support.stopRunLocal(server);
const readLog = (name) => support.readLog(server, name);

/** A test in the shared page that fails on any console error, page error or failed request. */
function pageTest(name, fn) {
  test(name, { timeout: 60_000 }, async () => {
    await fn();
    assert.deepEqual(problems.splice(0), [], "console errors, page errors or failed requests");
  });
}

before(async () => {
  await startServer();
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS, timeout: 30_000 });
  page = await browser.newPage({ viewport: { width: 960, height: 720 } });
  page.setDefaultTimeout(TIMEOUT);
  support.recordProblems(page, problems, EXPECTED_4XX);
  assert.equal((await page.goto(server.url, { waitUntil: "load" })).status(), 200);
}, { timeout: 90_000 });

after(async () => {
  if (browser) await withTimeout(browser.close(), TIMEOUT, "browser.close").catch(() => {});
  await stopServer();
}, { timeout: 40_000 });

pageTest("calls.add(2, 3) resolves to the number 5", async () => {
  assert.equal(await page.evaluate(() => typeof calls.add + typeof calls.notes.get), "functionfunction");
  assert.equal(await page.evaluate(() => calls.add(2, 3)), 5);
  assert.equal(await page.evaluate(() => calls.add(-40, 1)), -39);
});

pageTest("calls.notes.get(999) rejects with status 404; get(1) resolves to the note", async () => {
  assert.deepEqual(await page.evaluate(() => calls.notes.get(999).then(
    (v) => ({ resolved: v }), (e) => ({ status: e.status, message: e.message, call: e.call, error: e instanceof Error }))),
  { status: 404, message: "no such note", call: "notes/get&999", error: true });
  assert.equal(await page.evaluate(() => calls.notes.get(1).then((n) => n.id)), 1);
});

pageTest("the proxies encode like api() and leave out omitted optionals", async () => {
  assert.equal(await page.evaluate(() => calls.hello()), "Grüße, Welt! ✓");
  assert.equal(await page.evaluate(() => calls.hello(undefined)), "Grüße, Welt! ✓");
  assert.equal(await page.evaluate(() => calls.hello("a&b ü")), "Grüße, a&b ü! ✓");
  assert.deepEqual(await page.evaluate(() => calls.echo("a&b", 1, true)), ["a&b", "1", "true"]);
  const bad = await page.evaluate(() => calls.add(1, "x").catch((e) => e.status));
  assert.equal(bad, 400);
});

pageTest("the demo's typed row uses calls.add", async () => {
  await page.click("#btn-typed");
  await page.waitForFunction(() => !["", "…"].includes(document.getElementById("out-typed").textContent));
  assert.equal(await page.textContent("#out-typed"), "number 42");
});

pageTest("calls.js alone (no requests.js) brings api() along", async () => {
  const answer = await page.evaluate(() => new Promise((resolve, reject) => {
    const frame = document.createElement("iframe");
    frame.srcdoc = '<script src="/api/calls.js"></scr' + "ipt>";
    frame.onload = () => {
      const w = frame.contentWindow;
      w.calls.add(20, 22).then((sum) => resolve([typeof w.api, w.cppapi.base, sum]), reject);
    };
    document.body.appendChild(frame);
  }));
  assert.deepEqual(answer, ["function", new URL("/api/", server.url).href, 42]);
});

pageTest("the docs page lists every call", async () => {
  const expected = execFileSync(BIN, ["calls"], { encoding: "utf8" }).trim().split("\n").map((l) => l.replace(/\(.*/, ""));
  await page.goto(new URL("docs.html", server.url).href, { waitUntil: "load" });
  await page.waitForFunction(() => document.querySelectorAll("[data-call]").length > 0);
  const listed = await page.$$eval("[data-call]", (nodes) => nodes.map((n) => n.getAttribute("data-call")));
  assert.deepEqual(listed, expected);
  assert.match(await page.textContent("#status"), new RegExp(`^${expected.length} calls`));
  const add = await page.textContent('[data-call="add"]');
  assert.match(add, /add\(a, b\)/);
  assert.match(add, /Adds two integers/);
  assert.match(add, /a\s*integer \(C\+\+ long\)/);
  assert.match(add, /Returns integer/);
  assert.match(await page.textContent('[data-call="hello"]'), /hello\(name\?\)[\s\S]*optional/);
  const note = await page.textContent('[data-call="notes/get"]');
  assert.match(note, /integer from -2147483648 to 2147483647 \(C\+\+ int\)/);
  assert.match(note, /Returns JSON/);
});

test("nginx logged no warning or error", () => {
  const complaints = readLog("error.log").split("\n").filter((l) => /\[(warn|error|crit|alert|emerg)\]/.test(l));
  assert.deepEqual(complaints, []);
});
