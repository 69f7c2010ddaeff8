// The protocol cases of tests/conformance/ (heartbeat, malformed packets, binary attachments,
// the payload limit) on the sessions users get: authenticated, outside conformance mode, over
// every route a first request can take: a WebSocket routed by its query token, a relayed
// WebSocket (token in the CONNECT payload), polling routed by a header token, and polling
// started by a gate (token in the CONNECT payload).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { http, Wire, Poller } from "../support/wire.mjs";
import { withToken, connect, ask, sleep } from "../support/client.mjs";

const PING_INTERVAL = 500;
const PING_TIMEOUT = 400;
const MAX_PAYLOAD = 1024;
const SLACK = 1000;
const SEP = "\x1e";

let gw;
before(async () => {
  gw = await startGateway({
    vars: { PING_INTERVAL_MS: String(PING_INTERVAL), PING_TIMEOUT_MS: String(PING_TIMEOUT), MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD) },
  });
});
after(async () => { await gw?.stop(); });

let users = 0;
const freshUser = (label) => `proto-${label}-${++users}`;
const wsUrl = (query = "") => `${gw.url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket${query}`;
const CONNECTED = /^40\{"sid":"[^"]+"\}$/;

/** A polling session of this file's gateway, checked against its settings. */
async function openPoller(headers = {}) {
  const p = await Poller.open(`${gw.url}/socket.io/`, headers);
  assert.equal(p.open.pingInterval, PING_INTERVAL);
  assert.equal(p.open.maxPayload, MAX_PAYLOAD);
  return p;
}

/** Opens a WebSocket session and returns it once the open packet arrived. */
async function openWire(query, opts) {
  const w = new Wire(wsUrl(query), opts);
  const open = await w.nextText(5000);
  assert.equal(open[0], "0", open);
  assert.equal(JSON.parse(open.slice(1)).maxPayload, MAX_PAYLOAD);
  return w;
}

/** Each route: `open(user)` returns an Engine.IO session not yet connected, `join` connects it. */
const ROUTES = {
  "WebSocket routed by a query token": {
    ws: true,
    open: (user, opts) => openWire(`&token=${gw.token(user)}`, opts),
    connectPacket: () => "40",
  },
  "relayed WebSocket (auth-payload token)": {
    ws: true,
    open: (user, opts) => openWire("", opts),
    connectPacket: (user) => `40${JSON.stringify({ token: gw.token(user) })}`,
  },
  "polling routed by a header token": {
    ws: false,
    open: (user) => openPoller({ Authorization: `Bearer ${gw.token(user)}` }),
    connectPacket: () => "40",
  },
  "polling started by a gate (auth-payload token)": {
    ws: false,
    open: () => openPoller(),
    connectPacket: (user) => `40${JSON.stringify({ token: gw.token(user) })}`,
  },
};

/** A session of `route` joined to the main namespace as a fresh user. */
async function joined(route, label, opts = { autoPong: true }) {
  const user = freshUser(label);
  const s = await route.open(user, opts);
  if (route.ws) {
    s.send(route.connectPacket(user));
    assert.match(await s.nextText(5000), CONNECTED);
  } else {
    await s.send(route.connectPacket(user));
    assert.match((await s.receive(1))[0], CONNECTED);
  }
  return s;
}

const promptEvent = (prompt, extra = "") => `42["send-prompt",{"prompt":${JSON.stringify(prompt)}${extra}}]`;
const placeholder = (num) => `{"_placeholder":true,"num":${num}}`;

