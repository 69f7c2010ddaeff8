// The test page in headless Chromium against `wrangler dev`: every token placement, the transport
// upgrade, refused tokens, a replaced session, pushed events, and the page opened from disk
// (file://, Origin null).
import { test, before, after, afterEach, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startGateway } from "../support/gateway.mjs";
import { signToken } from "../support/jwt.mjs";
import { launchChromium } from "../support/browser.mjs";
import { startFakeUpstream } from "../support/fake-upstream.mjs";
import { PUSH_TOKEN as PUSH_API_TOKEN, emit, roomMembers } from "../support/push.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const PAGE_FILE = pathToFileURL(join(ROOT, "test-websocket-auth.html")).href;
const ARTIFACTS = join(ROOT, "tests", "artifacts");
const WAIT_MS = 15_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = Date.now().toString(36);

let gw;          // dev mode, every origin allowed
let restricted;  // dev mode, DOMAIN_URL = http://allowed.example
let browser;
const contexts = [];

before(async () => {
  [gw, restricted, browser] = await Promise.all([
    startGateway({ vars: { GATEWAY_DEV: "1", PUSH_API_TOKEN } }),
    startGateway({ vars: { GATEWAY_DEV: "1", DOMAIN_URL: "http://allowed.example" } }),
    launchChromium(),
  ]);
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => {})));
});

after(async () => {
  await browser?.close().catch(() => {});
  await Promise.all([gw?.stop(), restricted?.stop()]);
});

/** Opens `url` in a fresh browser context and waits until the page has loaded its client. */
async function open(url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.errors = errors;
  await page.goto(url, { timeout: WAIT_MS });
  await page.waitForSelector('body[data-ready="1"]', { timeout: WAIT_MS });
  return page;
}

const served = () => open(`${gw.url}/test-websocket-auth.html`);
const fromDisk = (gateway) => open(`${PAGE_FILE}?gateway=${encodeURIComponent(gateway)}`);

/** Everything the page shows about its state, for failure messages. */
async function snapshot(page) {
  return page.evaluate(() => ({
    status: document.getElementById("status").textContent,
    transport: document.getElementById("transport").textContent,
    log: [...document.querySelectorAll("#log .entry")].map((e) => e.innerText.replace(/\s+/g, " ")).join("\n"),
  }));
}

/** Waits (bounded) for `fn(arg)` to be truthy in the page; fails with what the page shows. */
async function waitUntil(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 50 });
  } catch (e) {
    const s = await snapshot(page).catch(() => ({}));
    throw new Error(`page never showed ${what} within ${WAIT_MS} ms\nstatus=${s.status} transport=${s.transport}\nlog:\n${s.log}\n${e.message.split("\n")[0]}`);
  }
}

const entries = (page, event) =>
  page.$$eval(`#log .entry[data-event="${event}"] .detail`, (els) => els.map((e) => e.textContent));

function waitEntry(page, event, count = 1) {
  return waitUntil(page, `${count} "${event}" log entr${count === 1 ? "y" : "ies"}`,
    ([ev, n]) => document.querySelectorAll(`#log .entry[data-event="${ev}"]`).length >= n, [event, count]);
}

const waitStatus = (page, status) =>
  waitUntil(page, `status "${status}"`, (s) => document.getElementById("status").textContent === s, status);

const text = (page, sel) => page.textContent(sel);

/** Fills in the form and presses Connect. */
async function connectWith(page, { token, placement = "auth", transports = "polling,websocket", reconnect = false }) {
  await page.selectOption("#placement", placement);
  await page.selectOption("#transports", transports);
  await page.setChecked("#reconnect", reconnect);
  await page.fill("#token", token ?? "");
  await page.click("#connect");
}

/** Sends `prompt` and returns the prompt-response the page logged for it. */
async function exchange(page, prompt) {
  const before = (await entries(page, "prompt-response")).length;
  await page.fill("#prompt", prompt);
  await page.click("#send");
  await waitEntry(page, "prompt-response", before + 1);
  const r = JSON.parse((await entries(page, "prompt-response"))[before]);
  assert.equal(r.prompt, prompt);
  assert.equal(r.response, `Echo: ${prompt}`);
  assert.equal(typeof r.requestId, "string");
  assert.ok(r.requestId.length > 0);
  return r;
}

