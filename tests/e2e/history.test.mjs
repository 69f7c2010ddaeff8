// Prompt history end to end: the stock client asks `get-history` / `clear-history` of the
// gateway under wrangler dev, with the project's fake OpenAI-compatible upstream answering.
// Pruning by age is tested in the unit tests (a retention counts in days); here the count bound.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startGateway } from "../support/gateway.mjs";
import { startFakeUpstream } from "../support/fake-upstream.mjs";
import { connect, next, withToken, sleep } from "../support/client.mjs";
import { http } from "../support/wire.mjs";

let up;
let gw;
let off;
let misconfigured;
const MAX_ITEMS = 5;
const MAX_RESPONSE_CHARS = 40;

before(async () => {
  up = await startFakeUpstream({ delayMs: 10 });
  const common = {
    PROMPT_PROCESSOR: "openai", PROMPT_UPSTREAM_URL: `${up.url}/v1`, PROMPT_MODEL: "fake-model",
    PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", PROMPT_CONTEXT_MESSAGES: "2",
  };
  [gw, off, misconfigured] = await Promise.all([
    startGateway({ vars: { ...common, HISTORY_MAX_ITEMS: String(MAX_ITEMS), HISTORY_MAX_RESPONSE_CHARS: String(MAX_RESPONSE_CHARS) } }),
    startGateway({ vars: { ...common, HISTORY_MAX_ITEMS: "0" } }),
    startGateway({ vars: { HISTORY_MAX_ITEMS: "1001" } }),
  ]);
});

after(async () => {
  await Promise.all([gw?.stop(), off?.stop(), misconfigured?.stop()]);
  await up?.close();
});

let users = 0;
const newUser = () => `history-user-${Date.now()}-${++users}`;
const open = (g, user, opts = {}) => connect(g.url, withToken("auth", g.token(user), { transports: ["websocket"], ...opts }));

let ids = 0;
const rid = (label = "h") => `${label}-${Date.now()}-${++ids}`;

/** Sends a prompt and waits for its ack and terminal event. */
function run(socket, payload, ms = 10_000) {
  return new Promise((resolve, reject) => {
    let ack;
    let end;
    const t = setTimeout(() => { cleanup(); reject(new Error(`${payload.requestId}: no ${ack ? "terminal event" : "ack"} within ${ms} ms`)); }, ms);
    const settle = () => { if (ack && end) { cleanup(); resolve({ ack, ...end }); } };
    const onResponse = (r) => { if (r.requestId === payload.requestId) { end = { response: r }; settle(); } };
    const onError = (e) => { if (e.requestId === payload.requestId) { end = { error: e }; settle(); } };
    const cleanup = () => { clearTimeout(t); socket.off("prompt-response", onResponse); socket.off("error", onError); };
    socket.on("prompt-response", onResponse);
    socket.on("error", onError);
    socket.emit("send-prompt", payload, (a) => { ack = a; settle(); });
  });
}

const history = (socket, ...payload) => socket.timeout(5000).emitWithAck("get-history", ...payload);
const clear = (socket) => socket.timeout(5000).emitWithAck("clear-history");

/** An item without its times, which are checked apart. */
function plain(item) {
  const { createdAt, completedAt, ...rest } = item;
  return rest;
}

/** Checks an item's times: epoch ms within [from, to], completedAt not before createdAt. */
function assertTimes(item, from, to) {
  assert.ok(Number.isInteger(item.createdAt) && item.createdAt >= from - 1000 && item.createdAt <= to + 1000, `createdAt ${item.createdAt}`);
  if (item.completedAt !== undefined) {
    assert.ok(item.completedAt >= item.createdAt && item.completedAt <= to + 1000, `completedAt ${item.completedAt}`);
  }
}

