// Starts the built gateway under `wrangler dev --local` on 127.0.0.1 for a test file and stops
// it by process id. Each instance runs from its own copy of build/ (so a rebuild or an edit
// under src/ never reloads a running test) with its own port, inspector port and storage.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { findFreePort } from "./redis-server.mjs";
import { tokenFor } from "./jwt.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const TEST_SECRET = "test-secret-for-e2e-only";

const READY_TIMEOUT_MS = 90_000;

/** Files whose change makes build/ stale: the crate, its lockfile, the Worker config and the files compiled into the wasm. */
const BUILD_INPUTS = ["src", "Cargo.toml", "Cargo.lock", "wrangler.toml", "test-websocket-auth.html", "dashboard"];

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return { path, mtime: st.mtimeMs };
  let newest = { path, mtime: 0 };
  for (const entry of readdirSync(path)) {
    const n = newestMtime(join(path, entry));
    if (n.mtime > newest.mtime) newest = n;
  }
  return newest;
}

/**
 * Refuses to test an old build: throws unless build/ exists and every file in it is newer than
 * every build input. `node --test` alone would otherwise test whatever build/ holds.
 */
export function assertFreshBuild(root = ROOT) {
  const build = join(root, "build");
  const refuse = (why) => { throw new Error(`${why}: run ./scripts/build-worker (or ./scripts/test, which builds first)`); };
  if (!existsSync(join(build, "index.js")) || !existsSync(join(build, "index_bg.wasm"))) refuse("build/ is missing");
  const oldestBuilt = Math.min(...["index.js", "index_bg.wasm"].map((f) => statSync(join(build, f)).mtimeMs));
  for (const input of BUILD_INPUTS) {
    const p = join(root, input);
    if (!existsSync(p)) continue;
    const newest = newestMtime(p);
    if (newest.mtime > oldestBuilt) refuse(`build/ is older than ${newest.path.slice(root.length + 1)}`);
  }
}

const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * The gateway's JSON log lines in `output` (complete lines only). A line that starts a log
 * object but does not parse is an error, so a check that nothing was logged cannot pass by
 * missing a line it could not read.
 */
export function parseJsonLogs(output) {
  const lines = output.replace(ANSI, "").split("\n");
  lines.pop(); // the last line may still be being written
  const bad = [];
  const parsed = lines.flatMap((l) => {
    const i = l.indexOf("{\"level\"");
    if (i < 0) return [];
    try { return [JSON.parse(l.slice(i))]; } catch { bad.push(l); return []; }
  });
  if (bad.length) throw new Error(`gateway log lines that are not JSON:\n${bad.join("\n")}`);
  return parsed;
}

/** Spawns `wrangler dev` with `args` and resolves once it answers on `url`. */
export async function launch(args, dir, url, append, output) {
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
  const start = output().length;
  const onData = (d) => append(d.toString());
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev not ready in ${READY_TIMEOUT_MS} ms:\n${output()}`)), READY_TIMEOUT_MS);
    const check = () => {
      if (/Ready on http/.test(output().slice(start))) { clearTimeout(timer); child.off("exit", onExit); resolve(); }
    };
    const onExit = (code) => { clearTimeout(timer); reject(new Error(`wrangler dev exited with ${code}:\n${output()}`)); };
    child.stdout.on("data", check);
    child.stderr.on("data", check);
    child.on("exit", onExit);
  });
  // The runtime answers slightly after it prints "Ready".
  for (let i = 0; i < 50; i++) {
    try { await fetch(`${url}/`); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  return child;
}

/**
 * @param {object} opts
 * @param {Record<string,string>} [opts.vars] Worker variables (JWT_SECRET defaults to TEST_SECRET;
 *   pass JWT_SECRET: null to leave it unset).
 * @param {boolean} [opts.assets] false: without wrangler.toml's [assets] (the test page, client
 *   bundle and dashboard are then not served), which under `wrangler dev` puts miniflare's asset
 *   router in front of every request; the floor bench measures what that hop costs.
 */
export async function startGateway(opts = {}) {
  // Ports are found free and then bound by another process (wrangler picks some of its own), so
  // two gateways starting at once can collide; a start that lost such a race is tried again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGatewayOnce(opts);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use|EADDRINUSE/.test(String(e?.message))) throw e;
    }
  }
}

async function startGatewayOnce({ vars = {}, assets = true } = {}) {
  const port = await findFreePort();
  const inspectorPort = await findFreePort();
  // Checked before the directory exists: a refused start leaves nothing behind.
  assertFreshBuild();
  const dir = mkdtempSync(join(tmpdir(), "gateway-"));
  try {
    cpSync(join(ROOT, "build"), join(dir, "build"), { recursive: true });
    // The same configuration without its build step.
    let config = readFileSync(join(ROOT, "wrangler.toml"), "utf8").replace(/^\[build\][^[]*/m, "");
    if (!assets) config = config.replace(/^\[assets\][^[]*/m, "");
    writeFileSync(join(dir, "wrangler.toml"), config);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
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
  const url = `http://127.0.0.1:${port}`;
  let output = "";
  let child;
  try {
    child = await launch(args, dir, url, (d) => { output += d; }, () => output);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  let stopped = false;
  const kill = () => stopGroup(child);
  return {
    url,
    port,
    /** The runtime's DevTools inspector (for profiles). */
    inspectorPort,
    get pid() { return child.pid; },
    /** Everything wrangler and the Worker printed so far. */
    logs: () => output,
    /** Log lines the gateway wrote as JSON objects; throws on one that does not parse. */
    // wrangler colours warnings and errors even with NO_COLOR, so codes are stripped first.
    jsonLogs: () => parseJsonLogs(output),
    token: (sub, ttl = 3600, extra = {}) => tokenFor(allVars.JWT_SECRET ?? TEST_SECRET, sub, ttl, extra),
    /** The directory of the gateway's persisted state (`--persist-to`). */
    stateDir: persist,
    /**
     * Stops the runtime and starts it again on the same port with the same stored state;
     * `between(stateDir)`, when given, runs while it is stopped.
     */
    async restart(between) {
      await kill();
      await between?.(persist);
      child = await launch(args, dir, url, (d) => { output += d; }, () => output);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Stops a process started by `launch` and its children (SIGTERM, then SIGKILL after 3 s). */
export async function stopGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  try { process.kill(-child.pid, "SIGTERM"); } catch {}
  const t = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch {} }, 3000);
  await exited;
  clearTimeout(t);
}

/** The tag the gateway's log lines carry for a sid (they never carry the sid itself). */
export function sidTag(sid) {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(sid, "utf8")) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return (h >> 24n).toString(16).padStart(10, "0");
}
