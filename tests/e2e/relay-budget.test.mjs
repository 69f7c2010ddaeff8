// The Worker relay's budget (RELAY_MAX_FRAMES): a relayed connection that has carried its budget
// is closed by the relay at a frame boundary and the stock client reconnects on its own; direct
// connections have no such budget, and 0 turns it off.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { withToken, connect, next, ask } from "../support/client.mjs";

const WS = { transports: ["websocket"] };
const BUDGET = 40;
// A prompt and its echo are two frames; a ping and its pong, two more.
const PROMPTS = 30;

async function askMany(s, n, label) {
  for (let i = 0; i < n; i++) {
    const r = await ask(s, `${label} ${i}`);
    assert.equal(r.response, `Echo: ${label} ${i}`);
  }
}

describe("relay budget", () => {
  let gw, off;
  before(async () => {
    gw = await startGateway({ vars: { RELAY_MAX_FRAMES: String(BUDGET), PROMPT_RATE_PER_MINUTE: "0" } });
    off = await startGateway({ vars: { RELAY_MAX_FRAMES: "0", PROMPT_RATE_PER_MINUTE: "0" } });
  });
  after(async () => { await gw?.stop(); await off?.stop(); });

  test("a relayed connection that spent its budget is closed and the client reconnects by itself", async () => {
    const s = await connect(gw.url, withToken("auth", gw.token("budget-relay"), { ...WS, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 }));
    try {
      const firstId = s.id;
      const disconnected = next(s, "disconnect", 20_000);
      let answered = 0;
      // Prompts until the relay closes; the close comes after the budget, not before.
      const asking = (async () => {
        for (let i = 0; i < PROMPTS; i++) {
          await ask(s, `p ${i}`, 5_000);
          answered++;
        }
      })().catch(() => {});
      const reason = await disconnected;
      assert.equal(reason, "transport close");
      assert.ok(answered >= BUDGET / 2 - 1 && answered <= BUDGET / 2, `closed after ${answered} prompts (budget ${BUDGET} frames)`);
      await next(s, "connect", 10_000);
      assert.notEqual(s.id, firstId, "without recovery the reconnect is a fresh session");
      await asking;
      await askMany(s, 3, "after");
    } finally { s.close(); }
  });

  test("a direct connection (header token) has no relay budget", async () => {
    const s = await connect(gw.url, withToken("header", gw.token("budget-direct"), WS));
    try {
      let dropped = false;
      s.on("disconnect", () => { dropped = true; });
      await askMany(s, PROMPTS, "direct");
      assert.equal(dropped, false);
    } finally { s.close(); }
  });

  test("RELAY_MAX_FRAMES=0 relays without a budget", async () => {
    const s = await connect(off.url, withToken("auth", off.token("budget-off"), WS));
    try {
      let dropped = false;
      s.on("disconnect", () => { dropped = true; });
      await askMany(s, PROMPTS, "unbudgeted");
      assert.equal(dropped, false);
    } finally { s.close(); }
  });
});
