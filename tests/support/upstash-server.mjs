// Test double for Upstash's Redis REST API (https://upstash.com/docs/redis/features/restapi),
// forwarding every command to a real redis-server.
//
// Transactions (/multi-exec) follow Upstash's documented semantics, which mirror Redis:
//   - a command that fails while running (e.g. INCR on a non-number) does not stop the
//     others; its slot in the 200 response is {"error": "..."};
//   - if Redis discards the transaction as a whole (a command rejected while queueing,
//     e.g. unknown command or wrong arity), nothing runs and the response is a single
//     HTTP 400 {"error": "..."} carrying the first queueing error.
//
// Upstash-Encoding: base64 encodes every string in a result, bulk or simple, at any depth,
// except a top-level simple-string "OK". @upstash/redis decodes top-level strings other
// than "OK" and every string inside arrays, so a nested "OK" must be encoded too.
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const CONNECT_TIMEOUT_MS = 1000;
// Guards against a Redis that accepts connections but never answers (e.g. SIGSTOPped).
const REPLY_TIMEOUT_MS = 10_000;
const ALLOWED_METHODS = new Set(["GET", "HEAD", "POST", "PUT"]);

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// --- RESP2 ---------------------------------------------------------------------------
// Hand-written RESP2 client over node:net: replies stay raw Buffers, so base64 is computed from Redis's exact bytes.

const CRLF = Buffer.from("\r\n");

function encodeCommand(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) parts.push(Buffer.from(`$${arg.length}\r\n`), arg, CRLF);
  return Buffer.concat(parts);
}

