// Drives the local Upstash-compatible endpoint with the official SDK and raw HTTP,
// checking what actually landed in Redis through redis-cli.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { Redis } from "@upstash/redis";
import { startRedisServer } from "../support/redis-server.mjs";
import { startUpstashServer } from "../support/upstash-server.mjs";

const execFileAsync = promisify(execFile);
const TOKEN = `test-token-${randomUUID()}`;
const COMPARE_AND_DELETE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

let redisServer;
let endpoint;
let sdk;

before(async () => {
  redisServer = await startRedisServer();
  endpoint = await startUpstashServer({ redisPort: redisServer.port, token: TOKEN });
  sdk = new Redis({ url: endpoint.url, token: TOKEN });
});

after(async () => {
  await endpoint?.stop();
  await redisServer?.stop();
});

const key = (label) => `test:${label}:${randomUUID()}`;

// Raw bytes, so non-ASCII values can be compared exactly.
async function cliBytes(...args) {
  const { stdout } = await execFileAsync(
    "redis-cli",
    ["-h", "127.0.0.1", "-p", String(redisServer.port), "--raw", ...args],
    { encoding: "buffer" },
  );
  return stdout.subarray(0, stdout.at(-1) === 0x0a ? -1 : undefined);
}

async function cli(...args) {
  return (await cliBytes(...args)).toString("utf8");
}

async function call(path, { method = "GET", body, headers = {}, auth = true } = {}) {
  const response = await fetch(`${endpoint.url}${path}`, {
    method,
    body,
    headers: { ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), ...headers },
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) };
}

test("set with ex stores the value and its expiry; get reads it back", async () => {
  const k = key("set-get");
  assert.equal(await sdk.set(k, "first value", { ex: 100 }), "OK");
  assert.equal(await cli("GET", k), "first value");
  const ttl = Number(await cli("TTL", k));
  assert.ok(ttl > 0 && ttl <= 100, `TTL was ${ttl}`);
  await cli("SET", k, "changed behind the SDK's back");
  assert.equal(await sdk.get(k), "changed behind the SDK's back");
});

test("get of a missing key is null", async () => {
  const k = key("missing");
  assert.equal(await cli("EXISTS", k), "0");
  assert.equal(await sdk.get(k), null);
});

test("del removes the key and reports how many were removed", async () => {
  const k = key("del");
  await cli("SET", k, "doomed");
  assert.equal(await sdk.del(k), 1);
  assert.equal(await cli("EXISTS", k), "0");
  assert.equal(await sdk.del(k), 0);
});

test("expire and ttl", async () => {
  const k = key("expire");
  await cli("SET", k, "v");
  assert.equal(await cli("TTL", k), "-1");
  assert.equal(await sdk.expire(k, 50), 1);
  const cliTtl = Number(await cli("TTL", k));
  assert.ok(cliTtl > 0 && cliTtl <= 50, `redis-cli TTL was ${cliTtl}`);
  const sdkTtl = await sdk.ttl(k);
  assert.ok(sdkTtl > 0 && sdkTtl <= 50, `SDK TTL was ${sdkTtl}`);
  assert.equal(await sdk.ttl(key("no-such-key")), -2);
});

test("eval compare-and-delete only deletes when the value matches", async () => {
  const k = key("cad");
  await cli("SET", k, "owner-a");

  assert.equal(await sdk.eval(COMPARE_AND_DELETE, [k], ["owner-b"]), 0);
  assert.equal(await cli("GET", k), "owner-a");

  assert.equal(await sdk.eval(COMPARE_AND_DELETE, [k], ["owner-a"]), 1);
  assert.equal(await cli("EXISTS", k), "0");
});

test("pipeline returns each command's result in order", async () => {
  const text = key("pipe-text");
  const counter = key("pipe-counter");
  const results = await sdk
    .pipeline()
    .set(text, "piped")
    .incr(counter)
    .incrby(counter, 41)
    .get(text)
    .del(key("pipe-missing"))
    .exec();
  assert.deepEqual(results, ["OK", 1, 42, "piped", 0]);
  assert.equal(await cli("GET", text), "piped");
  assert.equal(await cli("GET", counter), "42");
});

test("pipeline reports a failing command on its own and runs the rest", async () => {
  const k = key("pipe-error");
  const later = key("pipe-later");
  const results = await sdk.pipeline().set(k, "not a number").incr(k).set(later, "still ran").exec({
    keepErrors: true,
  });
  assert.equal(results[0].result, "OK");
  assert.match(results[1].error, /^ERR value is not an integer/);
  assert.equal(results[2].result, "OK");
  assert.equal(await cli("GET", k), "not a number");
  assert.equal(await cli("GET", later), "still ran");
});

