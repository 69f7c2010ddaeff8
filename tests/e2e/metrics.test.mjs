// Metrics end to end: counts made in user objects, gates and the Worker reach the metrics
// objects and the endpoint exactly (parsed with a real Prometheus text parser), the gauge
// returns to zero, the token rules (401/404, dev mode), and the dashboard in Chromium.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import parsePrometheus from "parse-prometheus-text-format";
import { startGateway } from "../support/gateway.mjs";
import { connect, next, withToken, sleep } from "../support/client.mjs";
import { launchChromium } from "../support/browser.mjs";

const TOKEN = "metrics-token-for-tests-0123456789";
const FLUSH_MS = 200;
let gw;      // METRICS_TOKEN set, fast flushes, a small handshake limit
let closed;  // METRICS_TOKEN unset
let dev;     // dev mode, no token
const tmp = mkdtempSync(join(tmpdir(), "metrics-test-"));

before(async () => {
  [gw, closed, dev] = await Promise.all([
    startGateway({ vars: { METRICS_TOKEN: TOKEN, METRICS_FLUSH_MS: String(FLUSH_MS), HANDSHAKE_LIMIT_PER_10S: "2" } }),
    startGateway({ vars: {} }),
    startGateway({ vars: { GATEWAY_DEV: "1", METRICS_FLUSH_MS: String(FLUSH_MS) } }),
  ]);
});

