// The Redis mirror of each user's live connection (`ws:user:connection:<user-id>` = socket.id),
// written through the Upstash-compatible endpoint and read back from redis-server with redis-cli.
// Writes happen in the background, so every check polls Redis within a bound.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { startGateway } from "../support/gateway.mjs";
import { startRedisServer } from "../support/redis-server.mjs";
import { startUpstashServer } from "../support/upstash-server.mjs";
import { withToken, connect, next, ask, sleep } from "../support/client.mjs";
import { redisAt, pollUntil } from "../support/redis-cli.mjs";

const PREFIX = "ws:user:connection:";
const WS = { transports: ["websocket"] };
const REST_TOKEN = `rest-token-${randomUUID()}`;
// Every user id is unique to this run, so leftovers of another run can never satisfy a check.
const RUN = randomUUID().slice(0, 8);
const user = (label) => `${label}-${RUN}`;
const keyOf = (u) => `${PREFIX}${u}`;
const WRITE_MS = 5000;

let redisServer;
let redis;
let endpoint;

before(async () => {
  redisServer = await startRedisServer();
  redis = redisAt(redisServer.port);
  endpoint = await startUpstashServer({ redisPort: redisServer.port, token: REST_TOKEN });
});

after(async () => {
  await endpoint?.stop();
  await redisServer?.stop();
});

const mirrorVars = (ep, extra = {}) => ({ UPSTASH_REDIS_REST_URL: ep.url, UPSTASH_REDIS_REST_TOKEN: REST_TOKEN, ...extra });
const open = (gw, u, placement = "header") => connect(gw.url, withToken(placement, gw.token(u), WS));



/** Error lines the gateway logged about the mirror, optionally for one user. */
const mirrorErrors = (gw, u) =>
  gw.jsonLogs().filter((l) => l.level === 50 && /redis mirror/i.test(l.msg ?? "") && (u === undefined || l.userId === u));

const tail = (gw, n = 2500) => `\n--- gateway log tail ---\n${gw.logs().slice(-n)}`;

/** Waits until `key` holds `value` (null: is gone) and fails with what Redis last held. */
async function expectKey(r, key, value, gw, timeoutMs = WRITE_MS) {
  const res = await pollUntil(() => r.get(key), (v) => v === value, { timeoutMs, intervalMs: 50 });
  assert.ok(
    res.ok,
    `${key} should hold ${JSON.stringify(value)} within ${timeoutMs} ms; Redis held ${JSON.stringify(res.value)}${tail(gw)}`,
  );
  return res.elapsedMs;
}