test("multi/exec runs the commands atomically and returns their results", async () => {
  const text = key("multi-text");
  const counter = key("multi-counter");
  await cli("SET", counter, "9");
  const results = await sdk.multi().set(text, "in a transaction").incr(counter).get(text).exec();
  assert.deepEqual(results, ["OK", 10, "in a transaction"]);
  assert.equal(await cli("GET", text), "in a transaction");
  assert.equal(await cli("GET", counter), "10");
});

test("multi/exec: a runtime error fails that command only, like Redis; the SDK throws", async () => {
  const k = key("multi-runtime");
  const later = key("multi-later");
  await assert.rejects(
    sdk.multi().set(k, "abc").incr(k).set(later, "applied anyway").exec(),
    /Command 2 \[ incr \] failed: ERR value is not an integer/,
  );
  assert.equal(await cli("GET", k), "abc");
  assert.equal(await cli("GET", later), "applied anyway");
});

test("multi/exec: a command rejected while queueing discards the whole transaction", async () => {
  const k = key("multi-discard");
  const { status, body } = await call("/multi-exec", {
    method: "POST",
    body: JSON.stringify([["SET", k, "never"], ["NO-SUCH-COMMAND", "x"]]),
  });
  assert.equal(status, 400);
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.match(body.error, /unknown command/i);
  assert.equal(await cli("EXISTS", k), "0");
});

test("objects round-trip through JSON", async () => {
  const k = key("json");
  const value = { name: "room-7", members: [1, 2, 3], nested: { active: true, note: null } };
  assert.equal(await sdk.set(k, value), "OK");
  assert.deepEqual(JSON.parse(await cli("GET", k)), value);
  assert.deepEqual(await sdk.get(k), value);
});

test("non-ASCII strings keep their exact UTF-8 bytes through the base64 path", async () => {
  const k = key("unicode");
  const value = "héllo wörld — 日本語 🚀";
  assert.equal(await sdk.set(k, value), "OK");
  assert.deepEqual(await cliBytes("GET", k), Buffer.from(value, "utf8"));
  assert.equal(await sdk.get(k), value);

  // The SDK asked for base64; show what travelled on the wire.
  const encoded = await call(`/get/${encodeURIComponent(k)}`, { headers: { "Upstash-Encoding": "base64" } });
  assert.equal(encoded.body.result, Buffer.from(value, "utf8").toString("base64"));
  const plain = await call(`/get/${encodeURIComponent(k)}`);
  assert.equal(plain.body.result, value);
});

test("base64 encoding leaves a top-level OK, numbers and null alone and encodes nested strings", async () => {
  const a = key("b64-a");
  const n = key("b64-n");
  const headers = { "Upstash-Encoding": "base64" };
  const set = await call("/", { method: "POST", headers, body: JSON.stringify(["SET", a, "OK"]) });
  assert.deepEqual(set.body, { result: "OK" });
  await cli("SET", n, "5");
  const pipeline = await call("/pipeline", {
    method: "POST",
    headers,
    body: JSON.stringify([["GET", a], ["INCR", n], ["MGET", a, n, key("b64-missing")], ["PING"]]),
  });
  assert.equal(pipeline.status, 200);
  const b64 = (s) => Buffer.from(s).toString("base64");
  assert.deepEqual(pipeline.body, [
    { result: b64("OK") }, // a stored "OK" is data, not the status reply
    { result: 6 },
    { result: [b64("OK"), b64("6"), null] },
    { result: b64("PONG") },
  ]);

  // A status reply nested in an array is encoded: the SDK base64-decodes every array element.
  const script = `return {redis.call("SET", KEYS[1], ARGV[1]), redis.call("GET", KEYS[1])}`;
  const nested = await call("/", { method: "POST", headers, body: JSON.stringify(["EVAL", script, 1, a, "ü"]) });
  assert.deepEqual(nested.body, { result: [b64("OK"), b64("ü")] });
  assert.deepEqual(await sdk.eval(script, [a], ["ünïcode"]), ["OK", "ünïcode"]);
  assert.equal(await cli("GET", a), "ünïcode");
});

test("the SDK surfaces a Redis error as a thrown error", async () => {
  const k = key("incr-error");
  await cli("SET", k, "not a number");
  await assert.rejects(sdk.incr(k), /ERR value is not an integer or out of range/);
  assert.equal(await cli("GET", k), "not a number");
});

test("a Redis error for a single command is HTTP 400 with the Redis message", async () => {
  const k = key("wrongtype");
  await cli("SET", k, "string");
  const { status, body } = await call("/", { method: "POST", body: JSON.stringify(["LPUSH", k, "x"]) });
  assert.equal(status, 400);
  assert.match(body.error, /^WRONGTYPE /);
  assert.equal(await cli("TYPE", k), "string");
});

