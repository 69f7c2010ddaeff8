// A typed client of the gateway: streams a prompt, cancels one, reads and clears history, and
// receives the app's pushed events.
// Type-checked with `npx tsc -p client --noEmit`; not run by the tests.
import { io, type Socket } from "socket.io-client";
import type {
  CancelPromptAck,
  ClientToServerEvents,
  HistoryItem,
  PushedEvents,
  SendPromptAck,
  ServerToClientEvents,
} from "./socketio-gateway.js";

export type GatewaySocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export function connect(url: string, token: string): GatewaySocket {
  // socket.io-client 4.8 types `io()` without generics: the annotation gives the socket its events.
  const socket: GatewaySocket = io(url, { auth: { token } });
  socket.on("session", ({ userId, socketId, recovered }) => {
    console.log(`session ${socketId} of ${userId}${recovered ? " (recovered)" : ""}`);
  });
  socket.on("error", ({ code, message, requestId, retryAfterMs }) => {
    console.warn(code, message, requestId ?? "", retryAfterMs ?? "");
  });
  return socket;
}

/** Sends a prompt with `stream: true`; resolves with the whole answer, printing the deltas. */
export function ask(socket: GatewaySocket, prompt: string, requestId: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    let next = 0;
    const onChunk = (chunk: { requestId: string; index: number; delta: string }) => {
      if (chunk.requestId !== requestId) return;
      if (chunk.index !== next) reject(new Error(`chunk ${chunk.index} arrived, ${next} expected`));
      next += 1;
      text += chunk.delta;
    };
    const done = () => {
      socket.off("prompt-chunk", onChunk);
      socket.off("prompt-response", onResponse);
      socket.off("error", onError);
    };
    const onResponse = ({ requestId: id, response }: { requestId: string; response: string }) => {
      if (id !== requestId) return;
      done();
      if (response !== text) console.warn("the chunks did not add up to the response");
      resolve(response);
    };
    const onError = ({ requestId: id, code, message }: { requestId?: string; code: string; message: string }) => {
      if (id !== requestId) return;
      done();
      reject(new Error(`${code}: ${message}`));
    };
    socket.on("prompt-chunk", onChunk);
    socket.on("prompt-response", onResponse);
    socket.on("error", onError);
    socket.emit("send-prompt", { prompt, requestId, stream: true, topic: "example" }, (ack: SendPromptAck) => {
      if (ack.status === "rejected") {
        done();
        const wait = ack.error.retryAfterMs === undefined ? "" : ` (retry in ${ack.error.retryAfterMs} ms)`;
        reject(new Error(`${ack.error.code}: ${ack.error.message}${wait}`));
      } else if (ack.status === "duplicate") {
        done();
        reject(new Error(`${ack.requestId} was already sent`));
      }
    });
  });
}

export async function cancel(socket: GatewaySocket, requestId: string): Promise<boolean> {
  // The ack of cancel-prompt is optional, so emitWithAck's result is untyped: annotate it.
  const ack: CancelPromptAck = await socket.emitWithAck("cancel-prompt", { requestId });
  return ack.status === "cancelled";
}

/** Every history item, newest first, page by page. */
export async function history(socket: GatewaySocket): Promise<HistoryItem[]> {
  const items: HistoryItem[] = [];
  let before: string | undefined;
  do {
    const page = await socket.emitWithAck("get-history", { limit: 100, before });
    if ("error" in page) throw new Error(`${page.error.code}: ${page.error.message}`);
    items.push(...page.items);
    before = page.next;
  } while (before !== undefined);
  return items;
}

export async function clearHistory(socket: GatewaySocket): Promise<number> {
  const ack = await socket.emitWithAck("clear-history");
  if ("error" in ack) throw new Error(`${ack.error.code}: ${ack.error.message}`);
  return ack.deleted;
}

export async function main(url: string, token: string): Promise<void> {
  const socket = connect(url, token);
  socket.emit("send-prompt", { prompt: "fire and forget" });
  console.log(await ask(socket, "Hello", "example-1"));
  const slow = ask(socket, "A long story", "example-2").catch((e: Error) => e.message);
  console.log("cancelled:", await cancel(socket, "example-2"), await slow);
  console.log((await history(socket)).map((item) => `${item.status} ${item.prompt}`));
  console.log("deleted:", await clearHistory(socket));
  socket.disconnect();
}

/** The events this app's backend pushes with `POST /api/v1/emit` (their names are the app's). */
type AppPushed = PushedEvents<{ "job-finished": { jobId: string; url: string } }>;

/** A socket that also receives the app's pushed events, typed. */
export function connectWithPushes(url: string, token: string): Socket<ServerToClientEvents & AppPushed, ClientToServerEvents> {
  const socket: Socket<ServerToClientEvents & AppPushed, ClientToServerEvents> = io(url, { auth: { token } });
  socket.on("job-finished", ({ jobId, url: download }) => console.log(`job ${jobId} finished: ${download}`));
  return socket;
}