// Returns [reply, nextOffset], or undefined while `buf` does not hold a complete reply yet.
function parseReply(buf, offset) {
  const lineEnd = buf.indexOf(CRLF, offset);
  if (lineEnd === -1) return undefined;
  const line = buf.subarray(offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (buf[offset]) {
    case 0x2b: // +
      return [{ type: "simple", value: line }, next];
    case 0x2d: // -
      return [{ type: "error", message: line.toString("utf8") }, next];
    case 0x3a: // :
      return [{ type: "integer", value: Number(line.toString("latin1")) }, next];
    case 0x24: {
      // $
      const length = Number(line.toString("latin1"));
      if (length < 0) return [{ type: "bulk", value: null }, next];
      if (buf.length < next + length + 2) return undefined;
      return [{ type: "bulk", value: buf.subarray(next, next + length) }, next + length + 2];
    }
    case 0x2a: {
      // *
      const count = Number(line.toString("latin1"));
      if (count < 0) return [{ type: "array", value: null }, next];
      const items = [];
      let position = next;
      for (let i = 0; i < count; i += 1) {
        const parsed = parseReply(buf, position);
        if (!parsed) return undefined;
        items.push(parsed[0]);
        position = parsed[1];
      }
      return [{ type: "array", value: items }, position];
    }
    default:
      throw new Error(`unexpected RESP type byte 0x${buf[offset].toString(16)}`);
  }
}

// One short-lived connection per HTTP request: no shared state (MULTI, SELECT, WATCH) can
// leak between requests, and a Redis restart needs no reconnect logic.
function runOnRedis({ host, port, commands, openSockets }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    openSockets.add(socket);
    const replies = [];
    let pending = Buffer.alloc(0);
    let settled = false;
    let replyTimer;

    const finish = (error, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(replyTimer);
      openSockets.delete(socket);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        socket.end();
        resolve(value);
      }
    };

    const connectTimer = setTimeout(
      () => finish(new Error(`connecting to Redis at ${host}:${port} timed out after ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );

    socket.once("connect", () => {
      clearTimeout(connectTimer);
      replyTimer = setTimeout(
        () => finish(new Error(`Redis at ${host}:${port} did not reply within ${REPLY_TIMEOUT_MS} ms`)),
        REPLY_TIMEOUT_MS,
      );
      socket.write(Buffer.concat(commands.map(encodeCommand)));
    });

    socket.on("data", (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      try {
        while (replies.length < commands.length && pending.length > 0) {
          const parsed = parseReply(pending, 0);
          if (!parsed) break;
          replies.push(parsed[0]);
          pending = pending.subarray(parsed[1]);
        }
      } catch (error) {
        finish(error);
        return;
      }
      if (replies.length === commands.length) finish(null, replies);
    });

    socket.on("error", (error) => finish(new Error(`Redis at ${host}:${port} is unavailable: ${error.message}`)));
    socket.on("close", () => finish(new Error(`Redis at ${host}:${port} closed the connection`)));
  });
}

// --- JSON mapping ------------------------------------------------------------------------

function replyToJson(reply, base64, topLevel = true) {
  switch (reply.type) {
    case "simple":
      if (!base64 || (topLevel && reply.value.toString("latin1") === "OK")) return reply.value.toString("utf8");
      return reply.value.toString("base64");
    case "bulk":
      if (reply.value === null) return null;
      return reply.value.toString(base64 ? "base64" : "utf8");
    case "integer":
      return reply.value;
    case "array":
      return reply.value === null ? null : reply.value.map((item) => replyToJson(item, base64, false));
    case "error":
      // Only reachable for errors nested in arrays (e.g. returned by a Lua script).
      return reply.message;
    default:
      throw new Error(`unknown reply type ${reply.type}`);
  }
}

function resultOrError(reply, base64) {
  return reply.type === "error" ? { error: reply.message } : { result: replyToJson(reply, base64) };
}

// --- request parsing ---------------------------------------------------------------------

function toArgument(value) {
  if (typeof value === "string") return Buffer.from(value, "utf8");
  // The SDK sends numbers (e.g. EX seconds) and booleans as JSON scalars.
  if (typeof value === "number" || typeof value === "boolean") return Buffer.from(String(value), "utf8");
  throw new HttpError(400, `ERR invalid argument ${JSON.stringify(value)}: expected a string or number`);
}

function toCommand(value) {
  if (!Array.isArray(value) || value.length === 0) {
    throw new HttpError(400, "ERR a command must be a non-empty JSON array");
  }
  return value.map(toArgument);
}

function parseJsonBody(body) {
  if (body.length === 0) throw new HttpError(400, "ERR empty request body, expected a JSON array");
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new HttpError(400, `ERR malformed JSON body: ${error.message}`);
  }
}

function parseCommandList(body) {
  const value = parseJsonBody(body);
  if (!Array.isArray(value) || value.length === 0) {
    throw new HttpError(400, "ERR expected a non-empty JSON array of commands");
  }
  return value.map(toCommand);
}

function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `ERR malformed URL segment ${JSON.stringify(segment)}`);
  }
}

// REST_URL/cmd/arg1/...; a POST body becomes the next argument, then any query
// parameters (other than _token) follow as name/value pairs, e.g. /set/k?EX=100.
function commandFromPath(segments, body, searchParams) {
  const args = segments.map((segment) => Buffer.from(decodeSegment(segment), "utf8"));
  if (body.length > 0) args.push(body);
  for (const [name, value] of searchParams) {
    if (name === "_token") continue;
    args.push(Buffer.from(name, "utf8"));
    if (value !== "") args.push(Buffer.from(value, "utf8"));
  }
  return args;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function isAuthorized(req, searchParams, token) {
  const header = req.headers.authorization ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (match && match[1].trim() === token) return true;
  return searchParams.get("_token") === token;
}

// --- server --------------------------------------------------------------------------

export async function startUpstashServer({ redisHost = "127.0.0.1", redisPort, token, port = 0, delayMs = 0 } = {}) {
  if (!token) throw new Error("startUpstashServer: token is required");
  if (!redisPort) throw new Error("startUpstashServer: redisPort is required");

  let delay = delayMs;
  const openSockets = new Set();
  const delayTimers = new Set();
  const redis = (commands) => runOnRedis({ host: redisHost, port: redisPort, commands, openSockets });

  // Replies, not commands, are held back: the command has already run, as with a slow network path back.
  const wait = (ms) =>
    ms > 0
      ? new Promise((resolve) => {
          const timer = setTimeout(() => {
            delayTimers.delete(timer);
            resolve();
          }, ms);
          delayTimers.add(timer);
        })
      : Promise.resolve();

  async function send(res, status, payload) {
    await wait(delay);
    if (res.destroyed || res.headersSent) return;
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  }

  async function execute(req, body, url) {
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    const segments = url.pathname.split("/").filter((segment) => segment !== "");

    if (segments.length === 1 && segments[0] === "pipeline") {
      const replies = await redis(parseCommandList(body));
      return [200, replies.map((reply) => resultOrError(reply, base64))];
    }

    if (segments.length === 1 && segments[0] === "multi-exec") {
      const commands = parseCommandList(body);
      const multi = [Buffer.from("MULTI")];
      const exec = [Buffer.from("EXEC")];
      const replies = await redis([multi, ...commands, exec]);
      const queueError = replies.slice(0, -1).find((reply) => reply.type === "error");
      if (queueError) return [400, { error: queueError.message }];
      const execReply = replies.at(-1);
      if (execReply.type === "error") return [400, { error: execReply.message }];
      if (execReply.value === null) return [400, { error: "EXECABORT Transaction discarded" }];
      return [200, execReply.value.map((reply) => resultOrError(reply, base64))];
    }

    const command =
      segments.length === 0 ? toCommand(parseJsonBody(body)) : commandFromPath(segments, body, url.searchParams);
    const [reply] = await redis([command]);
    if (reply.type === "error") return [400, { error: reply.message }];
    return [200, { result: replyToJson(reply, base64) }];
  }

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(`http://localhost${req.url}`);
      const body = await readBody(req);
      if (!ALLOWED_METHODS.has(req.method)) {
        await send(res, 405, { error: "Method Not Allowed" });
        return;
      }
      if (!isAuthorized(req, url.searchParams, token)) {
        await send(res, 401, { error: "Unauthorized" });
        return;
      }
      const [status, payload] = await execute(req, body, url);
      await send(res, status, payload);
    } catch (error) {
      // Anything that is not a client mistake is an infrastructure failure (Redis down or broken).
      const status = error instanceof HttpError ? error.status : 500;
      await send(res, status, { error: error.message });
    }
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });

  const boundPort = server.address().port;
  let stopping = null;

  return {
    url: `http://127.0.0.1:${boundPort}`,
    port: boundPort,
    setDelay(ms) {
      delay = Math.max(0, Number(ms) || 0);
    },
    stop() {
      stopping ??= new Promise((resolve) => {
        for (const timer of delayTimers) clearTimeout(timer);
        delayTimers.clear();
        for (const socket of openSockets) socket.destroy();
        server.close(() => resolve());
        // SDK clients keep connections alive; without this close() would wait for them.
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

// --- CLI ---------------------------------------------------------------------------------

function isMainModule() {
  return Boolean(process.argv[1]) && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
}

if (isMainModule()) {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8079" },
      "redis-host": { type: "string", default: "127.0.0.1" },
      "redis-port": { type: "string", default: "6379" },
      token: { type: "string" },
      "delay-ms": { type: "string", default: "0" },
    },
  });
  if (!values.token) {
    console.error(
      "usage: node tests/support/upstash-server.mjs --token TOKEN [--port 8079] [--redis-host 127.0.0.1] [--redis-port 6379] [--delay-ms 0]",
    );
    process.exit(2);
  }
  const endpoint = await startUpstashServer({
    redisHost: values["redis-host"],
    redisPort: Number(values["redis-port"]),
    token: values.token,
    port: Number(values.port),
    delayMs: Number(values["delay-ms"]),
  });
  console.log(
    `Upstash REST endpoint listening on ${endpoint.url} (Redis at ${values["redis-host"]}:${values["redis-port"]})`,
  );
  const shutdown = async () => {
    await endpoint.stop();
    process.exit(0);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}
