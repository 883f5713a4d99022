// socket.js: the browser side of the real-time steps (04 to 11).
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
// is, at /socket.js. Read notes/04-connect-logging.md for the protocol,
// notes/09-chat-room.md for acknowledgements, notes/10-delivery.md for
// retries, and notes/11-scale-out.md for refusals that say "retry".
//
// On the wire every frame, both ways, is one JSON object:
//
//     {"event": "<name>", "data": <any JSON>}      ("data" may be left out)
//
// What a page can use:
//
//     const socket = io();          connect to ws(s)://<this page's host>/ws
//     io({ ackTimeout, retries })   the same, with a default time limit on
//                                   answers and retries (see "Retries" below)
//     socket.on(event, fn)          call fn(data) whenever the server sends event
//     socket.off(event, fn)         stop calling fn (no fn: forget every fn for event)
//     socket.emit(event, data)      send an event; queued until connected
//     socket.disconnect()           close for good (no reconnecting)
//     socket.id                     this connection's id, set on "connect"
//     socket.connected              true between "connect" and "disconnect"
//     socket.active                 true while it is connected or will try to
//                                   (false after disconnect() or close code 4001)
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
//     {"ack": n, "error": {"message": "...", "retry": true}}
//                                                  refused for now: the same
//                                                  frame may be sent again
//                                                  (step 11; see "Retries")
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
//   it as it is ("join a room first"); err.retry is true when the server
//   said the emit may be sent again (the "error" listeners get
//   {message, retry: true} then).
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
//   (queued ones too: nothing will send them), and so does every later one,
//   which is not sent at all.
// - Only an emit with a callback carries "ack": socket.emit(event, data)
//   sends exactly the frame it always did, so the pages of steps 04 to 08
//   and their servers see no difference.
//
// Retries (step 10; socket.io's options of the same names):
//
//     const socket = io({ ackTimeout: 10000, retries: 3 });
//
// - ackTimeout: ms is the time limit of every emit that expects an answer,
//   as if each were written socket.timeout(ms).emit(...). So, as in
//   socket.io, socket.emit(event, data, fn) becomes err-first too:
//   fn(err) or fn(null, result). timeout(ms) still sets one emit's own limit.
// - retries: n. An emit that expects an answer (any form above) and gets
//   none is sent again, up to n more times: a try ends without an answer
//   when its time limit passes on a live connection (then it is sent again
//   at once, on that connection), or when the connection it was sent on is
//   lost (then it is sent again on the next one). A retry is the very same
//   frame, "ack" number included: the server cannot tell it from the first
//   try, so the page must make acting on it twice harmless, e.g. with an id
//   of its own in the data (step 10's "client_offset"). An answer to any
//   try, even a late one, is the answer.
// - The callback fails only when the last try has ended without an answer,
//   with that try's error: "operation has timed out" or "socket has been
//   disconnected". A refusal is an answer, not retried: it reaches the
//   callback at once, as above; except one that says "retry": true (below).
// - A refusal with "retry": true (step 11: "this node cannot reach Redis
//   just now") to an emit with tries left is not the answer yet: the very
//   same frame is sent again, on the same connection, 250 ms later, then
//   after 500 ms, 1 s, and every 2 s from then on. These sends do not count
//   against `retries`: a server that says "retry" during an outage may say
//   it for a while, so they have a patience of their own: the emit is sent
//   again while the server says "retry", until a refusal comes more than
//   ms × (retries + 1) after the first "retry" refusal (ms being the emit's
//   time limit, or 10 s for an emit without one; so 60 s for io({
//   ackTimeout: 10000, retries: 5 })). That refusal is the answer: the
//   callback fails with the server's sentence (err.retry true). Each send
//   again has its own time limit, as a try has; if one times out, or its
//   connection is lost, the ordinary retries above take over.
// - The wait before sending refused emits again is one for the whole
//   socket, not one per emit: every emit waiting for it is sent again at
//   the same moment, in the order the emits were made, so refusals never
//   change the order in which the server reads them. It starts again from
//   250 ms after any answer that is not a "retry" refusal, and on a new
//   connection (which may reach another server).
// - An emit without retries (io() without "retries") settles with a "retry"
//   refusal at once, as with any other refusal.
// - While there is no connection, an emit that will be retried waits, with
//   no clock running: its time limit counts from each time it is sent, not
//   from the emit (unlike an emit without retries, whose limit includes its
//   time in the queue). A page that is offline for a minute keeps its
//   messages, and sends them when it is back.
// - On a new connection, emits waiting for a retry are sent, in the order
//   they were first made, just after the page's "connect" listeners have
//   run (socket.io's order too). So a listener that joins a room ("join")
//   sends that first, and the server reads the join before the retried
//   messages. (Emits without retries that were queued go before "connect",
//   as always.)
// - Several emits may wait for answers at once; socket.io instead sends
//   them one at a time. So a try that times out on a live connection may
//   reach the server after a later emit: only then can order change.
// - A plain emit (no callback) is never retried: nothing says whether it
//   arrived. (socket.io gives it an answer of its own to retry it; servers
//   before step 09 answer nothing.)
//
// Close code 4001 (step 10: "this session was taken over by a newer
// connection"): another connection, usually this same tab's session in a
// newer tab, now holds this page's session. Reconnecting would take it back
// and close that one, and so on forever; so after 4001 the socket does not
// reconnect (like socket.io after the server disconnects a socket), "active"
// turns false, and everything still waiting fails at once with "socket has
// been disconnected", as after socket.disconnect().