describe("served by the gateway in dev mode", () => {
  const cases = [
    { placement: "auth", transports: "polling,websocket" },
    { placement: "query", transports: "polling,websocket" },
    { placement: "header", transports: "polling" },
    { placement: "header", transports: "polling,websocket" },
  ];
  for (const { placement, transports } of cases) {
    test(`token in ${placement} with ${transports}: connects, shows the transport, exchanges a prompt`, async () => {
      const page = await served();
      const requests = [];
      page.on("request", (r) => { if (r.url().includes("/socket.io/?")) requests.push(r); });
      const user = `page-${placement}-${transports.replace(",", "-")}-${run}`;
      const token = gw.token(user);
      await connectWith(page, { token, placement, transports });
      await waitStatus(page, "connected");
      await waitEntry(page, "connect");
      const [connectLine] = await entries(page, "connect");
      // With an upgrade the probe may finish before the Socket.IO connect is acknowledged.
      const possible = transports === "polling,websocket" ? "(polling|websocket)" : transports;
      assert.match(connectLine, new RegExp(`^id=\\S+ transport=${possible}$`));
      assert.ok(["polling", "websocket"].includes(await text(page, "#transport")));
      assert.equal(await text(page, "#user"), user);
      assert.notEqual(await text(page, "#socketId"), "none");
      await exchange(page, `hello via ${placement}`);
      // The token went where the page was told to put it (HTTP requests; a browser WebSocket has no headers).
      const seen = await Promise.all(requests.map(async (r) => ({ url: r.url(), auth: (await r.allHeaders()).authorization })));
      assert.ok(seen.length > 0, "no polling request was seen");
      const handshake = seen[0];
      assert.equal(new URL(handshake.url).searchParams.get("token"), placement === "query" ? token : null);
      assert.equal(handshake.auth, placement === "header" ? `Bearer ${token}` : undefined);
      if (transports === "polling") {
        assert.equal(await text(page, "#transport"), "polling");
        assert.deepEqual(await entries(page, "upgrade"), []);
      }
      assert.deepEqual(page.errors, []);
    });
  }

  test("default transports upgrade to websocket; screenshot after an exchange", async () => {
    const page = await served();
    await connectWith(page, { token: gw.token(`page-upgrade-${run}`) });
    await waitEntry(page, "upgrade");
    await waitUntil(page, 'transport "websocket"', () => document.getElementById("transport").textContent === "websocket");
    assert.match((await entries(page, "connect"))[0], /transport=(polling|websocket)$/);
    assert.deepEqual(await entries(page, "upgrade"), ["transport upgraded to websocket"]);
    await exchange(page, "after the upgrade");
    assert.equal(await text(page, "#status"), "connected");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "page.png"), fullPage: true });
  });

  test("events the backend pushes show in the log, to the user and to a room of the token", async () => {
    const page = await served();
    const user = `page-push-${run}`;
    const room = `page-room-${run}`;
    await connectWith(page, { token: gw.token(user, 3600, { rooms: [room] }) });
    await waitStatus(page, "connected");
    assert.match(await text(page, "#tokenInfo"), new RegExp(`rooms: ${room}`));
    const data = { job: "report", status: "done", pages: 12 };
    assert.deepEqual(await emit(gw.url, { userId: user, event: "job-finished", data }), { delivered: 1, offline: 0 });
    await waitEntry(page, "push: job-finished");
    assert.deepEqual((await entries(page, "push: job-finished")).map((d) => JSON.parse(d)), [data]);
    await roomMembers(gw.url, room, 1);
    assert.deepEqual(await emit(gw.url, { room, event: "team-news", data: "hello team" }), { delivered: 1, offline: 0 });
    await waitEntry(page, "push: team-news");
    assert.deepEqual(await entries(page, "push: team-news"), ['"hello team"']);
    // The gateway's own events are not shown as pushed ones.
    await exchange(page, "not a push");
    const pushed = await page.$$eval("#log .entry", (els) => els.map((e) => e.dataset.event).filter((e) => e.startsWith("push: ")));
    assert.deepEqual(pushed, ["push: job-finished", "push: team-news"]);
    assert.deepEqual(page.errors, []);
  });

  test("websocket only: connects straight over websocket", async () => {
    const page = await served();
    await connectWith(page, { token: gw.token(`page-ws-${run}`), transports: "websocket" });
    await waitStatus(page, "connected");
    assert.equal(await text(page, "#transport"), "websocket");
    assert.match((await entries(page, "connect"))[0], /transport=websocket$/);
    await exchange(page, "websocket only");
  });

  test("a dev token for an edited sub comes from /dev/token and connects as that user", async () => {
    const page = await served();
    // Loading the page filled in a dev token for the default user.
    assert.equal((await entries(page, "dev token")).length, 1);
    assert.match(await page.inputValue("#token"), /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const user = `dev-button-${run}`;
    await page.fill("#sub", user);
    await page.click("#devToken");
    await waitEntry(page, "dev token", 2);
    assert.match((await entries(page, "dev token"))[1], new RegExp(`sub=${user}`));
    await page.click("#connect");
    await waitStatus(page, "connected");
    assert.equal(await text(page, "#user"), user);
    await exchange(page, "with a dev token");
  });

  test("the header placement cannot be combined with websocket only", async () => {
    const page = await served();
    await page.selectOption("#transports", "websocket");
    await page.selectOption("#placement", "header");
    assert.equal(await page.inputValue("#transports"), "polling,websocket");
    assert.equal(await page.$eval('#transports option[value="websocket"]', (o) => o.disabled), true);
    assert.ok(await page.isVisible("#headerNote"));
    assert.match(await text(page, "#headerNote"), /only on HTTP long-polling/);
    assert.match((await entries(page, "settings"))[0], /impossible/);
    await page.selectOption("#placement", "auth");
    assert.equal(await page.$eval('#transports option[value="websocket"]', (o) => o.disabled), false);
  });

  test("disconnect, and a refused token then a good one on the same page", async () => {
    const page = await served();
    const user = `page-again-${run}`;
    await connectWith(page, { token: "not-a-jwt" });
    await waitEntry(page, "connect_error");
    assert.equal(await page.isDisabled("#disconnect"), true);
    await connectWith(page, { token: gw.token(user) });
    await waitStatus(page, "connected");
    assert.equal((await entries(page, "connect")).length, 1);
    await exchange(page, "second try");
    await page.click("#disconnect");
    await waitEntry(page, "disconnect");
    assert.match((await entries(page, "disconnect"))[0], /^reason: io client disconnect/);
    assert.equal(await text(page, "#status"), "disconnected");
    assert.equal(await text(page, "#transport"), "none");
    assert.equal(await page.isDisabled("#send"), true);
    assert.equal(await page.isDisabled("#disconnect"), true);
    // The gateway let the session go: connecting again as the same user is not a replacement.
    await page.click("#connect");
    await waitEntry(page, "connect", 2);
    await exchange(page, "third try");
    assert.deepEqual(await entries(page, "error"), []);
  });

  const bad = [
    ["garbage", "auth", () => "not-a-jwt", "TOKEN_INVALID"],
    ["wrong secret", "auth", () => signToken("not-the-secret", { sub: "u", exp: Math.floor(Date.now() / 1000) + 600 }), "TOKEN_INVALID"],
    ["wrong secret", "header", () => signToken("not-the-secret", { sub: "u", exp: Math.floor(Date.now() / 1000) + 600 }), "TOKEN_INVALID"],
    ["expired", "auth", () => gw.token(`expired-${run}`, -3600), "TOKEN_EXPIRED"],
    ["expired", "query", () => gw.token(`expired-${run}`, -3600), "TOKEN_EXPIRED"],
    ["missing", "auth", () => "", "TOKEN_MISSING"],
  ];
  for (const [name, placement, make, code] of bad) {
    test(`${name} token in ${placement} shows connect_error ${code}`, async () => {
      const page = await served();
      await connectWith(page, { token: make(), placement });
      await waitEntry(page, "connect_error");
      const [line] = await entries(page, "connect_error");
      const data = JSON.parse(line.match(/data: (.*?)(?: · description: .*)?$/)[1]);
      assert.equal(data?.code, code, line);
      assert.match(line, /^message: \S/);
      assert.equal(await text(page, "#status"), "disconnected");
      assert.equal(await page.isDisabled("#disconnect"), true);
      assert.deepEqual(await entries(page, "connect"), []);
    });
  }

  for (const reconnect of [false, true]) {
    test(`a second page for the same user replaces the first (reconnect box ${reconnect ? "ticked" : "unticked"})`, async () => {
      const user = `twice-${reconnect}-${run}`;
      const first = await served();
      await connectWith(first, { token: gw.token(user), reconnect });
      await waitStatus(first, "connected");
      await waitEntry(first, "upgrade");

      const second = await served();
      await connectWith(second, { token: gw.token(user) });
      await waitStatus(second, "connected");

      await waitEntry(first, "disconnect");
      const [reason] = await entries(first, "disconnect");
      assert.match(reason, /^reason: io server disconnect/);
      const errors = await entries(first, "error");
      assert.ok(errors.some((e) => /code: SESSION_REPLACED/.test(e)), `error entries: ${JSON.stringify(errors)}`);
      assert.equal(await text(first, "#status"), "disconnected");
      assert.equal(await text(first, "#transport"), "none");

      await sleep(2000);
      assert.equal(await text(first, "#status"), "disconnected");
      assert.equal((await entries(first, "connect")).length, 1, "the replaced page connected again");
      assert.deepEqual(await entries(first, "reconnect_attempt"), []);
      assert.equal(await text(second, "#status"), "connected");
      assert.deepEqual(await entries(second, "disconnect"), []);
      await exchange(second, "still here");
    });
  }
});

