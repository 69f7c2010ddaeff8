// Real prompt processing end to end: the stock client against the gateway under wrangler dev,
// with the project's fake OpenAI-compatible upstream and app backend started by the test.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { startFakeUpstream } from "../support/fake-upstream.mjs";
import { findFreePort } from "../support/redis-server.mjs";
import { connect, next, withToken, sleep } from "../support/client.mjs";

let up;
let openai;
let backend;
let refused;
const UPSTREAM_TOKEN = "upstream-secret-token-for-tests";

before(async () => {
  up = await startFakeUpstream({ delayMs: 20 });
  const limits = {
    PROMPT_TIMEOUT_MS: "3000",
    PROMPT_IDLE_TIMEOUT_MS: "1000",
    PROMPT_RATE_PER_MINUTE: "60",
    PROMPT_BURST: "3",
    MAX_PROMPTS_IN_FLIGHT: "2",
    MAX_PROMPT_CHARS: "1000",
  };
  [openai, backend, refused] = await Promise.all([
    startGateway({ vars: { PROMPT_PROCESSOR: "openai", PROMPT_UPSTREAM_URL: `${up.url}/v1`, PROMPT_MODEL: "fake-model", PROMPT_UPSTREAM_TOKEN: UPSTREAM_TOKEN, LOG_LEVEL: "debug", ...limits } }),
    startGateway({ vars: { PROMPT_PROCESSOR: "http", PROMPT_UPSTREAM_URL: `${up.url}/backend`, ...limits } }),
    findFreePort().then((port) => startGateway({ vars: { PROMPT_PROCESSOR: "http", PROMPT_UPSTREAM_URL: `http://127.0.0.1:${port}/backend` } })),
  ]);
});

after(async () => {
  await Promise.all([openai?.stop(), backend?.stop(), refused?.stop()]);
  await up?.close();
});

let users = 0;
async function client(gw, opts = {}) {
  const user = `prompt-user-${++users}`;
  const socket = await connect(gw.url, withToken("auth", gw.token(user), { transports: ["websocket"], ...opts }));
  return { socket, user };
}

/** Sends a prompt and collects its ack, its chunks and its terminal event. */
function run(socket, payload, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let ack;
    let end;
    const t = setTimeout(() => { cleanup(); reject(new Error(`no ${end ? "ack" : "terminal event"} within ${ms} ms`)); }, ms);
    const settle = () => { if (ack && end) { cleanup(); resolve({ ack, chunks, ...end }); } };
    const onChunk = (c) => { if (c.requestId === payload.requestId) chunks.push(c); };
    const onResponse = (r) => { if (r.requestId === payload.requestId) { end = { response: r }; settle(); } };
    const onError = (e) => { if (e.requestId === payload.requestId) { end = { error: e }; settle(); } };
    const cleanup = () => { clearTimeout(t); socket.off("prompt-chunk", onChunk); socket.off("prompt-response", onResponse); socket.off("error", onError); };
    socket.on("prompt-chunk", onChunk);
    socket.on("prompt-response", onResponse);
    socket.on("error", onError);
    socket.emit("send-prompt", payload, (a) => { ack = a; settle(); });
  });
}

let ids = 0;
const rid = () => `req-${Date.now()}-${++ids}`;

