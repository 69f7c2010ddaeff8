// Socket.IO v5 on the wire over Engine.IO v4: CONNECT with and without a payload, namespaces,
// DISCONNECT, events, acks, binary events and binary acks over both transports, malformed
// packets; then the stock client against the same conformance server.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { connect, next, sleep } from "../support/client.mjs";
import { http, Wire, Poller, startConformanceGateway, PING_INTERVAL, PING_TIMEOUT } from "../support/wire.mjs";

const SLACK = 1000;
const SEP = "\x1e";
const PATH = "/socket.io/";
const SID_PAYLOAD = /^\{"sid":"[^"]+"\}$/;

let gw;

before(async () => {
  gw = await startConformanceGateway();
});
after(async () => { await gw?.stop(); });

/** `{"_placeholder":true,"num":n}` for each n. */
const placeholders = (...nums) => nums.map((num) => JSON.stringify({ _placeholder: true, num })).join(",");

// ----- polling -----


/** A polling session connected to the main namespace (CONNECT answer and `auth` consumed). */
async function pollerConnected(connectPacket = "40") {
  const p = await Poller.open(`${gw.url}${PATH}`);
  await p.send(connectPacket);
  const [ok, auth] = await p.receive(2);
  assert.ok(ok.startsWith("40"), ok);
  assert.match(ok.slice(2), SID_PAYLOAD);
  assert.equal(auth, '42["auth",{}]');
  return p;
}

// ----- WebSocket -----

/** A WebSocket-only Engine.IO session (open packet consumed). */
async function openWire(opts) {
  const w = new Wire(`${gw.url.replace(/^http/, "ws")}${PATH}?EIO=4&transport=websocket`, { autoPong: true, ...opts });
  const open = await w.nextText(5000);
  assert.equal(open[0], "0", open);
  return w;
}

/** A WebSocket session connected to the main namespace (CONNECT answer and `auth` consumed). */
async function wireConnected() {
  const w = await openWire();
  w.send("40");
  const ok = await w.nextText();
  assert.ok(ok.startsWith("40"), ok);
  assert.match(ok.slice(2), SID_PAYLOAD);
  assert.equal(await w.nextText(), '42["auth",{}]');
  return w;
}

// ----- tests -----