describe("history", () => {
  test("pages walk back newest first with exact items, next only while older items exist", async () => {
    const socket = await open(gw, newUser());
    try {
      const from = Date.now();
      const sent = [];
      for (const word of ["one", "two", "three", "four", "five"]) {
        const id = rid(word);
        await run(socket, { prompt: word, requestId: id });
        sent.push(id);
      }
      const to = Date.now();
      const item = (k) => ({ requestId: sent[k], prompt: ["one", "two", "three", "four", "five"][k], response: `Upstream: ${["one", "two", "three", "four", "five"][k]}`, status: "completed" });
      const p1 = await history(socket, { limit: 2 });
      assert.deepEqual(p1.items.map(plain), [item(4), item(3)]);
      assert.equal(typeof p1.next, "string");
      const p2 = await history(socket, { limit: 2, before: p1.next });
      assert.deepEqual(p2.items.map(plain), [item(2), item(1)]);
      const p3 = await history(socket, { limit: 2, before: p2.next });
      assert.deepEqual(p3.items.map(plain), [item(0)]);
      assert.ok(!("next" in p3), "no next on the last page");
      const all = [...p1.items, ...p2.items, ...p3.items];
      all.forEach((i) => assertTimes(i, from, to));
      for (let k = 1; k < all.length; k++) assert.ok(all[k - 1].createdAt >= all[k].createdAt, "newest first");
      // The default limit (20) takes every item at once; exactly the limit gives no next.
      const whole = await history(socket);
      assert.deepEqual(whole.items, all);
      assert.ok(!("next" in whole));
      assert.ok(!("next" in (await history(socket, { limit: 5 }))));
    } finally { socket.close(); }
  });

  test("statuses: completed, failed with its code, cancelled, running", async () => {
    const socket = await open(gw, newUser());
    try {
      const ok = rid("ok");
      const bad = rid("bad");
      const cancelled = rid("cancel");
      const running = rid("run");
      await run(socket, { prompt: "fine", requestId: ok });
      const failed = await run(socket, { prompt: "!500 boom", requestId: bad });
      assert.equal(failed.error.code, "UPSTREAM_FAILED");
      const c = run(socket, { prompt: "!slow !chunks:50 stop me", requestId: cancelled, stream: true });
      await next(socket, "prompt-chunk");
      await socket.timeout(5000).emitWithAck("cancel-prompt", { requestId: cancelled });
      assert.equal((await c).error.code, "PROMPT_CANCELLED");
      const long = run(socket, { prompt: "!slow !chunks:100 long", requestId: running, stream: true }, 60_000).catch(() => {});
      await next(socket, "prompt-chunk");
      const { items } = await history(socket);
      assert.deepEqual(items.map(plain), [
        { requestId: running, prompt: "!slow !chunks:100 long", status: "running" },
        { requestId: cancelled, prompt: "!slow !chunks:50 stop me", status: "cancelled", code: "PROMPT_CANCELLED" },
        { requestId: bad, prompt: "!500 boom", status: "failed", code: "UPSTREAM_FAILED" },
        { requestId: ok, prompt: "fine", response: "Upstream: fine", status: "completed" },
      ]);
      assert.ok(!("completedAt" in items[0]), "a running prompt has no completedAt");
      for (const i of items.slice(1)) assert.ok(i.completedAt >= i.createdAt);
      await socket.timeout(5000).emitWithAck("cancel-prompt", { requestId: running });
      await long;
    } finally { socket.close(); }
  });

  test("clear-history deletes every item; a cleared requestId is still a duplicate", async () => {
    const socket = await open(gw, newUser());
    try {
      const first = rid("c");
      await run(socket, { prompt: "a", requestId: first });
      await run(socket, { prompt: "b", requestId: rid("c") });
      await run(socket, { prompt: "c", requestId: rid("c") });
      assert.deepEqual(await clear(socket), { status: "cleared", deleted: 3 });
      assert.deepEqual(await history(socket), { items: [] });
      assert.deepEqual(await clear(socket), { status: "cleared", deleted: 0 });
      const dup = await socket.timeout(5000).emitWithAck("send-prompt", { prompt: "a", requestId: first });
      assert.deepEqual(dup, { status: "duplicate", requestId: first });
      assert.deepEqual(await history(socket), { items: [] }, "a duplicate adds nothing");
    } finally { socket.close(); }
  });

  test(`HISTORY_MAX_ITEMS=${MAX_ITEMS} keeps the newest items and drops the oldest`, async () => {
    const socket = await open(gw, newUser());
    try {
      const sent = [];
      for (let k = 0; k < MAX_ITEMS + 3; k++) {
        const id = rid(`m${k}`);
        await run(socket, { prompt: `m${k}`, requestId: id });
        sent.push(id);
      }
      const { items } = await history(socket, { limit: 100 });
      assert.deepEqual(items.map((i) => i.requestId), sent.slice(-MAX_ITEMS).reverse());
    } finally { socket.close(); }
  });

  test("a bad limit, a bad cursor or a payload that is not an object gets INVALID_REQUEST", async () => {
    const socket = await open(gw, newUser());
    try {
      await run(socket, { prompt: "x", requestId: rid() });
      const bad = [{ limit: 0 }, { limit: 101 }, { limit: -1 }, { limit: 2.5 }, { limit: "5" }, { before: "not-a-cursor" }, { before: 3 },
        { before: "aDE6MA" }, { before: "x".repeat(100_000) }, "everything", 7, [1, 2]];
      for (const payload of bad) {
        const ack = await history(socket, payload);
        assert.equal(ack.error?.code, "INVALID_REQUEST", JSON.stringify(payload));
        assert.equal(typeof ack.error.message, "string");
        assert.ok(!("items" in ack));
      }
      const refused = await socket.timeout(5000).emitWithAck("clear-history", "all");
      assert.equal(refused.error?.code, "INVALID_REQUEST");
      assert.equal((await history(socket)).items.length, 1, "a refused clear deletes nothing");
      // Without an ack callback there is nothing to answer; the connection goes on.
      let stray = 0;
      socket.onAny(() => { stray++; });
      socket.emit("get-history", { limit: 0 });
      socket.emit("get-history", {});
      assert.equal((await history(socket, { limit: 1 })).items.length, 1);
      assert.equal(stray, 0);
      assert.ok(socket.connected);
    } finally { socket.close(); }
  });

  test("a prompt that finished while the client was away is in history at the next connection", async () => {
    const user = newUser();
    const first = await open(gw, user);
    const id = rid("away");
    const ack = await first.timeout(5000).emitWithAck("send-prompt", { prompt: "!delay:100 !chunks:5 away", requestId: id });
    assert.equal(ack.status, "accepted");
    first.close();
    await up.waitFor(() => up.requests.some((r) => r.body?.messages?.at(-1)?.content === "!delay:100 !chunks:5 away"));
    await sleep(1500);
    const second = await open(gw, user, { transports: ["polling"] });
    try {
      const { items } = await history(second);
      assert.deepEqual(items.map(plain), [{ requestId: id, prompt: "!delay:100 !chunks:5 away", response: "w0 w1 w2 w3 w4 ", status: "completed" }]);
    } finally { second.close(); }
  });

  test("a requestId sent again after a reconnect is a duplicate and processed once", async () => {
    const user = newUser();
    const id = rid("once");
    const prompt = `once ${id}`;
    const first = await open(gw, user);
    await run(first, { prompt, requestId: id });
    first.close();
    const second = await open(gw, user);
    try {
      const dup = await second.timeout(5000).emitWithAck("send-prompt", { prompt, requestId: id });
      assert.deepEqual(dup, { status: "duplicate", requestId: id });
      await sleep(300);
      assert.equal(up.requests.filter((r) => r.body?.messages?.at(-1)?.content === prompt).length, 1);
      const { items } = await history(second);
      assert.deepEqual(items.map((i) => i.requestId), [id]);
    } finally { second.close(); }
  });

  test("PROMPT_CONTEXT_MESSAGES=2 sends the last two completed exchanges, oldest first", async () => {
    const socket = await open(gw, newUser());
    try {
      for (const word of ["alpha", "beta", "gamma"]) await run(socket, { prompt: word, requestId: rid(word) });
      const failed = await run(socket, { prompt: "!500 not context", requestId: rid("fail") });
      assert.equal(failed.error.code, "UPSTREAM_FAILED");
      const id = rid("ctx");
      const r = await run(socket, { prompt: `!messages ${id}`, requestId: id });
      assert.equal(r.response.response, "messages: 5");
      const body = up.requests.findLast((q) => q.body?.messages?.at(-1)?.content === `!messages ${id}`).body;
      assert.deepEqual(body.messages, [
        { role: "user", content: "beta" },
        { role: "assistant", content: "Upstream: beta" },
        { role: "user", content: "gamma" },
        { role: "assistant", content: "Upstream: gamma" },
        { role: "user", content: `!messages ${id}` },
      ]);
    } finally { socket.close(); }
  });

  test(`a response longer than HISTORY_MAX_RESPONSE_CHARS=${MAX_RESPONSE_CHARS} is stored cut and marked; the client got it whole`, async () => {
    const socket = await open(gw, newUser());
    try {
      const id = rid("long");
      const r = await run(socket, { prompt: "!chunks:20 long", requestId: id });
      const whole = Array.from({ length: 20 }, (_, k) => `w${k} `).join("");
      assert.equal(r.response.response, whole);
      const [item] = (await history(socket)).items;
      assert.equal(item.response, whole.slice(0, MAX_RESPONSE_CHARS));
      assert.equal(item.truncated, true);
      await run(socket, { prompt: "short", requestId: rid() });
      assert.ok(!("truncated" in (await history(socket, { limit: 1 })).items[0]));
    } finally { socket.close(); }
  });

  test("no history storage failure was logged", () => {
    const failures = gw.jsonLogs().filter((l) => l.msg === "history storage failed");
    assert.deepEqual(failures, []);
  });
});