(function () {
  "use strict";

  // Reconnecting waits 0.5 s, then 1 s, 2 s, 4 s, and never more than 5 s
  // (like socket.io), so a server that is down is not hammered, and a server
  // that comes back is found again quickly. A successful connect starts the
  // sequence again from 0.5 s.
  const FIRST_RETRY_MS = 500;
  const MAX_RETRY_MS = 5000;

  // The close code of a connection whose session a newer one took over
  // (step 10's server): the one code after which we do not reconnect.
  const TAKEN_OVER = 4001;

  // Sending refused emits again (a refusal with "retry": true, step 11):
  // 250 ms after the refusal, then twice as long each time, never more than
  // 2 s; and for an emit without a time limit, patience as if it had 10 s.
  const FIRST_RESEND_MS = 250;
  const MAX_RESEND_MS = 2000;
  const UNLIMITED_TRY_MS = 10000;

  // socket.io's words, so a page written for socket.io reads the same errors.
  const TIMED_OUT = "operation has timed out";
  const DISCONNECTED = "socket has been disconnected";

  class Socket {
    constructor(url, options) {
      this.id = undefined;
      this.connected = false;
      this.active = true;

      this._url = url;
      this._ackTimeout = options.ackTimeout; // undefined: no default limit
      this._retries = options.retries; // 0: an emit is tried once
      this._listeners = new Map(); // event name -> array of functions
      // Frames emitted while not connected, oldest first, as { frame, ack }
      // (ack: the emit's number, or null when it expects no answer).
      this._queue = [];
      this._nextAck = 1; // the number the next emit with a callback gets
      this._waiting = new Map(); // ack number -> an emit waiting for its answer
      this._attempt = 0; // reconnect attempts since the last connect
      this._webSocket = null;
      this._retryTimer = null;
      // Sending again the emits the server refused with "retry": true.
      this._resendTimer = null; // set while some wait to be sent again
      this._resendDelayMs = FIRST_RESEND_MS; // the wait after the next refusal

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
      let answer = null;
      if (typeof callback === "function") {
        // With io({ ackTimeout }), as in socket.io, fn is err-first.
        answer =
          this._ackTimeout === undefined
            ? { plain: callback }
            : { errorFirst: callback, ms: this._ackTimeout };
      }
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
      return this._emitWithAck(event, data, this._ackTimeout);
    }

    disconnect() {
      this._stopForGood();
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
      if (!this.active) {
        // After disconnect() or a take-over nothing will ever send it.
        if (answer !== null) {
          settle(answer, new Error(DISCONNECTED));
        }
        return;
      }
      // socket.emit("fromClient") sends no "data" at all: the server reads
      // that as null.
      const envelope = data === undefined ? { event } : { event, data };
      const ack = answer === null ? null : this._nextAck++;
      if (ack !== null) {
        envelope.ack = ack;
      }
      const frame = JSON.stringify(envelope);
      if (ack !== null) {
        this._expectAnswer(ack, answer, frame);
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

    // Sends one frame on the live connection. `countsAsTry` is false when it
    // goes again after a "retry" refusal: those have a patience of their
    // own, not a share of `retries`.
    _transmit(frame, ack, countsAsTry = true) {
      this._webSocket.send(frame);
      const waiting = this._waiting.get(ack);
      if (waiting === undefined) {
        return;
      }
      waiting.sent = true; // from now on only this connection can answer it
      if (waiting.retryable) {
        // A new try: its own time limit, counted from now.
        if (countsAsTry) {
          waiting.tries += 1;
        }
        this._startClock(ack, waiting);
      }
    }

    _expectAnswer(ack, answer, frame) {
      const retryable = this._retries > 0;
      const waiting = { answer, frame, retryable, tries: 0, sent: false, timer: null };
      // Set by a refusal with "retry": true: when such refusals stop being
      // worth waiting out (ms since the epoch), and whether it waits now for
      // the socket's next round of sending again.
      waiting.patientUntil = null;
      waiting.refused = false;
      this._waiting.set(ack, waiting);
      // Without retries the limit counts from the emit, queued time
      // included; with retries, from each try (see _transmit).
      if (!retryable) {
        this._startClock(ack, waiting);
      }
    }

    // Starts the time limit of `waiting`, if its emit has one.
    _startClock(ack, waiting) {
      clearTimeout(waiting.timer);
      if (waiting.answer.ms === undefined) {
        return;
      }
      waiting.timer = setTimeout(() => this._timedOut(ack, waiting), waiting.answer.ms);
    }

    // The time limit of one try passed without an answer: try again, on
    // this connection, or fail for good.
    _timedOut(ack, waiting) {
      if (this._triesLeft(waiting) && this.connected) {
        this._transmit(waiting.frame, ack);
        return;
      }
      this._waiting.delete(ack);
      // Failed means failed: if it is still queued, it is never sent.
      this._queue = this._queue.filter((queued) => queued.ack !== ack);
      settle(waiting.answer, new Error(TIMED_OUT));
    }

    _triesLeft(waiting) {
      return waiting.retryable && waiting.tries <= this._retries;
    }

    // The connection is gone: every emit sent on it can no longer be
    // answered there. One with tries left waits for the next connection;
    // every other one fails with "socket has been disconnected".
    _connectionLost() {
      const again = [];
      for (const [ack, waiting] of this._waiting) {
        if (!waiting.sent) {
          continue; // still queued: it waits for the next connection
        }
        clearTimeout(waiting.timer);
        waiting.sent = false;
        waiting.refused = false; // the next connection sends it, if anything
        if (this._triesLeft(waiting)) {
          again.push({ frame: waiting.frame, ack });
        } else {
          this._waiting.delete(ack);
          settle(waiting.answer, new Error(DISCONNECTED));
        }
      }
      // Back in the queue, in the order the emits were made, before anything
      // emitted since (the map keeps the order in which emits were made).
      this._queue = again.concat(this._queue);
      // A new connection may reach another server: its refusals, if any,
      // start the wait from the beginning.
      this._stopResending();
    }

    // disconnect(), or a take-over: nothing will send what is queued, nor
    // answer what was sent, so all of it fails now.
    _stopForGood() {
      this.active = false;
      clearTimeout(this._retryTimer);
      this._stopResending();
      this._queue = [];
      for (const [ack, waiting] of this._waiting) {
        this._waiting.delete(ack);
        clearTimeout(waiting.timer);
        settle(waiting.answer, new Error(DISCONNECTED));
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
        // Timed out already (its callback has heard so), answered already
        // (a retry's second answer), or never ours.
        return;
      }
      if (this._refusedForNow(ack, waiting, envelope.error)) {
        return; // it goes again soon: see _refusedForNow
      }
      // Any other answer says the server takes emits again: the next
      // "retry" refusal waits the shortest time again.
      this._resendDelayMs = FIRST_RESEND_MS;
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
      const retry = error !== null && error.retry === true;
      if (waiting.answer.plain !== undefined) {
        // A plain fn(result) has no place for a refusal: see the header.
        this._refused(retry ? { message, retry } : { message });
      } else {
        const refusal = new Error(message);
        if (retry) {
          refusal.retry = true;
        }
        settle(waiting.answer, refusal);
      }
    }

    // A refusal with "retry": true to an emit with tries left, within its
    // patience (see the header): the emit is not settled but waits for the
    // socket's next round of sending again. True if so; false if `error` is
    // the answer after all (or no refusal at all).
    _refusedForNow(ack, waiting, error) {
      const sayRetry = typeof error === "object" && error !== null && error.retry === true;
      if (!sayRetry || !this._triesLeft(waiting) || !this.connected) {
        return false;
      }
      const now = Date.now();
      if (waiting.patientUntil === null) {
        const tryMs = waiting.answer.ms === undefined ? UNLIMITED_TRY_MS : waiting.answer.ms;
        waiting.patientUntil = now + tryMs * (this._retries + 1);
      } else if (now > waiting.patientUntil) {
        return false; // refused for long enough: this refusal is the answer
      }
      // No clock while it waits: the wait is the server's, not an answer
      // that is late.
      clearTimeout(waiting.timer);
      waiting.refused = true;
      if (this._resendTimer === null) {
        const delayMs = this._resendDelayMs;
        this._resendDelayMs = Math.min(MAX_RESEND_MS, delayMs * 2);
        this._resendTimer = setTimeout(() => this._resendRefused(), delayMs);
      }
      return true;
    }

    // The socket's round of sending again: every emit refused with "retry"
    // since the last round, in the order the emits were made (the map
    // keeps that order), as the very same frame.
    _resendRefused() {
      this._resendTimer = null;
      for (const [ack, waiting] of this._waiting) {
        if (waiting.refused && this.connected) {
          waiting.refused = false;
          this._transmit(waiting.frame, ack, false);
        }
      }
    }

    // No round of sending again is due any more (the connection is gone,
    // or the socket is stopped); the next refusal waits the shortest time.
    _stopResending() {
      clearTimeout(this._resendTimer);
      this._resendTimer = null;
      this._resendDelayMs = FIRST_RESEND_MS;
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
      // hears "connect" (socket.io's order too); emits that wait for a
      // retry go last, after what the "connect" listeners sent (a join).
      const queued = this._queue.splice(0);
      const isRetry = ({ ack }) => ack !== null && this._waiting.get(ack)?.retryable === true;
      for (const { frame, ack } of queued.filter((each) => !isRetry(each))) {
        this._transmit(frame, ack);
      }
      this._fire("connect");
      for (const { frame, ack } of queued.filter(isRetry)) {
        // Still waiting? A "connect" listener may have disconnected.
        if (this.connected && this._waiting.has(ack)) {
          this._transmit(frame, ack);
        }
      }
    }

    _closed(close) {
      const wasConnected = this.connected;
      this.connected = false;
      this.id = undefined;
      this._webSocket = null;
      const takenOver = close.code === TAKEN_OVER;
      if (takenOver) {
        this.active = false; // so a "disconnect" listener can tell
      }

      // Like socket.io, "disconnect" is only for a connection we had: a
      // failed attempt to connect just leads to the next "reconnecting".
      if (wasConnected) {
        this._fire("disconnect", describeClose(close));
      }
      if (takenOver) {
        this._stopForGood();
        return;
      }
      // Then, as in socket.io: what was sent on the connection that is gone
      // can no longer be answered there; it fails now, or waits for a retry.
      this._connectionLost();
      if (!this.active) {
        return; // the page called disconnect()
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

  // The options of io(), checked: a wrong one is a mistake in the page, and
  // throws a TypeError at once rather than behaving oddly later.
  function readOptions({ ackTimeout, retries = 0 } = {}) {
    const isMs = typeof ackTimeout === "number" && Number.isFinite(ackTimeout) && ackTimeout >= 0;
    if (ackTimeout !== undefined && !isMs) {
      throw new TypeError(`io({ ackTimeout }): milliseconds, 0 or more, not ${ackTimeout}`);
    }
    if (!Number.isSafeInteger(retries) || retries < 0) {
      throw new TypeError(`io({ retries }): a whole number, 0 or more, not ${retries}`);
    }
    return { ackTimeout, retries };
  }

  // io() with no arguments, as in the lesson: the WebSocket lives on the same
  // host and port as the page, at /ws. From `location`, never a hard-coded
  // "localhost:3000", so the page works on any port and behind https too.
  window.io = function io(options) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return new Socket(`${scheme}://${location.host}/ws`, readOptions(options));
  };
})();