describe("mirror with the default TTL", () => {
  let gw;
  before(async () => { gw = await startGateway({ vars: mirrorVars(endpoint) }); });
  after(async () => { await gw?.stop(); });

  test("after connect the key holds socket.id with a TTL of about an hour", async () => {
    const u = user("connect");
    const s = await open(gw, u);
    try {
      assert.equal(typeof s.id, "string");
      await expectKey(redis, keyOf(u), s.id, gw);
      const ttl = await redis.ttl(keyOf(u));
      assert.ok(ttl > 3500 && ttl <= 3600, `TTL ${ttl} should be in (3500, 3600]`);
      assert.equal((await ask(s, "mirrored")).response, "Echo: mirrored");
    } finally { s.close(); }
  });

  test("a second connection of the same user replaces the first in Redis", async () => {
    const u = user("replace");
    const a = await open(gw, u);
    const b = await open(gw, u, "auth");
    try {
      assert.notEqual(a.id, b.id);
      await expectKey(redis, keyOf(u), b.id, gw);
    } finally { a.close(); b.close(); }
  });

  test("after the last disconnect the key is gone", async () => {
    const u = user("leave");
    const s = await open(gw, u);
    await expectKey(redis, keyOf(u), s.id, gw);
    s.close();
    await expectKey(redis, keyOf(u), null, gw);
  });

  test("a replaced connection's cleanup leaves the successor's key alone", async () => {
    const u = user("successor");
    const a = await open(gw, u);
    await expectKey(redis, keyOf(u), a.id, gw);
    const kicked = next(a, "disconnect");
    const b = await open(gw, u);
    try {
      assert.equal(await kicked, "io server disconnect");
      a.close();
      await expectKey(redis, keyOf(u), b.id, gw);
      // Watch long enough for any cleanup of the replaced connection to have landed.
      const deadline = performance.now() + 2500;
      while (performance.now() < deadline) {
        const v = await redis.get(keyOf(u));
        assert.equal(v, b.id, `the successor's key was changed to ${JSON.stringify(v)}${tail(gw)}`);
        await sleep(100);
      }
      assert.ok(b.connected);
    } finally { a.close(); b.close(); }
    await expectKey(redis, keyOf(u), null, gw);
  });

  test("connections the user's object refused write nothing", async () => {
    const mismatch = user("refused-mismatch");
    const other = user("refused-other");
    const nsp = user("refused-nsp");
    // The header routes to one user's object, the CONNECT payload names another: refused there.
    await assert.rejects(
      connect(gw.url, withToken("header", gw.token(mismatch), { ...WS, auth: { token: gw.token(other) } })),
      (err) => { assert.equal(err.data?.code, "TOKEN_MISMATCH"); return true; },
    );
    // A valid token, but a namespace the gateway does not serve.
    await assert.rejects(connect(`${gw.url}/not-served`, withToken("header", gw.token(nsp), WS)), /Invalid namespace/);
    await sleep(1500);
    for (const u of [mismatch, other, nsp]) {
      assert.deepEqual(await redis.keys(`${keyOf(u)}*`), [], `nothing should be written for ${u}${tail(gw)}`);
    }
    // The same user, once accepted, is mirrored: the check above could see a write.
    const s = await open(gw, nsp);
    try { await expectKey(redis, keyOf(nsp), s.id, gw); } finally { s.close(); }
  });
});

describe("mirror with REDIS_KEY_TTL_SECONDS=5", () => {
  let gw;
  before(async () => { gw = await startGateway({ vars: mirrorVars(endpoint, { REDIS_KEY_TTL_SECONDS: "5" }) }); });
  after(async () => { await gw?.stop(); });

  test("a connection outliving the TTL keeps its key, refreshed and never above 5 s", async () => {
    const u = user("refresh");
    const s = await open(gw, u);
    try {
      await expectKey(redis, keyOf(u), s.id, gw);
      const start = performance.now();
      const pttls = [];
      while (performance.now() - start < 8000) {
        const [v, pttl] = [await redis.get(keyOf(u)), await redis.pttl(keyOf(u))];
        const at = Math.round(performance.now() - start);
        assert.equal(v, s.id, `at ${at} ms the key held ${JSON.stringify(v)}${tail(gw)}`);
        assert.ok(pttl > 0 && pttl <= 5000, `at ${at} ms PTTL was ${pttl}`);
        pttls.push(pttl);
        await sleep(200);
      }
      assert.ok(s.connected);
      // A refresh shows as the remaining time going up again between two reads.
      assert.ok(pttls.some((p, i) => i > 0 && p > pttls[i - 1]), `PTTL never went up: ${pttls.join(",")}`);
    } finally { s.close(); }
    await expectKey(redis, keyOf(u), null, gw);
  });
});

