// A connection that never joins a namespace is closed after CONNECT_TIMEOUT_MS, whichever
// route it took.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { http, Wire } from "../support/wire.mjs";

const CONNECT_TIMEOUT = 1000;
let gw;
before(async () => { gw = await startGateway({ vars: { CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT) } }); });
after(async () => { await gw?.stop(); });

const wsUrl = (query) => `${gw.url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket${query}`;

test("relayed WebSocket (no token at HTTP level) that never sends CONNECT is closed", async () => {
  const w = new Wire(wsUrl(""), { autoPong: true });
  try {
    assert.match(await w.nextText(5000), /^0\{"sid":/);
    const t0 = Date.now();
    assert.equal(await w.waitClose(CONNECT_TIMEOUT + 2000), 1000, "a normal close");
    assert.ok(Date.now() - t0 >= CONNECT_TIMEOUT - 200, "not before the timeout");
  } finally { w.close(); }
});

test("WebSocket routed by a header token that never sends CONNECT is closed", async () => {
  const w = new Wire(wsUrl(`&token=${gw.token("idle-ws")}`), { autoPong: true });
  try {
    assert.match(await w.nextText(5000), /^0\{"sid":/);
    const t0 = Date.now();
    assert.equal(await w.waitClose(CONNECT_TIMEOUT + 2000), 1000, "a normal close");
    assert.ok(Date.now() - t0 >= CONNECT_TIMEOUT - 200, `closed after ${Date.now() - t0} ms, before the timeout`);
  } finally { w.close(); }
});

test("polling session that never sends CONNECT is closed", async () => {
  const open = await http(`${gw.url}/socket.io/?EIO=4&transport=polling`);
  const t0 = Date.now();
  const { sid } = JSON.parse(open.body.slice(1));
  const poll = await http(`${gw.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { timeout: CONNECT_TIMEOUT + 3000 });
  assert.equal(poll.body, "1", "the waiting GET gets the close packet");
  assert.ok(Date.now() - t0 >= CONNECT_TIMEOUT - 200, `closed after ${Date.now() - t0} ms, before the timeout`);
  const after = await http(`${gw.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
  assert.equal(after.status, 400);
});
