// Every token placement with every transport setting, and the routing table's rows.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { PLACEMENTS, withToken, connect, next, ask, sleep } from "../support/client.mjs";
import { http, Wire } from "../support/wire.mjs";

const TRANSPORTS = {
  default: {},
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
};

let gw;
before(async () => { gw = await startGateway(); });
after(async () => { await gw?.stop(); });

describe("placement x transport", () => {
  for (const placement of PLACEMENTS) {
    for (const [name, opts] of Object.entries(TRANSPORTS)) {
      test(`${placement} token with ${name} transports`, async () => {
        const user = `matrix-${placement}-${name}`;
        const s = await connect(gw.url, withToken(placement, gw.token(user), opts));
        try {
          if (name === "default") {
            // the client upgrades right after connecting
            if (s.io.engine.transport.name !== "websocket") await next(s.io.engine, "upgrade", 5000);
            assert.equal(s.io.engine.transport.name, "websocket");
          } else {
            assert.equal(s.io.engine.transport.name, name);
          }
          const r = await ask(s, `${placement}/${name}`);
          assert.deepEqual(
            { prompt: r.prompt, response: r.response },
            { prompt: `${placement}/${name}`, response: `Echo: ${placement}/${name}` },
          );
          // still the same socket after the upgrade, and still answered
          assert.equal((await ask(s, "again")).response, "Echo: again");
        } finally { s.close(); }
      });
    }
  }
});