test("malformed JSON and non-array bodies are HTTP 400", async () => {
  for (const [path, body] of [
    ["/", "{not json"],
    ["/", JSON.stringify({ command: "GET" })],
    ["/", "[]"],
    ["/pipeline", JSON.stringify([["PING"], "GET"])],
    ["/multi-exec", JSON.stringify({})],
  ]) {
    const response = await call(path, { method: "POST", body });
    assert.equal(response.status, 400, `${path} ${body}`);
    assert.equal(typeof response.body.error, "string", `${path} ${body}`);
  }
});

test("a missing token is rejected with 401", async () => {
  const k = key("auth-missing");
  const { status, body } = await call(`/set/${encodeURIComponent(k)}/v`, { auth: false });
  assert.equal(status, 401);
  assert.deepEqual(body, { error: "Unauthorized" });
  assert.equal(await cli("EXISTS", k), "0");
});

test("a wrong token is rejected with 401", async () => {
  const k = key("auth-wrong");
  const { status, body } = await call(`/set/${encodeURIComponent(k)}/v`, {
    auth: false,
    headers: { authorization: `Bearer ${TOKEN}-nope` },
  });
  assert.equal(status, 401);
  assert.deepEqual(body, { error: "Unauthorized" });
  const viaQuery = await call(`/set/${encodeURIComponent(k)}/v?_token=wrong`, { auth: false });
  assert.equal(viaQuery.status, 401);
  assert.equal(await cli("EXISTS", k), "0");
});

test("the _token query parameter authenticates", async () => {
  const k = key("auth-query");
  await cli("SET", k, "from query auth");
  const { status, body } = await call(`/get/${encodeURIComponent(k)}?_token=${encodeURIComponent(TOKEN)}`, {
    auth: false,
  });
  assert.equal(status, 200);
  assert.deepEqual(body, { result: "from query auth" });
});

test("path form: URL-decoded segments, POST body as the value, query parameters as trailing arguments", async () => {
  const k = key("path form/with spaces");
  const set = await call(`/set/${encodeURIComponent(k)}/${encodeURIComponent("a/b c?")}`);
  assert.deepEqual(set.body, { result: "OK" });
  assert.equal(await cli("GET", k), "a/b c?");

  const got = await call(`/get/${encodeURIComponent(k)}`);
  assert.deepEqual(got, { status: 200, body: { result: "a/b c?" } });

  const posted = await call(`/set/${encodeURIComponent(k)}?EX=100`, { method: "POST", body: "posted välue" });
  assert.deepEqual(posted.body, { result: "OK" });
  assert.equal(await cli("GET", k), "posted välue");
  const ttl = Number(await cli("TTL", k));
  assert.ok(ttl > 0 && ttl <= 100, `TTL was ${ttl}`);
});

test("delayMs / setDelay hold back every response", async () => {
  const k = key("delay");
  await cli("SET", k, "slow");
  endpoint.setDelay(600);
  try {
    const started = performance.now();
    const { body } = await call(`/get/${encodeURIComponent(k)}`);
    assert.equal(body.result, "slow");
    assert.ok(performance.now() - started >= 590, "response came back before the delay");
  } finally {
    endpoint.setDelay(0);
  }
  const started = performance.now();
  await call(`/get/${encodeURIComponent(k)}`);
  assert.ok(performance.now() - started < 500, "delay was not reset");

  const slow = await startUpstashServer({ redisPort: redisServer.port, token: TOKEN, delayMs: 300 });
  try {
    const begun = performance.now();
    const response = await fetch(`${slow.url}/get/${encodeURIComponent(k)}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.deepEqual(await response.json(), { result: "slow" });
    assert.ok(performance.now() - begun >= 290, "delayMs option was ignored");
  } finally {
    await slow.stop();
  }
});

// Last: it replaces the Redis process.
test("Redis down gives a quick 500, and the endpoint recovers once Redis is back", async () => {
  const k = key("outage");
  const { port, pid } = redisServer;
  await redisServer.stop();
  assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });

  const started = performance.now();
  const down = await call(`/get/${encodeURIComponent(k)}`);
  assert.equal(down.status, 500);
  assert.match(down.body.error, /unavailable|ECONNREFUSED/);
  assert.ok(performance.now() - started < 2000, "the outage response was not quick");
  await assert.rejects(sdk.get(k), /unavailable/);

  redisServer = await startRedisServer({ port });
  assert.equal(redisServer.port, port);
  await cli("SET", k, "back again");
  const up = await call(`/get/${encodeURIComponent(k)}`);
  assert.deepEqual(up, { status: 200, body: { result: "back again" } });
  assert.equal(await sdk.get(k), "back again");
});