describe("CONNECT", () => {
  const cases = [
    ["main namespace without a payload", "40", "40", '42["auth",{}]'],
    ["main namespace with a payload", '40{"token":"123"}', "40", '42["auth",{"token":"123"}]'],
    ["main namespace with a nested payload", '40{"a":[1,{"b":null}],"c":"\u00e9\u20ac"}', "40", '42["auth",{"a":[1,{"b":null}],"c":"\u00e9\u20ac"}]'],
    ["/custom without a payload", "40/custom,", "40/custom,", '42/custom,["auth",{}]'],
    ["/custom without the trailing comma", "40/custom", "40/custom,", '42/custom,["auth",{}]'],
    ["/custom with a payload", '40/custom,{"token":"abc"}', "40/custom,", '42/custom,["auth",{"token":"abc"}]'],
  ];
  for (const [name, packet, prefix, auth] of cases) {
    test(`websocket: ${name}`, async () => {
      const w = await openWire();
      try {
        w.send(packet);
        const ok = await w.nextText();
        assert.ok(ok.startsWith(prefix), ok);
        const payload = ok.slice(prefix.length);
        assert.match(payload, SID_PAYLOAD);
        assert.deepEqual(Object.keys(JSON.parse(payload)), ["sid"]);
        assert.equal(await w.nextText(), auth);
      } finally { w.close(); }
    });
  }

  test("polling: CONNECT with a payload", async () => {
    const p = await Poller.open(`${gw.url}${PATH}`);
    await p.send('40{"token":"via-polling"}');
    const [ok, auth] = await p.receive(2);
    assert.ok(ok.startsWith("40"), ok);
    assert.match(ok.slice(2), SID_PAYLOAD);
    assert.equal(auth, '42["auth",{"token":"via-polling"}]');
  });

  test("the Socket.IO sids of two connections differ", async () => {
    const a = await openWire();
    const b = await openWire();
    try {
      a.send("40");
      b.send("40");
      const sa = JSON.parse((await a.nextText()).slice(2)).sid;
      const sb = JSON.parse((await b.nextText()).slice(2)).sid;
      assert.notEqual(sa, sb);
    } finally { a.close(); b.close(); }
  });

  test("main namespace and /custom on one connection", async () => {
    const w = await wireConnected();
    try {
      w.send("40/custom,");
      assert.match(await w.nextText(), /^40\/custom,\{"sid":"[^"]+"\}$/);
      assert.equal(await w.nextText(), '42/custom,["auth",{}]');
      w.send('42["message","still main"]');
      assert.equal(await w.nextText(), '42["message-back","still main"]');
    } finally { w.close(); }
  });

  test("an unknown namespace gets CONNECT_ERROR and the main namespace stays usable", async () => {
    const w = await openWire();
    try {
      w.send("40/random");
      assert.equal(await w.nextText(), '44/random,{"message":"Invalid namespace"}');
      w.send("40");
      assert.match(await w.nextText(), /^40\{"sid":"[^"]+"\}$/);
      assert.equal(await w.nextText(), '42["auth",{}]');
      w.send("40/other,");
      assert.equal(await w.nextText(), '44/other,{"message":"Invalid namespace"}');
      w.send('42["message","after refusals"]');
      assert.equal(await w.nextText(), '42["message-back","after refusals"]');
      assert.ok(!w.closed);
    } finally { w.close(); }
  });
});

describe("DISCONNECT", () => {
  test("41 leaves the main namespace but keeps the Engine.IO connection open", async () => {
    const w = await wireConnected();
    w.autoPong = false;
    try {
      w.send("41");
      assert.equal(await w.nextText(PING_INTERVAL + SLACK), "2", "a ping still arrives");
      w.send("3");
      assert.equal(await w.nextText(PING_INTERVAL + SLACK), "2", "and the next one after the pong");
      w.send("3");
      assert.ok(!w.closed);
      w.autoPong = true;
      w.send("40");
      assert.match(await w.nextText(), /^40\{"sid":"[^"]+"\}$/, "the main namespace can be joined again");
      assert.equal(await w.nextText(), '42["auth",{}]');
    } finally { w.close(); }
  });

  test("41/custom leaves /custom; the main namespace still echoes", async () => {
    const w = await wireConnected();
    try {
      w.send("40/custom");
      assert.match(await w.nextText(), /^40\/custom,\{"sid":"[^"]+"\}$/);
      assert.equal(await w.nextText(), '42/custom,["auth",{}]');
      w.send("41/custom");
      w.send('42["message","message to main namespace"]');
      assert.equal(await w.nextText(), '42["message-back","message to main namespace"]');
    } finally { w.close(); }
  });
});

describe("EVENT and ACK", () => {
  test("websocket: an event is echoed as message-back with the same arguments", async () => {
    const w = await wireConnected();
    try {
      w.send('42["message",1,"2",{"3":[true]}]');
      assert.equal(await w.nextText(), '42["message-back",1,"2",{"3":[true]}]');
      w.send('42["message",null,[],{},"\u00e9\u20ac\u{1F600}",-1.5]');
      assert.equal(await w.nextText(), '42["message-back",null,[],{},"\u00e9\u20ac\u{1F600}",-1.5]');
    } finally { w.close(); }
  });

  test("websocket: an event with an ack id is answered by an ACK with that id", async () => {
    const w = await wireConnected();
    try {
      w.send('42456["message-with-ack",1,"2",{"3":[false]}]');
      assert.equal(await w.nextText(), '43456[1,"2",{"3":[false]}]');
      w.send('420["message-with-ack"]');
      assert.equal(await w.nextText(), "430[]");
    } finally { w.close(); }
  });

  test("polling: event and ack", async () => {
    const p = await pollerConnected();
    await p.send('42["message","via polling"]', '427["message-with-ack",{"k":"v"}]');
    assert.deepEqual(await p.receive(2), ['42["message-back","via polling"]', '437[{"k":"v"}]']);
  });
});

describe("binary", () => {
  const event = `452-["message",${placeholders(0, 1)}]`;
  const eventBack = `452-["message-back",${placeholders(0, 1)}]`;
  const withAck = `452-789["message-with-ack",${placeholders(0, 1)}]`;
  const ackBack = `462-789[${placeholders(0, 1)}]`;

  test("websocket: a binary event with two attachments is echoed with both", async () => {
    const w = await wireConnected();
    try {
      w.send(event);
      w.send(Uint8Array.from([1, 2, 3]));
      w.send(Uint8Array.from([4, 5, 6]));
      assert.deepEqual(await w.next(), { text: eventBack });
      assert.deepEqual(await w.next(), { binary: Buffer.from([1, 2, 3]) });
      assert.deepEqual(await w.next(), { binary: Buffer.from([4, 5, 6]) });
    } finally { w.close(); }
  });

  test("websocket: a binary event with an ack id gets a BINARY_ACK with both attachments", async () => {
    const w = await wireConnected();
    try {
      w.send(withAck);
      w.send(Uint8Array.from([1, 2, 3]));
      w.send(Uint8Array.from([4, 5, 6]));
      assert.deepEqual(await w.next(), { text: ackBack });
      assert.deepEqual(await w.next(), { binary: Buffer.from([1, 2, 3]) });
      assert.deepEqual(await w.next(), { binary: Buffer.from([4, 5, 6]) });
    } finally { w.close(); }
  });

  test("websocket: attachments keep their order and placement inside nested arguments", async () => {
    const w = await wireConnected();
    try {
      const a = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const b = Buffer.alloc(0);
      w.send(`452-["message","x",{"deep":[${placeholders(1)}]},${placeholders(0)}]`);
      w.send(a);
      w.send(b);
      assert.deepEqual(await w.next(), { text: `452-["message-back","x",{"deep":[${placeholders(1)}]},${placeholders(0)}]` });
      assert.deepEqual(await w.next(), { binary: a });
      assert.deepEqual(await w.next(), { binary: b });
    } finally { w.close(); }
  });

  test("polling: a binary event with two attachments is echoed as b + base64", async () => {
    const p = await pollerConnected();
    await p.send(event, "bAQID", "bBAUG");
    assert.deepEqual(await p.receive(3), [eventBack, "bAQID", "bBAUG"]);
  });

  test("polling: a binary event with an ack id gets a BINARY_ACK with both attachments", async () => {
    const p = await pollerConnected();
    await p.send(withAck, "bAQID", "bBAUG");
    assert.deepEqual(await p.receive(3), [ackBack, "bAQID", "bBAUG"]);
  });

  test("polling: attachments may arrive in separate POSTs", async () => {
    const p = await pollerConnected();
    await p.send(event);
    await p.send("bAQID");
    await p.send("bBAUG");
    assert.deepEqual(await p.receive(3), [eventBack, "bAQID", "bBAUG"]);
  });
});

describe("malformed packets close the connection", () => {
  const cases = [
    ["unknown packet type", "4abc"],
    ["object payload for an event", "42{}"],
    ["invalid ack id", '42abc["message-with-ack",1,"2",{"3":[false]}]'],
    ["empty event array", "42[]"],
    ["string payload for an event", '42"message"'],
  ];
  for (const [name, packet] of cases) {
    test(`websocket: ${name} (${packet})`, async () => {
      const w = await wireConnected();
      try {
        w.send(packet);
        await w.waitClose(2000);
        assert.deepEqual(w.frames, [], "no answer before the close");
      } finally { w.close(); }
    });

    test(`polling: ${name} (${packet})`, async () => {
      const p = await pollerConnected();
      await p.send(packet);
      await p.assertClosed();
    });
  }

  const firsts = [
    ["an event", '42["message","too early"]'],
    ["an unknown packet type", "4abc"],
    ["a DISCONNECT", "41"],
  ];
  for (const [name, packet] of firsts) {
    test(`websocket: a first packet that is ${name}, not a CONNECT`, async () => {
      const w = await openWire();
      try {
        w.send(packet);
        await w.waitClose(2000);
        assert.deepEqual(w.frames, [], "no answer before the close");
      } finally { w.close(); }
    });
  }

  test("polling: a first packet that is an event, not a CONNECT", async () => {
    const p = await Poller.open(`${gw.url}${PATH}`);
    await p.send('42["message","too early"]');
    await p.assertClosed();
  });
});

describe("stock socket.io-client", () => {
  for (const transports of [["websocket"], ["polling"], ["polling", "websocket"]]) {
    const label = transports.join("+");
    const opts = (extra = {}) => ({ reconnection: false, forceNew: true, timeout: 10_000, transports, ...extra });

    test(`${label}: auth payload, emitWithAck and a Buffer round trip`, async () => {
      const s = io(gw.url, opts({ auth: { token: "stock" } }));
      try {
        // Listen before connecting: `auth` follows the CONNECT answer at once.
        const auth = next(s, "auth", 10_000);
        await next(s, "connect", 10_000);
        assert.deepEqual(await auth, { token: "stock" });
        if (transports.length === 2) {
          await new Promise((resolve) => (s.io.engine.transport.name === "websocket" ? resolve() : s.io.engine.once("upgrade", resolve)));
          assert.equal(s.io.engine.transport.name, "websocket");
        }

        const ack = await s.timeout(5000).emitWithAck("message-with-ack", { a: 1, b: ["x", null] });
        assert.deepEqual(ack, { a: 1, b: ["x", null] });

        const many = await new Promise((resolve) => s.emit("message-with-ack", 1, "2", { 3: [false] }, (...args) => resolve(args)));
        assert.deepEqual(many, [1, "2", { 3: [false] }]);

        const back = new Promise((resolve) => s.once("message-back", (...args) => resolve(args)));
        const one = Buffer.from([0, 1, 2, 253, 254, 255]);
        const two = Buffer.from("second attachment");
        s.emit("message", one, "text", { nested: two });
        const [b1, text, obj] = await back;
        assert.deepEqual(Buffer.from(b1), one);
        assert.equal(text, "text");
        assert.deepEqual(Buffer.from(obj.nested), two);

        const binAck = await s.timeout(5000).emitWithAck("message-with-ack", Buffer.from([7, 8, 9]));
        assert.deepEqual(Buffer.from(binAck), Buffer.from([7, 8, 9]));
        assert.ok(s.connected);
      } finally { s.close(); }
    });
  }

  test("the auth event of a default connection carries {}", async () => {
    const s = io(gw.url, { reconnection: false, forceNew: true, transports: ["websocket"] });
    try {
      const auth = await next(s, "auth", 10_000);
      assert.deepEqual(auth, {});
    } finally { s.close(); }
  });

  test("/custom namespace and an unknown namespace", async () => {
    const s = io(`${gw.url}/custom`, { reconnection: false, forceNew: true, transports: ["websocket"], auth: { ns: "custom" } });
    try {
      assert.deepEqual(await next(s, "auth", 10_000), { ns: "custom" });
    } finally { s.close(); }
    await assert.rejects(connect(`${gw.url}/nope`, { reconnection: false, forceNew: true, transports: ["websocket"] }), (err) => {
      assert.equal(err.message, "Invalid namespace");
      return true;
    });
  });

  test("the client answers heartbeats: still connected after several ping intervals", async () => {
    const s = await connect(gw.url, { reconnection: false, forceNew: true, transports: ["websocket"] });
    try {
      let disconnected = null;
      s.on("disconnect", (reason) => { disconnected = reason; });
      await sleep(PING_INTERVAL * 4 + PING_TIMEOUT);
      assert.equal(disconnected, null);
      const ack = await s.timeout(5000).emitWithAck("message-with-ack", "alive");
      assert.equal(ack, "alive");
    } finally { s.close(); }
  });
});
