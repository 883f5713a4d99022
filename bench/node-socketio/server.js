// The lesson's step 07 written for Node, exactly as the lesson does it:
// express serves the page, socket.io carries the events, and every message a
// client publishes is re-emitted to every connected client, the sender
// included. It is the baseline of the benchmark in ../compare.sh, which
// measures it side by side with the Rust steps 07 and 08.
//
// Run it: `npm ci`, then `PORT=3001 npm start`, and open the URL it prints
// in two tabs.

const path = require("path");
const express = require("express");
const http = require("http");
const { Server } = require("socket.io");

const app = express();
const server = http.createServer(app);
const io = new Server(server);

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
