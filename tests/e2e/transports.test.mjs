// Every token placement with every transport setting, and the routing table's rows.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { PLACEMENTS, withToken, connect, next, ask, sleep } from "../support/client.mjs";

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

  test("internal headers from a client are ignored", async () => {
    // claiming to be an authenticated user without a token must not work
    const r = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling`, { headers: { "x-gw-user": "victim" } });
    assert.equal(r.status, 200);
    const sid = JSON.parse((await r.text()).slice(1)).sid;
    const post = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "40" });
    assert.equal(await post.text(), "ok");
    const poll = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    const body = await poll.text();
    assert.match(body, /^44\{/);
    assert.equal(JSON.parse(body.slice(2)).data.code, "TOKEN_MISSING");
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
