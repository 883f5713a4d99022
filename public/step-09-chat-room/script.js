// Step 09's browser code: step 08's chat, in rooms, with nicknames, who is
// online, who is typing, private messages, and acknowledgements: your own
// message shows at once as "sending…" and is marked sent when the server's
// answer to that emit arrives (the server does not echo it back to you).
// io() comes from /socket.js, loaded just before this file.
// Read notes/09-chat-room.md beside it.

const socket = io();

// How long the page waits for the server to answer a join or a message
// before it says so. Generous: a busy server is slow, not gone.
const ACK_TIMEOUT_MS = 10000;
// Typing notices: "typing" true on the first key, false after this long
// without one, so at most one notice every second or two, far below the
// few a second the server passes on.
const TYPING_PAUSE_MS = 2000;

const statusLine = document.getElementById("status");
const joinForm = document.getElementById("join-form");
const nicknameInput = document.getElementById("nickname");
const roomInput = document.getElementById("room");
const joinError = document.getElementById("join-error");
const roomStatus = document.getElementById("room-status");
const messages = document.getElementById("messages");
const onlineList = document.getElementById("online");
const onlineCount = document.getElementById("online-count");
const typingLine = document.getElementById("typing");
const form = document.getElementById("chat-form");
const privateBox = document.getElementById("private-to");
const privateText = document.getElementById("private-to-text");
const privateCancel = document.getElementById("private-cancel");
const input = document.getElementById("message-input");
const sendButton = document.getElementById("send");

// --- the connection state, as in step 08 ---

// The state goes in data-state (for styles and browser tests) and in words in
// the text. textContent, never HTML: everything shown here comes from the
// network, and text set this way is always shown as text, never run as markup.
function showStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

socket.on("connect", () => {
  stopCountdown();
  lastReason = "";
  showStatus("connected", `connected as ${socket.id}`);
  // A new connection is in no room: the server forgot us with the old one.
  // Join again as whoever we were, where we were (or as the page asked
  // while it was disconnected).
  if (wanted !== null) {
    join(wanted);
  }
});

// Why the last connection ended, in the server's words when it gave any.
let lastReason = "";

socket.on("disconnect", (reason) => {
  lastReason = reason;
  showStatus("disconnected", `disconnected: ${reason}`);
  leaveOnDisconnect();
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

// --- joining a room ---

// Who and where the server says we are (from the last join's answer), or
// null before the first join.
let current = null;
// Whether this connection is in that room. False from a disconnect until the
// join that follows the next connect is answered.
let joined = false;
// What to join as on the next connect: the last room we were in, or what
// was asked for while disconnected.
let wanted = null;
// Numbers the joins, so that only the answer to the latest one counts (a
// slow answer to an earlier one must not undo a later one).
let joinAttempt = 0;

joinForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const request = { nickname: nicknameInput.value.trim(), room: roomInput.value.trim() };
  if (!socket.connected) {
    wanted = request;
    showRoomStatus("joining", `will join ${request.room} as ${request.nickname} once connected`);
    return;
  }
  // From the keyboard: in, and the cursor goes to the message box; refused,
  // and it goes back to the nickname, to fix it.
  if (await join(request)) {
    input.focus();
  } else if (socket.connected) {
    nicknameInput.focus();
    nicknameInput.select();
  }
});

// Asks the server to put us in `request.room` as `request.nickname`, and
// waits for its answer: the room's members, or a refusal in words. True if
// we are in.
async function join(request) {
  const attempt = ++joinAttempt;
  showJoinError("");
  showRoomStatus("joining", `joining ${request.room} as ${request.nickname}…`);
  try {
    const answer = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("join", request);
    if (attempt === joinAttempt) {
      enterRoom(answer);
    }
    return true;
  } catch (error) {
    if (attempt !== joinAttempt) {
      return false;
    }
    if (!socket.connected) {
      wanted = request; // the connection went first: try again on the next one
      return false;
    }
    // The server's own sentence: which rule the nickname or room broke.
    showJoinError(error.message);
    wanted = current;
    showWhereWeAre();
    return false;
  }
}