describe("openai processor", () => {
  test("a streamed answer arrives as contiguous chunks that join to the response", async () => {
    const { socket } = await client(openai);
    try {
      const r = await run(socket, { prompt: "!chunks:40 hi", requestId: rid(), stream: true });
      assert.equal(r.ack.status, "accepted");
      const expected = Array.from({ length: 40 }, (_, k) => `w${k} `).join("");
      assert.equal(r.response.response, expected);
      assert.ok(r.chunks.length >= 1);
      assert.deepEqual(r.chunks.map((c) => c.index), r.chunks.map((_, i) => i), "indexes from 0 without gaps");
      assert.equal(r.chunks.map((c) => c.delta).join(""), expected);
      const sent = up.requests.at(-1);
      assert.equal(sent.path, "/v1/chat/completions");
      assert.equal(sent.body.model, "fake-model");
      assert.equal(sent.body.stream, true);
      assert.deepEqual(sent.body.messages.at(-1), { role: "user", content: "!chunks:40 hi" });
      assert.equal(sent.headers.authorization, `Bearer ${UPSTREAM_TOKEN}`);
    } finally { socket.close(); }
  });

  test("over HTTP long-polling too, chunks arrive in order and join to the response", async () => {
    const { socket } = await client(openai, { transports: ["polling"] });
    try {
      assert.equal(socket.io.engine.transport.name, "polling");
      const r = await run(socket, { prompt: "!delay:30 !chunks:30 poll", requestId: rid(), stream: true });
      const expected = Array.from({ length: 30 }, (_, k) => `w${k} `).join("");
      assert.equal(r.response.response, expected);
      assert.deepEqual(r.chunks.map((c) => c.index), r.chunks.map((_, i) => i));
      assert.equal(r.chunks.map((c) => c.delta).join(""), expected);
      assert.ok(r.chunks.length > 1, `${r.chunks.length} chunks: streamed, not one block`);
    } finally { socket.close(); }
  });

  test("a client that did not ask for a stream gets no chunk, only the response", async () => {
    const { socket } = await client(openai);
    try {
      const r = await run(socket, { prompt: "hello world", requestId: rid() });
      assert.equal(r.response.response, "Upstream: hello world");
      assert.equal(r.response.prompt, "hello world");
      assert.equal(r.chunks.length, 0);
    } finally { socket.close(); }
  });

  test("cancel-prompt ends the prompt and the upstream sees its connection closed", async () => {
    const { socket } = await client(openai);
    try {
      const id = rid();
      const abortedBefore = up.aborted.length;
      const running = run(socket, { prompt: "!slow !chunks:50 go", requestId: id, stream: true });
      await next(socket, "prompt-chunk");
      const ack = await socket.timeout(5000).emitWithAck("cancel-prompt", { requestId: id });
      assert.deepEqual(ack, { status: "cancelled", requestId: id });
      const r = await running;
      assert.equal(r.error.code, "PROMPT_CANCELLED");
      await up.waitFor(() => up.aborted.length > abortedBefore, 5000);
      const unknown = await socket.timeout(5000).emitWithAck("cancel-prompt", { requestId: id });
      assert.equal(unknown.status, "unknown");
    } finally { socket.close(); }
  });

  test("total and idle timeouts end a prompt with PROMPT_TIMEOUT and abort the request", async () => {
    const { socket } = await client(openai);
    try {
      let t0 = Date.now();
      const idle = await run(socket, { prompt: "!stall x", requestId: rid() });
      assert.equal(idle.error.code, "PROMPT_TIMEOUT");
      const idleMs = Date.now() - t0;
      assert.ok(idleMs >= 900 && idleMs < 3000, `idle timeout after ${idleMs} ms`);
      t0 = Date.now();
      const total = await run(socket, { prompt: "!slow !chunks:100 x", requestId: rid() });
      assert.equal(total.error.code, "PROMPT_TIMEOUT");
      const totalMs = Date.now() - t0;
      assert.ok(totalMs >= 2900 && totalMs < 6000, `total timeout after ${totalMs} ms`);
    } finally { socket.close(); }
  });

  test("upstream failures map to UPSTREAM_FAILED and UPSTREAM_BUSY without the upstream's body", async () => {
    const { socket } = await client(openai);
    try {
      for (const p of ["!500 x", "!malformed x", "!error-mid-stream x", "!no-done x"]) {
        const r = await run(socket, { prompt: p, requestId: rid() });
        assert.equal(r.error?.code, "UPSTREAM_FAILED", `${p}: ${JSON.stringify(r)}`);
        assert.doesNotMatch(r.error.message, /internal|secret|Traceback/i);
        await sleep(1100);
      }
      const busy = await run(socket, { prompt: "!429 x", requestId: rid() });
      assert.equal(busy.error.code, "UPSTREAM_BUSY");
      assert.equal(busy.error.retryAfterMs, 2000);
    } finally { socket.close(); }
  });

  test("the burst+1-th prompt is RATE_LIMITED and accepted after retryAfterMs", async () => {
    const { socket } = await client(openai);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await run(socket, { prompt: "x", requestId: rid() });
        assert.ok(r.response, `prompt ${i}`);
      }
      const limited = await run(socket, { prompt: "x", requestId: rid() });
      assert.equal(limited.error.code, "RATE_LIMITED");
      assert.equal(limited.ack.status, "rejected");
      const wait = limited.error.retryAfterMs;
      assert.ok(wait > 0 && wait <= 1000, `${wait}`);
      await sleep(wait + 50);
      const again = await run(socket, { prompt: "x", requestId: rid() });
      assert.ok(again.response, JSON.stringify(again));
    } finally { socket.close(); }
  });

  test("a third prompt in flight is TOO_MANY_PROMPTS; an oversized one PROMPT_TOO_LARGE", async () => {
    const { socket } = await client(openai);
    try {
      const a = run(socket, { prompt: "!slow !chunks:5 a", requestId: rid() });
      const b = run(socket, { prompt: "!slow !chunks:5 b", requestId: rid() });
      await sleep(100);
      const c = await run(socket, { prompt: "c", requestId: rid() });
      assert.equal(c.error.code, "TOO_MANY_PROMPTS");
      assert.ok((await a).response && (await b).response);
      const big = await run(socket, { prompt: "y".repeat(1001), requestId: rid() });
      assert.equal(big.error.code, "PROMPT_TOO_LARGE");
    } finally { socket.close(); }
  });

  test("a duplicate requestId is acknowledged as such and reaches the upstream once", async () => {
    const { socket } = await client(openai);
    try {
      const id = rid();
      const first = await run(socket, { prompt: "once", requestId: id });
      assert.ok(first.response);
      const dup = await socket.timeout(5000).emitWithAck("send-prompt", { prompt: "once", requestId: id });
      assert.deepEqual(dup, { status: "duplicate", requestId: id });
      await sleep(300);
      assert.equal(up.requests.filter((r) => JSON.stringify(r.body).includes("once")).length, 1);
    } finally { socket.close(); }
  });

  test("a replaced connection's prompt streams on to the new connection", async () => {
    const user = `prompt-user-${++users}`;
    const opts = withToken("auth", openai.token(user), { transports: ["websocket"] });
    const first = await connect(openai.url, opts);
    const id = rid();
    first.emit("send-prompt", { prompt: "!delay:100 !chunks:20 long", requestId: id, stream: true });
    await next(first, "prompt-chunk");
    const second = await connect(openai.url, opts);
    try {
      const chunks = [];
      second.on("prompt-chunk", (c) => chunks.push(c));
      const response = await next(second, "prompt-response", 10_000);
      assert.equal(response.requestId, id);
      assert.ok(chunks.length >= 1, "the rest of the stream came to the new connection");
      const indexes = chunks.map((c) => c.index);
      assert.deepEqual(indexes, indexes.map((_, i) => indexes[0] + i), "contiguous");
    } finally { first.close(); second.close(); }
  });

  test("no log line carries a prompt, a response or a token", async () => {
    const logs = openai.logs();
    assert.doesNotMatch(logs, /chunks:40 hi|Upstream: hello world|w39 /);
    assert.ok(!logs.includes(UPSTREAM_TOKEN), "the upstream token is never logged");
    const finished = openai.jsonLogs().filter((l) => l.msg === "prompt finished");
    assert.ok(finished.length >= 10);
    for (const f of finished) {
      for (const k of ["requestId", "userId", "processor", "outcome", "durationMs", "firstChunkMs", "chunks", "bytes"]) {
        assert.ok(k in f, `${k} in ${JSON.stringify(f)}`);
      }
    }
  });
});

