// ./scripts/dev's own promises: it honours PORT, generates a dev secret when JWT_SECRET is unset
// and keeps it across restarts, prints a token that connects, generates and keeps a push token
// when PUSH_API_TOKEN is unset and prints a curl line that pushes to the dev user, starts a local Redis mirror when
// redis-server exists (on DEV_REDIS_PORT behind DEV_REDIS_REST_PORT), and scripts/mint-token.mjs
// mints more tokens with that secret.
//
// It runs in a copy of the files the script reads, so the developer's own .wrangler/ is never
// touched; the copy's build step is a no-op over a copy of build/ (the tests' harness already
// refuses a stale build/), since building is not what this file checks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, assertFreshBuild } from "../support/gateway.mjs";
import { findFreePort } from "../support/redis-server.mjs";
import { redisAt, pollUntil } from "../support/redis-cli.mjs";
import { withToken, connect, ask } from "../support/client.mjs";

const execFileAsync = promisify(execFile);
const READY_MS = 90_000;

let dir;
let ports;

before(async () => {
  assertFreshBuild();
  dir = mkdtempSync(join(tmpdir(), "dev-script-"));
  for (const f of ["scripts/dev", "scripts/setup", "scripts/mint-token.mjs", "scripts/dev-keys.mjs", "tests/support/jwt.mjs", "tests/support/idp.mjs", "tests/support/upstash-server.mjs", "wrangler.toml", "Cargo.lock", "package-lock.json"]) {
    mkdirSync(join(dir, f, ".."), { recursive: true });
    cpSync(join(ROOT, f), join(dir, f));
  }
  cpSync(join(ROOT, "build"), join(dir, "build"), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "scripts", "build-worker"), "#!/usr/bin/env bash\n# build/ is a copy of the tested build\n");
  chmodSync(join(dir, "scripts", "build-worker"), 0o755);
  ports = { PORT: await findFreePort(), DEV_REDIS_PORT: await findFreePort(), DEV_REDIS_REST_PORT: await findFreePort(), DEV_KEYS_PORT: await findFreePort() };
});