describe("opened from disk (file://, Origin null)", () => {
  test("defaults to http://localhost:3001 and loads the client from there", async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const requested = [];
    // Nothing may leave for a real gateway on 3001: record the request and refuse it.
    await page.route("http://localhost:3001/**", (route) => { requested.push(route.request().url()); return route.abort(); });
    await page.goto(PAGE_FILE, { timeout: WAIT_MS });
    await page.waitForSelector('body[data-ready="1"]', { timeout: WAIT_MS });
    assert.equal(await page.inputValue("#gateway"), "http://localhost:3001");
    assert.deepEqual(requested, ["http://localhost:3001/socket.io/socket.io.min.js"]);
    assert.match(await text(page, "#clientInfo"), /Could not load/);
    assert.equal(await page.inputValue("#token"), "", "no dev token is fetched from disk");
  });

  test("connects and exchanges a prompt when DOMAIN_URL is unset", async () => {
    const page = await fromDisk(gw.url);
    assert.equal(await page.evaluate(() => location.protocol), "file:");
    assert.equal(await page.inputValue("#gateway"), gw.url);
    assert.equal(await page.evaluate(() => typeof window.io), "function");
    await connectWith(page, { token: gw.token(`disk-${run}`) });
    await waitStatus(page, "connected");
    await waitUntil(page, 'transport "websocket"', () => document.getElementById("transport").textContent === "websocket");
    await exchange(page, "from disk");
  });

  for (const transports of ["polling,websocket", "websocket"]) {
    test(`is refused by a gateway with DOMAIN_URL=http://allowed.example (${transports})`, async () => {
      const page = await fromDisk(restricted.url);
      const refusedBefore = restricted.logs().match(/"msg":"origin refused","origin":"null"/g)?.length ?? 0;
      const forbiddenBefore = restricted.logs().match(/GET \/socket\.io\/\S* 403/g)?.length ?? 0;
      // The client bundle is served whatever the origin.
      assert.equal(await page.evaluate(() => typeof window.io), "function");
      await connectWith(page, { token: restricted.token(`refused-${run}`), transports });
      await waitEntry(page, "connect_error");
      assert.equal(await text(page, "#status"), "disconnected");
      await sleep(500);
      assert.deepEqual(await entries(page, "connect"), []);
      // The gateway refused the page's Origin (its log line is wrapped in colour codes, so match the raw output).
      const refused = restricted.logs().match(/"msg":"origin refused","origin":"null"/g)?.length ?? 0;
      assert.ok(refused > refusedBefore, `no new "origin refused" line in:\n${restricted.logs().slice(-2000)}`);
      // This pass's own 403: an earlier pass's line must not satisfy the check.
      const forbidden = restricted.logs().match(/GET \/socket\.io\/\S* 403/g)?.length ?? 0;
      assert.ok(forbidden > forbiddenBefore, `no new 403 for a /socket.io/ request in:\n${restricted.logs().slice(-2000)}`);
    });
  }
});

