// Server push figures: the latency of a push to one user (from the API call to the client's
// receipt), on a direct WebSocket and on polling, and the time a room's fan-out takes to reach
// every member (100 and 500 members, each its own user on a WebSocket).
//   node bench/push.mjs [--pushes 500] [--rooms 100,500] [--repeats 5]
// The per-address and per-user connect limits are off (500 connects in seconds would trip them).
import { performance } from "node:perf_hooks";
import { startGateway } from "../tests/support/gateway.mjs";
import { connect, withToken } from "../tests/support/client.mjs";
import { PUSH_TOKEN, connectMany, roomMembers, timedRoomEmit } from "../tests/support/push.mjs";
import { pct, arg, argText } from "./stats.mjs";

const PUSHES = arg("pushes", 500);
const ROOMS = argText("rooms", "100,500").split(",").map(Number);
const REPEATS = arg("repeats", 5);
const WARMUP = 20;

const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(1)} ms, p90 ${pct(xs, 90).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;

const gw = await startGateway({
  vars: { PUSH_API_TOKEN: PUSH_TOKEN, CONNECT_RATE_PER_MINUTE: "0", HANDSHAKE_LIMIT_PER_10S: "0" },
});
const headers = { Authorization: `Bearer ${PUSH_TOKEN}`, "Content-Type": "application/json" };

/** Sequential pushes to one user: API call to receipt, and API call to the API's answer. */
async function oneUser(user, opts) {
  const s = await connect(gw.url, withToken("header", gw.token(user), opts));
  const receipt = [];
  const answer = [];
  try {
    for (let i = 0; i < WARMUP + PUSHES; i++) {
      // The receipt is timed in the handler: the event may arrive before the API's answer.
      const got = new Promise((resolve) => s.once("bench-push", (data) => resolve({ data, at: performance.now() })));
      const t0 = performance.now();
      const res = await fetch(`${gw.url}/api/v1/emit`, {
        method: "POST", headers, body: JSON.stringify({ userId: user, event: "bench-push", data: { i } }),
      });
      const body = await res.json();
      const answeredAt = performance.now();
      if (body.delivered !== 1) throw new Error(`push ${i}: ${JSON.stringify(body)}`);
      const { data, at: receivedAt } = await got;
      if (data.i !== i) throw new Error(`push ${i} received ${data.i}`);
      if (i >= WARMUP) {
        receipt.push(receivedAt - t0);
        answer.push(answeredAt - t0);
      }
    }
  } finally { s.close(); }
  return { receipt, answer };
}

try {
  console.log(`push to one user, ${PUSHES} sequential pushes after ${WARMUP} untimed`);
  for (const [name, opts] of [["WebSocket (direct)", { transports: ["websocket"] }], ["polling", { transports: ["polling"] }]]) {
    const r = await oneUser(`bench-push-${name.split(" ")[0]}`, opts);
    console.log(`  ${name}: API call to client receipt ${fmt(r.receipt)}; to the API's answer ${fmt(r.answer)}`);
  }
  for (const n of ROOMS) {
    const room = `bench-room-${n}`;
    const t0 = performance.now();
    const sockets = await connectMany(n, 20, (i) =>
      connect(gw.url, withToken("header", gw.token(`bench-room-${n}-${i}`, 3600, { rooms: [room] }), { transports: ["websocket"] })));
    try {
      const connectedS = (performance.now() - t0) / 1000;
      await roomMembers(gw.url, room, n, 60_000);
      await timedRoomEmit(gw.url, sockets, room, "warmup", 0);
      const all = [];
      const answered = [];
      for (let k = 0; k < REPEATS; k++) {
        const r = await timedRoomEmit(gw.url, sockets, room, `fan-${k}`, { k });
        if (r.answer.delivered !== n || !r.counts.every((c) => c === 1)) throw new Error(`fan-out ${k}: ${JSON.stringify(r.answer)}`);
        all.push(r.allMs);
        answered.push(r.answerMs);
      }
      console.log(`room of ${n} members (connected in ${connectedS.toFixed(1)} s), ${REPEATS} emits: ` +
        `last member received ${fmt(all)}; API answered ${fmt(answered)}`);
    } finally { for (const s of sockets) s.close(); }
  }
} finally {
  await gw.stop();
}