describe("faults", () => {
  describe("redis-server down, then back on the same port", () => {
    let ownRedis;
    let ownEndpoint;
    let gw;
    before(async () => {
      ownRedis = await startRedisServer();
      ownEndpoint = await startUpstashServer({ redisPort: ownRedis.port, token: REST_TOKEN });
      gw = await startGateway({ vars: mirrorVars(ownEndpoint) });
    });
    after(async () => {
      await gw?.stop();
      await ownEndpoint?.stop();
      await ownRedis?.stop();
    });

    test("connects and prompts work, retries back off up to 5 s, and the key appears after recovery", async () => {
      const port = ownRedis.port;
      const r = redisAt(port);
      await ownRedis.stop();
      const u = user("outage");
      const s = await open(gw, u);
      try {
        assert.equal((await ask(s, "redis is down")).response, "Echo: redis is down");
        const logged = await pollUntil(() => mirrorErrors(gw, u), (l) => l.length > 0, { timeoutMs: WRITE_MS });
        assert.ok(logged.ok, `no level-50 redis mirror error for ${u}${tail(gw)}`);

        // Six failed attempts: 1 + the backoff steps before the 5 s cap is reached.
        const failures = await pollUntil(() => mirrorErrors(gw, u), (l) => l.length >= 6, { timeoutMs: 25_000, intervalMs: 200 });
        const times = failures.value.map((l) => l.time);
        assert.ok(failures.ok, `only ${times.length} failed attempts logged in 25 s${tail(gw)}`);
        const gaps = times.slice(1).map((t, i) => t - times[i]);
        console.log(`observed: mirror retry gaps during outage (ms): ${gaps.join(", ")}`);
        for (const g of gaps) assert.ok(g <= 5800, `a retry came ${g} ms after the previous one (cap 5 s): ${gaps.join(", ")}`);
        assert.ok(gaps.at(-1) >= 4000, `retries do not back off towards 5 s: ${gaps.join(", ")}`);
        assert.ok(s.connected, "the client stayed connected through the outage");
        assert.equal((await ask(s, "still down")).response, "Echo: still down");

        ownRedis = await startRedisServer({ port });
        const t0 = performance.now();
        const res = await pollUntil(() => r.get(keyOf(u)), (v) => v === s.id, { timeoutMs: 8000, intervalMs: 50 });
        const recoveredMs = Math.round(performance.now() - t0);
        assert.ok(res.ok, `key not written within 8 s of redis-server's return; Redis held ${JSON.stringify(res.value)}${tail(gw)}`);
        console.log(`observed: mirror key reappeared ${recoveredMs} ms after redis-server came back (no client action)`);
        assert.ok(recoveredMs <= 6500, `recovery took ${recoveredMs} ms, more than the 5 s backoff cap allows`);
        const ttl = await r.ttl(keyOf(u));
        assert.ok(ttl > 3500 && ttl <= 3600, `TTL after recovery ${ttl}`);
      } finally { s.close(); }
    });
  });

  describe("a slow endpoint", () => {
    let slowEndpoint;
    let gw;
    before(async () => {
      slowEndpoint = await startUpstashServer({ redisPort: redisServer.port, token: REST_TOKEN });
      gw = await startGateway({ vars: mirrorVars(slowEndpoint) });
    });
    after(async () => {
      await gw?.stop();
      await slowEndpoint?.stop();
    });

    test("connects and prompts do not wait for a reply held back 4 s, and the write still lands", async () => {
      // Had a connect or a prompt waited for its mirror write, it would take at least HELD ms.
      // (What the delay costs in figures is measured by ./scripts/bench.)
      const HELD = 4000;
      slowEndpoint.setDelay(HELD);
      const u = user("slow-key");
      try {
        const t0 = performance.now();
        const s = await open(gw, u);
        const connectMs = performance.now() - t0;
        try {
          const t1 = performance.now();
          assert.equal((await ask(s, "slow redis")).response, "Echo: slow redis");
          const askMs = performance.now() - t1;
          assert.ok(connectMs < HELD, `the connect took ${connectMs.toFixed(0)} ms with replies held ${HELD} ms`);
          assert.ok(askMs < HELD, `a prompt took ${askMs.toFixed(0)} ms with replies held ${HELD} ms`);
          await expectKey(redis, keyOf(u), s.id, gw, 8000);
          assert.equal(mirrorErrors(gw, u).length, 0, `a held reply within the 5 s timeout is no error${tail(gw)}`);
        } finally { s.close(); }
      } finally { slowEndpoint.setDelay(0); }
    });

    test("a reply held longer than 5 s times the write out, logged, and it is retried", async () => {
      slowEndpoint.setDelay(9000);
      const u = user("timeout");
      let s;
      try {
        const t0 = Date.now();
        s = await open(gw, u);
        const logged = await pollUntil(() => mirrorErrors(gw, u), (l) => l.length > 0, { timeoutMs: 8500, intervalMs: 100 });
        assert.ok(logged.ok, `no mirror error within 8.5 s while replies were held 9 s${tail(gw)}`);
        const after = logged.value[0].time - t0;
        assert.ok(after >= 4500, `the write was given up after ${after} ms, before its 5 s timeout`);
        assert.match(JSON.stringify(logged.value[0]), /no answer within 5000 ms/);
        assert.ok(s.connected);
      } finally { slowEndpoint.setDelay(0); }
      try {
        // The retry (with the endpoint answering again) leaves the key right.
        await expectKey(redis, keyOf(u), s.id, gw, 8000);
      } finally { s.close(); }
      await expectKey(redis, keyOf(u), null, gw, 15_000);
    });
  });

  describe("a wrong REST token", () => {
    const WRONG = `wrong-${randomUUID()}`;
    let gw;
    before(async () => {
      gw = await startGateway({ vars: mirrorVars(endpoint, { UPSTASH_REDIS_REST_TOKEN: WRONG }) });
    });
    after(async () => { await gw?.stop(); });

    test("connects and prompts work, the error is logged and nothing is written", async () => {
      const u = user("wrong-token");
      const s = await open(gw, u);
      try {
        assert.equal((await ask(s, "unauthorized redis")).response, "Echo: unauthorized redis");
        const logged = await pollUntil(() => mirrorErrors(gw, u), (l) => l.length > 0, { timeoutMs: WRITE_MS });
        assert.ok(logged.ok, `no level-50 redis mirror error for ${u}${tail(gw)}`);
        assert.match(JSON.stringify(logged.value[0]), /401|unauthori[sz]ed/i);
        assert.ok(!gw.logs().includes(WRONG), "the REST token appears in the gateway's output");
        assert.deepEqual(await redis.keys(`${keyOf(u)}*`), []);
        assert.ok(s.connected);
      } finally { s.close(); }
      // Still serving afterwards.
      const again = await open(gw, user("wrong-token-2"));
      try { assert.equal((await ask(again, "again")).response, "Echo: again"); } finally { again.close(); }
    });
  });
});