describe("http processor (the app's backend)", () => {
  test("an event-stream answer and a JSON answer, with the client's other fields as data", async () => {
    const { socket, user } = await client(backend);
    try {
      const id = rid();
      const r = await run(socket, { prompt: "hi there", requestId: id, stream: true, topic: "t1" });
      assert.equal(r.response.response, "Upstream: hi there");
      assert.equal(r.chunks.map((c) => c.delta).join(""), "Upstream: hi there");
      const sent = up.requests.find((q) => q.body?.requestId === id);
      assert.deepEqual(sent.body, { userId: user, requestId: id, prompt: "hi there", data: { topic: "t1" } });
      assert.equal(sent.headers.authorization, undefined, "no token configured, none sent");
      const j = await run(socket, { prompt: "!json as json", requestId: rid(), stream: true });
      assert.equal(j.response.response, "Upstream: as json");
      assert.equal(j.chunks.length, 1, "a JSON answer is one chunk");
    } finally { socket.close(); }
  });

  test("an unreachable backend is UPSTREAM_FAILED", async () => {
    const { socket } = await client(refused);
    try {
      const r = await run(socket, { prompt: "x", requestId: rid() });
      assert.equal(r.error.code, "UPSTREAM_FAILED");
    } finally { socket.close(); }
  });

  test("at the default LOG_LEVEL a prompt that ended well logs nothing, one that failed one line", async () => {
    const { socket } = await client(backend);
    try {
      const ok = rid();
      await run(socket, { prompt: "quiet", requestId: ok });
      const failed = rid();
      const r = await run(socket, { prompt: "!500 loud", requestId: failed });
      assert.equal(r.error?.code, "UPSTREAM_FAILED");
      await sleep(200);
      const finished = backend.jsonLogs().filter((l) => l.msg === "prompt finished");
      assert.ok(!finished.some((l) => l.requestId === ok), "nothing per successful prompt at info");
      const line = finished.find((l) => l.requestId === failed);
      assert.equal(line?.level, 30, JSON.stringify(finished));
      assert.notEqual(line.outcome, "OK");
    } finally { socket.close(); }
  });
});

