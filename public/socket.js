// socket.js: the browser side of the real-time steps (04 to 09).
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
// is, at /socket.js. Read notes/04-connect-logging.md for the protocol, and
// notes/09-chat-room.md for acknowledgements.
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
//
// Acknowledgements (step 09's server answers them; socket.io's names):
//
//     socket.emit(event, data, fn)                 fn(result)
//     socket.timeout(ms).emit(event, data, fn)     fn(err, result)
//     await socket.emitWithAck(event, data)        result, or throws err
//     await socket.timeout(ms).emitWithAck(event, data)
//
// (`data` may be left out before the callback, as in socket.io:
// socket.emit("ping", fn).) An emit with a callback puts "ack": n in its
// frame, n counting 1, 2, 3, ... for the life of this socket, across
// reconnects, so an answer meant for one emit never reaches another. The
// server answers that frame with exactly one frame, which has no "event":
//
//     {"ack": n, "data": <result>}                 done: result is data
//     {"ack": n, "error": {"message": "..."}}      refused, in a sentence
//
// What each form gets:
//
//     emit(event, data, fn)               answered: fn(result)
//                                         refused: fn is not called (below)
//                                         connection lost: fn is never called
//     timeout(ms).emit(event, data, fn)   answered: fn(null, result)
//                                         refused: fn(err), err.message being
//                                           the server's sentence
//                                         no answer within ms:
//                                           fn(Error("operation has timed out"))
//                                         connection lost:
//                                           fn(Error("socket has been disconnected"))
//     emitWithAck(event, data)            a Promise: resolves with result,
//     timeout(ms).emitWithAck(event, data)  rejects with the same Errors
//
// - A refusal never reaches a plain fn(result): it has no error argument, and
//   handing it something that looks like a result would be worse than
//   nothing. It goes to the page's "error" listeners as {message}, exactly
//   where a refused frame without "ack" goes (and to the console if nobody
//   listens). Use the err-first forms to handle a refusal where it happens.
// - err.message is the server's sentence for a refusal, so a page can show
//   it as it is ("join a room first").
// - timeout(ms) counts from the emit, queued time included. A frame still
//   queued when its time runs out is taken out of the queue and never sent:
//   once the callback has said "failed", the server must not act on it later.
//   A late answer to a timed-out emit is ignored.
// - When the connection drops, an emit already sent can never be answered
//   (the answer would have come on the connection that is gone; the server
//   may or may not have acted on it). Its err-first callback fails at once
//   with "socket has been disconnected", and emitWithAck rejects; a plain
//   fn(result) is forgotten (socket.io does the same). Emits made while
//   disconnected stay queued and get their answer after the next "connect".
// - emitWithAck without timeout() rejects on a refusal or a lost
//   connection too, so it never waits for a connection that is gone
//   (socket.io's, without a timeout, would wait forever). It does wait as
//   long as the connection lasts: add timeout(ms) to bound that.
// - timeout(ms) wants a number of milliseconds, 0 or more; anything else is
//   a mistake in the page, and throws a TypeError at once.
// - After socket.disconnect(), every emit still waiting fails the same way
//   (queued ones too: nothing will send them).
// - Only an emit with a callback carries "ack": socket.emit(event, data)
//   sends exactly the frame it always did, so the pages of steps 04 to 08
//   and their servers see no difference.