describe("many connections", () => {
  let gw;
  before(async () => { gw = await startGateway({ vars: mirrorVars(endpoint) }); });
  after(async () => { await gw?.stop(); });

  test("twenty users: every key appears with its socket id, and every key goes when they leave", async () => {
    const us = Array.from({ length: 20 }, (_, i) => user(`many-${i}`));
    const sockets = [];
    try {
      for (const u of us) sockets.push(await open(gw, u));
      // First the writes must have happened, or "nothing is left" below would prove nothing.
      for (const [i, u] of us.entries()) await expectKey(redis, keyOf(u), sockets[i].id, gw);
      assert.equal((await redis.keys(`${PREFIX}many-*-${RUN}`)).length, 20);
    } finally { sockets.forEach((s) => s.close()); }
    const left = await pollUntil(() => redis.keys(`${PREFIX}many-*-${RUN}`), (k) => k.length === 0, { timeoutMs: WRITE_MS });
    assert.ok(left.ok, `keys left behind: ${left.value}`);
    assert.equal(mirrorErrors(gw).length, 0, `mirror errors${tail(gw)}`);
  });
});

describe("REDIS_URL with REDIS_PASSWORD, and REDIS_KEY_PREFIX", () => {
  const prefix = `custom:${RUN}:`;
  let gw;
  before(async () => {
    gw = await startGateway({ vars: { REDIS_URL: endpoint.url, REDIS_PASSWORD: REST_TOKEN, REDIS_KEY_PREFIX: prefix } });
  });
  after(async () => { await gw?.stop(); });

  test("the key is written under the prefix through the REDIS_URL endpoint, and removed", async () => {
    const u = user("redis-url");
    const s = await open(gw, u);
    try {
      await expectKey(redis, `${prefix}${u}`, s.id, gw);
      assert.equal(await redis.get(keyOf(u)), null, "nothing under the default prefix");
    } finally { s.close(); }
    await expectKey(redis, `${prefix}${u}`, null, gw);
    assert.equal(mirrorErrors(gw).length, 0, `mirror errors${tail(gw)}`);
    assert.ok(!gw.logs().includes(REST_TOKEN), "REDIS_PASSWORD appears in the gateway's output");
  });
});
