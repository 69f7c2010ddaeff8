// Starts a throwaway redis-server for tests. Stopping and starting again on the
// same port is supported so tests can simulate an outage and a recovery.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const READY_TIMEOUT_MS = 5000;
const KILL_GRACE_MS = 2000;
const OUTPUT_TAIL_CHARS = 4000;

function redisServerBinary() {
  return existsSync("/usr/bin/redis-server") ? "/usr/bin/redis-server" : "redis-server";
}

// Racy by nature (the port is free only at the moment we look), but good enough
// for loopback test processes.
export function findFreePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Asks for PING and the server's pid, so a stray Redis already holding the port
// is not mistaken for the one we just spawned.
function probe(port, expectedPid, timeoutMs = 500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let text = "";
    const done = (ready) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ready);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on("connect", () => {
      socket.write("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n");
    });
    socket.on("data", (chunk) => {
      text += chunk.toString("utf8");
      if (!text.startsWith("+PONG\r\n")) {
        if (text.includes("\r\n")) done(false);
        return;
      }
      const match = /process_id:(\d+)\r\n/.exec(text);
      if (match) done(Number(match[1]) === expectedPid);
    });
    socket.on("error", () => done(false));
  });
}

export async function startRedisServer({ port } = {}) {
  const redisPort = port ?? (await findFreePort());
  // --save "" already disables snapshots; a private dir guarantees nothing lands in the repo.
  const dir = mkdtempSync(path.join(os.tmpdir(), "redis-test-"));
  const child = spawn(
    redisServerBinary(),
    [
      "--port", String(redisPort),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--daemonize", "no",
      "--dir", dir,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );

  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout = (stdout + chunk).slice(-OUTPUT_TAIL_CHARS);
  });
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-OUTPUT_TAIL_CHARS);
  });

  let exitInfo = null;
  let spawnError = null;
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      resolve();
    });
    // 'exit' is not guaranteed after a spawn failure, so settle here too.
    child.once("error", (err) => {
      spawnError = err;
      resolve();
    });
  });

  const describeOutput = () =>
    `stderr:\n${stderr.trim() || "(empty)"}\nstdout:\n${stdout.trim() || "(empty)"}`;

  let stopping = null;
  const stop = () => {
    stopping ??= (async () => {
      if (exitInfo === null && spawnError === null) {
        try {
          process.kill(child.pid, "SIGTERM");
        } catch {
          // Already gone.
        }
        const escalate = setTimeout(() => {
          try {
            process.kill(child.pid, "SIGKILL");
          } catch {
            // Exited during the grace period.
          }
        }, KILL_GRACE_MS);
        await exited;
        clearTimeout(escalate);
      }
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) {
      await stop();
      throw new Error(`could not spawn redis-server: ${spawnError.message}`);
    }
    if (exitInfo) {
      await stop();
      throw new Error(
        `redis-server on port ${redisPort} exited early ` +
          `(code ${exitInfo.code}, signal ${exitInfo.signal})\n${describeOutput()}`,
      );
    }
    if (await probe(redisPort, child.pid)) break;
    if (Date.now() >= deadline) {
      await stop();
      throw new Error(
        `redis-server on port ${redisPort} did not answer PING within ${READY_TIMEOUT_MS} ms\n${describeOutput()}`,
      );
    }
    await sleep(50);
  }

  return { port: redisPort, pid: child.pid, stop };
}