describe("a restart in the middle of a prompt", () => {
  let gw;
  before(async () => {
    gw = await startGateway({ vars: { PROMPT_PROCESSOR: "openai", PROMPT_UPSTREAM_URL: `${up.url}/v1`, PROMPT_MODEL: "fake-model" } });
  });
  after(async () => { await gw?.stop(); });

  test("ends the prompt with PROMPT_INTERRUPTED on the user's next connection", { timeout: 120_000 }, async () => {
    const user = `prompt-restart-${Date.now()}`;
    const opts = () => withToken("auth", gw.token(user), { transports: ["websocket"] });
    const first = await connect(gw.url, opts());
    const id = rid();
    first.emit("send-prompt", { prompt: "!slow !chunks:200 long", requestId: id, stream: true });
    await next(first, "prompt-chunk");
    await gw.restart();
    first.close();
    // Listen before the CONNECT completes: the error follows the CONNECT at once.
    const { io } = await import("socket.io-client");
    const second = io(gw.url, opts());
    try {
      const interrupted = new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no PROMPT_INTERRUPTED within 20 s")), 20_000);
        second.on("error", (e) => { if (e.requestId === id) { clearTimeout(t); resolve(e); } });
      });
      const e = await interrupted;
      assert.equal(e.code, "PROMPT_INTERRUPTED");
      assert.ok(second.connected);
    } finally { second.close(); }
  });
});

describe("echo prompts and storage", () => {
  let gw;
  before(async () => {
    gw = await startGateway({ vars: { HISTORY_MAX_ITEMS: "0", PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", LOG_LEVEL: "debug" } });
  });
  after(async () => { await gw?.stop(); });

  test("a steady stream of echo prompts makes no write per prompt, and their ids outlive a restart", { timeout: 120_000 }, async () => {
    const user = `echo-writes-${Date.now()}`;
    const opts = () => withToken("header", gw.token(user), { transports: ["websocket"] });
    const socket = await connect(gw.url, opts());
    const writes = () => gw.jsonLogs().filter((l) => l.msg === "storage write").length;
    const ids = [];
    try {
      await socket.timeout(5000).emitWithAck("send-prompt", { prompt: "warm", requestId: rid() });
      await sleep(1500);
      const before = writes();
      for (let i = 0; i < 50; i++) {
        const id = rid();
        ids.push(id);
        const r = next(socket, "prompt-response");
        assert.equal((await socket.timeout(5000).emitWithAck("send-prompt", { prompt: `p${i}`, requestId: id })).status, "accepted");
        await r;
      }
      // The deferred write lands within a second of the first of them.
      await sleep(1500);
      const made = writes() - before;
      assert.ok(made >= 1 && made <= 3, `${made} storage writes for 50 echo prompts`);
    } finally { socket.close(); }
    await gw.restart();
    const again = await connect(gw.url, opts());
    try {
      for (const id of [ids[0], ids[49]]) {
        const dup = await again.timeout(5000).emitWithAck("send-prompt", { prompt: "again", requestId: id });
        assert.deepEqual(dup, { status: "duplicate", requestId: id }, "remembered across the restart");
      }
    } finally { again.close(); }
  });
});