// The server said yes: `users` is everyone in the room, us included, as it
// was when we joined; every "joined" and "left" after this answer updates it.
function enterRoom({ nickname, room, users }) {
  const sameRoom = current !== null && current.room === room;
  current = { nickname, room };
  wanted = current;
  joined = true;
  nicknameInput.value = nickname;
  roomInput.value = room;
  online.clear();
  for (const user of users) {
    online.add(user);
  }
  showOnline();
  forgetEveryTypist();
  if (privateTo === nickname) {
    endPrivate();
  }
  const others = users.length - 1;
  const company = others === 0 ? "nobody else is here yet" : `${others} more online`;
  addNotice(`${sameRoom ? "back in" : "you joined"} ${room} as ${nickname}: ${company}`);
  showWhereWeAre();
  enableChat();
  sendWhatWaited();
}

function leaveOnDisconnect() {
  joined = false;
  online.clear();
  showOnline();
  forgetEveryTypist();
  stopTyping();
  showWhereWeAre();
}

function showWhereWeAre() {
  if (joined) {
    showRoomStatus("joined", `You are ${current.nickname} in ${current.room}.`);
    roomStatus.dataset.nickname = current.nickname;
    roomStatus.dataset.room = current.room;
  } else if (current !== null) {
    showRoomStatus("joining", `Not in a room now: rejoining ${current.room} as ${current.nickname} once connected.`);
  } else {
    showRoomStatus("not-joined", "Pick a nickname and a room, then press Join.");
  }
}

function showRoomStatus(state, text) {
  roomStatus.dataset.state = state;
  roomStatus.textContent = text;
  if (state !== "joined") {
    delete roomStatus.dataset.nickname;
    delete roomStatus.dataset.room;
  }
}

function showJoinError(message) {
  joinError.textContent = message;
}

function enableChat() {
  input.disabled = false;
  sendButton.disabled = false;
  showPrivateTarget();
}

// --- who is online ---

// The nicknames in our room. Starts from the join answer's `users`; then
// every "joined" adds one and every "left" removes one, so it is always the
// room's true membership.
const online = new Set();

socket.on("joined", ({ nickname, room }) => {
  if (!inOurRoom(room) || online.has(nickname)) {
    return;
  }
  online.add(nickname);
  showOnline();
  addNotice(`${nickname} joined ${room}`);
});

socket.on("left", ({ nickname, room }) => {
  if (!inOurRoom(room) || !online.delete(nickname)) {
    return;
  }
  showOnline();
  forgetTypist(nickname);
  addNotice(`${nickname} left ${room}`);
});

// Notices and messages name their room: one about a room we have just left
// (it was on its way when we moved) is not about this one.
function inOurRoom(room) {
  return joined && room === current.room;
}

// One button per person, in alphabetical order: a name to click for a
// private message. Ours is marked and disabled: no private message to
// yourself.
function showOnline() {
  const names = [...online].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
  const items = names.map((nickname) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "user";
    button.dataset.nickname = nickname;
    button.textContent = nickname;
    if (joined && nickname === current.nickname) {
      button.classList.add("me");
      button.disabled = true;
    } else {
      button.title = `Send ${nickname} a private message`;
      button.addEventListener("click", () => startPrivate(nickname));
    }
    const item = document.createElement("li");
    item.append(button);
    return item;
  });
  onlineList.replaceChildren(...items);
  onlineCount.textContent = joined ? `(${names.length})` : "";
}

// --- who is typing ---

// Who the server says is typing in our room. No timer to forget anyone:
// the server sends "typing" false for them on their next message, when they
// leave the room and when they disconnect, so nobody stays "typing" forever.
const typists = new Set();

