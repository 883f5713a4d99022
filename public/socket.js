// socket.js: the browser side of the real-time steps (04 to 08).
//
// The Node lesson's pages load socket.io's client and write
//
//     const socket = io();
//     socket.on("fromServer", () => { ... });
//     socket.emit("fromClient");
//
// This file gives a page that same small API on top of the browser's own
// WebSocket, so the lesson's browser code runs unchanged against our Rust
// servers. No build step, no dependencies: the server sends this file as it
// is, at /socket.js. Read notes/04-connect-logging.md for the protocol.
//
// On the wire every frame, both ways, is one JSON object:
//
//     {"event": "<name>", "data": <any JSON>}      ("data" may be left out)
//
// What a page can use:
//
//     const socket = io();          connect to ws(s)://<this page's host>/ws
//     socket.on(event, fn)          call fn(data) whenever the server sends event
//     socket.off(event, fn)         stop calling fn (no fn: forget every fn for event)
//     socket.emit(event, data)      send an event; queued until connected
//     socket.disconnect()           close for good (no reconnecting)
//     socket.id                     this connection's id, set on "connect"
//     socket.connected              true between "connect" and "disconnect"
//
// Built-in events, which the server never sends under these names:
//
//     "connect"        the server has greeted us and socket.id is set
//                      (not merely "the WebSocket opened": the id comes in
//                      the server's first frame, {"event":"connect",...})
//     "disconnect"     fn(reason): the connection we had is gone; reason is
//                      a short text such as "connection lost (code 1006)"
//     "reconnecting"   fn({ attempt, delayMs }): the next attempt to connect
//                      starts in delayMs milliseconds (attempt 1, 2, 3, ...),
//                      so a page can show "reconnecting in N s"
//
// An "error" event is an ordinary event from the server: it sends
// {"event":"error","data":{"message":"..."}} when it could not accept a frame
// from us. If the page does not listen for it, we log it to the console.

(function () {
  "use strict";

  // Reconnecting waits 0.5 s, then 1 s, 2 s, 4 s, and never more than 5 s
  // (like socket.io), so a server that is down is not hammered, and a server
  // that comes back is found again quickly. A successful connect starts the
  // sequence again from 0.5 s.
  const FIRST_RETRY_MS = 500;
  const MAX_RETRY_MS = 5000;

  class Socket {
    constructor(url) {
      this.id = undefined;
      this.connected = false;

      this._url = url;
      this._listeners = new Map(); // event name -> array of functions
      this._queue = []; // frames emitted while not connected, oldest first
      this._attempt = 0; // reconnect attempts since the last connect
      this._webSocket = null;
      this._retryTimer = null;
      this._closedByPage = false;

      this._open();
    }

    on(event, fn) {
      if (!this._listeners.has(event)) {
        this._listeners.set(event, []);
      }
      this._listeners.get(event).push(fn);
      return this;
    }

    off(event, fn) {
      if (fn === undefined) {
        this._listeners.delete(event);
      } else {
        const fns = this._listeners.get(event) || [];
        this._listeners.set(event, fns.filter((each) => each !== fn));
      }
      return this;
    }

    emit(event, data) {
      // socket.emit("fromClient") sends no "data" at all: the server reads
      // that as null.
      const envelope = data === undefined ? { event } : { event, data };
      const frame = JSON.stringify(envelope);
      if (this.connected && this._webSocket.readyState === WebSocket.OPEN) {
        this._webSocket.send(frame);
      } else {
        // Not connected yet, or between two connections: keep it, in order,
        // and send it as soon as the server has greeted us (socket.io does
        // the same). Nothing is sent before the greeting, so the server
        // always knows who we are when our first event arrives.
        this._queue.push(frame);
      }
      return this;
    }

    disconnect() {
      this._closedByPage = true;
      clearTimeout(this._retryTimer);
      if (this._webSocket) {
        this._webSocket.close(1000, "page called disconnect()");
      }
      return this;
    }

    // --- the rest is how it works inside ---

    _open() {
      const webSocket = new WebSocket(this._url);
      this._webSocket = webSocket;
      webSocket.onmessage = (message) => this._receive(message.data);
      webSocket.onclose = (close) => this._closed(close);
      // No onerror: the browser follows every error with a close event,
      // and _closed handles both.
    }

    _receive(text) {
      // A bad frame from the server is logged and skipped, never thrown:
      // one odd message must not break the page.
      if (typeof text !== "string") {
        console.warn("socket.js: ignoring a binary frame; expected JSON text");
        return;
      }
      let envelope;
      try {
        envelope = JSON.parse(text);
      } catch (error) {
        console.warn("socket.js: ignoring a frame that is not JSON:", text);
        return;
      }
      const isObject =
        typeof envelope === "object" && envelope !== null && !Array.isArray(envelope);
      if (!isObject || typeof envelope.event !== "string") {
        console.warn('socket.js: ignoring a frame without a string "event":', text);
        return;
      }
      const data = envelope.data === undefined ? null : envelope.data;

      if (envelope.event === "connect") {
        this._greeted(data);
      } else if (envelope.event === "error" && !this._listeners.has("error")) {
        console.warn("socket.js: the server refused a frame:", data && data.message);
      } else {
        this._fire(envelope.event, data);
      }
    }

    _greeted(data) {
      if (data === null || typeof data.id !== "string") {
        console.warn("socket.js: ignoring a connect event without an id:", data);
        return;
      }
      this.id = data.id;
      this.connected = true;
      this._attempt = 0;
      // Queued emits go first, in the order they were made, then the page
      // hears "connect" (socket.io's order too).
      for (const frame of this._queue.splice(0)) {
        this._webSocket.send(frame);
      }
      this._fire("connect");
    }

    _closed(close) {
      const wasConnected = this.connected;
      this.connected = false;
      this.id = undefined;
      this._webSocket = null;

      // Like socket.io, "disconnect" is only for a connection we had: a
      // failed attempt to connect just leads to the next "reconnecting".
      if (wasConnected) {
        this._fire("disconnect", describeClose(close));
      }
      if (this._closedByPage) {
        return;
      }

      this._attempt += 1;
      const delayMs = retryDelay(this._attempt);
      this._fire("reconnecting", { attempt: this._attempt, delayMs });
      this._retryTimer = setTimeout(() => this._open(), delayMs);
    }

    _fire(event, ...args) {
      // A copy, so a listener that calls off() does not disturb this loop.
      const fns = (this._listeners.get(event) || []).slice();
      for (const fn of fns) {
        try {
          fn(...args);
        } catch (error) {
          // One broken listener must not stop the others, nor the socket.
          console.error(`socket.js: a listener for "${event}" threw:`, error);
        }
      }
    }
  }

  // How long to wait before reconnect attempt number `attempt` (1, 2, ...).
  function retryDelay(attempt) {
    const backoff = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempt - 1));
    // Jitter: wait somewhere between half and all of `backoff`. When the
    // server restarts, every open tab loses its connection at the same
    // moment; without jitter they would all come back at the same moment too.
    return Math.round(backoff / 2 + (Math.random() * backoff) / 2);
  }

  // A few words on why a connection closed, for the "disconnect" event.
  function describeClose(close) {
    const why = close.reason || (close.wasClean ? "closed" : "connection lost");
    return `${why} (code ${close.code})`;
  }

  // io() with no arguments, as in the lesson: the WebSocket lives on the same
  // host and port as the page, at /ws. From `location`, never a hard-coded
  // "localhost:3000", so the page works on any port and behind https too.
  window.io = function io() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return new Socket(`${scheme}://${location.host}/ws`);
  };
})();
