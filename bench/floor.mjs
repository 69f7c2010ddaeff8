// The gateway against the runtime's floor (bench/floor: a bare Rust Durable Object per user,
// built like the gateway), each under its own `wrangler dev --local` on 127.0.0.1, measured side
// by side in one run with their runs alternated so drift in the host's load hits both alike:
//   (a) one socket, sequential round trips: the gateway's `send-prompt` -> `prompt-response`
//       (socket.io-client, WebSocket only, header token) against a raw WebSocket echo;
//   (b) many users at once, each with sequential round trips on its own socket: throughput and
//       round trip percentiles;
//   (c) long-polling round trips with 1 and with 10 users at once: the gateway's prompts over
//       socket.io-client with `transports: ["polling"]` against the floor's POST answering a
//       held GET.
// They run in the order (a), (c), (b).
// The gateway runs with its per-user and per-address limits off (they would refuse the load).
// Needs build/ (./scripts/build-worker) and bench/floor/build/ (./scripts/build-floor);
// ./scripts/bench builds both. Run by bench/bench.mjs, last, or alone with `--floor`:
//   ./scripts/bench --floor [--floor-prompts 1000] [--floor-users 50] [--floor-per-user 200]
//     [--floor-poll 100] [--floor-poll-users 10] [--floor-runs 3] [--warmup 20]
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import WebSocket from "ws";
import { startGateway, launch, stopGroup, ROOT } from "../tests/support/gateway.mjs";
import { withToken, connect, next } from "../tests/support/client.mjs";
import { findFreePort } from "../tests/support/redis-server.mjs";
import { pct } from "./stats.mjs";

const FLOOR = join(ROOT, "bench", "floor");
/** No single round trip may take longer; no phase may run longer. */
const RTT_TIMEOUT_MS = 10_000;
const PHASE_TIMEOUT_MS = 180_000;
export const LOAD = { PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", CONNECT_RATE_PER_MINUTE: "0", HANDSHAKE_LIMIT_PER_10S: "0" };

/**
 * The WebSocket clients of (a) and (b) offer no permessage-deflate. The gateway declines it, as
 * Socket.IO's own server does by default, and a Worker that declines it gets none in production;
 * but under `wrangler dev` the local layers in front of the Worker (wrangler's proxy, miniflare's
 * entry worker) negotiate it with the client themselves. Compressing every frame there, and
 * inflating it here, would weigh the frames' sizes (the floor echoes a few bytes, a Socket.IO
 * event is about 90) rather than the servers' work per message.
 */
const WS_OPTIONS = { perMessageDeflate: false };
// The one-socket sides take turns in blocks of this many round trips (about 2 ms): the shared
// machine's speed drifts over tens of milliseconds, and blocks of 100 left that drift in the
// ratio (the direct path's p50 read 0.97x-1.35x the floor's over five runs of one build; with
// blocks of 10, 1.02x-1.11x over four). Single round trips in turn measured the order instead:
// the floor then came out slower than the floor behind a relay.
const ONE_SOCKET_BLOCK = 10;

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (g, f) => `${(g / f).toFixed(2)}x`;

/** Refuses an old floor build, as the gateway's harness refuses an old build/. */
function assertFreshFloor() {
  const wasm = join(FLOOR, "build", "index_bg.wasm");
  if (!existsSync(wasm) || !existsSync(join(FLOOR, "build", "index.js"))) {
    throw new Error("bench/floor/build/ is missing: run ./scripts/build-floor (or ./scripts/bench)");
  }
  const built = statSync(wasm).mtimeMs;
  for (const f of ["src/lib.rs", "Cargo.toml", "Cargo.lock"]) {
    if (statSync(join(FLOOR, f)).mtimeMs > built) throw new Error(`bench/floor/build/ is older than ${f}: run ./scripts/build-floor`);
  }
}

/** The floor under `wrangler dev --local` on 127.0.0.1 from a copy of its build; stopped by process id. */
export async function startFloor() {
  assertFreshFloor();
  const port = await findFreePort();
  const inspectorPort = await findFreePort();
  const dir = mkdtempSync(join(tmpdir(), "floor-"));
  cpSync(join(FLOOR, "build"), join(dir, "build"), { recursive: true });
  writeFileSync(join(dir, "wrangler.toml"), readFileSync(join(FLOOR, "wrangler.toml"), "utf8"));
  const args = [
    join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
    "dev", "--config", join(dir, "wrangler.toml"), "--local", "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(inspectorPort), "--persist-to", join(dir, "state"),
  ];
  const url = `http://127.0.0.1:${port}`;
  let output = "";
  let child;
  try {
    child = await launch(args, dir, url, (d) => { output += d; }, () => output);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`floor: ${e.message}`);
  }
  const stop = async () => {
    await stopGroup(child);
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, pid: child.pid, logs: () => output, stop };
}