socket.on("typing", ({ nickname, typing }) => {
  if (typing && joined && online.has(nickname)) {
    typists.add(nickname);
    showTypists();
  } else {
    forgetTypist(nickname);
  }
});

function forgetTypist(nickname) {
  if (typists.delete(nickname)) {
    showTypists();
  }
}

function forgetEveryTypist() {
  typists.clear();
  showTypists();
}

// "alice is typing…", "alice and bob are typing…", "alice, bob and 2 more
// are typing…".
function showTypists() {
  const names = [...typists];
  if (names.length === 0) {
    typingLine.textContent = "";
  } else if (names.length === 1) {
    typingLine.textContent = `${names[0]} is typing…`;
  } else if (names.length === 2) {
    typingLine.textContent = `${names[0]} and ${names[1]} are typing…`;
  } else {
    typingLine.textContent = `${names[0]}, ${names[1]} and ${names.length - 2} more are typing…`;
  }
}

// Our side: true on the first key, false after a pause (or when the box is
// emptied, or a private message starts).
let typingSent = false;
let typingPause = null;

input.addEventListener("input", () => {
  // Not for a private message: the room need not know about that.
  const forTheRoom = privateTo === null && !input.value.startsWith("/msg");
  if (!joined || !forTheRoom || input.value === "") {
    stopTyping();
    return;
  }
  if (!typingSent) {
    socket.emit("typing", true);
    typingSent = true;
  }
  clearTimeout(typingPause);
  typingPause = setTimeout(stopTyping, TYPING_PAUSE_MS);
});

function stopTyping() {
  clearTimeout(typingPause);
  if (typingSent && joined) {
    socket.emit("typing", false);
  }
  typingSent = false;
}

// Sending a message ends "typing" too, but the server says so for us: it
// sends the others typing false along with our message. So the page only
// forgets that it was typing, and sends no frame of its own.
function typingEndedBySending() {
  clearTimeout(typingPause);
  typingSent = false;
}

// --- private messages ---

// Who the message box sends to: null for the room, or a nickname (clicked
// in the list, or the sender of a private message we reply to).
let privateTo = null;

// "/msg carol see you in random" (or /msg "mary ann" hello, for a nickname
// with spaces): a private message to anyone online, in any room, not only
// the people in our list. Gives { to, text }, or null for anything else.
function privateCommand(line) {
  const match = /^\/msg\s+(?:"([^"]+)"|(\S+))\s+(\S[\s\S]*)$/.exec(line);
  return match === null ? null : { to: match[1] || match[2], text: match[3] };
}

function startPrivate(nickname) {
  stopTyping();
  privateTo = nickname;
  showPrivateTarget();
  input.focus();
}

function endPrivate() {
  privateTo = null;
  showPrivateTarget();
}

privateCancel.addEventListener("click", () => {
  endPrivate();
  input.focus();
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && privateTo !== null) {
    endPrivate();
  }
});

function showPrivateTarget() {
  privateBox.hidden = privateTo === null;
  privateText.textContent = privateTo === null ? "" : `Private to ${privateTo}`;
  form.classList.toggle("private", privateTo !== null);
  if (input.disabled) {
    return;
  }
  const where = current === null ? "the room" : current.room;
  input.placeholder = privateTo === null ? `Message ${where}…` : `Private message to ${privateTo}…`;
}

// --- the chat ---

// Messages typed while not in a room (disconnected, or rejoining), oldest
// first: sent, in order, as soon as the next join is answered. The page keeps
// them rather than socket.js, because socket.js would send them before the
// join, and the server refuses a message from someone in no room.
const waitingToSend = [];

// Enter in the input submits the form, and so does the button.
form.addEventListener("submit", (event) => {
  event.preventDefault(); // stay on this page: no real form submission
  const text = input.value;
  // The server refuses blank messages too; checking here saves a round trip.
  if (text.trim() === "") {
    return;
  }
  const command = privateCommand(text);
  const to = command === null ? privateTo : command.to;
  const said = command === null ? text : command.text;
  const outgoing = { text: said, to, item: addOwnMessage(said, to) };
  input.value = "";
  input.focus();
  if (joined) {
    typingEndedBySending();
    send(outgoing);
  } else {
    markOwn(outgoing.item, "waiting", "waiting to send");
    waitingToSend.push(outgoing);
  }
});

