// Prints the gateway's figures, every one the README quotes, measured against the built Worker
// under `wrangler dev --local` (run ./scripts/build-worker first, or use ./scripts/bench):
// wasm size; prompt round trips on a direct and on a relayed WebSocket; the same with history on
// and off (bench/history.mjs); connect times by route;
// connect times with the Redis mirror on and off and with a slow REST endpoint; how long the
// mirror key takes to come back after redis-server restarts; last, the gateway against the
// runtime's floor (bench/floor.mjs; needs bench/floor/build/, see ./scripts/build-floor).
//   node bench/bench.mjs [--prompts 1000] [--connects 100] [--mirror-connects 200] [--slow-connects 40] [--restarts 3] [--warmup 20]
//     [--floor-prompts 1000] [--floor-users 50] [--floor-per-user 200] [--floor-poll 100] [--floor-poll-users 10] [--floor-runs 3]
//   node bench/bench.mjs --floor [...]   only the comparison with the floor
//   node bench/bench.mjs --history [--prompts 1000]   only history on against HISTORY_MAX_ITEMS=0
// Conditions, printed first: each gateway gets `--warmup` untimed connects (and prompts) first;
// samples of the compared settings are interleaved so drift in the host's load hits them alike;
// the mirror is off unless a line says it is on.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { randomUUID } from "node:crypto";
import { startGateway, ROOT } from "../tests/support/gateway.mjs";
import { withToken, connect, next, sleep } from "../tests/support/client.mjs";
import { startRedisServer } from "../tests/support/redis-server.mjs";
import { startUpstashServer } from "../tests/support/upstash-server.mjs";
import { redisAt, pollUntil } from "../tests/support/redis-cli.mjs";
import { benchFloor } from "./floor.mjs";
import { benchHistory } from "./history.mjs";
import { pct, roundTrips, summary, arg } from "./stats.mjs";

const PROMPTS = arg("prompts", 1000);
const CONNECTS = arg("connects", 100);
const MIRROR_CONNECTS = arg("mirror-connects", 200);
const SLOW_CONNECTS = arg("slow-connects", 40);
const RESTARTS = arg("restarts", 3);
const WARMUP = arg("warmup", 20);
const floorOptions = {
  prompts: arg("floor-prompts", 1000),
  users: arg("floor-users", 50),
  perUser: arg("floor-per-user", 200),
  poll: arg("floor-poll", 100),
  pollUsers: arg("floor-poll-users", 10),
  runs: arg("floor-runs", 3),
  warmup: WARMUP,
};
if (process.argv.includes("--floor")) {
  await benchFloor(floorOptions);
  process.exit(0);
}

