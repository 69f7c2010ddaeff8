// A TCP proxy on 127.0.0.1 in front of a gateway, whose `cut()` drops every connection through
// it at once (a reset, no close frame, no Engine.IO close packet): what a client sees when its
// network goes away. New connections keep being accepted, so the client can come back.
import net from "node:net";

export async function startCutProxy(targetPort) {
  const open = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    const pair = [client, upstream];
    pair.forEach((s) => open.add(s));
    const end = () => pair.forEach((s) => { s.destroy(); open.delete(s); });
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    /** Drops every connection through the proxy now; returns how many there were. */
    cut() {
      const n = open.size;
      for (const s of [...open]) {
        if (typeof s.resetAndDestroy === "function") s.resetAndDestroy(); else s.destroy();
        open.delete(s);
      }
      return n;
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
