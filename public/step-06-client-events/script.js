// Step 06's browser code: connect, show whether we are connected, add a line
// for every "fromServer" event, and send "fromClient" when the button is
// clicked. io() comes from /socket.js, loaded just before this file.
// Read notes/06-client-events.md beside it.

const socket = io();

const statusLine = document.getElementById("status");
const events = document.getElementById("events");
const summary = document.getElementById("summary");
const button = document.getElementById("btn");

// The state goes in data-state (for styles and browser tests) and in words in
// the text. textContent, never HTML: the id comes from the network, and text
// set this way is always shown as text, never run as markup.
function showStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

socket.on("connect", () => {
  stopCountdown();
  showStatus("connected", `connected as ${socket.id}`);
  // A new connection has a new ticker, one interval from now: measure its
  // first tick from here.
  lastTickAt = performance.now();
  sinceWhat = "since connect";
});

socket.on("disconnect", () => {
  showStatus("disconnected", "disconnected");
});

// The lesson's code, with a number, a time and a measurement: the server's
// ticker sends "fromServer" with no data, and each one becomes a line. (The
// lesson appends to the body; we append to #events, a box of its own, so the
// status stays in view.) The page cannot know TICK_MS; it measures instead.
let ticks = 0;
let lastTickAt = performance.now();
let sinceWhat = "since connect";

socket.on("fromServer", () => {
  ticks += 1;
  const now = performance.now();
  const interval = Math.round(now - lastTickAt);
  const div = document.createElement("div");
  div.append(
    part("count", `#${ticks}`),
    part("time", new Date().toISOString().slice(11, 23)),
    part("text", "New Event from server"),
    part("interval", `+${interval} ms ${sinceWhat}`),
  );
  // Follow the newest line, unless the reader has scrolled up to look at
  // older ones.
  const following = events.scrollTop + events.clientHeight >= events.scrollHeight - 4;
  events.appendChild(div);
  if (following) {
    events.scrollTop = events.scrollHeight;
  }
  summary.textContent = `${ticks} ticks; the last came ${interval} ms ${sinceWhat}`;
  lastTickAt = now;
  sinceWhat = "after the last";
});

// A <span class="name"> holding `text`, set with textContent like all text
// on this page.
function part(name, text) {
  const span = document.createElement("span");
  span.className = name;
  span.textContent = text;
  return span;
}

// The lesson's code, as it was: a click sends "fromClient", with no data.
// A click while disconnected is not lost: socket.js queues it and sends it
// as soon as the connection is back.
button.addEventListener("click", () => {
  socket.emit("fromClient");
});

// socket.js tells us when it will try again; count down to that moment.
let countdown = null;

socket.on("reconnecting", ({ delayMs }) => {
  const retryAt = Date.now() + delayMs;
  const show = () => {
    const seconds = Math.ceil((retryAt - Date.now()) / 1000);
    const when = seconds > 0 ? `in ${seconds} s` : "now";
    showStatus("disconnected", `disconnected — reconnecting ${when}`);
  };
  stopCountdown();
  show();
  countdown = setInterval(show, 250);
});

function stopCountdown() {
  clearInterval(countdown);
  countdown = null;
}
