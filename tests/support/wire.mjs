// Raw HTTP and WebSocket clients for protocol-level tests.
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startGateway } from "./gateway.mjs";

/** The heartbeat the protocol tests run with, as the official suites expect. */
export const PING_INTERVAL = 300;
export const PING_TIMEOUT = 200;

/** A gateway in the test-only conformance mode with that heartbeat. */
export function startConformanceGateway() {
  return startGateway({
    vars: { SOCKETIO_CONFORMANCE: "1", PING_INTERVAL_MS: String(PING_INTERVAL), PING_TIMEOUT_MS: String(PING_TIMEOUT) },
  });
}

/** A request that resolves with `{ status, headers, body }` or rejects after `timeout` ms. */
export async function http(url, { method = "GET", body, headers, timeout = 5000 } = {}) {
  let res;
  try {
    res = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(timeout) });
  } catch (err) {
    if (err.name === "TimeoutError") throw new Error(`${method} ${url} got no answer within ${timeout} ms`);
    throw err;
  }
  return { status: res.status, headers: res.headers, body: await res.text() };
}

export /**
 * A raw WebSocket that queues what it receives. `6` (noop) frames, which the runtime sends in
 * answer to each client pong, are counted in `noops` and left out of the queue unless
 * `keepNoops` is set. With `autoPong`, server pings are answered and hidden.
 * `closeCode()` is the code of the server's close frame as soon as it arrives.
 */
class Wire {
  constructor(url, { autoPong = false, keepNoops = false, headers } = {}) {
    this.autoPong = autoPong;
    this.keepNoops = keepNoops;
    this.noops = 0;
    this.frames = [];
    this.wakers = [];
    this.closed = false;
    this.closeCode = undefined;
    this.ws = new WebSocket(url, headers ? { headers } : {});
    this.ws.on("error", () => {});
    this.ws.on("message", (data, isBinary) => {
      const frame = isBinary ? { binary: Buffer.from(data) } : { text: data.toString("utf8") };
      if (frame.text === "6") {
        this.noops++;
        if (!this.keepNoops) return;
      }
      if (this.autoPong && frame.text === "2") { this.ws.send("3"); return; }
      this.frames.push(frame);
      this.wake();
    });
    this.ws.on("close", (code) => { this.closed = true; this.closeCode = code; this.wake(); });
  }

  /**
   * The code of the server's close frame, or undefined while none arrived. ws 8 (pinned in
   * package-lock.json) records it when the frame arrives, before the TCP connection ends,
   * which under `wrangler dev` can be about 10 s later.
   */
  receivedCloseCode() {
    if (this.ws._closeFrameReceived) return this.ws._closeCode;
    return this.closed ? this.closeCode : undefined;
  }

  wake() { for (const w of this.wakers.splice(0)) w(); }

  waitChange(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wakers.push(() => { clearTimeout(t); resolve(); });
    });
  }

  /** Resolves once the upgrade succeeded; rejects with the HTTP status of a refusal. */
  opened(ms = 5000) {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`WebSocket not open within ${ms} ms`)), ms);
      this.ws.once("open", () => { clearTimeout(t); resolve(); });
      this.ws.once("unexpected-response", (req, res) => {
        clearTimeout(t);
        let body = "";
        res.on("data", (d) => { body += d; });
        res.on("end", () => {
          const err = new Error(`refused with ${res.statusCode}`);
          err.status = res.statusCode;
          err.body = body;
          err.contentType = res.headers["content-type"];
          reject(err);
        });
      });
      this.ws.once("close", () => { clearTimeout(t); reject(new Error("closed before open")); });
    });
  }

  /** The next frame (`{ text }` or `{ binary }`). */
  async next(ms = 3000) {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error(`socket closed (${this.closeCode}) while a frame was awaited`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${ms} ms`);
      await this.waitChange(left);
    }
    return this.frames.shift();
  }

  async nextText(ms) {
    const f = await this.next(ms);
    assert.ok(f.text !== undefined, `text frame expected, got binary ${f.binary?.toString("hex")}`);
    return f.text;
  }

  /**
   * Resolves with the close code once the server closed the socket; fails after `ms`. The
   * server's close frame counts: under `wrangler dev` the runtime ends the TCP connection of a
   * client that never sent a frame about 10 s after that frame.
   */
  async waitClose(ms) {
    const deadline = Date.now() + ms;
    while (this.receivedCloseCode() === undefined) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`socket still open after ${ms} ms`);
      await this.waitChange(Math.min(left, 20));
    }
    return this.receivedCloseCode();
  }

  send(data) { this.ws.send(data); }
  close() { this.ws.terminate(); }
}

const SEP = "\x1e";

/**
 * A raw Engine.IO polling session at `base` (e.g. `${url}/socket.io/`): `send` POSTs packets,
 * `receive` returns the next packets other than pings (which it answers unless `pongs` is off),
 * `assertClosed` checks that the session is gone.
 */
export class Poller {
  static async open(base, headers = {}) {
    const r = await http(`${base}?EIO=4&transport=polling`, { headers });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body[0], "0");
    const open = JSON.parse(r.body.slice(1));
    const p = new Poller(base, open.sid);
    p.open = open;
    return p;
  }

  constructor(base, sid) {
    this.sid = sid;
    this.url = `${base}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
    this.pending = [];
    this.pongs = true;
  }

  post(body) { return http(this.url, { method: "POST", body }); }

  async send(...packets) {
    const r = await this.post(packets.join(SEP));
    assert.equal(r.status, 200, `POST answered ${r.status} ${r.body}`);
    assert.equal(r.body, "ok");
  }

  /** One GET; pings in it are answered. Returns the raw response. */
  async poll() {
    const r = await http(this.url);
    if (r.status === 200 && this.pongs) {
      const pings = r.body.split(SEP).filter((p) => p === "2").length;
      for (let i = 0; i < pings; i++) await this.send("3");
    }
    return r;
  }

  /** The next `count` packets other than pings, over at most a few polls. */
  async receive(count) {
    for (let i = 0; i < 6 && this.pending.length < count; i++) {
      const r = await this.poll();
      assert.equal(r.status, 200, `poll answered ${r.status} ${r.body}`);
      this.pending.push(...r.body.split(SEP).filter((p) => p !== "2"));
    }
    assert.ok(this.pending.length >= count, `expected ${count} packets, got ${JSON.stringify(this.pending)}`);
    return this.pending.splice(0, count);
  }

  /** The session is gone: a poll gets the close packet, then 400 Session ID unknown. */
  async assertClosed() {
    let r = await http(this.url, { timeout: 3000 });
    if (r.status === 200) {
      assert.equal(r.body, "1", `a closed session answers a poll with 400 or a close packet, got ${JSON.stringify(r.body)}`);
      r = await http(this.url, { timeout: 3000 });
    }
    assert.equal(r.status, 400, `poll after the close answered ${r.status} ${r.body}`);
    assert.deepEqual(JSON.parse(r.body), { code: 1, message: "Session ID unknown" });
  }
}
