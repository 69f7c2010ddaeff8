// Starts the built gateway under `wrangler dev --local` on 127.0.0.1 for a test file and stops
// it by process id. Each instance runs from its own copy of build/ (so a rebuild or an edit
// under src/ never reloads a running test) with its own port, inspector port and storage.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { findFreePort } from "./redis-server.mjs";
import { tokenFor } from "./jwt.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const TEST_SECRET = "test-secret-for-e2e-only";

const READY_TIMEOUT_MS = 90_000;

/**
 * @param {object} opts
 * @param {Record<string,string>} [opts.vars] Worker variables (JWT_SECRET defaults to TEST_SECRET;
 *   pass JWT_SECRET: null to leave it unset).
 */
export async function startGateway({ vars = {} } = {}) {
  const port = await findFreePort();
  const inspectorPort = await findFreePort();
  const dir = mkdtempSync(join(tmpdir(), "gateway-"));
  if (!existsSync(join(ROOT, "build", "index.js"))) throw new Error("build/ is missing: run ./scripts/build-worker");
  cpSync(join(ROOT, "build"), join(dir, "build"), { recursive: true });
  // The same configuration without its build step.
  const config = readFileSync(join(ROOT, "wrangler.toml"), "utf8").replace(/^\[build\][^[]*/m, "");
  writeFileSync(join(dir, "wrangler.toml"), config);
  const persist = join(dir, "state");
  const allVars = { JWT_SECRET: TEST_SECRET, ...vars };
  const args = [
    join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
    "dev", "--config", join(dir, "wrangler.toml"), "--local", "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(inspectorPort), "--persist-to", persist,
  ];
  for (const [k, v] of Object.entries(allVars)) {
    if (v !== null && v !== undefined) args.push("--var", `${k}:${v}`);
  }
  const child = spawn(process.execPath, args, {
    cwd: dir,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_SEND_ERROR_REPORTS: "false",
      WRANGLER_HIDE_BANNER: "true",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      NO_COLOR: "1",
      FORCE_COLOR: "0",
    },
  });
  let output = "";
  const onData = (d) => { output += d.toString(); };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const url = `http://127.0.0.1:${port}`;

  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev not ready in ${READY_TIMEOUT_MS} ms:\n${output}`)), READY_TIMEOUT_MS);
    const check = () => {
      if (/Ready on http/.test(output)) { clearTimeout(timer); resolve(); }
    };
    child.stdout.on("data", check);
    child.stderr.on("data", check);
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`wrangler dev exited with ${code}:\n${output}`)); });
  });
  // The runtime answers slightly after it prints "Ready".
  for (let i = 0; i < 50; i++) {
    try { await fetch(`${url}/`); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }

  let stopped = false;
  return {
    url,
    port,
    pid: child.pid,
    /** Everything wrangler and the Worker printed so far. */
    logs: () => output,
    /** Log lines the gateway wrote as JSON objects. */
    // wrangler colours warnings and errors even with NO_COLOR, so codes are stripped first.
    jsonLogs: () => output.replace(/\x1b\[[0-9;]*m/g, "").split("\n").flatMap((l) => {
      const i = l.indexOf("{\"level\"");
      if (i < 0) return [];
      try { return [JSON.parse(l.slice(i))]; } catch { return []; }
    }),
    token: (sub, ttl = 3600, extra = {}) => tokenFor(allVars.JWT_SECRET ?? TEST_SECRET, sub, ttl, extra),
    async stop() {
      if (stopped) return;
      stopped = true;
      const exited = new Promise((r) => child.once("exit", r));
      try { process.kill(-child.pid, "SIGTERM"); } catch {}
      const t = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch {} }, 3000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