const withTimeout = (p, ms, what) => {
  let t;
  return Promise.race([p, new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(t));
};

// ----- clients: each exposes roundTrip(i) -> ms and close() -----

/**
 * The gateway over long-polling with the same HTTP client as the floor's poller (`fetch`),
 * speaking Engine.IO's polling requests as socket.io-client does (a handshake GET with the
 * header token, `40` posted, then one GET always held), and timed as the floor's is: from the
 * POST of `42["send-prompt",...]` to the held GET's answer holding the `prompt-response`.
 */
async function gatewayPollWire(gw, user) {
  const base = `${gw.url}/socket.io/?EIO=4&transport=polling`;
  const answer = async (r, what) => {
    const text = await r.text();
    if (r.status !== 200) throw new Error(`gateway ${what}: ${r.status} ${text}`);
    return text;
  };
  const open = await answer(await fetch(base, { headers: { Authorization: `Bearer ${gw.token(user)}` } }), "handshake");
  if (!open.startsWith("0")) throw new Error(`gateway handshake: ${open}`);
  const url = `${base}&sid=${encodeURIComponent(JSON.parse(open.slice(1)).sid)}`;
  const post = (body) => fetch(url, { method: "POST", body }).then((r) => answer(r, "POST"));
  const get = () => fetch(url).then((r) => answer(r, "poll"));
  await post("40");
  const ok = await withTimeout(get(), RTT_TIMEOUT_MS, "CONNECT answer");
  if (!ok.startsWith("40")) throw new Error(`gateway CONNECT: ${ok}`);
  let held = get();
  return {
    async roundTrip(i) {
      const t0 = performance.now();
      const posted = post(`42["send-prompt",{"prompt":"p${i}"}]`);
      // Awaited below; a failure before then must not end the process unhandled (its servers,
      // stopped in a `finally`, would be left running).
      posted.catch(() => {});
      for (let answered = false; !answered;) {
        const packets = (await withTimeout(held, RTT_TIMEOUT_MS, "gateway poll")).split("\x1e");
        held = get();
        for (const p of packets) {
          if (p === "2") await post("3");
          else if (p.startsWith('42["prompt-response"')) answered = true;
          else if (!p.startsWith('42["prompt-chunk"')) throw new Error(`gateway: ${p}`);
        }
      }
      const t = performance.now() - t0;
      if ((await posted) !== "ok") throw new Error("gateway POST not ok");
      return t;
    },
    async close() {
      // Engine.IO's close packet answers the GET still held.
      await post("1");
      await withTimeout(held, RTT_TIMEOUT_MS, "gateway poll end").catch(() => {});
    },
  };
}

/** A socket.io-client on the gateway over long-polling only, header token. */
async function gatewayPoller(gw, user) {
  const s = await connect(gw.url, withToken("header", gw.token(user), { transports: ["polling"] }));
  return {
    async roundTrip(i) {
      const t0 = performance.now();
      const r = next(s, "prompt-response", RTT_TIMEOUT_MS);
      s.emit("send-prompt", { prompt: `p${i}` });
      await r;
      return performance.now() - t0;
    },
    close: async () => { s.close(); },
  };
}

/**
 * The gateway over a WebSocket of the same library as the floor's client, speaking the frames
 * socket.io-client sends (`40`, `42["send-prompt",...]`), so both sides pay the same client
 * cost and the ratio is the servers'. Neither offers compression (`WS_OPTIONS`).
 * `header`: the token in the upgrade's Authorization
 * header (the Worker hands the socket to the user's object); `auth`: in the CONNECT payload
 * (the Worker relays the socket).
 */
async function gatewayWire(gw, user, placement) {
  const token = gw.token(user);
  const headers = placement === "header" ? { Authorization: `Bearer ${token}` } : {};
  const ws = new WebSocket(`${gw.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`, { ...WS_OPTIONS, headers });
  const queue = [];
  let waiting = null;
  ws.on("message", (data) => {
    const m = data.toString();
    if (m === "2") return ws.send("3");
    if (waiting) { const w = waiting; waiting = null; w(m); } else queue.push(m);
  });
  const nextFrame = (what) => queue.length
    ? Promise.resolve(queue.shift())
    : withTimeout(new Promise((r) => { waiting = r; }), RTT_TIMEOUT_MS, what);
  await withTimeout(new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); }), RTT_TIMEOUT_MS, "gateway WebSocket open");
  const open = await nextFrame("Engine.IO open");
  if (!open.startsWith("0")) throw new Error(`gateway: ${open}`);
  ws.send(placement === "header" ? "40" : `40${JSON.stringify({ token })}`);
  const ok = await nextFrame("CONNECT answer");
  if (!ok.startsWith("40")) throw new Error(`gateway CONNECT: ${ok}`);
  return {
    async roundTrip(i) {
      const t0 = performance.now();
      ws.send(`42["send-prompt",{"prompt":"p${i}"}]`);
      for (;;) {
        const m = await nextFrame("prompt-response");
        if (m.startsWith('42["prompt-response"')) break;
        if (!m.startsWith('42["prompt-chunk"')) throw new Error(`gateway: ${m}`);
      }
      return performance.now() - t0;
    },
    async close() {
      const closed = new Promise((r) => ws.once("close", r));
      ws.send("41");
      ws.close(1000);
      await withTimeout(closed, RTT_TIMEOUT_MS, "gateway close").catch(() => ws.terminate());
    },
  };
}

