// Step 06's browser code: connect, show whether we are connected, add a line
// for every "fromServer" event, and send "fromClient" when the button is
// clicked. io() comes from /socket.js, loaded just before this file.
// Read notes/06-client-events.md beside it.

const socket = io();

const statusLine = document.getElementById("status");
const events = document.getElementById("events");
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
});

socket.on("disconnect", () => {
  showStatus("disconnected", "disconnected");
});

// The lesson's code, as it was: the server's ticker sends "fromServer" with
// no data, and each one becomes a line. (The lesson appends to the body; we
// append to #events, so the lines stay below the status.)
socket.on("fromServer", () => {
  const div = document.createElement("div");
  div.textContent = "New Event from server";
  events.appendChild(div);
});

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
