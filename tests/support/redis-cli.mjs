// Reads a test redis-server through redis-cli, plus a bounded poll for values written in the background.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const BINARY = existsSync("/usr/bin/redis-cli") ? "/usr/bin/redis-cli" : "redis-cli";

/** Runs one command on 127.0.0.1:`port`; resolves with the raw reply text, trailing newline removed. */
export async function redisCli(port, ...args) {
  const { stdout } = await execFileAsync(BINARY, ["-h", "127.0.0.1", "-p", String(port), "--raw", ...args.map(String)], {
    timeout: 5000,
  });
  return stdout.replace(/\n$/, "");
}

/** A client bound to one port. `get` resolves with null for a missing key. */
export function redisAt(port) {
  return {
    port,
    cli: (...args) => redisCli(port, ...args),
    async get(key) {
      // GET prints an empty line for both "" and nil under --raw; EXISTS tells them apart.
      const [exists, value] = [await redisCli(port, "EXISTS", key), await redisCli(port, "GET", key)];
      return exists === "1" ? value : null;
    },
    ttl: async (key) => Number(await redisCli(port, "TTL", key)),
    pttl: async (key) => Number(await redisCli(port, "PTTL", key)),
    async keys(pattern) {
      const out = await redisCli(port, "KEYS", pattern);
      return out === "" ? [] : out.split("\n");
    },
  };
}

/**
 * Calls `read` every `intervalMs` until `accept(value)` holds or `timeoutMs` passed.
 * Resolves with { ok, value, elapsedMs } where value is the last one read.
 */
export async function pollUntil(read, accept, { timeoutMs = 5000, intervalMs = 50 } = {}) {
  const start = performance.now();
  let value;
  for (;;) {
    try { value = await read(); } catch (err) { value = err; }
    if (!(value instanceof Error) && accept(value)) return { ok: true, value, elapsedMs: performance.now() - start };
    if (performance.now() - start >= timeoutMs) return { ok: false, value, elapsedMs: performance.now() - start };
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