after(async () => {
  await Promise.all([gw?.stop(), closed?.stop(), dev?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

async function scrape(g, token = TOKEN) {
  const headers = token === null ? {} : { Authorization: `Bearer ${token}` };
  return fetch(`${g.url}/api/v1/metrics`, { headers });
}

/** The endpoint parsed by parse-prometheus-text-format, as a lookup of sample values. */
async function read(g, token) {
  const resp = await scrape(g, token);
  assert.equal(resp.status, 200);
  assert.match(resp.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheus(await resp.text());
  const byName = new Map(families.map((f) => [f.name, f]));
  const value = (name, labels = {}) => {
    const f = byName.get(name);
    assert.ok(f, `${name} is exposed`);
    const m = f.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
    return m ? Number(m.value) : 0;
  };
  return { families, byName, value };
}

/** Reads until `check` passes (the counts arrive within a flush interval or two), then once more. */
async function settled(g, check, ms = 10_000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    last = await read(g);
    try { check(last); return last; } catch (e) { if (Date.now() + 100 >= until) throw e; }
    await sleep(100);
  }
  check(last);
  return last;
}

const users = [];
const direct = (user) => withToken("header", gw.token(user), { transports: ["websocket"] });

describe("counts reach the endpoint exactly", () => {
  test("connects, a replacement, refusals, prompts and the gauge", async () => {
    const N = 3;
    for (let i = 0; i < N; i++) users.push(await connect(gw.url, direct(`metrics-user-${i}`)));
    const replaced = next(users[0], "disconnect");
    users[0] = await connect(gw.url, direct("metrics-user-0"));
    assert.equal(await replaced, "io server disconnect");

    // A refused token, answered by a gate behind the relay (a tokenless handshake: 1 of 2).
    await assert.rejects(
      connect(gw.url, withToken("auth", "not-a-jwt", { transports: ["websocket"] })),
      (e) => e.data?.code === "TOKEN_INVALID",
    );
    // Two more tokenless handshakes: the second is over HANDSHAKE_LIMIT_PER_10S=2.
    const hs = [];
    for (let i = 0; i < 2; i++) hs.push((await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling`)).status);
    assert.deepEqual(hs, [200, 429]);

    const M = 5;
    for (let i = 0; i < M; i++) {
      const s = users[i % N];
      const answer = next(s, "prompt-response");
      s.emit("send-prompt", { prompt: `hello ${i}` });
      await answer;
    }
    const refusal = next(users[1], "error");
    users[1].emit("send-prompt", { prompt: "   " });
    assert.equal((await refusal).code, "INVALID_PROMPT");

    const m = await settled(gw, ({ value }) => {
      assert.equal(value("gateway_prompts_total", { outcome: "INVALID_PROMPT" }), 1);
      assert.equal(value("gateway_rate_limited_total", { kind: "handshake" }), 1);
      assert.equal(value("gateway_connects_total", { result: "TOKEN_INVALID" }), 1);
      assert.equal(value("gateway_prompts_total", { outcome: "OK" }), M);
      assert.equal(value("gateway_connections_active"), N);
    });
    assert.equal(m.value("gateway_connects_total", { result: "ok" }), N + 1);
    assert.equal(m.value("gateway_replacements_total"), 1);
    assert.equal(m.value("gateway_disconnects_total", { reason: "replaced" }), 1);
    assert.equal(m.value("gateway_rate_limited_total", { kind: "prompt" }), 0);
    const dur = m.byName.get("gateway_prompt_duration_seconds");
    assert.equal(dur.type, "HISTOGRAM");
    assert.equal(Number(dur.metrics[0].count), M);
    assert.equal(Number(dur.metrics[0].buckets["+Inf"]), M);
    assert.ok(Number(dur.metrics[0].sum) >= 0);
    // Buckets are cumulative and end at the count.
    const counts = Object.values(dur.metrics[0].buckets).map(Number);
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b));
    // Every family of the contract, with its type.
    const types = Object.fromEntries(m.families.map((f) => [f.name, f.type]));
    assert.deepEqual(types, {
      gateway_connections_active: "GAUGE",
      gateway_connects_total: "COUNTER",
      gateway_disconnects_total: "COUNTER",
      gateway_replacements_total: "COUNTER",
      gateway_recoveries_total: "COUNTER",
      gateway_prompts_total: "COUNTER",
      gateway_prompt_duration_seconds: "HISTOGRAM",
      gateway_prompt_first_chunk_seconds: "HISTOGRAM",
      gateway_rate_limited_total: "COUNTER",
      gateway_mirror_failures_total: "COUNTER",
      gateway_pushes_total: "COUNTER",
    });
  });

  test("the dashboard charts the figures in Chromium", async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${gw.url}/dashboard?every=300#token=${TOKEN}`, { timeout: 15_000 });
      try {
        await page.waitForFunction(() => Number(document.body.dataset.polls) >= 3, null, { timeout: 15_000 });
      } catch (e) {
        const status = await page.textContent("#status").catch(() => "?");
        throw new Error(`the page did not poll 3 times: status ${JSON.stringify(status)}, errors ${JSON.stringify(errors)}`);
      }
      const m = await read(gw);
      const shown = await page.evaluate(() => ({
        connections: document.querySelector("#connections").dataset.value,
        connects: document.querySelector("#connects").dataset.value,
        prompts: document.querySelector("#prompts").dataset.value,
        p50: document.querySelector("#p50").textContent,
        outcomes: document.querySelector("#tableOutcomes").innerText,
        hash: location.hash,
      }));
      assert.equal(Number(shown.connections), m.value("gateway_connections_active"));
      assert.equal(Number(shown.connects), m.byName.get("gateway_connects_total").metrics.reduce((a, s) => a + Number(s.value), 0));
      assert.equal(Number(shown.prompts), 6);
      assert.match(shown.p50, /ms|s$/);
      assert.match(shown.outcomes, /OK\s+5/);
      assert.equal(shown.hash, "", "the token left the address bar");
      // The charts drew something: the connections chart's canvas has opaque pixels.
      const drawn = await page.evaluate(() => {
        const c = document.querySelector("#chartConnections canvas");
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n;
      });
      assert.ok(drawn > 100, `the chart drew ${drawn} pixels`);
      const shot = join(tmp, "dashboard.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });

  test("the gauge returns to zero after everyone leaves", async () => {
    await Promise.all(users.map((s) => { const d = next(s, "disconnect"); s.disconnect(); return d; }));
    const m = await settled(gw, ({ value }) => assert.equal(value("gateway_connections_active"), 0));
    assert.equal(m.value("gateway_disconnects_total", { reason: "client_disconnect" }), 3);
    assert.equal(m.value("gateway_disconnects_total", { reason: "replaced" }), 1);
    // Nothing more arrives later: the counts stay exact.
    await sleep(3 * FLUSH_MS);
    const again = await read(gw);
    assert.equal(again.value("gateway_connects_total", { result: "ok" }), 4);
    assert.equal(again.value("gateway_disconnects_total", { reason: "client_disconnect" }), 3);
  });
});

describe("who may read the metrics", () => {
  test("a wrong or missing token gets 401; the right one 200", async () => {
    for (const t of [null, "", "wrong", TOKEN.slice(0, -1), `${TOKEN}x`]) {
      const r = await scrape(gw, t);
      assert.equal(r.status, 401, `token ${JSON.stringify(t)}`);
      assert.equal(r.headers.get("www-authenticate"), "Bearer");
      assert.doesNotMatch(await r.text(), /gateway_/);
    }
    const r = await fetch(`${gw.url}/api/v1/metrics`, { headers: { Authorization: `Basic ${TOKEN}` } });
    assert.equal(r.status, 401);
    assert.equal((await scrape(gw)).status, 200);
  });

  test("a client cannot reach the metrics shards' own paths", async () => {
    for (const path of ["/__gateway/metrics/snapshot", "/__gateway/metrics/exposition"]) {
      assert.equal((await fetch(`${gw.url}${path}`)).status, 404, path);
    }
    const forged = await fetch(`${gw.url}/__gateway/metrics/flush`, {
      method: "POST",
      body: JSON.stringify({ source: "x", batch: { e: 1, s: 1, d: { c: { "gateway_connects_total/ok": 1000 } } } }),
    });
    assert.equal(forged.status, 404);
    const m = await read(gw);
    assert.equal(m.value("gateway_connects_total", { result: "ok" }), 4);
  });

  test("without METRICS_TOKEN the endpoint and the dashboard are 404", async () => {
    assert.equal((await scrape(closed, "anything")).status, 404);
    assert.equal((await scrape(closed, null)).status, 404);
    assert.equal((await fetch(`${closed.url}/dashboard`)).status, 404);
    assert.equal((await fetch(`${closed.url}/dashboard/uPlot.iife.min.js`)).status, 404);
  });

  test("dev mode serves both without a token", async () => {
    const s = await connect(dev.url, withToken("header", dev.token("dev-metrics"), { transports: ["websocket"] }));
    try {
      const m = await settled(dev, ({ value }) => assert.equal(value("gateway_connections_active"), 1));
      assert.equal(m.value("gateway_connects_total", { result: "ok" }), 1);
    } finally {
      s.disconnect();
    }
    const page = await fetch(`${dev.url}/dashboard`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /uPlot\.iife\.min\.js/);
    const lib = await fetch(`${dev.url}/dashboard/uPlot.iife.min.js`);
    assert.equal(lib.status, 200);
    assert.match(await lib.text(), /uPlot/);
  });
});
