// What metrics cost and how far the endpoint lags: prompt round trips with metrics on
// (METRICS_TOKEN set) vs off (unset), interleaved in blocks of 100 on one WebSocket each; then,
// with metrics on, how long a counted event takes to show in GET /api/v1/metrics: after an idle
// moment (the first flush is due at once) and just after a flush (the next is at most
// METRICS_FLUSH_MS later), for the default interval and a short one.
//   node bench/metrics.mjs [--prompts 1000] [--lags 5] [--warmup 20]
import { performance } from "node:perf_hooks";
import { randomUUID } from "node:crypto";
import { startGateway } from "../tests/support/gateway.mjs";
import { withToken, connect, next, sleep } from "../tests/support/client.mjs";
import { pct, roundTrips, summary, arg } from "./stats.mjs";

const PROMPTS = arg("prompts", 1000);
const LAGS = arg("lags", 5);
const WARMUP = arg("warmup", 20);
const TOKEN = `bench-${randomUUID()}`;
const LOAD = { PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", CONNECT_RATE_PER_MINUTE: "0", HANDSHAKE_LIMIT_PER_10S: "0" };
const WS = { transports: ["websocket"] };
const RUN = randomUUID().slice(0, 8);
let users = 0;
const user = () => `bench-metrics-${RUN}-${++users}`;
const ms = (x) => `${x.toFixed(1)} ms`;

/** One sample of the endpoint: `name{label}` -> value. */
async function scrape(gw) {
  const text = await (await fetch(`${gw.url}/api/v1/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  return new Map(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => {
    const i = l.lastIndexOf(" ");
    return [l.slice(0, i), Number(l.slice(i + 1))];
  }));
}
const okPrompts = async (gw) => (await scrape(gw)).get('gateway_prompts_total{outcome="OK"}') ?? 0;

/** Time until the endpoint shows `want` OK prompts, polling every 20 ms (at most 30 s). */
async function visibleAfter(gw, want, t0) {
  while (performance.now() - t0 < 30_000) {
    if ((await okPrompts(gw)) >= want) return performance.now() - t0;
    await sleep(20);
  }
  return NaN;
}

console.log(`conditions: wrangler dev --local, echo processor, limits off, ${WARMUP} untimed prompts per socket first`);
const [on, off] = await Promise.all([
  startGateway({ vars: { ...LOAD, METRICS_TOKEN: TOKEN } }),
  startGateway({ vars: LOAD }),
]);
try {
  const sOn = await connect(on.url, withToken("header", on.token(user()), WS));
  const sOff = await connect(off.url, withToken("header", off.token(user()), WS));
  await roundTrips(sOn, WARMUP);
  await roundTrips(sOff, WARMUP);
  const rtt = { on: [], off: [] };
  for (let done = 0; done < PROMPTS; done += 100) {
    const n = Math.min(100, PROMPTS - done);
    rtt.on.push(...await roundTrips(sOn, n));
    rtt.off.push(...await roundTrips(sOff, n));
  }
  console.log(`prompt round trip, metrics on (METRICS_TOKEN set, default METRICS_FLUSH_MS): ${summary(rtt.on)}`);
  console.log(`prompt round trip, metrics off (METRICS_TOKEN unset):                       ${summary(rtt.off)}`);
  sOff.close();
  sOn.close();
} finally {
  await off.stop();
}

try {
  for (const flush of [5000, 1000]) {
    const gw = flush === 5000 ? on : await startGateway({ vars: { ...LOAD, METRICS_TOKEN: TOKEN, METRICS_FLUSH_MS: String(flush) } });
    try {
      const s = await connect(gw.url, withToken("header", gw.token(user()), WS));
      // After an idle moment: the object's last flush is over an interval old.
      const idle = [];
      for (let i = 0; i < LAGS; i++) {
        await sleep(flush + 200);
        const before = await okPrompts(gw);
        const t0 = performance.now();
        await roundTrips(s, 1);
        idle.push(await visibleAfter(gw, before + 1, t0));
      }
      // Busy: each prompt is sent ~100 ms after the previous one showed, i.e. just after a
      // flush, so it waits for the next one: the worst case, bounded by the interval.
      const busy = [];
      const start = await okPrompts(gw);
      for (let i = 0; i < LAGS * 2; i++) {
        const t0 = performance.now();
        await roundTrips(s, 1);
        busy.push(await visibleAfter(gw, start + i + 1, t0));
        await sleep(100);
      }
      console.log(`endpoint staleness, METRICS_FLUSH_MS=${flush}: after idle ${summary(idle)}; a prompt just after a flush (worst case), max ${ms(Math.max(...busy))}, ${summary(busy)}`);
      s.close();
    } finally {
      if (gw !== on) await gw.stop();
    }
  }
} finally {
  await on.stop();
}
