// Step 11's browser code: step 10's, unchanged but for one line saying which
// server (node) the tab is connected to, so two tabs on two nodes are
// plainly on two servers. Step 10's header, as it was:
//
// Step 10's browser code: step 09's chat room, made so that nothing is lost
// and nothing is shown twice. The tab keeps its session, the id of the last
// message it saw and what it shows in sessionStorage, so a reconnect or a
// reload joins with "session" and "last_id" and gets exactly what it missed;
// every message carries a "client_offset" (this tab's id and a counter), so
// socket.js can send it again until the server answers, and the server still
// stores and delivers it once; every message is shown once, by its id.
// io() comes from /socket.js, loaded just before this file.
// Read notes/10-delivery.md and notes/11-scale-out.md beside it.

// How long one try of a join or a message may wait for the server's answer,
// and how many more tries socket.js makes: after a timeout on a live
// connection, or on the next connection after a lost one. While there is no
// connection at all, a message just waits (see socket.js, "Retries"); while
// the server refuses it with "retry" (step 11: its node cannot reach Redis),
// socket.js sends it again, for up to ACK_TIMEOUT_MS × (RETRIES + 1).
const ACK_TIMEOUT_MS = 10000;
const RETRIES = 5;

const socket = io({ ackTimeout: ACK_TIMEOUT_MS, retries: RETRIES });
// Typing notices: "typing" true on the first key, false after this long
// without one, so at most one notice every second or two, far below the
// few a second the server passes on.
const TYPING_PAUSE_MS = 2000;

const statusLine = document.getElementById("status");
const serverLine = document.getElementById("server");
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

// --- what this tab remembers: sessionStorage ---

// sessionStorage belongs to this tab: it survives a reload, not the tab's
// closing, and another tab has its own. Everything the page keeps there is
// read through these two functions, which never throw: in a private window
// or with storage full, the page still works, it only forgets on a reload.
function recall(key) {
  try {
    return JSON.parse(sessionStorage.getItem(`chat.${key}`));
  } catch (error) {
    return null;
  }
}

function remember(key, value) {
  try {
    sessionStorage.setItem(`chat.${key}`, JSON.stringify(value));
  } catch (error) {
    console.warn(`step 11: could not keep ${key} for a reload:`, error);
  }
}

// This tab's own name for its messages: random, kept for the tab's life.
const tabId = recall("tab") || newTabId();
remember("tab", tabId);

function newTabId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

// A client_offset that this tab has never used: its id and the next number.
// The counter is kept before the message is sent, so a reload right after a
// send goes on from the next number instead of reusing this one (the server
// would answer a reused one with the old message, and deliver nothing).
function nextClientOffset() {
  const count = (recall("count") || 0) + 1;
  remember("count", count);
  return `${tabId}:${count}`;
}

// --- the connection state, as in step 08 ---

// The state goes in data-state (for styles and browser tests) and in words in
// the text. textContent, never HTML: everything shown here comes from the
// network, and text set this way is always shown as text, never run as markup.
function showStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
  showServer(state);
}

// Which server this tab is on: the host and port the page came from, where
// io() opens its WebSocket too. Each node serves the page itself, so a tab
// opened on another node's port says another address.
function showServer(state) {
  const host = location.host;
  serverLine.dataset.host = host;
  serverLine.dataset.state = state;
  const words = {
    connected: `connected to ${host}`,
    disconnected: socket.active ? `reconnecting to ${host}…` : `not connected to ${host}`,
  };
  serverLine.textContent = words[state] || `connecting to ${host}…`;
}

showServer("connecting");

socket.on("connect", () => {
  stopCountdown();
  lastReason = "";
  showStatus("connected", `connected as ${socket.id}`);
  // A new connection is in no room: the server forgot us with the old one.
  // Join again as whoever we were, where we were (or as the page asked
  // while it was disconnected), bringing the session and the last id seen.
  if (wanted !== null && !joinInFlight) {
    join(wanted);
  }
});

// Why the last connection ended, in the server's words when it gave any.
let lastReason = "";

