// python-socketio, the most used non-JavaScript client, against the gateway: with the default
// configuration (recovery off) its one-parameter handlers get exactly the event's data; with
// recovery on, events carry an offset as an extra argument, which such a handler cannot take
// (README, "Connection state recovery": which clients can turn it on). The client is installed
// by `scripts/setup --test` into tests/.pydeps (pip --target; no system packages touched).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startGateway, ROOT } from "../support/gateway.mjs";

const PYDEPS = join(ROOT, "tests", ".pydeps");
const SCRIPT = join(ROOT, "tests", "python", "prompt_client.py");

function runClient(url, token, transport) {
  return new Promise((resolve, reject) => {
    execFile("python3", [SCRIPT, url, token, transport], { env: { ...process.env, PYTHONPATH: PYDEPS }, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      const last = stdout.trim().split("\n").pop();
      resolve({ ...JSON.parse(last), stderr });
    });
  });
}

describe("python-socketio", () => {
  let plain, recovering;
  before(async () => {
    assert.ok(existsSync(join(PYDEPS, "socketio")), "python-socketio is installed by scripts/setup --test");
    [plain, recovering] = await Promise.all([startGateway(), startGateway({ vars: { MAX_DISCONNECTION_MS: "120000" } })]);
  });
  after(async () => { await plain?.stop(); await recovering?.stop(); });

  for (const transport of ["websocket", "polling"]) {
    test(`default configuration, ${transport}: the prompt is answered and no handler gets more than the event's data`, async () => {
      const r = await runClient(plain.url, plain.token(`py-${transport}`), transport);
      assert.equal(r.answered, true, r.stderr);
      assert.equal(r.responses.length, 1);
      assert.equal(r.responses[0].response, "Echo: hello from python");
      assert.deepEqual(r.sessions, [], "no session event with recovery off");
      assert.doesNotMatch(r.stderr, /TypeError|Traceback/);
    });
  }

  test("with recovery on, a one-parameter handler cannot take the offset (why recovery is opt-in)", async () => {
    const r = await runClient(recovering.url, recovering.token("py-recovery"), "websocket");
    assert.equal(r.answered, false);
    assert.deepEqual(r.responses, []);
    assert.match(r.stderr, /TypeError/);
  });
});