/** A raw WebSocket on the floor: each message is echoed (`/relay`: through the Worker's JS relay). */
async function floorSocket(floor, user, path = "/ws") {
  const ws = new WebSocket(`${floor.url.replace("http", "ws")}${path}?user=${encodeURIComponent(user)}`, WS_OPTIONS);
  await withTimeout(new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); }), RTT_TIMEOUT_MS, "floor WebSocket open");
  let waiting = null;
  ws.on("message", (data) => { const w = waiting; waiting = null; w?.(data.toString()); });
  return {
    async roundTrip(i) {
      const t0 = performance.now();
      const msg = `p${i}`;
      const echoed = withTimeout(new Promise((r) => { waiting = r; }), RTT_TIMEOUT_MS, "floor echo");
      ws.send(msg);
      if ((await echoed) !== msg) throw new Error("floor echoed something else");
      return performance.now() - t0;
    },
    async close() {
      const closed = new Promise((r) => ws.once("close", r));
      ws.close(1000);
      await withTimeout(closed, RTT_TIMEOUT_MS, "floor close").catch(() => ws.terminate());
    },
  };
}

/** A long-polling client on the floor: one GET always held; a round trip is a POST until the held GET answers. */
async function floorPoller(floor, user) {
  const url = `${floor.url}/poll?user=${encodeURIComponent(user)}`;
  const get = () => fetch(url).then(async (r) => {
    if (r.status !== 200) throw new Error(`floor poll GET: ${r.status}`);
    return r.text();
  });
  let held = get();
  return {
    async roundTrip(i) {
      const body = `p${i}`;
      const t0 = performance.now();
      const posted = fetch(url, { method: "POST", body }).then((r) => r.text());
      posted.catch(() => {}); // awaited below (see gatewayPollWire)
      const got = await withTimeout(held, RTT_TIMEOUT_MS, "floor poll");
      const t = performance.now() - t0;
      held = get();
      if (got !== body || (await posted) !== "ok") throw new Error(`floor poll: ${got}`);
      return t;
    },
    async close() {
      // Answers the GET still held.
      await fetch(url, { method: "POST", body: "end" });
      await withTimeout(held, RTT_TIMEOUT_MS, "floor poll end");
    },
  };
}

// ----- the loads -----

