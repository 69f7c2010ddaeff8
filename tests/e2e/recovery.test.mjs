// Connection state recovery with the stock socket.io-client, whose own `connectionStateRecovery`
// handling sends `pid` and `offset` again when the server gave it a pid. A TCP proxy in front of
// the gateway drops the network under a slowly streamed prompt (tests/support/cut-proxy.mjs);
// the client reconnects by itself and must find its session again: same socket id, every chunk
// once and in order, one terminal event. Also: the window, endings that are not recoverable,
// claims that must not recover anything, an expired token, hibernation, a restart, an object
// written by the previous storage layout, and the default (off) wire.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";
import { startGateway } from "../support/gateway.mjs";
import { startFakeUpstream } from "../support/fake-upstream.mjs";
import { startCutProxy } from "../support/cut-proxy.mjs";
import { startRedisServer } from "../support/redis-server.mjs";
import { startUpstashServer } from "../support/upstash-server.mjs";
import { redisAt, pollUntil } from "../support/redis-cli.mjs";
import { Poller } from "../support/wire.mjs";
import { withToken, connect, next, sleep } from "../support/client.mjs";

const RUN = randomUUID().slice(0, 8);
const REST_TOKEN = `rest-${RUN}`;
const PUSH_TOKEN = `push-${RUN}`;
let users = 0;
const uid = (label) => `rec-${label.replace(/\W+/g, "-")}-${++users}-${RUN}`;
const rid = () => `req-${randomUUID()}`;

let up, redisServer, endpoint, redis;
let gw, short, off;
let proxy, shortProxy;

before(async () => {
  up = await startFakeUpstream({ delayMs: 20 });
  redisServer = await startRedisServer();
  redis = redisAt(redisServer.port);
  endpoint = await startUpstashServer({ redisPort: redisServer.port, token: REST_TOKEN });
  const openai = { PROMPT_PROCESSOR: "openai", PROMPT_UPSTREAM_URL: `${up.url}/v1`, PROMPT_MODEL: "fake-model", PROMPT_RATE_PER_MINUTE: "0" };
  [gw, short, off] = await Promise.all([
    // LOG_LEVEL=debug: a test reads the debug line of an object rebuilt from storage.
    startGateway({ vars: { ...openai, MAX_DISCONNECTION_MS: "120000", UPSTASH_REDIS_REST_URL: endpoint.url, UPSTASH_REDIS_REST_TOKEN: REST_TOKEN, PUSH_API_TOKEN: PUSH_TOKEN, LOG_LEVEL: "debug" } }),
    startGateway({ vars: { ...openai, MAX_DISCONNECTION_MS: "1500" } }),
    startGateway({ vars: {} }),
  ]);
  proxy = await startCutProxy(gw.port);
  shortProxy = await startCutProxy(short.port);
});

after(async () => {
  await Promise.all([proxy?.close(), shortProxy?.close()]);
  await Promise.all([gw?.stop(), short?.stop(), off?.stop()]);
  await endpoint?.stop();
  await redisServer?.stop();
  await up?.close();
});

/** A stock client through `via` that reconnects by itself (quickly) unless told not to. */
function open(via, token, { placement = "header", transports = ["websocket"], reconnection = true, auth } = {}) {
  const opts = withToken(placement, token, {
    transports, reconnection, reconnectionDelay: 100, reconnectionDelayMax: 300, randomizationFactor: 0,
  });
  if (auth) opts.auth = auth;
  const socket = io(via.url, opts);
  const log = { chunks: [], ends: [], sessions: [], events: [] };
  socket.onAny((event, ...args) => log.events.push(event));
  socket.on("prompt-chunk", (c) => log.chunks.push(c));
  socket.on("prompt-response", (r) => log.ends.push(r));
  socket.on("error", (e) => { if (e.requestId) log.ends.push(e); });
  socket.on("session", (s) => log.sessions.push(s));
  return { socket, log };
}

function connected(socket) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("not connected within 20 s")), 20_000);
    socket.once("connect", () => { clearTimeout(t); resolve(socket); });
    socket.once("connect_error", (e) => { if (!socket.io.opts.reconnection) { clearTimeout(t); reject(e); } });
  });
}