/** Asserts `packet` is a prompt-response for `prompt`. */
function assertResponse(packet, prompt) {
  assert.match(packet, /^42\["prompt-response",/);
  const [, body] = JSON.parse(packet.slice(2));
  assert.equal(body.prompt, prompt);
  assert.equal(body.response, `Echo: ${prompt}`);
}

for (const [name, route] of Object.entries(ROUTES)) {
  describe(name, () => {
    if (route.ws) {
      test("heartbeat: three ping/pong cycles, each pong answered with a noop, then a missed pong closes", async () => {
        const w = await joined(route, "beat", { autoPong: false });
        try {
          for (let i = 0; i < 3; i++) {
            assert.equal(await w.nextText(PING_INTERVAL + SLACK), "2", `ping ${i + 1}`);
            w.send("3");
          }
          assert.equal(await w.nextText(PING_INTERVAL + SLACK), "2", "fourth ping");
          assert.equal(w.noops, 3, "the runtime answered each pong with a 6");
          assert.equal(await w.waitClose(PING_TIMEOUT + SLACK), 1000);
          assert.deepEqual(w.frames, [], "nothing but pings before the close");
        } finally { w.close(); }
      });
    } else {
      test("heartbeat: three ping/pong cycles, then a missed pong ends the session", async () => {
        const p = await joined(route, "beat");
        p.pongs = false;
        for (let i = 0; i < 3; i++) {
          const r = await http(p.url);
          assert.equal(r.body, "2", `ping ${i + 1}`);
          await p.send("3");
        }
        // The next ping is never answered.
        const r = await http(p.url);
        assert.equal(r.body, "2");
        await sleep(PING_TIMEOUT + 500);
        await p.assertClosed();
      });
    }

    test("the stock client keeps the session through several ping intervals", async () => {
      const placement = name.includes("query") ? "query" : name.includes("header") ? "header" : "auth";
      const transports = route.ws ? ["websocket"] : ["polling"];
      const s = await connect(gw.url, withToken(placement, gw.token(freshUser("stock")), { transports }));
      try {
        let lost = null;
        s.on("disconnect", (reason) => { lost = reason; });
        await sleep(PING_INTERVAL * 4 + PING_TIMEOUT);
        assert.equal(lost, null);
        assert.equal((await ask(s, "alive")).response, "Echo: alive");
        // Binary attachments on a prompt, reassembled by the gateway.
        assert.equal((await ask(s, "with bytes", 10_000, { blob: Buffer.from([1, 2, 3]), nested: [Buffer.alloc(5, 9)] })).response, "Echo: with bytes");
      } finally { s.close(); }
    });

    test("binary: a send-prompt with two attachments is reassembled and answered", async () => {
      const head = `452-["send-prompt",{"prompt":"bin","a":${placeholder(0)},"b":[${placeholder(1)}]}]`;
      if (route.ws) {
        const w = await joined(route, "bin");
        try {
          w.send(head);
          w.send(Uint8Array.from([1, 2, 3]));
          w.send(Uint8Array.from([4, 5]));
          assertResponse(await w.nextText(), "bin");
          w.send(promptEvent("after bin"));
          assertResponse(await w.nextText(), "after bin");
        } finally { w.close(); }
      } else {
        const p = await joined(route, "bin");
        await p.send(head, "bAQID");
        await p.send("bBAU=");
        assertResponse((await p.receive(1))[0], "bin");
      }
    });

    const malformed = [
      ["an unknown packet type", ["4abc"]],
      ["an object payload for an event", ["42{}"]],
      ["an invalid ack id", ['42abc["send-prompt",{"prompt":"x"}]']],
      ["a placeholder beyond the announced attachments", [`451-["send-prompt",{"prompt":"x","f":${placeholder(1)}}]`]],
      ["an attachment nobody announced", [{ binary: [1, 2, 3] }]],
      ["a text packet while an attachment is awaited", [`451-["send-prompt",{"prompt":"x","f":${placeholder(0)}}]`, promptEvent("y")]],
    ];
    for (const [what, packets] of malformed) {
      test(`${what} closes the connection`, async () => {
        if (route.ws) {
          const w = await joined(route, "bad");
          try {
            for (const p of packets) w.send(typeof p === "string" ? p : Uint8Array.from(p.binary));
            assert.equal(await w.waitClose(3000), 1000);
            assert.deepEqual(w.frames, [], "no answer before the close");
          } finally { w.close(); }
        } else {
          const p = await joined(route, "bad");
          const body = packets.map((x) => (typeof x === "string" ? x : `b${Buffer.from(x.binary).toString("base64")}`)).join(SEP);
          const r = await p.post(body);
          assert.ok(r.status === 400 || (r.status === 200 && r.body === "ok"), `POST answered ${r.status} ${r.body}`);
          await p.assertClosed();
        }
      });
    }

    test("a first packet that is not a CONNECT closes the connection", async () => {
      const user = freshUser("first");
      if (route.ws) {
        const w = await route.open(user, { autoPong: true });
        try {
          w.send(promptEvent("too early"));
          assert.equal(await w.waitClose(3000), 1000);
          assert.deepEqual(w.frames, []);
        } finally { w.close(); }
      } else {
        const p = await route.open(user);
        const r = await p.post(promptEvent("too early"));
        assert.ok(r.status === 400 || (r.status === 200 && r.body === "ok"), `POST answered ${r.status} ${r.body}`);
        await p.assertClosed();
      }
    });

    test("payload limit: exactly maxPayload bytes pass, one more closes", async () => {
      // A prompt event padded to the byte count wanted.
      const sized = (n) => {
        const bare = promptEvent("");
        return promptEvent("p".repeat(n - bare.length));
      };
      if (route.ws) {
        const w = await joined(route, "limit");
        try {
          const exact = sized(MAX_PAYLOAD);
          assert.equal(Buffer.byteLength(exact), MAX_PAYLOAD);
          w.send(exact);
          assert.match(await w.nextText(), /^42\["prompt-response",/);
          w.send(sized(MAX_PAYLOAD + 1));
          assert.equal(await w.waitClose(3000), 1009, "Message Too Big");
          assert.deepEqual(w.frames, []);
        } finally { w.close(); }
      } else {
        const p = await joined(route, "limit");
        const exact = sized(MAX_PAYLOAD);
        await p.send(exact);
        assert.match((await p.receive(1))[0], /^42\["prompt-response",/);
        const r = await p.post(sized(MAX_PAYLOAD + 1));
        assert.equal(r.status, 413);
        await p.assertClosed();
      }
    });
  });
}

test("no uncaught error in the runtime", {
  todo: "the runtime logs 'Uncaught Error: Network connection lost.' when a relayed WebSocket's client drops its TCP connection (ws terminate); a bare JavaScript relay (bench/floor's /relay) logs the same, and leaving the lost socket unclosed is reported as a hung request instead",
}, () => {
  const lines = gw.logs().split("\n").filter((l) => /Uncaught/.test(l));
  assert.deepEqual(lines, []);
});
