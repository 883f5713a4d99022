// The lesson's step 07 chat for Node (the same as ../node-socketio/server.js),
// made one of several processes that share one chat through Redis, as the
// socket.io documentation's "Redis adapter" page writes it: two node-redis
// clients (one publishes, its duplicate subscribes) handed to
// `createAdapter(pubClient, subClient)` from `@socket.io/redis-adapter`. An
// `io.emit` on one process then reaches the clients of every process: the
// adapter publishes the packet to Redis, and every other process's adapter
// receives it and sends it to its own clients. It is the Node baseline of
// step 11's two-node benchmark in ../compare.sh.
//
// The one addition to the documentation's code: the clients are named
// `realtime-<NODE_NAME>-pub` (and `-sub`, its duplicate) with CLIENT
// SETNAME, as step 11 names its own, so the benchmark can find one
// process's connections in CLIENT LIST and kill them mid-run.
//
// Run it: `npm ci`, start a Redis, then in two terminals
// `REDIS_URL=redis://127.0.0.1:6379 NODE_NAME=a PORT=3001 npm start` and
// `REDIS_URL=redis://127.0.0.1:6379 NODE_NAME=b PORT=3002 npm start`; a
// message sent in a tab of one reaches the tabs of the other.

const path = require("path");
const express = require("express");
const http = require("http");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-adapter");

const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const nodeName = process.env.NODE_NAME || String(process.pid);

async function main() {
  const pubClient = createClient({ url: redisUrl, name: `realtime-${nodeName}-pub` });
  const subClient = pubClient.duplicate({ name: `realtime-${nodeName}-sub` });
  // Without a listener an "error" event (Redis gone) would end the process;
  // node-redis reconnects by itself, so say so and carry on.
  for (const client of [pubClient, subClient]) {
    client.on("error", (error) => console.log("Redis:", error.message));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  console.log(`node ${nodeName}: connected to Redis at ${redisUrl}`);

  const app = express();
  const server = http.createServer(app);
  const io = new Server(server, { adapter: createAdapter(pubClient, subClient) });

  app.use(express.static(path.join(__dirname, "public")));

  io.on("connection", (socket) => {
    console.log("a user connected", socket.id);

    socket.on("message", (text) => {
      io.emit("message", { from: socket.id, text });
    });

    socket.on("disconnect", () => {
      console.log("user disconnected", socket.id);
    });
  });

  const port = process.env.PORT || 3000;
  server.listen(port, "127.0.0.1", () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
}

main().catch((error) => {
  console.error(`could not start: ${error.message}`);
  process.exit(1);
});