describe("routing", () => {
  test("a polling session started with an auth-payload token is reached from its sid alone", async () => {
    // default transports: polls, POSTs and the upgrade all carry only the sid
    const s = await connect(gw.url, withToken("auth", gw.token("gate-user"), { upgrade: false }));
    try {
      assert.equal(s.io.engine.transport.name, "polling");
      for (let i = 0; i < 5; i++) assert.equal((await ask(s, `p${i}`)).response, `Echo: p${i}`);
    } finally { s.close(); }
  });

  test("a forged or stale sid gets 400 Session ID unknown", async () => {
    const forged = ["nope", "A".repeat(59), Buffer.alloc(44, 7).toString("base64url")];
    const s = await connect(gw.url, withToken("header", gw.token("stale-user"), { transports: ["polling"] }));
    const stale = s.io.engine.id;
    s.close();
    await sleep(300);
    for (const sid of [...forged, stale]) {
      const r = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`);
      assert.equal(r.status, 400, sid);
      assert.deepEqual(await r.json(), { code: 1, message: "Session ID unknown" });
    }
  });

  test("a header token and an auth-payload token of different users are refused", async () => {
    const opts = withToken("header", gw.token("alice-mix"), { transports: ["websocket"], auth: { token: gw.token("bob-mix") } });
    await assert.rejects(connect(gw.url, opts), (err) => err.data?.code === "TOKEN_MISMATCH");
    const same = withToken("header", gw.token("carol-mix"), { transports: ["websocket"], auth: { token: gw.token("carol-mix") } });
    const s = await connect(gw.url, same);
    s.close();
  });

  test("replacement works across transports and routes", async () => {
    const polling = await connect(gw.url, withToken("auth", gw.token("cross-user"), { transports: ["polling"] }));
    const replaced = next(polling, "disconnect");
    const ws = await connect(gw.url, withToken("query", gw.token("cross-user"), { transports: ["websocket"] }));
    try {
      assert.equal(await replaced, "io server disconnect");
      assert.equal((await ask(ws, "winner")).response, "Echo: winner");
    } finally { polling.close(); ws.close(); }
  });
});

describe("internal x-gw-* headers from a client are stripped on every route", () => {
  // Each header the Worker sets for the object, with a value that would matter if it got through.
  const forged = (victim) => ({
    "x-gw-user": victim,
    "X-Gw-User": victim,
    "x-gw-auth": "TOKEN_EXPIRED",
    "x-gw-relay-sid": "chosen-by-the-client",
    "x-gw-cors-origin": "http://evil.example",
    "x-gw-oversize": "1",
  });
  const base = () => `${gw.url}/socket.io/?EIO=4&transport=polling`;
  const sidUrl = (sid) => `${base()}&sid=${encodeURIComponent(sid)}`;
  const wsBase = () => `${gw.url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`;
  const noCors = (r, where) => assert.equal(r.headers.get("access-control-allow-origin"), null, `${where}: a forged CORS origin was echoed`);
  const connectError = (packet) => JSON.parse(packet.replace(/^44/, "")).data.code;

  /** The packets of the next poll that carries something other than pings. */
  async function pollPackets(sid) {
    for (let i = 0; i < 4; i++) {
      const r = await http(sidUrl(sid), { timeout: 30_000 });
      assert.equal(r.status, 200, r.body);
      const packets = r.body.split("\x1e").filter((p) => p !== "2");
      if (packets.length) return packets;
      await http(sidUrl(sid), { method: "POST", body: "3" });
    }
    throw new Error("no packet in 4 polls");
  }

  test("polling handshake and CONNECT without a token: TOKEN_MISSING, not the forged user", async () => {
    const r = await http(base(), { headers: forged("victim-1") });
    assert.equal(r.status, 200, r.body);
    noCors(r, "handshake");
    const sid = JSON.parse(r.body.slice(1)).sid;
    assert.notEqual(sid, "chosen-by-the-client");
    const post = await http(sidUrl(sid), { method: "POST", body: "40", headers: forged("victim-1") });
    assert.equal(post.body, "ok", "x-gw-oversize on a POST was ignored");
    noCors(post, "POST");
    const [packet] = await pollPackets(sid);
    assert.equal(connectError(packet), "TOKEN_MISSING");
  });

  test("polling GET and POST on a gate's sid cannot claim the session for another user", async () => {
    const attacker = "attacker-polling";
    const open = await http(base());
    const sid = JSON.parse(open.body.slice(1)).sid;
    // A held GET with forged headers reaches the gate before the CONNECT does.
    const held = http(sidUrl(sid), { headers: forged("victim-2"), timeout: 30_000 });
    await sleep(300);
    const post = await http(sidUrl(sid), { method: "POST", body: `40${JSON.stringify({ token: gw.token(attacker) })}`, headers: forged("victim-2") });
    assert.equal(post.status, 200, post.body);
    assert.equal(post.body, "ok");
    noCors(post, "POST");
    const first = await held;
    noCors(first, "GET");
    const packets = [...first.body.split("\x1e"), ...(first.body.includes("40{") ? [] : await pollPackets(sid))].filter((p) => p !== "2" && p !== "6");
    assert.match(packets[0], /^40\{"sid":/, `the CONNECT was accepted for the token's user: ${JSON.stringify(packets)}`);
  });

  test("the upgrade of a gate's session cannot claim it for another user", async () => {
    const attacker = "attacker-upgrade";
    const open = await http(base());
    const sid = JSON.parse(open.body.slice(1)).sid;
    const w = new Wire(`${wsBase()}&sid=${encodeURIComponent(sid)}`, { autoPong: true, headers: forged("victim-3") });
    try {
      await sleep(300);
      const post = await http(sidUrl(sid), { method: "POST", body: `40${JSON.stringify({ token: gw.token(attacker) })}` });
      assert.equal(post.body, "ok");
      const packets = (await pollPackets(sid)).filter((p) => p !== "6");
      assert.match(packets[0], /^40\{"sid":/, `the CONNECT was accepted for the token's user: ${JSON.stringify(packets)}`);
      await w.opened(10_000);
      w.send("2probe");
      assert.equal(await w.nextText(5000), "3probe");
    } finally { w.close(); }
  });

  test("a relayed WebSocket without a token: TOKEN_MISSING, not the forged user", async () => {
    const w = new Wire(wsBase(), { autoPong: true, headers: forged("victim-4") });
    try {
      const open = await w.nextText(5000);
      assert.notEqual(JSON.parse(open.slice(1)).sid, "chosen-by-the-client");
      w.send("40");
      assert.equal(connectError(await w.nextText(5000)), "TOKEN_MISSING");
    } finally { w.close(); }
  });

  test("a WebSocket routed by a token gets its own open packet and user, whatever the headers say", async () => {
    const victim = await connect(gw.url, withToken("auth", gw.token("victim-5"), { transports: ["websocket"] }));
    let replaced = null;
    victim.on("disconnect", (reason) => { replaced = reason; });
    const w = new Wire(`${wsBase()}&token=${gw.token("attacker-ws")}`, { autoPong: true, headers: forged("victim-5") });
    try {
      const open = await w.nextText(5000);
      assert.match(open, /^0\{"sid":/, "the open packet was sent (no forged relay sid)");
      assert.notEqual(JSON.parse(open.slice(1)).sid, "chosen-by-the-client");
      w.send("40");
      assert.match(await w.nextText(5000), /^40\{"sid":/);
      await sleep(500);
      assert.equal(replaced, null, "the forged user's connection was replaced");
      assert.equal((await ask(victim, "untouched")).response, "Echo: untouched");
    } finally { w.close(); victim.close(); }
  });
});
