// The socket.io tutorial's steps 7 and 8 ("server delivery", "client
// delivery") written for Node, as the tutorial writes them: express serves
// the page, socket.io carries the events, and every message is inserted into
// SQLite (the npm `sqlite3` package, through the tutorial's `sqlite` wrapper)
// before it is emitted to everyone with its row id. A message whose client
// offset is already stored (a retry) is acknowledged and not broadcast again.
// It is the baseline of step 10 (steps/step-10-delivery) in the benchmark of
// ../compare.sh, which measures it in the write-heavy scenario.
//
// Two names differ from the tutorial, so that the benchmark's load generator
// speaks to it as it speaks to ../node-socketio: the event is "message" (the
// tutorial's "chat message"), and the port and the database file come from
// PORT and DATABASE_PATH (the tutorial's 3000 and chat.db).
//
// Run it: `npm ci` (builds sqlite3 from source, about a minute), then
// `PORT=3001 DATABASE_PATH=/tmp/chat.db npm start`, and open the URL it
// prints in two tabs.

const path = require("path");
const express = require("express");
const http = require("http");
const { Server } = require("socket.io");
const sqlite3 = require("sqlite3");
const { open } = require("sqlite");

// SQLITE_CONSTRAINT: the UNIQUE client_offset already holds this message.
const SQLITE_CONSTRAINT = 19;

async function main() {
  // Open the database file.
  const db = await open({
    filename: process.env.DATABASE_PATH || "chat.db",
    driver: sqlite3.Database,
  });

  // Create the 'messages' table.
  await db.exec(`
    CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_offset TEXT UNIQUE,
        content TEXT
    );
  `);

  const app = express();
  const server = http.createServer(app);
  const io = new Server(server, {
    connectionStateRecovery: {},
  });

  app.use(express.static(path.join(__dirname, "public")));

  io.on("connection", async (socket) => {
    socket.on("message", async (msg, clientOffset, callback) => {
      // The tutorial's client always asks for an acknowledgement; this guard
      // only keeps a client that does not from crashing the process.
      const acknowledge = typeof callback === "function" ? callback : () => {};
      let result;
      try {
        result = await db.run(
          "INSERT INTO messages (content, client_offset) VALUES (?, ?)",
          msg,
          clientOffset,
        );
      } catch (e) {
        if (e.errno === SQLITE_CONSTRAINT) {
          // The message was already inserted, so we notify the client.
          acknowledge();
        } else {
          // Nothing to do, just let the client retry.
        }
        return;
      }
      io.emit("message", msg, result.lastID);
      // Acknowledge the event.
      acknowledge();
    });

    if (!socket.recovered) {
      // If the connection state recovery was not successful: every message
      // after the last one this client saw (all of them for a new client).
      try {
        await db.each(
          "SELECT id, content FROM messages WHERE id > ?",
          [socket.handshake.auth.serverOffset || 0],
          (_err, row) => {
            socket.emit("message", row.content, row.id);
          },
        );
      } catch (e) {
        // Something went wrong.
      }
    }
  });

  const port = process.env.PORT || 3000;
  server.listen(port, "127.0.0.1", () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
}

main().catch((error) => {
  console.error("could not start:", error.message);
  process.exit(1);
});
