// A chatd bot in Node.js with no SDK: protocol v1 (docs/protocol.md) over the `ws` package.
//
//   cd examples/node_bot && npm ci
//   CHATD_URL=ws://127.0.0.1:8000/ws CHATD_TOKEN=chatd_... node bot.js
//
// It answers every message written by someone else in its threads with "node bot heard: <body>",
// reconnects with `resume` when the socket drops, and posts each reply once (the reply's
// client_msg_id derives from the message it answers, so a retry is not a second reply).
"use strict";

const WebSocket = require("ws");

const url = process.env.CHATD_URL || "ws://127.0.0.1:8000/ws";
const token = process.env.CHATD_TOKEN;
if (!token) {
  console.error("set CHATD_TOKEN to the bot's API token");
  process.exit(2);
}

let me = null; // our user, from the hello frame
let lastEventId = null; // the newest durable event handled: where `resume` continues from
let nextId = 1;
const pending = new Map(); // request id -> {resolve, reject}
let stopping = false;

function connect() {
  const socket = new WebSocket(url, "chatd.v1.json", { headers: { Authorization: `Bearer ${token}` } });

  function request(op, fields) {
    const id = nextId++;
    socket.send(JSON.stringify({ op, id, ...fields }));
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  socket.on("unexpected-response", (req, res) => {
    console.error(`handshake refused: HTTP ${res.statusCode}`);
    process.exit(1); // bad or revoked token: retrying will not help
  });

  socket.on("message", async (raw) => {
    const frame = JSON.parse(raw.toString());
    if (frame.op === "hello") {
      me = frame.user;
      if (lastEventId === null) lastEventId = frame.event_id;
      // The first frame: replays what we missed while away, then live events flow.
      request("resume", { after_event_id: lastEventId }).catch((err) => console.error("resume:", err.message));
      console.log(`node bot connected as ${me.name} (user ${me.id})`);
      return;
    }
    if (frame.op === "ok" || frame.op === "error") {
      const waiter = pending.get(frame.id);
      pending.delete(frame.id);
      if (waiter && frame.op === "ok") waiter.resolve(frame.result);
      else if (waiter) waiter.reject(new Error(`${frame.code}: ${frame.message}`));
      return;
    }
    if (frame.op !== "event") return;
    if (frame.event_id != null) {
      if (frame.event_id <= lastEventId) return; // seen before a reconnect
      lastEventId = frame.event_id;
    }
    if (frame.type === "message.created" && frame.data.message.author_id !== me.id) {
      const message = frame.data.message;
      try {
        await request("send", {
          thread_id: message.thread_id,
          body: `node bot heard: ${message.body}`,
          client_msg_id: `node-reply-${message.id}`,
        });
      } catch (err) {
        console.error("reply failed:", err.message);
      }
    }
  });

  socket.on("close", () => {
    for (const waiter of pending.values()) waiter.reject(new Error("connection lost"));
    pending.clear();
    if (!stopping) setTimeout(connect, 500);
  });
  socket.on("error", (err) => console.error("socket error:", err.message));
  process.once("SIGTERM", () => {
    stopping = true;
    socket.close();
  });
}

connect();
