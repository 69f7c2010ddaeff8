// A session left idle past the runtime's hibernation delay (about 10 s under wrangler dev) keeps
// getting pings and answering prompts; the object is rebuilt from storage in between.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { withToken, connect, ask, sleep } from "../support/client.mjs";

let gw;
before(async () => { gw = await startGateway({ vars: { PING_INTERVAL_MS: "14000", PING_TIMEOUT_MS: "5000" } }); });
after(async () => { await gw?.stop(); });

test("idle past hibernation: pings continue and prompts are answered", { timeout: 60_000 }, async () => {
  const s = await connect(gw.url, withToken("auth", gw.token("sleepy"), { transports: ["websocket"] }));
  try {
    let pings = 0;
    s.io.engine.on("ping", () => pings++);
    assert.equal((await ask(s, "before")).response, "Echo: before");
    await sleep(16_000);
    assert.ok(pings >= 1, "a ping arrived while idle");
    assert.ok(s.connected);
    assert.equal((await ask(s, "after")).response, "Echo: after");
    await sleep(14_000);
    assert.ok(pings >= 2, `pings keep coming (${pings})`);
    assert.ok(s.connected, "the pong was seen although the object slept");
    const restored = gw.jsonLogs().filter((l) => l.msg === "restored sessions from storage" && l.userId === "sleepy");
    assert.ok(restored.length >= 1, "the object was evicted and rebuilt from storage at least once");
  } finally { s.close(); }
});
