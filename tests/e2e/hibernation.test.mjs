// A session left idle past the runtime's hibernation delay (about 10 s under wrangler dev) keeps
// getting pings and answering prompts; the object is rebuilt from storage in between. Covered
// for a socket routed straight to the user's object (header token) and for a relayed one
// (auth-payload token, WebSocket only).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { withToken, connect, ask, sleep } from "../support/client.mjs";

let gw;
// LOG_LEVEL=debug: the object's rebuild from storage is a debug line.
before(async () => { gw = await startGateway({ vars: { PING_INTERVAL_MS: "14000", PING_TIMEOUT_MS: "5000", LOG_LEVEL: "debug" } }); });
after(async () => { await gw?.stop(); });

test("idle past hibernation: pings continue and prompts are answered", { timeout: 60_000 }, async () => {
  const users = { header: "sleepy-direct", auth: "sleepy-relayed" };
  const sockets = await Promise.all(Object.entries(users).map(([placement, user]) =>
    connect(gw.url, withToken(placement, gw.token(user), { transports: ["websocket"] }))));
  try {
    const pings = sockets.map(() => 0);
    sockets.forEach((s, i) => s.io.engine.on("ping", () => pings[i]++));
    for (const s of sockets) assert.equal((await ask(s, "before")).response, "Echo: before");
    await sleep(16_000);
    assert.ok(pings.every((n) => n >= 1), `a ping arrived while idle (${pings})`);
    for (const s of sockets) {
      assert.ok(s.connected);
      assert.equal((await ask(s, "after")).response, "Echo: after");
    }
    await sleep(14_000);
    assert.ok(pings.every((n) => n >= 2), `pings keep coming (${pings})`);
    assert.ok(sockets.every((s) => s.connected), "the pongs were seen although the objects slept");
    for (const user of Object.values(users)) {
      const restored = gw.jsonLogs().filter((l) => l.msg === "restored sessions from storage" && l.userId === user);
      assert.ok(restored.length >= 1, `${user}'s object was evicted and rebuilt from storage`);
    }
  } finally { sockets.forEach((s) => s.close()); }
});