async function sequential(client, n, from = 0) {
  const rtts = [];
  const deadline = performance.now() + PHASE_TIMEOUT_MS;
  for (let i = from; i < from + n; i++) {
    if (performance.now() > deadline) throw new Error(`phase over ${PHASE_TIMEOUT_MS} ms`);
    rtts.push(await client.roundTrip(i));
  }
  return rtts;
}

/**
 * `users` clients opened first (untimed, with `warmup` round trips each), then `perUser`
 * sequential round trips each, all at once; `cpu` (a `runtimeCpu`) is read around the timed part.
 */
async function concurrent(open, users, perUser, warmup, cpu = null) {
  const clients = [];
  try {
    for (let u = 0; u < users; u++) clients.push(await open(u));
    await Promise.all(clients.map((c) => sequential(c, warmup)));
    const c0 = cpu?.();
    const t0 = performance.now();
    const rtts = (await Promise.all(clients.map((c) => sequential(c, perUser, warmup)))).flat();
    const seconds = (performance.now() - t0) / 1000;
    const c1 = cpu?.();
    return { rtts, rate: rtts.length / seconds, cpuMs: c0 != null && c1 != null ? c1 - c0 : null };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/**
 * `concurrent`, run again once (with new users) when a request of it went unanswered: under
 * `wrangler dev` a request now and then gets no answer for good, on either server and with any
 * build (about one bench run in six saw it), and one such request would end the whole run. The
 * retry is printed.
 */
async function concurrentOnce(label, ...args) {
  try {
    return await concurrent(...args);
  } catch (e) {
    console.log(`  (${label}: ${e.message}; run again once)`);
    return concurrent(...args);
  }
}

/**
 * Reads the CPU time (ms) of the runtime process that runs a server's code: the workerd that
 * `wrangler dev` (process `pid`) started with an inspector, from /proc (null where there is
 * none). The other workerd (wrangler's proxy) and wrangler itself are the same for both servers
 * and left out.
 */
function runtimeCpu(pid) {
  const stat = (p) => {
    const st = readFileSync(`/proc/${p}/stat`, "utf8");
    return st.slice(st.lastIndexOf(")") + 2).split(" ");
  };
  try {
    const procs = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
    const parentOf = new Map(procs.map((p) => { try { return [p, Number(stat(p)[1])]; } catch { return [p, 0]; } }));
    const tree = [pid];
    for (let i = 0; i < tree.length; i++) for (const [p, parent] of parentOf) if (parent === tree[i]) tree.push(p);
    const runtime = tree.find((p) => {
      try {
        const args = readFileSync(`/proc/${p}/cmdline`, "utf8");
        return args.includes("workerd") && args.includes("--inspector-addr");
      } catch { return false; }
    });
    if (runtime === undefined) return () => null;
    // utime + stime, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
    return () => { try { const f = stat(runtime); return (Number(f[11]) + Number(f[12])) * 10; } catch { return null; } };
  } catch {
    return () => null;
  }
}

const latency = (rtts) => ({ p50: pct(rtts, 50), p99: pct(rtts, 99), n: rtts.length });

function printCompare(label, g, f, { rate = false } = {}) {
  const line = (name, x) => `  ${name.padEnd(8)} ${rate ? `${fmt(x.rate).padStart(6)} msgs/s, ` : ""}p50 ${fmt(x.p50)} ms, p99 ${fmt(x.p99)} ms (n=${x.n})`;
  if (label) console.log(label);
  console.log(line("gateway", g));
  console.log(line("floor", f));
  console.log(`  gateway/floor: ${rate ? `throughput ${ratio(g.rate, f.rate)}, ` : ""}p50 ${ratio(g.p50, f.p50)}, p99 ${ratio(g.p99, f.p99)}`);
}

/** Storage writes the gateway's objects logged (`storage write`, a debug line) so far. */
function writesLogged(gw) {
  const lines = gw.jsonLogs().filter((l) => l.msg === "storage write");
  const sum = (k) => lines.reduce((a, l) => a + Number(l[k] ?? 0), 0);
  return { writes: lines.length, rows: sum("puts") + sum("deletes") + sum("rows") + sum("history") + lines.filter((l) => l.alarm).length };
}

/**
 * Storage writes per steady-state prompt: a gateway with LOG_LEVEL=debug (its own, so the
 * debug lines cost the timed runs nothing) counts the writes its objects make over `n`
 * prompts on one warm connection (`connect(gw, user)`), the deferred write that follows them
 * included.
 */
async function writesPerPrompt(vars, n, label, connect) {
  const gw = await startGateway({ vars: { ...vars, LOG_LEVEL: "debug" } });
  try {
    const c = await connect(gw, `writes-${label}-${randomUUID().slice(0, 8)}`);
    await sequential(c, 20);
    await new Promise((r) => setTimeout(r, DEFERRED_WAIT_MS));
    const before = writesLogged(gw);
    await sequential(c, n, 20);
    await new Promise((r) => setTimeout(r, DEFERRED_WAIT_MS));
    const after = writesLogged(gw);
    await c.close();
    return { writes: (after.writes - before.writes) / n, rows: (after.rows - before.rows) / n };
  } finally {
    await gw.stop();
  }
}

/** Longer than the gateway's deferred write (1 s) takes to land. */
const DEFERRED_WAIT_MS = 1_500;

export async function benchFloor({ prompts = 1000, users = 50, perUser = 200, poll = 100, pollUsers = 10, runs = 3, warmup = 20 } = {}) {
  const RUN = randomUUID().slice(0, 8);
  let n = 0;
  const user = (label) => `floor-${label}-${RUN}-${++n}`;
  const size = (f) => { const b = readFileSync(f); return `${b.length} bytes, ${gzipSync(b, { level: 9 }).length} gzipped`; };
  const off = { ...LOAD, HISTORY_MAX_ITEMS: "0" };
  console.log(`floor comparison: gateway and floor each under its own wrangler dev --local; runs alternated; ` +
    `gateway limits off: ${Object.entries(LOAD).map(([k, v]) => `${k}=${v}`).join(" ")}; ` +
    `"history off" adds HISTORY_MAX_ITEMS=0, "history on" is the default (200)`);
  console.log(`  wasm: gateway ${size(join(ROOT, "build", "index_bg.wasm"))}; floor ${size(join(FLOOR, "build", "index_bg.wasm"))}`);

  const overWebSocket = (gw, u) => gatewayWire(gw, u, "header");
  // Over polling, the stock client: when its next GET is held is up to it.
  for (const [label, vars, connect] of [
    ["WebSocket, history off", off, overWebSocket],
    ["WebSocket, history on", LOAD, overWebSocket],
    ["long-polling (socket.io-client), history off", off, gatewayPoller],
  ]) {
    const w = await writesPerPrompt(vars, 200, label.replace(/\W+/g, "-"), connect);
    console.log(`storage writes per steady-state prompt (echo, one warm connection, 200 prompts), ${label}: ` +
      `${w.writes.toFixed(3)} writes, ${w.rows.toFixed(3)} rows (keys, SQL rows and alarm sets)`);
  }

  const [gwOff, gwOn, floor] = await Promise.all([startGateway({ vars: off }), startGateway({ vars: LOAD }), startFloor()]);
  let gwBare = null;
  try {
    // WebSocket sides: the gateway's two paths with history off, the direct one with history
    // on, and the floor; each against the floor.
    const ws = {
      "direct": (u) => gatewayWire(gwOff, u, "header"),
      "relayed": (u) => gatewayWire(gwOff, u, "auth"),
      "history": (u) => gatewayWire(gwOn, u, "header"),
      "floor": (u) => floorSocket(floor, u),
      "floor-relay": (u) => floorSocket(floor, u, "/relay"),
    };
    const names = {
      "direct": "gateway, header token (direct), history off",
      "relayed": "gateway, auth-payload token (relayed by the Worker), history off",
      "history": "gateway, header token (direct), history on",
      "floor-relay": "the floor behind a Worker relaying in JavaScript (the relayed path's floor)",
    };
    const sides = Object.keys(ws);
    const compare = (all, rate) => {
      const f = all.floor;
      console.log(`  ${"floor".padEnd(11)} ${rate ? `${fmt(f.rate).padStart(6)} msgs/s, ` : ""}p50 ${fmt(f.p50)} ms, p99 ${fmt(f.p99)} ms (n=${f.n})`);
      for (const s of sides.filter((x) => x !== "floor")) {
        const g = all[s];
        // The relayed path is also compared with the relayed floor.
        const r = s === "relayed" ? all["floor-relay"] : null;
        console.log(`  ${s.padEnd(11)} ${rate ? `${fmt(g.rate).padStart(6)} msgs/s, ` : ""}p50 ${fmt(g.p50)} ms, p99 ${fmt(g.p99)} ms (n=${g.n}); ` +
          `/floor: ${rate ? `throughput ${ratio(g.rate, f.rate)}, ` : ""}p50 ${ratio(g.p50, f.p50)}` +
          (r ? `; /floor-relay: ${rate ? `throughput ${ratio(g.rate, r.rate)}, ` : ""}p50 ${ratio(g.p50, r.p50)}` : "") + `  [${names[s]}]`);
      }
    };

    // (a) one socket each, alternating blocks of `ONE_SOCKET_BLOCK` round trips.
    {
      const c = {};
      for (const s of sides) c[s] = await ws[s](user(`one-${s}`));
      const rtts = Object.fromEntries(sides.map((s) => [s, []]));
      for (const s of sides) await sequential(c[s], warmup);
      for (let done = 0; done < prompts; done += ONE_SOCKET_BLOCK) {
        for (const s of sides) rtts[s].push(...await sequential(c[s], Math.min(ONE_SOCKET_BLOCK, prompts - done), warmup + done));
      }
      for (const s of sides) await c[s].close();
      console.log(`(a) one WebSocket, ${prompts} sequential round trips (gateway: send-prompt -> prompt-response; floor: echo)`);
      compare(Object.fromEntries(sides.map((s) => [s, latency(rtts[s])])), false);
    }

    // (c) long-polling, 1 and `pollUsers` users, history off; before (b), on servers that hold
    // only the few objects (a) made. The ratio is the wire client's (the floor's HTTP client);
    // socket.io-client's own figure is printed beside it, for what the stock client sees. Under
    // `wrangler dev` the gateway's [assets] put miniflare's asset router in front of each of its
    // requests (the floor has none); a gateway started without them shows what that hop costs.
    gwBare = await startGateway({ vars: off, assets: false });
    const poll_ = {
      gateway: (u) => gatewayPollWire(gwOff, u),
      floor: (u) => floorPoller(floor, u),
      "socket.io-client": (u) => gatewayPoller(gwOff, u),
      "no-assets": (u) => gatewayPollWire(gwBare, u),
    };
    const pollCpu = { gateway: runtimeCpu(gwOff.pid), floor: runtimeCpu(floor.pid), "no-assets": runtimeCpu(gwBare.pid) };
    pollCpu["socket.io-client"] = pollCpu.gateway;
    for (const k of [1, pollUsers]) {
      const all = Object.fromEntries(Object.keys(poll_).map((s) => [s, []]));
      const rates = Object.fromEntries(Object.keys(poll_).map((s) => [s, []]));
      const cpuMs = Object.fromEntries(Object.keys(poll_).map((s) => [s, 0]));
      for (let r = 0; r < runs; r++) {
        for (const s of Object.keys(poll_)) {
          const got = await concurrentOnce(`${s} polling`, (u) => poll_[s](user(`poll${k}-${u}`)), k, poll, Math.min(warmup, 5), pollCpu[s]);
          all[s].push(...got.rtts);
          rates[s].push(got.rate);
          cpuMs[s] += got.cpuMs ?? NaN;
        }
      }
      // Each side's summary once (percentiles sort every sample).
      const sums = Object.fromEntries(Object.keys(poll_).map((s) => [s,
        { ...latency(all[s]), rate: rates[s].reduce((a, b) => a + b, 0) / rates[s].length, cpu: cpuMs[s] * 1000 / all[s].length }]));
      const { gateway: g, floor: f, "socket.io-client": stock, "no-assets": bare } = sums;
      printCompare(`(c) long-polling, ${k} user${k > 1 ? "s" : ""} at once, ${poll} sequential round trips each, ${runs} runs each ` +
        `(gateway, history off: POST of send-prompt -> held GET answers with prompt-response, over fetch as the floor's client; ` +
        `floor: POST -> held GET answers)`,
        g, f, { rate: true });
      console.log(`  the gateway with socket.io-client (transports: ["polling"]): ${fmt(stock.rate)} msgs/s, p50 ${fmt(stock.p50)} ms, ` +
        `p99 ${fmt(stock.p99)} ms (n=${stock.n}); /floor: p50 ${ratio(stock.p50, f.p50)}`);
      console.log(`  the gateway without [assets] (no asset router in front): p50 ${fmt(bare.p50)} ms, ` +
        `p99 ${fmt(bare.p99)} ms (n=${bare.n}); /floor: throughput ${ratio(bare.rate, f.rate)}, p50 ${ratio(bare.p50, f.p50)}`);
      if ([g, f, bare].every((x) => Number.isFinite(x.cpu))) {
        console.log(`  runtime CPU per round trip (the workerd that runs the code, miniflare's asset router included): ` +
          `gateway ${fmt(g.cpu)} us (${ratio(g.cpu, f.cpu)}), without [assets] ${fmt(bare.cpu)} us (${ratio(bare.cpu, f.cpu)}), floor ${fmt(f.cpu)} us`);
      }
    }

    await gwBare.stop();

    // (b) many users at once, runs alternated.
    {
      console.log(`(b) ${users} users at once, ${perUser} sequential round trips each, ${runs} runs each (WebSocket), after one untimed run each`);
      // The runtime compiles hot wasm and JavaScript with its optimizing tier while the load
      // runs; an untimed run per side first measures the steady state, which is what a
      // long-lived isolate serves, rather than how soon each module's code gets optimized.
      for (const s of sides) await concurrentOnce(`${s} warm-up`, (u) => ws[s](user(`warm-${s}-${u}`)), users, perUser, Math.min(warmup, 5));
      const all = Object.fromEntries(sides.map((s) => [s, { rtts: [], secs: 0, cpuMs: 0 }]));
      // One CPU reader per server: the two paths of `gwOff`, and the floor's two, share theirs.
      const cpuOfServer = new Map([gwOff, gwOn, floor].map((srv) => [srv, runtimeCpu(srv.pid)]));
      const cpuOf = Object.fromEntries(sides.map((s) => [s, cpuOfServer.get(s === "history" ? gwOn : s.startsWith("floor") ? floor : gwOff)]));
      for (let r = 0; r < runs; r++) {
        for (const s of sides) {
          const { rtts, rate, cpuMs } = await concurrentOnce(`${s} run ${r + 1}`, (u) => ws[s](user(`many-${s}-${u}`)), users, perUser, Math.min(warmup, 5), cpuOf[s]);
          all[s].rtts.push(...rtts);
          all[s].secs += rtts.length / rate;
          all[s].cpuMs += cpuMs ?? NaN;
          console.log(`  run ${r + 1} ${s.padEnd(8)}  ${fmt(rate)} msgs/s, p50 ${fmt(pct(rtts, 50))} ms, p99 ${fmt(pct(rtts, 99))} ms`);
        }
      }
      const sums = Object.fromEntries(sides.map((s) => [s, { ...latency(all[s].rtts), rate: all[s].rtts.length / all[s].secs, cpu: all[s].cpuMs * 1000 / all[s].rtts.length }]));
      compare(sums, true);
      // The runtime's CPU per round trip (the runtime process's, from /proc): what the edge bills,
      // steadier on a shared machine than throughput.
      const f = sums.floor;
      if (Number.isFinite(f.cpu)) {
        console.log(`  runtime CPU per round trip (the workerd that runs the code): floor ${fmt(f.cpu)} us, ` +
          sides.filter((x) => x !== "floor").map((x) => {
            const g = sums[x];
            return `${x} ${fmt(g.cpu)} us (${ratio(g.cpu, f.cpu)}${x === "relayed" ? `; ${ratio(g.cpu, sums["floor-relay"].cpu)} the relayed floor` : ""})`;
          }).join(", "));
      }
    }
  } finally {
    await Promise.all([gwOff.stop(), gwOn.stop(), floor.stop(), gwBare?.stop()]);
  }
}