// Load benchmarks run with the per-user and per-address limits off (they would refuse the load).
const LOAD = { PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", CONNECT_RATE_PER_MINUTE: "0", HANDSHAKE_LIMIT_PER_10S: "0" };
if (process.argv.includes("--history")) {
  await benchHistory({ prompts: PROMPTS, warmup: WARMUP, load: LOAD });
  process.exit(0);
}

const ms = (x) => `${x.toFixed(1)} ms`;
const RUN = randomUUID().slice(0, 8);
let users = 0;
const user = (label) => `bench-${label}-${RUN}-${++users}`;
const WS = { transports: ["websocket"] };

console.log(`conditions: wrangler dev --local, ${cpus().length} CPUs, Node ${process.version}; ` +
  `${WARMUP} untimed connects and prompts per gateway first; compared samples interleaved; Redis mirror off unless said; ` +
  `limits off: ${Object.entries(LOAD).map(([k, v]) => `${k}=${v}`).join(" ")}`);

const wasm = readFileSync(join(ROOT, "build", "index_bg.wasm"));
const gzipped = gzipSync(wasm, { level: 9 }).length;
const WASM_BUDGET = 300 * 1024;
console.log(`wasm module: ${wasm.length} bytes, ${gzipped} bytes gzipped (budget ${WASM_BUDGET}: ${gzipped <= WASM_BUDGET ? "within" : "OVER"}, ${(gzipped / WASM_BUDGET * 100).toFixed(0)}%)`);

async function warmUp(gw, opts = WS) {
  for (let i = 0; i < WARMUP; i++) {
    const s = await connect(gw.url, withToken("header", gw.token(user("warmup")), opts));
    const r = next(s, "prompt-response");
    s.emit("send-prompt", { prompt: "warm" });
    await r;
    s.close();
  }
}

async function timedConnect(gw, placement, opts) {
  const t0 = performance.now();
  const s = await connect(gw.url, withToken(placement, gw.token(user("connect")), opts));
  return { s, ms: performance.now() - t0 };
}

// ----- prompts and connects, mirror off -----
{
  const gw = await startGateway({ vars: LOAD });
  try {
    await warmUp(gw);
    // One socket routed straight to the user's object (header token), one relayed through the
    // Worker (auth-payload token, WebSocket only); alternating blocks of 100.
    const direct = await connect(gw.url, withToken("header", gw.token(user("rtt-direct")), WS));
    const relayed = await connect(gw.url, withToken("auth", gw.token(user("rtt-relayed")), WS));
    await roundTrips(direct, WARMUP);
    await roundTrips(relayed, WARMUP);
    const rtt = { direct: [], relayed: [] };
    for (let done = 0; done < PROMPTS; done += 100) {
      const n = Math.min(100, PROMPTS - done);
      rtt.direct.push(...await roundTrips(direct, n));
      rtt.relayed.push(...await roundTrips(relayed, n));
    }
    direct.close();
    relayed.close();
    console.log(`prompt round trip, sequential on one WebSocket, direct (header token): ${summary(rtt.direct)}`);
    console.log(`prompt round trip, sequential on one WebSocket, relayed (auth payload): ${summary(rtt.relayed)}`);

    const routes = [
      ["WebSocket only, header token", "header", WS],
      ["WebSocket only, auth-payload token (relayed)", "auth", WS],
      ["default transports (polling, then upgrade), header token", "header", {}],
      ["default transports, auth-payload token (via a gate)", "auth", {}],
    ];
    const times = routes.map(() => []);
    for (let i = 0; i < CONNECTS; i++) {
      for (const [k, [, placement, opts]] of routes.entries()) {
        const { s, ms: t } = await timedConnect(gw, placement, opts);
        times[k].push(t);
        s.close();
      }
    }
    for (const [k, [label]] of routes.entries()) console.log(`io() to connect, ${label}: ${summary(times[k])}`);
  } finally {
    await gw.stop();
  }
}

// ----- prompt history on and off -----
await benchHistory({ prompts: PROMPTS, warmup: WARMUP, load: LOAD });

// ----- the Redis mirror -----
const REST_TOKEN = `bench-${randomUUID()}`;
const redisServer = await startRedisServer();
const endpoint = await startUpstashServer({ redisPort: redisServer.port, token: REST_TOKEN });
const mirrorVars = (ep) => ({ UPSTASH_REDIS_REST_URL: ep.url, UPSTASH_REDIS_REST_TOKEN: REST_TOKEN });
try {
  {
    const [on, off] = await Promise.all([startGateway({ vars: { ...LOAD, ...mirrorVars(endpoint) } }), startGateway({ vars: LOAD })]);
    try {
      await Promise.all([warmUp(on), warmUp(off)]);
      const t = { on: [], off: [] };
      for (let i = 0; i < MIRROR_CONNECTS; i++) {
        for (const [name, gw] of [["on", on], ["off", off]]) {
          const { s, ms: x } = await timedConnect(gw, "header", WS);
          t[name].push(x);
          s.close();
        }
      }
      console.log(`io() to connect, WebSocket only, header token, Redis mirror on: ${summary(t.on)}`);
      console.log(`io() to connect, WebSocket only, header token, Redis mirror off: ${summary(t.off)}`);
    } finally { await Promise.all([on.stop(), off.stop()]); }
  }

  {
    const gw = await startGateway({ vars: { ...LOAD, ...mirrorVars(endpoint) } });
    try {
      await warmUp(gw);
      const t = { 0: [], 2000: [] };
      for (let i = 0; i < SLOW_CONNECTS; i++) {
        for (const delay of [0, 2000]) {
          endpoint.setDelay(delay);
          const { s, ms: x } = await timedConnect(gw, "header", WS);
          t[delay].push(x);
          s.close();
        }
      }
      endpoint.setDelay(0);
      console.log(`io() to connect, mirror on, REST endpoint answering at once: ${summary(t[0])}`);
      console.log(`io() to connect, mirror on, REST endpoint holding every reply 2 s: ${summary(t[2000])}`);
    } finally { endpoint.setDelay(0); await gw.stop(); }
  }

  {
    // redis-server stops, a user connects, the writes fail and back off to their 5 s cap;
    // redis-server comes back on the same port: how long until the key is there, no client action.
    let own = await startRedisServer();
    const ownEndpoint = await startUpstashServer({ redisPort: own.port, token: REST_TOKEN });
    const gw = await startGateway({ vars: { ...LOAD, ...mirrorVars(ownEndpoint) } });
    const back = [];
    try {
      await warmUp(gw);
      for (let i = 0; i < RESTARTS; i++) {
        const port = own.port;
        await own.stop();
        const u = user("outage");
        const s = await connect(gw.url, withToken("header", gw.token(u), WS));
        await sleep(10_000); // long enough for the backoff to reach its cap
        own = await startRedisServer({ port });
        const t0 = performance.now();
        const res = await pollUntil(() => redisAt(port).get(`ws:user:connection:${u}`), (v) => v === s.id, { timeoutMs: 10_000, intervalMs: 25 });
        back.push(res.ok ? performance.now() - t0 : NaN);
        s.close();
      }
      console.log(`mirror key back after redis-server restarts (outage 10 s, retries capped at 5 s): ${back.map((x) => ms(x)).join(", ")} (n=${back.length})`);
    } finally {
      await gw.stop();
      await ownEndpoint.stop();
      await own.stop();
    }
  }
} finally {
  await endpoint.stop();
  await redisServer.stop();
}

// ----- the gateway against the runtime's floor -----
await benchFloor(floorOptions);