after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** Runs ./scripts/dev in the copy until wrangler is ready; `stop()` ends its process group. */
async function startDev(extraEnv = {}) {
  const env = { ...process.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), NO_COLOR: "1", ...extraEnv };
  for (const k of ["JWT_SECRET", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "REDIS_URL", "REDIS_PASSWORD", "DEV_USER", "JWT_JWKS_URL", "JWT_PUBLIC_KEYS", "PUSH_API_TOKEN"]) {
    if (!(k in extraEnv)) delete env[k];
  }
  const child = spawn("bash", [join(dir, "scripts", "dev")], { cwd: dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => { output += d; });
  child.stderr.on("data", (d) => { output += d; });
  const exited = new Promise((r) => child.once("exit", r));
  const stop = async () => {
    try { process.kill(-child.pid, "SIGTERM"); } catch {}
    const t = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch {} }, 5000);
    await exited;
    clearTimeout(t);
  };
  const deadline = Date.now() + READY_MS;
  while (!new RegExp(`Ready on http://127\\.0\\.0\\.1:${ports.PORT}`).test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`./scripts/dev did not get ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = `http://127.0.0.1:${ports.PORT}`;
  for (let i = 0; i < 50; i++) {
    try { await fetch(`${url}/`); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  const token = output.match(/\[dev\] Dev token \(sub=dev-user, valid 1 h\):\n(\S+)/)?.[1];
  const pushLine = output.match(/\[dev\] Push an event to dev-user \(it shows in the test page's log\):\n(curl .*)/)?.[1];
  return { url, output: () => output, token, pushLine, stop };
}

const claims = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
const signedWith = (token, secret) => {
  const [h, b, sig] = token.split(".");
  return createHmac("sha256", secret).update(`${h}.${b}`).digest("base64url") === sig;
};

test("./scripts/dev: PORT, a kept dev secret, a working printed token, the local mirror, mint-token.mjs", { timeout: 240_000 }, async () => {
  const dev = await startDev();
  let firstToken;
  let secret;
  let pushToken;
  try {
    assert.match(dev.output(), /\[dev\] JWT_SECRET is unset: using the generated dev secret in \.wrangler\/dev-jwt-secret/);
    secret = readFileSync(join(dir, ".wrangler", "dev-jwt-secret"), "utf8").trim();
    assert.match(secret, /^[0-9a-f]{64}$/);
    assert.ok(dev.output().includes(`[dev] Test page:  http://127.0.0.1:${ports.PORT}/test-websocket-auth.html`), dev.output());
    const page = await fetch(`${dev.url}/test-websocket-auth.html`);
    assert.equal(page.status, 200, "dev mode serves the test page");

    // The printed token: dev-user, one hour, signed with the dev secret, and it connects.
    firstToken = dev.token;
    assert.ok(firstToken, `no token printed:\n${dev.output()}`);
    const c = claims(firstToken);
    assert.equal(c.sub, "dev-user");
    assert.equal(c.exp - c.iat, 3600);
    assert.ok(signedWith(firstToken, secret));
    const s = await connect(dev.url, withToken("auth", firstToken, { transports: ["websocket"] }));
    try {
      assert.equal((await ask(s, "dev")).response, "Echo: dev");
      // The printed curl line pushes an event to the dev user, with the generated push token.
      assert.match(dev.output(), /\[dev\] PUSH_API_TOKEN is unset: using the generated dev push token in \.wrangler\/dev-push-token/);
      pushToken = readFileSync(join(dir, ".wrangler", "dev-push-token"), "utf8").trim();
      assert.match(pushToken, /^[0-9a-f]{48}$/);
      assert.ok(dev.pushLine?.includes(pushToken), `no curl line with the push token:\n${dev.output()}`);
      const pushed = new Promise((resolve) => s.once("dev-push", resolve));
      const curl = await execFileAsync("bash", ["-c", dev.pushLine], { timeout: 10_000 });
      assert.deepEqual(JSON.parse(curl.stdout), { delivered: 1, offline: 0 });
      assert.deepEqual(await pushed, { message: "Hello from the backend" });
      // The local Redis it started mirrors the connection.
      assert.match(dev.output(), new RegExp(`\\[dev\\] Redis mirror: redis-server on 127\\.0\\.0\\.1:${ports.DEV_REDIS_PORT} behind the local REST endpoint http://127\\.0\\.0\\.1:${ports.DEV_REDIS_REST_PORT}`));
      const key = await pollUntil(() => redisAt(ports.DEV_REDIS_PORT).get("ws:user:connection:dev-user"), (v) => v === s.id, { timeoutMs: 5000, intervalMs: 100 });
      assert.ok(key.ok, `the key holds ${JSON.stringify(key.value)}, not ${s.id}`);
    } finally { s.close(); }

    // mint-token.mjs: the dev secret without JWT_SECRET, the given sub and ttl.
    const env = { ...process.env };
    delete env.JWT_SECRET;
    const minted = (await execFileAsync(process.execPath, [join(dir, "scripts", "mint-token.mjs"), "--sub", "alice", "--ttl", "120"], { env })).stdout.trim();
    assert.equal(claims(minted).sub, "alice");
    assert.equal(claims(minted).exp - claims(minted).iat, 120);
    assert.ok(signedWith(minted, secret));
    const a = await connect(dev.url, withToken("header", minted, { transports: ["polling"] }));
    try { assert.equal((await ask(a, "minted")).response, "Echo: minted"); } finally { a.close(); }
    // With JWT_SECRET set it signs with that one; a bad --ttl is refused.
    const other = (await execFileAsync(process.execPath, [join(dir, "scripts", "mint-token.mjs"), "--sub", "bob"], { env: { ...env, JWT_SECRET: "another" } })).stdout.trim();
    assert.ok(signedWith(other, "another"));
    assert.equal(claims(other).exp - claims(other).iat, 3600, "one hour by default");
    await assert.rejects(execFileAsync(process.execPath, [join(dir, "scripts", "mint-token.mjs"), "--ttl", "soon"], { env }), /--ttl must be a positive number/);

    // The dev key server: its JWKS is the gateway's, and every algorithm mints a token that
    // connects (mint-token.mjs --alg, and /token for the test page).
    const keysUrl = `http://127.0.0.1:${ports.DEV_KEYS_PORT}`;
    assert.ok(dev.output().includes(`[dev] JWKS of the dev keys (RS256, ES256, EdDSA): ${keysUrl}/jwks.json`), dev.output());
    const jwks = await (await fetch(`${keysUrl}/jwks.json`)).json();
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), ["dev-eddsa", "dev-es256", "dev-rs256"]);
    assert.ok(jwks.keys.every((k) => !("d" in k)), "only public keys are published");
    for (const alg of ["RS256", "ES256", "EdDSA"]) {
      const t = (await execFileAsync(process.execPath, [join(dir, "scripts", "mint-token.mjs"), "--alg", alg, "--sub", `m-${alg}`], { env })).stdout.trim();
      assert.equal(JSON.parse(Buffer.from(t.split(".")[0], "base64url")).alg, alg);
      const m = await connect(dev.url, withToken("auth", t, { transports: ["websocket"] }));
      try { assert.equal((await ask(m, alg)).response, `Echo: ${alg}`); } finally { m.close(); }
      const page = await (await fetch(`${keysUrl}/token?alg=${alg}&sub=page-${alg}`)).json();
      const p = await connect(dev.url, withToken("header", page.token, { transports: ["polling"] }));
      try { assert.equal((await ask(p, "page")).response, "Echo: page"); } finally { p.close(); }
    }
  } finally { await dev.stop(); }

  // The mirror's helpers stopped with it.
  const gone = await pollUntil(() => redisAt(ports.DEV_REDIS_PORT).cli("PING").then(() => "up", () => "down"), (v) => v === "down", { timeoutMs: 5000, intervalMs: 100 });
  assert.ok(gone.ok, "the redis-server ./scripts/dev started outlived it");

  // A restart keeps the secret, so tokens printed or minted before still connect.
  const again = await startDev();
  try {
    assert.equal(readFileSync(join(dir, ".wrangler", "dev-jwt-secret"), "utf8").trim(), secret);
    assert.equal(readFileSync(join(dir, ".wrangler", "dev-push-token"), "utf8").trim(), pushToken, "the push token is kept too");
    assert.ok(signedWith(again.token, secret));
    const s = await connect(again.url, withToken("query", firstToken, { transports: ["websocket"] }));
    try { assert.equal((await ask(s, "after a restart")).response, "Echo: after a restart"); } finally { s.close(); }
  } finally { await again.stop(); }
});

test("./scripts/dev passes JWT_SECRET and PUSH_API_TOKEN through instead of generating them", { timeout: 120_000 }, async () => {
  const dev = await startDev({ JWT_SECRET: "given-secret", PUSH_API_TOKEN: "given-push-token" });
  try {
    assert.doesNotMatch(dev.output(), /using the generated dev secret/);
    assert.doesNotMatch(dev.output(), /using the generated dev push token/);
    assert.ok(dev.pushLine?.includes("given-push-token"), dev.output());
    const presence = await fetch(`${dev.url}/api/v1/users/dev-user`, { headers: { Authorization: "Bearer given-push-token" } });
    assert.deepEqual(await presence.json(), { connected: false });
    assert.ok(signedWith(dev.token, "given-secret"));
    const s = await connect(dev.url, withToken("auth", dev.token, { transports: ["websocket"] }));
    try { assert.equal((await ask(s, "given")).response, "Echo: given"); } finally { s.close(); }
  } finally { await dev.stop(); }
});
