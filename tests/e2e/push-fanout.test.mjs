// Fan-out under load: a room of 500 members (500 users, each on its own WebSocket), one emit,
// every member receives it once, within a bound. Run with the per-address and per-user connect
// limits off, as 500 connects from one address in seconds would trip them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { withToken, connect } from "../support/client.mjs";
import { PUSH_TOKEN, connectMany, roomMembers, timedRoomEmit } from "../support/push.mjs";

const MEMBERS = 500;
const ROOM = "fanout-room";
/** From the emit to the last member's receipt. */
const BOUND_MS = 15_000;

let gw;
let sockets = [];
before(async () => {
  gw = await startGateway({
    vars: { PUSH_API_TOKEN: PUSH_TOKEN, HANDSHAKE_LIMIT_PER_10S: "0", CONNECT_RATE_PER_MINUTE: "0" },
  });
});
after(async () => {
  for (const s of sockets) s?.close();
  await gw?.stop();
});

test(`an emit to a room of ${MEMBERS} members reaches each once within ${BOUND_MS / 1000} s`, { timeout: 90_000 }, async () => {
  const t0 = performance.now();
  sockets = await connectMany(MEMBERS, 20, (i) =>
    connect(gw.url, withToken("header", gw.token(`fan-${i}`, 3600, { rooms: [ROOM] }), { transports: ["websocket"] })));
  const connectedMs = performance.now() - t0;
  await roomMembers(gw.url, ROOM, MEMBERS, 30_000);
  const r = await timedRoomEmit(gw.url, sockets, ROOM, "fan", { big: true }, BOUND_MS);
  assert.deepEqual(r.answer, { delivered: MEMBERS, offline: 0 });
  assert.ok(r.allMs < BOUND_MS, `${r.allMs} ms`);
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(r.counts.every((c) => c === 1), "each member received the event exactly once");
  console.log(`# ${MEMBERS} members: connected in ${(connectedMs / 1000).toFixed(1)} s; ` +
    `emit answered in ${r.answerMs.toFixed(0)} ms, last member received it after ${r.allMs.toFixed(0)} ms`);
});