describe("HISTORY_MAX_ITEMS=0", () => {
  test("stores nothing, clears nothing and sends no context", async () => {
    const socket = await open(off, newUser());
    try {
      await run(socket, { prompt: "one", requestId: rid() });
      const id = rid("ctx");
      const r = await run(socket, { prompt: `!messages ${id}`, requestId: id });
      assert.equal(r.response.response, "messages: 1");
      assert.deepEqual(await history(socket), { items: [] });
      assert.deepEqual(await clear(socket), { status: "cleared", deleted: 0 });
      assert.equal((await history(socket, { limit: 0 })).error?.code, "INVALID_REQUEST", "requests are still checked");
    } finally { socket.close(); }
  });
});

test("HISTORY_MAX_ITEMS=1001 is refused: 500 SERVER_MISCONFIGURED naming it", async () => {
  const r = await http(`${misconfigured.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(r.status, 500);
  const body = JSON.parse(r.body);
  assert.equal(body.code, "SERVER_MISCONFIGURED");
  assert.match(body.message, /^HISTORY_MAX_ITEMS: .*1001/);
});

describe("a gateway restart", () => {
  test("history survives it, and a prompt running at the restart is failed with PROMPT_INTERRUPTED", { timeout: 120_000 }, async () => {
    const user = newUser();
    const opts = () => withToken("auth", gw.token(user), { transports: ["websocket"] });
    const first = await connect(gw.url, opts());
    const done = rid("kept");
    await run(first, { prompt: "kept", requestId: done });
    const long = rid("cut");
    first.emit("send-prompt", { prompt: "!slow !chunks:200 cut", requestId: long, stream: true });
    await next(first, "prompt-chunk");
    const before = (await history(first)).items;
    assert.deepEqual(before.map((i) => i.status), ["running", "completed"]);
    const restartedAt = Date.now();
    await gw.restart();
    first.close();
    const second = io(gw.url, opts());
    try {
      const interrupted = new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no PROMPT_INTERRUPTED within 20 s")), 20_000);
        second.on("error", (e) => { if (e.requestId === long) { clearTimeout(t); resolve(e); } });
      });
      assert.equal((await interrupted).code, "PROMPT_INTERRUPTED");
      const { items } = await history(second);
      assert.deepEqual(items.map(plain), [
        { requestId: long, prompt: "!slow !chunks:200 cut", status: "failed", code: "PROMPT_INTERRUPTED" },
        plain(before[1]),
      ]);
      assert.deepEqual(items[1], before[1], "the finished item is unchanged");
      assert.equal(items[0].createdAt, before[0].createdAt);
      assert.ok(items[0].completedAt >= restartedAt - 1000, "interrupted at the restart");
    } finally { second.close(); }
  });
});
