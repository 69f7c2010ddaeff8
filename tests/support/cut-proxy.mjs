// A TCP proxy on 127.0.0.1 in front of a gateway. `cut()` drops every connection through it at
// once (a reset, no close frame, no Engine.IO close packet): what a client sees when its network
// goes away. `halfCut()` drops only the client's side and keeps the gateway's side open and
// silent: a half-dead transport the gateway has not noticed. New connections keep being
// accepted, so the client can come back.
import net from "node:net";

export async function startCutProxy(targetPort) {
  const pairs = new Set();
  const zombies = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => { client.destroy(); upstream.destroy(); pairs.delete(pair); };
    for (const s of [client, upstream]) { s.on("error", end); s.on("close", end); }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  const reset = (s) => (typeof s.resetAndDestroy === "function" ? s.resetAndDestroy() : s.destroy());
  return {
    url: `http://127.0.0.1:${port}`,
    /** Drops every connection through the proxy now; returns how many there were. */
    cut() {
      const n = pairs.size;
      for (const p of [...pairs]) { pairs.delete(p); reset(p.client); reset(p.upstream); }
      return n;
    },
    /** Drops the clients' sides only; the gateway's sides stay open, read and never answered. */
    halfCut() {
      const n = pairs.size;
      for (const p of [...pairs]) {
        pairs.delete(p);
        p.client.unpipe(p.upstream);
        p.upstream.unpipe(p.client);
        p.upstream.removeAllListeners("close");
        p.upstream.removeAllListeners("error");
        p.upstream.on("error", () => {});
        p.upstream.resume();
        zombies.add(p.upstream);
        p.client.removeAllListeners("close");
        p.client.on("error", () => {});
        reset(p.client);
      }
      return n;
    },
    close() {
      this.cut();
      for (const z of zombies) z.destroy();
      zombies.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