async function until(cond, what, ms = 20_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** Every chunk once and in order, ending in exactly one terminal event matching them. */
function assertWhole(log, requestId) {
  const chunks = log.chunks.filter((c) => c.requestId === requestId);
  assert.deepEqual(chunks.map((c) => c.index), chunks.map((_, i) => i), "indexes from 0 without gaps or repeats");
  const ends = log.ends.filter((e) => e.requestId === requestId);
  assert.equal(ends.length, 1, `one terminal event: ${JSON.stringify(ends)}`);
  if (ends[0].response !== undefined) assert.equal(chunks.map((c) => c.delta).join(""), ends[0].response);
  return ends[0];
}

const ROWS = [
  ["WebSocket, header token", "header", ["websocket"]],
  ["polling, header token", "header", ["polling"]],
  ["WebSocket, auth payload (relayed)", "auth", ["websocket"]],
  ["polling, auth payload (through the gate)", "auth", ["polling"]],
];

describe("a transport lost in the middle of a streamed prompt", () => {
  for (const [name, placement, transports] of ROWS) {
    test(`is recovered: ${name}`, { timeout: 60_000 }, async () => {
      const user = uid(name);
      const { socket, log } = open(proxy, gw.token(user), { placement, transports });
      try {
        await connected(socket);
        const firstId = socket.id;
        await until(() => log.sessions.length >= 1, "the session event");
        assert.deepEqual(log.sessions[0], { userId: user, socketId: firstId, recovered: false });
        const id = rid();
        const acks = [];
        socket.emit("send-prompt", { prompt: "!delay:120 !chunks:25 story", requestId: id, stream: true }, (a) => acks.push(a));
        await until(() => log.chunks.length >= 4, "first chunks");
        const back = next(socket, "connect", 20_000);
        assert.ok(proxy.cut() > 0, "connections were cut");
        const trace = [];
        socket.on("connect_error", (e) => trace.push(`connect_error ${e.message} ${JSON.stringify(e.data)}`));
        socket.io.on("reconnect_attempt", (n) => trace.push(`attempt ${n}`));
        socket.io.on("error", (e) => trace.push(`manager error ${e.message}`));
        await back.catch((e) => {
          console.log(trace.join("\n"));
          console.log(gw.logs().split("\n").filter((l) => l.includes(user)).join("\n"));
          throw e;
        });
        await until(() => log.sessions.length >= 2, "the second session event");
        assert.equal(socket.recovered, true, "socket.recovered");
        assert.equal(socket.id, firstId, "the same socket id");
        assert.deepEqual(log.sessions.map((s) => s.recovered), [false, true]);
        assert.equal(log.sessions[1].socketId, firstId);
        assert.equal(log.sessions[1].userId, user);
        // The same requestId again, across the reconnect: processed once.
        const dup = await socket.timeout(5000).emitWithAck("send-prompt", { prompt: "!chunks:3 again", requestId: id, stream: true });
        assert.deepEqual(dup, { status: "duplicate", requestId: id });
        await until(() => log.ends.length >= 1, "the terminal event");
        await sleep(500);
        const end = assertWhole(log, id);
        assert.equal(end.response, Array.from({ length: 25 }, (_, i) => `w${i} `).join(""));
        assert.deepEqual(acks, [{ status: "accepted", requestId: id }]);
        if (name.startsWith("WebSocket, header")) {
          await pollUntil(() => redis.get(`ws:user:connection:${user}`), (v) => v === firstId, { timeoutMs: 5000 });
        }
      } finally { socket.close(); }
    });
  }
});

test("a half-dead transport: the CONNECT carrying the current pid recovers it and closes the old one quietly", { timeout: 60_000 }, async () => {
  const user = uid("half-dead");
  const { socket, log } = open(proxy, gw.token(user));
  const errors = [];
  socket.on("error", (e) => errors.push(e));
  try {
    await connected(socket);
    const firstId = socket.id;
    const id = rid();
    socket.emit("send-prompt", { prompt: "!delay:100 !chunks:20 story", requestId: id, stream: true });
    await until(() => log.chunks.length >= 3, "first chunks");
    const back = next(socket, "connect", 20_000);
    assert.ok(proxy.halfCut() > 0, "the client's side was cut");
    await back;
    assert.equal(socket.recovered, true);
    assert.equal(socket.id, firstId);
    await until(() => log.ends.length >= 1, "the terminal event");
    await sleep(300);
    assertWhole(log, id);
    const lines = gw.jsonLogs().filter((l) => l.userId === user);
    assert.ok(lines.some((l) => l.msg === "connection recovered" && l.halfDead === true), "recovered from the current connection");
    assert.ok(!lines.some((l) => l.msg === "replaced by a newer connection"), "not replaced");
    assert.deepEqual(errors.filter((e) => !e.requestId), [], "no SESSION_REPLACED");
  } finally { socket.close(); }
});

describe("what does not recover", () => {
  test("past MAX_DISCONNECTION_MS: a fresh session", { timeout: 30_000 }, async () => {
    const user = uid("late");
    const { socket, log } = open(shortProxy, short.token(user), { reconnection: false });
    try {
      await connected(socket);
      const firstId = socket.id;
      await until(() => log.sessions.length >= 1, "the session event"); // so the client holds an offset
      shortProxy.cut();
      await until(() => !socket.connected, "the disconnect");
      await sleep(2500);
      socket.connect();
      await connected(socket);
      assert.equal(socket.recovered, false);
      assert.notEqual(socket.id, firstId);
      await until(() => log.sessions.length >= 2, "the second session event");
      assert.deepEqual(log.sessions.map((s) => s.recovered), [false, false]);
    } finally { socket.close(); }
  });

  test("sessions the client ended or the server replaced: a fresh session", { timeout: 30_000 }, async () => {
    const user = uid("ended");
    const { socket, log } = open(proxy, gw.token(user), { reconnection: false });
    try {
      await connected(socket);
      const firstId = socket.id;
      socket.disconnect();
      socket.connect();
      await connected(socket);
      assert.equal(socket.recovered, false, "after socket.disconnect()");
      assert.notEqual(socket.id, firstId);
      const secondId = socket.id;
      const kicked = next(socket, "disconnect");
      const newer = open(proxy, gw.token(user), { reconnection: false });
      await connected(newer.socket);
      assert.equal(await kicked, "io server disconnect");
      newer.socket.close();
      socket.connect();
      await connected(socket);
      assert.equal(socket.recovered, false, "after SESSION_REPLACED");
      assert.notEqual(socket.id, secondId);
      assert.ok(log.sessions.every((s) => s.recovered === false));
    } finally { socket.close(); }
  });

  test("a forged pid, another user's pid, an offset of another session: fresh, nothing of anyone else", { timeout: 60_000 }, async () => {
    const alice = uid("alice");
    const bob = uid("bob");
    const a = open(proxy, gw.token(alice), { reconnection: false });
    await connected(a.socket);
    const aliceId = a.socket.id;
    const id = rid();
    a.socket.emit("send-prompt", { prompt: "!delay:60 !chunks:12 secret", requestId: id, stream: true });
    await until(() => a.log.chunks.length >= 2, "alice's chunks");
    const { _pid: pid, _lastOffset: offset } = a.socket;
    assert.ok(typeof pid === "string" && typeof offset === "string", "the client holds a pid and an offset");
    proxy.cut();
    await until(() => !a.socket.connected, "alice's disconnect");
    await sleep(1500); // the rest of alice's stream is kept for her lost connection
    const claims = [
      ["forged pid", alice, { pid: `forged-${RUN}`, offset }],
      ["another user's pid", bob, { pid, offset }],
    ];
    for (const [what, user, claim] of claims) {
      const c = open(proxy, undefined, { placement: "auth", reconnection: false, auth: { token: gw.token(user), ...claim } });
      try {
        await connected(c.socket);
        await sleep(300);
        assert.notEqual(c.socket.id, aliceId, what);
        assert.deepEqual(c.log.sessions.map((s) => [s.userId, s.recovered]), [[user, false]], what);
        assert.deepEqual(c.log.events, ["session"], `${what}: nothing else arrives`);
        assert.equal(c.log.chunks.length, 0, what);
        if (what === "forged pid") {
          // An offset of this other session of alice's, with alice's first pid.
          const other = c.socket._lastOffset;
          c.socket.close();
          const d = open(proxy, undefined, { placement: "auth", reconnection: false, auth: { token: gw.token(alice), pid, offset: other } });
          try {
            await connected(d.socket);
            await sleep(300);
            assert.notEqual(d.socket.id, aliceId, "an offset of another session");
            assert.equal(d.log.sessions[0].recovered, false);
            assert.deepEqual(d.log.events, ["session"], "nothing replayed");
          } finally { d.socket.close(); }
        }
      } finally { c.socket.close(); }
    }
    // Alice's own pid and offset still pick her session up, with everything she missed.
    try {
      a.socket.connect();
      await connected(a.socket);
      assert.equal(a.socket.recovered, true);
      assert.equal(a.socket.id, aliceId);
      await until(() => a.log.ends.length >= 1, "alice's terminal event");
      assertWhole(a.log, id);
    } finally { a.socket.close(); }
  });

  test("an expired token on the recovering CONNECT: TOKEN_EXPIRED", { timeout: 30_000 }, async () => {
    const user = uid("expired");
    let token = gw.token(user);
    const { socket, log } = open(proxy, undefined, { placement: "auth", reconnection: false, auth: (cb) => cb({ token }) });
    try {
      await connected(socket);
      await until(() => log.sessions.length >= 1, "the session event");
      assert.equal(typeof socket._lastOffset, "string", "the client holds an offset");
      proxy.cut();
      await until(() => !socket.connected, "the disconnect");
      token = gw.token(user, -120);
      const refused = next(socket, "connect_error");
      socket.connect();
      const err = await refused;
      assert.equal(err.data?.code, "TOKEN_EXPIRED");
      assert.equal(socket.connected, false);
    } finally { socket.close(); }
  });
});

test("an event pushed while the transport is down counts as offline and is replayed on recovery", { timeout: 60_000 }, async () => {
  const user = uid("pushed-offline");
  const { socket, log } = open(proxy, gw.token(user), { reconnection: false });
  const pushed = [];
  socket.on("job-done", (data) => pushed.push(data));
  const api = (path, body) => fetch(`${gw.url}/api/v1/${path}`, {
    method: body ? "POST" : "GET",
    headers: { Authorization: `Bearer ${PUSH_TOKEN}`, "Content-Type": "application/json" },
    body: body && JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
  try {
    await connected(socket);
    const firstId = socket.id;
    await until(() => log.sessions.length >= 1, "the session event (an offset held)");
    proxy.cut();
    await until(() => !socket.connected, "the client saw its transport go");
    // The user's object notices the lost transport before the push.
    const end = Date.now() + 10_000;
    while ((await api(`users/${user}`)).body.connected) {
      assert.ok(Date.now() < end, "presence still says connected 10 s after the cut");
      await sleep(50);
    }
    const r = await api("emit", { userId: user, event: "job-done", data: { job: 7 } });
    assert.deepEqual(r, { status: 200, body: { delivered: 0, offline: 1 } });
    socket.connect();
    await connected(socket);
    assert.equal(socket.recovered, true);
    assert.equal(socket.id, firstId);
    await until(() => pushed.length >= 1, "the pushed event replayed");
    await sleep(300);
    assert.deepEqual(pushed, [{ job: 7 }], "received once, with its data");
  } finally { socket.close(); }
});

describe("recovery from storage", () => {
  test("after the object hibernated: the missed stream is replayed from storage", { timeout: 60_000 }, async () => {
    const user = uid("hibernated");
    const { socket, log } = open(proxy, gw.token(user), { reconnection: false });
    try {
      await connected(socket);
      const firstId = socket.id;
      const id = rid();
      socket.emit("send-prompt", { prompt: "!delay:80 !chunks:12 dream", requestId: id, stream: true });
      await until(() => log.chunks.length >= 2, "first chunks");
      const cutAt = gw.logs().length;
      proxy.cut();
      // The prompt ends (its last keep-alive alarm up to 5 s later), then the idle object is
      // evicted (about 10 s without events under wrangler dev).
      await sleep(20_000);
      socket.connect();
      await connected(socket);
      assert.equal(socket.recovered, true);
      assert.equal(socket.id, firstId);
      await until(() => log.ends.length >= 1, "the terminal event");
      await sleep(300);
      assertWhole(log, id);
      const since = gw.jsonLogs().filter((l) => l.msg === "restored sessions from storage" && l.userId === user && l.outbox > 0);
      if (!since.length) console.log(gw.logs().slice(cutAt).split("\n").filter((l) => l.includes(user) || !l.includes("userId")).join("\n"));
      assert.ok(since.length >= 1, "the object was rebuilt with its outbox");
    } finally { socket.close(); }
  });

  test("after a restart of the gateway on the same state", { timeout: 120_000 }, async () => {
    const user = uid("restart");
    const { socket, log } = open(proxy, gw.token(user));
    try {
      await connected(socket);
      const firstId = socket.id;
      const id = rid();
      socket.emit("send-prompt", { prompt: "!delay:150 !chunks:200 long", requestId: id, stream: true });
      await until(() => log.chunks.length >= 3, "first chunks");
      await gw.restart();
      await until(() => socket.connected && log.sessions.length >= 2, "the reconnect", 30_000);
      assert.equal(socket.recovered, true);
      assert.equal(socket.id, firstId);
      await until(() => log.ends.length >= 1, "the terminal event");
      await sleep(300);
      const end = assertWhole(log, id);
      assert.equal(end.code, "PROMPT_INTERRUPTED");
    } finally { socket.close(); }
  });

  test("an object written by the previous storage layout (KV keys only) upgrades and keeps its state", { timeout: 120_000 }, async () => {
    const user = uid("upgrade");
    const { socket, log } = open(proxy, gw.token(user));
    try {
      await connected(socket);
      const done = rid();
      const ack = await socket.timeout(5000).emitWithAck("send-prompt", { prompt: "!chunks:2 hi", requestId: done });
      assert.equal(ack.status, "accepted");
      await until(() => log.ends.length >= 1, "the first answer");
      const running = rid();
      socket.emit("send-prompt", { prompt: "!delay:150 !chunks:200 long", requestId: running, stream: true });
      await until(() => log.chunks.length >= 2, "the running prompt's chunks");
      const before = log.sessions.length;
      // The previous version stored only the KV keys `hub`, `forwards` and `s:<sid>`: no table.
      await gw.restart((stateDir) => toPreviousLayout(stateDir));
      await until(() => socket.connected && log.sessions.length > before, "the reconnect", 30_000);
      assert.equal(socket.recovered, false, "nothing to recover from: the previous layout had no outbox");
      await until(() => log.ends.length >= 2, "what the restart interrupted");
      assert.equal(log.ends.find((e) => e.requestId === running)?.code, "PROMPT_INTERRUPTED", "the running prompt was in the stored state");
      const dup = await socket.timeout(5000).emitWithAck("send-prompt", { prompt: "again", requestId: done });
      assert.equal(dup.status, "duplicate", "the remembered request ids were kept");
      const upgraded = () => gw.jsonLogs().some((l) => l.msg === "storage schema upgraded" && l.from === 0 && l.to >= 1);
      await until(upgraded, "the upgrade's log line", 5000).catch((e) => {
        console.log(gw.logs().split("\n").filter((l) => /schema|storage/.test(l)).slice(-20).join("\n"));
        throw e;
      });
      // The upgraded object keeps events for recovery again.
      const id = socket.id;
      const back = next(socket, "connect", 20_000);
      proxy.cut();
      await back;
      assert.equal(socket.recovered, true);
      assert.equal(socket.id, id);
    } finally { socket.close(); }
  });
});

test("with the default configuration nothing changes on the wire", { timeout: 30_000 }, async () => {
  const p = await Poller.open(`${off.url}/socket.io/`, { Authorization: `Bearer ${off.token(uid("off"))}` });
  await p.send(`40${JSON.stringify({ pid: "anything", offset: "1" })}`);
  const [answer] = await p.receive(1);
  assert.match(answer, /^40\{"sid":"[\w-]+"\}$/, "no pid");
  await p.send(`42${JSON.stringify(["send-prompt", { prompt: "hi", requestId: "r-off" }])}`);
  const [response] = await p.receive(1);
  const [event, ...args] = JSON.parse(response.slice(2));
  assert.equal(event, "prompt-response", "no session event before it");
  assert.equal(args.length, 1, "no offset");
  assert.deepEqual(args[0], { requestId: "r-off", prompt: "hi", response: "Echo: hi" });
  await p.send("1");
});

/** Turns every user object's SQLite file under `stateDir` back into the previous layout. */
function toPreviousLayout(stateDir) {
  const script = `
import glob, sqlite3, sys
n = 0
for f in glob.glob(sys.argv[1] + "/**/*.sqlite", recursive=True):
    db = sqlite3.connect(f)
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    if "_cf_KV" not in names:
        continue
    for t in ("outbox", "schema_version"):
        db.execute("DROP TABLE IF EXISTS " + t)
    db.commit(); db.close(); n += 1
print(n)
`;
  const n = Number(execFileSync("python3", ["-c", script, stateDir]).toString().trim());
  assert.ok(n >= 1, "object databases found in the state directory");
}