// Shown at once, before the server has seen it: the server does not send
// our own message back to us, it answers the emit instead.
function addOwnMessage(text, to) {
  const nickname = current === null ? nicknameInput.value.trim() : current.nickname;
  const item = addItem("message", nickname, text);
  item.classList.add("mine");
  if (to !== null) {
    markPrivate(item, `private to ${to}`);
  }
  addPart(item, "state", "");
  return item;
}

// Emits one of our messages with an acknowledgement: "sending…" until the
// server answers with the message's id and time, or says why not.
function send({ text, to, item }) {
  markOwn(item, "sending", "sending…");
  const [event, data] = to === null ? ["message", text] : ["private", { to, text }];
  socket.timeout(ACK_TIMEOUT_MS).emit(event, data, (error, answer) => {
    if (error) {
      // The server's sentence for a refusal ("nobody called bob is online"),
      // or socket.js's: "operation has timed out", "socket has been
      // disconnected" (then it may or may not have arrived).
      markOwn(item, "failed", `✗ ${error.message}`);
      return;
    }
    item.dataset.id = answer.id;
    showTime(item, answer.at);
    markOwn(item, "sent", "✓ sent");
  });
}

function sendWhatWaited() {
  for (const outgoing of waitingToSend.splice(0)) {
    send(outgoing);
  }
}

function markOwn(item, state, words) {
  item.dataset.state = state;
  item.querySelector(".state").textContent = words;
}

// Everyone else's messages in our room. `from` is the server's record of
// who sent it: nobody can write another name.
socket.on("message", ({ room, from, text, at }) => {
  if (!inOurRoom(room)) {
    return;
  }
  const item = addItem("message", from, text);
  showTime(item, at);
});

// A private message to us, from anyone in any room: only we get it.
socket.on("private", ({ from, text, at }) => {
  const item = addItem("message", from, text);
  markPrivate(item, `private from ${from}`);
  showTime(item, at);
  const reply = document.createElement("button");
  reply.type = "button";
  reply.className = "reply";
  reply.textContent = "reply";
  reply.setAttribute("aria-label", `Reply to ${from} privately`);
  reply.addEventListener("click", () => startPrivate(from));
  item.append(reply);
});

// The server explains what it refused (or that we are sending too fast).
socket.on("error", ({ message }) => {
  addItem("error", "server", message);
});

function addNotice(text) {
  addItem("notice", "", text);
}

// Appends <li class="kind"><span class="from"/><span class="text"/></li>.
// Both parts come from the network, so both are set with textContent: a
// message such as "<img src=x onerror=alert(1)>" shows up as those
// characters, and nothing runs.
function addItem(kind, from, text) {
  const item = document.createElement("li");
  item.className = kind;
  addPart(item, "from", from);
  addPart(item, "text", text);
  messages.append(item);
  // Keep the newest in view inside the list, without scrolling the page.
  messages.scrollTop = messages.scrollHeight;
  return item;
}

function addPart(item, className, text) {
  const part = document.createElement("span");
  part.className = className;
  part.textContent = text;
  item.append(part);
  return part;
}

function markPrivate(item, tag) {
  item.classList.add("private");
  const part = document.createElement("span");
  part.className = "private-tag";
  part.textContent = tag;
  item.querySelector(".from").after(part);
}

// The server's time for the message (ms since the Unix epoch), as this
// computer's clock shows it.
function showTime(item, at) {
  if (!Number.isFinite(at)) {
    return;
  }
  const time = document.createElement("time");
  time.className = "at";
  time.dateTime = new Date(at).toISOString();
  time.textContent = new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  item.querySelector(".from").before(time);
}