describe("streaming from a model, and the Stop button", () => {
  let up;
  let model;
  before(async () => {
    up = await startFakeUpstream({ delayMs: 20 });
    model = await startGateway({ vars: { GATEWAY_DEV: "1", PROMPT_PROCESSOR: "openai", PROMPT_UPSTREAM_URL: `${up.url}/v1`, PROMPT_MODEL: "fake" } });
  });
  after(async () => {
    await model?.stop();
    await up?.close();
  });

  test("the answer streams into the page, and Stop cancels the next one", async () => {
    const page = await open(`${model.url}/test-websocket-auth.html`);
    await connectWith(page, { token: model.token(`page-stream-${run}`), transports: "websocket" });
    await waitStatus(page, "connected");
    assert.equal(await page.isChecked("#stream"), true, "streaming is on by default");
    await page.fill("#prompt", "!delay:60 !chunks:30 go");
    await page.click("#send");
    // Part of the answer shows before the whole of it arrives.
    await waitUntil(page, "a partial answer", () => {
      const t = document.getElementById("answer").textContent;
      return t.startsWith("w0 ") && !t.includes("w29 ");
    });
    await waitEntry(page, "prompt-response");
    const expected = Array.from({ length: 30 }, (_, k) => `w${k} `).join("");
    assert.equal(await text(page, "#answer"), expected);
    assert.equal(await page.isDisabled("#stop"), true, "nothing left to stop");

    const abortedBefore = up.aborted.length;
    await page.fill("#prompt", "!slow !chunks:50 long");
    await page.click("#send");
    await waitUntil(page, "the first chunk", () => document.getElementById("answer").textContent.length > 0);
    await page.click("#stop");
    await waitUntil(page, "PROMPT_CANCELLED", () =>
      [...document.querySelectorAll('#log .entry[data-event="error"] .detail')].some((e) => /PROMPT_CANCELLED/.test(e.textContent)));
    await up.waitFor(() => up.aborted.length > abortedBefore, 5000);
    assert.ok(!(await text(page, "#answer")).includes("w49 "), "the answer stopped");
    assert.equal(await page.isDisabled("#stop"), true);
    assert.deepEqual(page.errors, []);
  });
});