(function () {
  "use strict";

  // Reconnecting waits 0.5 s, then 1 s, 2 s, 4 s, and never more than 5 s
  // (like socket.io), so a server that is down is not hammered, and a server
  // that comes back is found again quickly. A successful connect starts the
  // sequence again from 0.5 s.
  const FIRST_RETRY_MS = 500;
  const MAX_RETRY_MS = 5000;

  // socket.io's words, so a page written for socket.io reads the same errors.
  const TIMED_OUT = "operation has timed out";
  const DISCONNECTED = "socket has been disconnected";

  class Socket {
    constructor(url) {
      this.id = undefined;
      this.connected = false;

      this._url = url;
      this._listeners = new Map(); // event name -> array of functions
      // Frames emitted while not connected, oldest first, as { frame, ack }
      // (ack: the emit's number, or null when it expects no answer).
      this._queue = [];
      this._nextAck = 1; // the number the next emit with a callback gets
      this._waiting = new Map(); // ack number -> an emit waiting for its answer
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

    emit(event, data, callback) {
      // socket.emit("ping", fn): a callback and no data, as in socket.io.
      if (typeof data === "function" && callback === undefined) {
        [data, callback] = [undefined, data];
      }
      const answer = typeof callback === "function" ? { plain: callback } : null;
      this._send(event, data, answer);
      return this;
    }

    // The same emit, with a time limit on its answer: see the header.
    timeout(ms) {
      if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
        throw new TypeError(`socket.timeout(ms): ms must be milliseconds, 0 or more, not ${ms}`);
      }
      return {
        emit: (event, data, callback) => {
          if (typeof data === "function" && callback === undefined) {
            [data, callback] = [undefined, data];
          }
          const answer = typeof callback === "function" ? { errorFirst: callback, ms } : null;
          this._send(event, data, answer);
          return this;
        },
        emitWithAck: (event, data) => this._emitWithAck(event, data, ms),
      };
    }

    emitWithAck(event, data) {
      return this._emitWithAck(event, data, undefined);
    }

    disconnect() {
      this._closedByPage = true;
      clearTimeout(this._retryTimer);
      // Nothing will send what is queued, nor answer what was sent.
      this._queue = [];
      this._failWaiting(() => true);
      if (this._webSocket) {
        this._webSocket.close(1000, "page called disconnect()");
      }
      return this;
    }

    // --- the rest is how it works inside ---

    _emitWithAck(event, data, ms) {
      return new Promise((resolve, reject) => {
        const settle = (error, result) => (error ? reject(error) : resolve(result));
        this._send(event, data, { errorFirst: settle, ms });
      });
    }

    // Sends (or queues) one event. `answer` is null for a plain emit, or
    // { plain: fn } / { errorFirst: fn, ms } for one that expects an answer.
    _send(event, data, answer) {
      // socket.emit("fromClient") sends no "data" at all: the server reads
      // that as null.
      const envelope = data === undefined ? { event } : { event, data };
      const ack = answer === null ? null : this._nextAck++;
      if (ack !== null) {
        envelope.ack = ack;
      }
      const frame = JSON.stringify(envelope);
      if (ack !== null) {
        this._expectAnswer(ack, answer);
      }
      if (this.connected && this._webSocket.readyState === WebSocket.OPEN) {
        this._transmit(frame, ack);
      } else {
        // Not connected yet, or between two connections: keep it, in order,
        // and send it as soon as the server has greeted us (socket.io does
        // the same). Nothing is sent before the greeting, so the server
        // always knows who we are when our first event arrives.
        this._queue.push({ frame, ack });
      }
    }

    _transmit(frame, ack) {
      this._webSocket.send(frame);
      const waiting = this._waiting.get(ack);
      if (waiting !== undefined) {
        waiting.sent = true; // from now on only this connection can answer it
      }
    }

    _expectAnswer(ack, answer) {
      const waiting = { answer, sent: false, timer: null };
      if (answer.ms !== undefined) {
        waiting.timer = setTimeout(() => {
          this._waiting.delete(ack);
          // Failed means failed: if it is still queued, it is never sent.
          this._queue = this._queue.filter((queued) => queued.ack !== ack);
          settle(answer, new Error(TIMED_OUT));
        }, answer.ms);
      }
      this._waiting.set(ack, waiting);
    }

    // Fails, with "socket has been disconnected", every waiting emit for
    // which `which(waiting)` is true.
    _failWaiting(which) {
      for (const [ack, waiting] of this._waiting) {
        if (which(waiting)) {
          this._waiting.delete(ack);
          clearTimeout(waiting.timer);
          settle(waiting.answer, new Error(DISCONNECTED));
        }
      }
    }

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
      // An answer to one of our emits has "ack" and no "event": it goes to
      // that emit's callback, never to socket.on listeners.
      if (isObject && envelope.event === undefined && envelope.ack !== undefined) {
        this._answered(envelope);
        return;
      }
      if (!isObject || typeof envelope.event !== "string") {
        console.warn('socket.js: ignoring a frame without a string "event":', text);
        return;
      }
      const data = envelope.data === undefined ? null : envelope.data;

      if (envelope.event === "connect") {
        this._greeted(data);
      } else if (envelope.event === "error") {
        this._refused(data);
      } else {
        this._fire(envelope.event, data);
      }
    }

    _answered(envelope) {
      const { ack } = envelope;
      if (!Number.isSafeInteger(ack) || ack < 1) {
        console.warn("socket.js: ignoring an answer with a bad ack:", envelope);
        return;
      }
      const waiting = this._waiting.get(ack);
      if (waiting === undefined) {
        // Timed out already (its callback has heard so), or never ours.
        return;
      }
      this._waiting.delete(ack);
      clearTimeout(waiting.timer);
      if (envelope.error === undefined) {
        const result = envelope.data === undefined ? null : envelope.data;
        settle(waiting.answer, null, result);
        return;
      }
      const error = envelope.error;
      const hasMessage = error !== null && typeof error.message === "string";
      const message = hasMessage ? error.message : "refused by the server";
      if (waiting.answer.plain !== undefined) {
        // A plain fn(result) has no place for a refusal: see the header.
        this._refused({ message });
      } else {
        settle(waiting.answer, new Error(message));
      }
    }

    // The server could not accept a frame of ours: the page's "error"
    // listeners hear it, or the console does if there are none.
    _refused(data) {
      if (this._listeners.has("error")) {
        this._fire("error", data);
      } else {
        console.warn("socket.js: the server refused a frame:", data && data.message);
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
      for (const { frame, ack } of this._queue.splice(0)) {
        this._transmit(frame, ack);
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
      // Then, as in socket.io: what was sent on the connection that is gone
      // can no longer be answered, so it fails now; what is still queued
      // waits for the next connection.
      this._failWaiting((waiting) => waiting.sent);
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

  // Hands an emit's outcome to its callback: an err-first callback gets
  // (error) or (null, result); a plain one gets (result), and is only ever
  // called with a result. A callback that throws is logged, like a listener.
  function settle(answer, error, result) {
    try {
      if (answer.errorFirst !== undefined) {
        if (error) {
          answer.errorFirst(error);
        } else {
          answer.errorFirst(null, result);
        }
      } else if (!error) {
        answer.plain(result);
      }
    } catch (thrown) {
      console.error("socket.js: an acknowledgement callback threw:", thrown);
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
