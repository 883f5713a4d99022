// Step 08's browser code: step 07's chat, which also shows why the server
// closed the connection (shutting down, too slow, ...) while it reconnects.
// io() comes from /socket.js, loaded just before this file.
// Read notes/08-production.md beside it.

const socket = io();

const statusLine = document.getElementById("status");
const messages = document.getElementById("messages");
const form = document.getElementById("chat-form");
const input = document.getElementById("message-input");

// --- the connection state, as in step 04 ---

// The state goes in data-state (for styles and browser tests) and in words in
// the text. textContent, never HTML: the id comes from the network, and text
// set this way is always shown as text, never run as markup.
function showStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

socket.on("connect", () => {
  stopCountdown();
  lastReason = "";
  showStatus("connected", `connected as ${socket.id}`);
  // socket.js has just sent what was typed while disconnected: it is no
  // longer waiting, and the server's echo will show it as a message.
  for (const waiting of messages.querySelectorAll("li.waiting")) {
    waiting.remove();
  }
  explainNewId(socket.id);
});

// Why the last connection ended, in the server's words when it gave any:
// "server shutting down (code 1001)", "too slow: fell 300 messages behind
// (code 1008)", or "connection lost (code 1006)" when it just vanished.
let lastReason = "";

socket.on("disconnect", (reason) => {
  lastReason = reason;
  showStatus("disconnected", `disconnected: ${reason}`);
});

// socket.js tells us when it will try again; count down to that moment,
// keeping the reason in view.
let countdown = null;

socket.on("reconnecting", ({ delayMs }) => {
  const retryAt = Date.now() + delayMs;
  const why = lastReason ? `: ${lastReason}` : "";
  const show = () => {
    const seconds = Math.ceil((retryAt - Date.now()) / 1000);
    const when = seconds > 0 ? `in ${seconds} s` : "now";
    showStatus("disconnected", `disconnected${why} — reconnecting ${when}`);
  };
  stopCountdown();
  show();
  countdown = setInterval(show, 250);
});

function stopCountdown() {
  clearInterval(countdown);
  countdown = null;
}

// --- the chat ---

// Enter in the input submits the form, and so does the button.
form.addEventListener("submit", (event) => {
  event.preventDefault(); // stay on this page: no real form submission
  const text = input.value;
  // The server refuses blank messages too; checking here saves a round trip.
  if (text.trim() === "") {
    return;
  }
  // Before the first connect (or while reconnecting) socket.js queues this
  // and sends it as soon as it is connected. Until then the page shows it
  // as waiting, so that it does not seem to vanish.
  if (!socket.connected) {
    addItem("waiting", "waiting to send", text);
  }
  socket.emit("message", text);
  input.value = "";
  input.focus();
});

// Every message comes back from the server, ours included: the page shows
// what the server says was said, in the order everyone else sees it.
socket.on("message", ({ from, text }) => {
  const item = addItem("message", from, text);
  // Ours if it carries this connection's id. After a reconnect (a new id)
  // the messages marked earlier stay marked: explainNewId says why.
  if (from === socket.id) {
    item.classList.add("mine");
  }
});

// Every connection gets a new id, and a restarted server numbers them
// from 1 again, so the messages marked "you" above a reconnect were sent
// under an earlier id. Say so where it happens, rather than let "you" and
// "connected as <id>" disagree without a word.
let previousId = null;

function explainNewId(id) {
  if (previousId !== null && previousId !== id && messages.querySelector("li.mine")) {
    addItem("notice", "reconnected", `as ${id}: the messages marked you above were sent as ${previousId}`);
  }
  previousId = id;
}

// The server explains what it refused (or that we are sending too fast).
socket.on("error", ({ message }) => {
  addItem("error", "server", message);
});

// Appends <li class="kind"><span class="from"/><span class="text"/></li>.
// Both parts come from the network, so both are set with textContent: a
// message such as "<img src=x onerror=alert(1)>" shows up as those
// characters, and nothing runs.
function addItem(kind, from, text) {
  const item = document.createElement("li");
  item.className = kind;
  const fromPart = document.createElement("span");
  fromPart.className = "from";
  fromPart.textContent = from;
  const textPart = document.createElement("span");
  textPart.className = "text";
  textPart.textContent = text;
  item.append(fromPart, textPart);
  messages.append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}