socket.on("disconnect", (reason) => {
  lastReason = reason;
  leaveOnDisconnect();
  if (socket.active) {
    showStatus("disconnected", `disconnected: ${reason}`);
    return;
  }
  // Close code 4001: this tab's session went on in a newer connection (a
  // copy of this tab, or this page opened again). socket.js does not
  // reconnect, or the two would take the session from each other forever.
  showStatus("disconnected", `disconnected: ${reason} — not reconnecting`);
  showRoomStatus("not-joined", "This chat went on in a newer tab. Reload this page to continue here.");
  input.disabled = true;
  sendButton.disabled = true;
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
// was asked for while disconnected. After a reload, who and where the tab
// was before it.
let wanted = recall("who");
// Numbers the joins, so that only the answer to the latest one counts (a
// slow answer to an earlier one must not undo a later one).
let joinAttempt = 0;
// Whether a join is waiting for its answer. socket.js sends it again on the
// next connection if this one is lost, so "connect" must not send another.
let joinInFlight = false;

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
  joinInFlight = true;
  try {
    const answer = await socket.emitWithAck("join", joinData(request));
    if (attempt === joinAttempt) {
      joinInFlight = false;
      enterRoom(answer);
    }
    return true;
  } catch (error) {
    if (attempt !== joinAttempt) {
      return false;
    }
    joinInFlight = false;
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

// What a join says: who and where, and, when the tab has them, its session
// (to take its nickname back, and the private messages it missed) and the
// last message it saw in that room (to get every one after it, instead of
// the room's latest). Another room starts from that room's latest.
function joinData({ nickname, room }) {
  const data = { nickname, room };
  const session = recall("session");
  if (typeof session === "string") {
    data.session = session;
  }
  if (lastSeen !== null && lastSeen.room === room) {
    data.last_id = lastSeen.id;
  }
  return data;
}

// The server said yes: `users` is everyone in the room, us included, as it
// was when we joined; every "joined" and "left" after this answer updates it.
// The messages we missed (or the room's latest) follow this answer, as
// ordinary "message" events.
function enterRoom({ nickname, room, users, session, recovered }) {
  const sameRoom = current !== null && current.room === room;
  current = { nickname, room };
  wanted = current;
  joined = true;
  remember("who", current);
  if (typeof session === "string") {
    remember("session", session);
  }
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
  const back = sameRoom || recovered === true;
  addNotice(`${back ? "back in" : "you joined"} ${room} as ${nickname}: ${company}`);
  showWhereWeAre();
  enableChat();
  // After a reload the page joined by itself: the cursor goes from the
  // nickname box (autofocus) to the message box, as after pressing Join.
  if (rejoiningAfterReload && document.activeElement === nicknameInput) {
    input.focus();
  }
  rejoiningAfterReload = false;
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

// What the tab shows, kept for a reload: each message line as a record
// ({ id, from, text, at, privateTag, replyTo } for everyone's; your own also
// { mine, to, offset, state, words }), oldest first, at most this many.
const TRANSCRIPT_SIZE = 200;
let transcript = [];
// Each line's <li>, and each <li>'s record.
const lineOf = new WeakMap();
// Every line that has an id, by that id: a message that comes again (a
// replay after a reconnect brings what the server cannot know we saw) is
// not shown a second time.
const shownById = new Map();

// The newest id of a message the server sent us in our room, as { room, id }:
// the next join there says it as last_id. Only from messages received, never
// from the answer to our own: that answer can come before someone else's
// older message, and a last_id past that one would skip it.
let lastSeen = recall("lastSeen");

function noteSeen(room, id) {
  const newer = lastSeen === null || lastSeen.room !== room || Number(id) > Number(lastSeen.id);
  if (newer) {
    lastSeen = { room, id };
    remember("lastSeen", lastSeen);
  }
}

// Enter in the input submits the form, and so does the button.
form.addEventListener("submit", (event) => {
  event.preventDefault(); // stay on this page: no real form submission
  const text = input.value;
  // The server refuses blank messages too; checking here saves a round trip.
  if (text.trim() === "" || current === null) {
    return;
  }
  const command = privateCommand(text);
  const to = command === null ? privateTo : command.to;
  const said = command === null ? text : command.text;
  const item = showLine({
    id: null,
    from: current.nickname,
    text: said,
    at: null,
    privateTag: to === null ? null : `private to ${to}`,
    mine: true,
    to,
    offset: nextClientOffset(),
    state: "waiting",
    words: "waiting for the server…",
  });
  input.value = "";
  input.focus();
  typingEndedBySending();
  send(item);
});

// Emits one of our messages with its client_offset, and waits for the
// answer: the message's id and time, or why not. Connected or not: socket.js
// sends it now or once it is connected again, and again after a timeout or
// a lost connection; the offset lets the server store and deliver it once
// however many tries arrive. Until the answer, it says "waiting for the
// server…".
function send(item) {
  const { to, text, offset } = lineOf.get(item);
  const [event, data] =
    to === null
      ? ["message", { text, client_offset: offset }]
      : ["private", { to, text, client_offset: offset }];
  socket.emit(event, data, (error, answer) => {
    if (error) {
      // The server's sentence ("the message was not stored (...), so
      // nobody got it; try again", "nobody called bob is online"), or
      // socket.js's after the last try: "operation has timed out", "socket
      // has been disconnected" (then it may or may not have arrived).
      setState(item, "failed", `✗ ${error.message}`);
      return;
    }
    confirmed(item, answer);
  });
}

// The server stored our message as `id`. A replay after a reconnect may have
// shown it already, from us, before this answer came (the first try got
// through, its answer did not): then that copy goes, and this line stays.
function confirmed(item, { id, at }) {
  const copy = shownById.get(id);
  if (copy !== undefined && copy !== item) {
    removeLine(copy);
  }
  const line = lineOf.get(item);
  line.id = id;
  line.at = at;
  item.dataset.id = id;
  shownById.set(id, item);
  showTime(item, at);
  setState(item, "sent", "✓ sent");
}

function setState(item, state, words) {
  const line = lineOf.get(item);
  line.state = state;
  line.words = words;
  item.dataset.state = state;
  item.querySelector(".state").textContent = words;
  keepTranscript();
}

// Everyone else's messages in our room: live ones, the ones we missed, or
// the room's latest after a first join. `from` is the server's record of
// who sent it: nobody can write another name.
socket.on("message", ({ id, room, from, text, at }) => {
  if (!inOurRoom(room)) {
    return;
  }
  noteSeen(room, id);
  if (!shownById.has(id)) {
    showLine({ id, from, text, at, privateTag: null, replyTo: null });
  }
});

// A private message to us, from anyone in any room: only we get it (and,
// after a reconnect with our session, the ones we missed).
socket.on("private", ({ id, from, text, at }) => {
  if (!shownById.has(id)) {
    showLine({ id, from, text, at, privateTag: `private from ${from}`, replyTo: from });
  }
});

// We were away so long that the server sends only the latest of what we
// missed: say how much is not shown.
socket.on("skipped", ({ room, count }) => {
  if (!inOurRoom(room)) {
    return;
  }
  const messages = count === 1 ? "1 older message" : `${count} older messages`;
  addNotice(`you were away for long: ${messages} in ${room} not shown, only the latest ones`);
});

// The server explains what it refused (or that we are sending too fast).
socket.on("error", ({ message }) => {
  addItem("error", "server", message);
});

function addNotice(text) {
  addItem("notice", "", text);
}

// Shows one message line from its record, and keeps the record for a reload.
function showLine(line) {
  const item = addItem("message", line.from, line.text);
  lineOf.set(item, line);
  if (typeof line.privateTag === "string") {
    markPrivate(item, line.privateTag);
  }
  if (typeof line.replyTo === "string") {
    addReply(item, line.replyTo);
  }
  showTime(item, line.at);
  if (line.mine === true) {
    item.classList.add("mine");
    addPart(item, "state", line.words);
    item.dataset.state = line.state;
  }
  if (typeof line.id === "string") {
    item.dataset.id = line.id;
    shownById.set(line.id, item);
  }
  transcript.push(line);
  keepTranscript();
  return item;
}

function removeLine(item) {
  const line = lineOf.get(item);
  shownById.delete(line.id);
  transcript = transcript.filter((each) => each !== line);
  item.remove();
  keepTranscript();
}

function keepTranscript() {
  transcript = transcript.slice(-TRANSCRIPT_SIZE);
  remember("lines", transcript);
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

function addReply(item, from) {
  const reply = document.createElement("button");
  reply.type = "button";
  reply.className = "reply";
  reply.textContent = "reply";
  reply.setAttribute("aria-label", `Reply to ${from} privately`);
  reply.addEventListener("click", () => startPrivate(from));
  item.append(reply);
}

// The server's time for the message (ms since the Unix epoch), as this
// computer's clock shows it; once per line.
function showTime(item, at) {
  if (!Number.isFinite(at) || item.querySelector(".at") !== null) {
    return;
  }
  const time = document.createElement("time");
  time.className = "at";
  time.dateTime = new Date(at).toISOString();
  time.textContent = new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  item.querySelector(".from").before(time);
}

// --- after a reload ---

// True from a reload until the join it makes by itself is answered.
let rejoiningAfterReload = false;

// The tab shows again what it showed, and sends again what was still
// waiting for the server, with the same client_offset: if the server had it
// already, it answers with the original and delivers nothing twice. The join
// on "connect" then brings last_id, so only what came since follows.
function restore() {
  const who = wanted;
  if (who === null || typeof who.nickname !== "string" || typeof who.room !== "string") {
    wanted = null;
    lastSeen = null;
    return;
  }
  nicknameInput.value = who.nickname;
  roomInput.value = who.room;
  current = { nickname: who.nickname, room: who.room };
  rejoiningAfterReload = true;
  showWhereWeAre();
  const saved = recall("lines");
  for (const line of Array.isArray(saved) ? saved : []) {
    if (line === null || typeof line.text !== "string" || typeof line.from !== "string") {
      continue;
    }
    const item = showLine(line);
    if (line.mine === true && line.state === "waiting") {
      send(item);
    }
  }
}

restore();
