'use strict';
// Session — the DEALER side of one peer's conversation with the manager, shared by
// Client and Worker. It mirrors libproletariat's peer::Session (the zguide's
// mdwrkapi/mdcliapi reconnect pattern): it owns one DEALER socket, registers with
// HELLO, keeps heartbeats going both ways (PROTOCOL §7), and when the manager falls
// silent past its liveness, says BYE, or answers ENOHELLO (it restarted), closes the
// socket, waits, opens a new one and registers again. It knows nothing about jobs:
// its owner learns what happens through three hooks and sends through send().
//
// States: idle (before connect / after close) -> connecting (socket open, HELLO
// queued, waiting for WELCOME) -> registered -> waiting (socket closed, until the
// retry time) -> connecting ... With `maxRetries` (the original client's MAXRETRIES)
// a session that fails to register more than that many times in a row (connection
// refused, or no WELCOME) ends in `failed`, and onGiveUp(err) says so; without it the
// session retries forever.
//
// zeromq v6 allows one send in flight per socket, so messages go through an outbox
// that a single pump drains in order; nothing is dropped silently while the manager
// is slow. Every socket gets a generation number: a receive loop or pump that
// outlives its socket notices and stops.
//
// With `curve` ({serverKey, publicKey, secretKey}, PROTOCOL §13) the DEALER is a
// CURVE client. A handshake that fails ends the try at once rather than at the
// WELCOME timeout: the key listed in none of the manager's allow-lists (EDENIED), a
// mechanism mismatch, a peer without CURVE at a manager with it or the reverse
// (EPROTO), or another failed handshake (a wrong serverKey, EPROTO too). Each is
// logged as an error and counts as a failed try (maxRetries): the socket is closed
// and the next try comes after conRetryTime, as after a refused connection.

const { performance } = require('node:perf_hooks');
const zmq = require('zeromq');
const codec = require('./codec');
const curve = require('./curve');
const { codes } = require('./errors');

// Heartbeat settings assumed until a WELCOME says otherwise (PROTOCOL §5, §7): a
// manager that has not answered HELLO within DEFAULT_HEARTBEAT_MS * DEFAULT_LIVENESS
// (protocol/protocol.json: 1000 ms * 5) is treated as silent.
const { DEFAULT_HEARTBEAT_MS, DEFAULT_LIVENESS } = require('./spec');
// ZeroMQ high-water marks of the DEALER, in messages: generous for bursts of pushes
// or results; past them the outbox holds messages until the socket takes them.
const HIGH_WATER_MARK = 10000;
// Messages kept in the outbox while the socket does not take them. A peer this far
// behind has a dead or stuck manager; beyond it messages are dropped with an error
// log (the liveness timer recycles the session anyway).
const MAX_OUTBOX = 100000;
// How long close() lets the outbox and the BYE drain before the socket is dropped
// (linger is otherwise 0, so that a dead manager never blocks shutdown).
const BYE_LINGER_MS = 200;

const now = () => performance.now();

class Session {
  // options: {endpoint, name, conRetryTime, maxRetries, role, systemMessages, identity,
  // curve, logger}
  // hooks: {onRegistered(), onMessage({command, header, payloads}), onLost(), onGiveUp(err)}
  constructor(options, hooks) {
    this.options = options;
    this.hooks = hooks;
    this.log = options.logger;
    this.state = 'idle';
    this.welcome = null;
    this.socket = null;
    this.generation = 0;
    this.outbox = [];
    this.pumpGeneration = -1; // generation of the socket a pump is draining, -1: none
    this.drainWaiters = [];
    this.heartbeatMs = DEFAULT_HEARTBEAT_MS;
    this.liveness = DEFAULT_LIVENESS;
    this.lastRecv = 0;
    this.lastSend = 0;
    this.reconnectAt = 0;
    this.timer = null;
    this.closing = false;
    this.failedTries = 0; // registrations that failed in a row (counted with maxRetries)
  }

  get registered() {
    return this.state === 'registered';
  }

  // Opens the socket and sends HELLO.
  connect() {
    if (this.state === 'idle') this.openSocket();
  }

  // Queues a message (in order). False, and the message is dropped, when the session
  // is not registered: the owner re-sends what matters in onRegistered.
  send(frames) {
    // Nothing follows the BYE of close() (the manager would not know the sender).
    if (this.state !== 'registered' || !this.socket || this.closing) return false;
    if (this.outbox.length >= MAX_OUTBOX) {
      this.log.error(`${this.options.role}: outbox full (${this.outbox.length} messages), dropping a message`);
      return false;
    }
    this.outbox.push(frames);
    this.pump();
    return true;
  }

  // Ends the session: flushes the outbox and says BYE first when registered and
  // `sayBye`, within BYE_LINGER_MS. No hook is called.
  async close(sayBye) {
    this.clearTimer();
    // From here on nothing reaches the owner: a worker that is stopping must not
    // start jobs that arrive while its BYE drains (the manager requeues them).
    this.closing = true;
    if (sayBye && this.state === 'registered' && this.socket) {
      this.outbox.push(codec.encode('BYE', {}));
      this.pump();
      await this.waitDrained(BYE_LINGER_MS);
      if (this.socket) this.socket.linger = BYE_LINGER_MS;
    }
    this.closeSocket();
    this.state = 'idle';
  }

  // --- internals ---

  silenceLimit() {
    return this.heartbeatMs * this.liveness;
  }

  openSocket() {
    this.closeSocket();
    this.heartbeatMs = DEFAULT_HEARTBEAT_MS;
    this.liveness = DEFAULT_LIVENESS;
    this.welcome = null;
    const t = now();
    this.lastRecv = t; // the WELCOME is due within the default liveness from here
    this.lastSend = t;
    // The socket's number, taken before it exists: its monitors must be in place
    // before connect(), a handshake on loopback may be over before the next line.
    const generation = ++this.generation;
    let socket;
    try {
      socket = new zmq.Dealer({
        linger: 0,
        sendHighWaterMark: HIGH_WATER_MARK,
        receiveHighWaterMark: HIGH_WATER_MARK,
        // Queue only on a completed connection: nothing piles up for a manager that
        // is gone, and the HELLO leaves as soon as one is up.
        immediate: true,
        ...curve.socketOptions(this.options.curve),
      });
      if (this.options.maxRetries) this.watchRefusals(socket, generation);
      this.watchHandshake(socket, generation);
      socket.connect(this.options.endpoint);
    } catch (e) {
      if (socket) socket.close();
      this.log.error(`${this.options.role}: cannot connect to '${this.options.endpoint}': ${e.message}`);
      this.state = 'waiting';
      this.registrationFailed('ECONNREFUSED', `cannot connect: ${e.message}`);
      return;
    }
    this.socket = socket;
    this.state = 'connecting';
    this.log.debug(`${this.options.role}: connecting to ${this.options.endpoint}`);
    this.outbox.push(codec.encode('HELLO', this.hello()));
    this.receiveLoop(socket, generation);
    this.pump();
    this.arm();
  }

  // HELLO's header (PROTOCOL §4): the peer's name and language, for status displays,
  // `"sysmsg": false` for a peer that never subscribes to the system-message
  // channel, so that the manager never counts it as a recipient, and a client's
  // stable `identity` (the same in every HELLO of its life, PROTOCOL §12).
  hello() {
    const hello = {};
    if (this.options.name) hello.name = this.options.name;
    hello.lang = 'node';
    if (this.options.systemMessages === false) hello.sysmsg = false;
    if (this.options.identity) hello.identity = this.options.identity;
    return hello;
  }

  closeSocket() {
    if (!this.socket) return;
    const socket = this.socket;
    this.socket = null;
    ++this.generation;
    this.outbox = [];
    this.resolveDrainWaiters();
    try {
      socket.close();
    } catch (e) {
      this.log.warn(`${this.options.role}: closing the socket failed: ${e.message}`);
    }
  }

  // With maxRetries, a refused TCP connection counts as one failed try, retried after
  // conRetryTime as the original client did (ZeroMQ would retry on its own every
  // 100 ms). Without maxRetries ZeroMQ's retries are left alone.
  watchRefusals(socket, generation) {
    socket.events.on('connect:retry', () => {
      if (generation === this.generation && this.state === 'connecting') {
        this.registrationFailed('ECONNREFUSED', 'connection refused');
      }
    });
  }

  // Handshake failures (see the top of this file). Every socket has a monitor for
  // them: they are what tells a refused key from a manager that is away.
  watchHandshake(socket, generation) {
    const { role, endpoint } = this.options;
    const key = this.options.curve ? this.options.curve.publicKey : null;
    const current = () => generation === this.generation && !this.closing;
    socket.events.on('handshake:error:auth', () => {
      if (!current()) return;
      this.log.error(key ? `${role}: the manager at ${endpoint} refused this peer's CURVE key ${key}` +
        ' (it is in none of its allow-lists: workers/, clients/, admins/)'
        : `${role}: the manager at ${endpoint} refused this peer at the handshake`);
      this.handshakeRefused(codes.EDENIED, 'the manager refused this peer\'s CURVE key');
    });
    // A mechanism mismatch shows as a protocol error, or, when the manager hangs up
    // first, as a broken connection ('other'); a wrong serverKey as the latter.
    const failed = (event) => {
      if (!current()) return;
      const why = event && event.error ? ` (${event.error.message})` : '';
      let hint;
      if (event.type === 'handshake:error:protocol') {
        hint = key ? 'the manager does not run CURVE (this peer has the curve option)'
          : 'the manager requires CURVE (give this peer the curve option)';
      } else {
        hint = key ? "is curve.serverKey the manager's public key, and does it run CURVE?"
          : 'does the manager require CURVE (the curve option)?';
      }
      const reason = `the handshake failed${why}: ${hint}`;
      this.log.error(`${role}: ${endpoint}: ${reason}`);
      this.handshakeRefused('EPROTO', reason);
    };
    socket.events.on('handshake:error:protocol', failed);
    socket.events.on('handshake:error:other', failed);
  }

  handshakeRefused(code, reason) {
    if (this.state === 'connecting') this.registrationFailed(code, reason);
    else if (this.state === 'registered') this.lose(reason, this.options.conRetryTime);
  }

  // A registration that did not happen: try again after conRetryTime, or, past
  // maxRetries tries in a row, give up (state `failed`, onGiveUp).
  registrationFailed(code, reason) {
    this.failedTries += 1;
    const max = this.options.maxRetries;
    if (max && this.failedTries > max) {
      this.log.error(`${this.options.role}: giving up on ${this.options.endpoint} after ${this.failedTries}` +
        ` failed tries (${reason})`);
      this.clearTimer();
      this.closeSocket();
      this.state = 'failed';
      const err = Object.assign(new Error(`could not register with the manager at ${this.options.endpoint}` +
        ` after ${this.failedTries} tries: ${reason}`), { code, tries: this.failedTries });
      if (this.hooks.onGiveUp) this.hooks.onGiveUp(err);
      return;
    }
    if (this.state === 'waiting' && !this.socket) {
      this.log.warn(`${this.options.role}: retrying in ${this.options.conRetryTime} ms`);
      this.reconnectAt = now() + this.options.conRetryTime;
      this.arm();
      return;
    }
    this.lose(reason, this.options.conRetryTime);
  }

  // Ends a session that went wrong and schedules the next one.
  lose(reason, retryAfterMs) {
    const wasRegistered = this.state === 'registered';
    this.log.warn(`${this.options.role}: session with ${this.options.endpoint} lost (${reason}),` +
      ` registering again in ${retryAfterMs} ms`);
    this.closeSocket();
    this.state = 'waiting';
    this.reconnectAt = now() + retryAfterMs;
    this.arm();
    if (wasRegistered && this.hooks.onLost) this.hooks.onLost();
  }

  async receiveLoop(socket, generation) {
    try {
      for await (const frames of socket) {
        if (generation !== this.generation) return;
        if (this.closing) continue;
        this.lastRecv = now(); // anything at all from the manager is a sign of life
        try {
          this.handle(frames);
        } catch (e) {
          this.log.error(`${this.options.role}: failed to handle a message from the manager: ${e.stack || e}`);
        }
        if (generation !== this.generation) return;
      }
    } catch (e) {
      if (generation === this.generation) {
        this.log.error(`${this.options.role}: receive failed: ${e.message}`);
        this.lose('receive failed', this.options.conRetryTime);
      }
    }
  }

  handle(frames) {
    const msg = codec.decodeFromManager(frames);
    if (msg.error) {
      this.log.warn(`${this.options.role}: dropping a bad message from the manager: ${msg.error}` +
        ` (${frames.length} frames${frames.length > 3 ? `, header ${codec.snippet(frames[3])}` : ''})`);
      return;
    }
    const { command, header } = msg;
    if (command === 'WELCOME') {
      this.onWelcome(header);
      return;
    }
    if (command === 'HEARTBEAT') return;
    if (command === 'BYE') {
      this.lose(`manager said BYE${header.reason ? `: ${header.reason}` : ''}`, this.options.conRetryTime);
      return;
    }
    if (command === 'ERROR') {
      if (header.code === codes.ENOHELLO) {
        // The manager does not know us: it restarted. Register again at once.
        this.lose('manager answered ENOHELLO', 0);
        return;
      }
      if (this.state !== 'registered') {
        this.log.error(`${this.options.role}: manager answered ${header.code} before WELCOME: ${header.message}`);
        return;
      }
    }
    if (this.state !== 'registered') {
      this.log.warn(`${this.options.role}: ${command} from the manager while ${this.state}; dropped`);
      return;
    }
    this.hooks.onMessage(msg);
  }

  onWelcome(header) {
    if (this.state !== 'connecting') {
      this.log.warn(`${this.options.role}: unexpected WELCOME while ${this.state}; ignored`);
      return;
    }
    if (typeof header.id !== 'string' || header.id === '') {
      this.log.warn(`${this.options.role}: WELCOME without a peer id; ignored`);
      return;
    }
    if (header.protocol !== codec.PROTOCOL_VERSION) {
      this.log.warn(`${this.options.role}: manager speaks protocol ${header.protocol}, this library ` +
        `${codec.PROTOCOL_VERSION}`);
    }
    this.welcome = header;
    const hb = Number(header.heartbeat_ms);
    const liveness = Number(header.liveness);
    this.heartbeatMs = Number.isFinite(hb) && hb >= 1 ? hb : DEFAULT_HEARTBEAT_MS;
    this.liveness = Number.isFinite(liveness) && liveness >= 1 ? liveness : DEFAULT_LIVENESS;
    this.state = 'registered';
    this.failedTries = 0;
    this.log.info(`${this.options.role}: registered with ${this.options.endpoint} as ${header.id}` +
      ` (heartbeat ${this.heartbeatMs} ms, liveness ${this.liveness})`);
    this.arm();
    if (this.hooks.onRegistered) this.hooks.onRegistered();
  }

  // Drains the outbox, one send in flight at a time, for the current socket only.
  pump() {
    if (!this.socket || this.pumpGeneration === this.generation) return;
    const socket = this.socket;
    const generation = this.generation;
    this.pumpGeneration = generation;
    (async () => {
      try {
        while (this.outbox.length > 0 && generation === this.generation) {
          try {
            await socket.send(this.outbox[0]);
          } catch (e) {
            if (generation !== this.generation) return; // the socket was closed under us
            this.log.error(`${this.options.role}: send failed, message dropped: ${e.message}`);
          }
          if (generation !== this.generation) return;
          this.outbox.shift();
          this.lastSend = now();
        }
      } finally {
        if (this.pumpGeneration === generation) this.pumpGeneration = -1;
        if (this.outbox.length === 0) this.resolveDrainWaiters();
      }
    })();
  }

  waitDrained(ms) {
    if (this.outbox.length === 0 || !this.socket) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.drainWaiters.push(done);
    });
  }

  resolveDrainWaiters() {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  // One timer serves the heartbeat, liveness and reconnect deadlines. It is armed for
  // the earliest deadline known now; since lastRecv/lastSend only move forward, a
  // wake-up can only be early, and then it re-arms.
  nextDeadline() {
    switch (this.state) {
      case 'waiting':
        return this.reconnectAt;
      case 'connecting':
        return this.lastRecv + this.silenceLimit();
      case 'registered':
        return Math.min(this.lastRecv + this.silenceLimit(), this.lastSend + this.heartbeatMs);
      default:
        return null;
    }
  }

  arm() {
    this.clearTimer();
    const deadline = this.nextDeadline();
    if (deadline == null) return;
    this.timer = setTimeout(() => this.tick(), Math.max(0, Math.ceil(deadline - now())));
  }

  clearTimer() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  tick() {
    this.timer = null;
    const t = now();
    switch (this.state) {
      case 'waiting':
        if (t >= this.reconnectAt) {
          this.openSocket();
          return;
        }
        break;
      case 'connecting':
        if (t >= this.lastRecv + this.silenceLimit()) {
          this.registrationFailed('ETIMEDOUT', 'no WELCOME');
          return;
        }
        break;
      case 'registered':
        if (t >= this.lastRecv + this.silenceLimit()) {
          this.lose('manager silent past its liveness', this.options.conRetryTime);
          return;
        }
        if (t >= this.lastSend + this.heartbeatMs) {
          if (this.outbox.length === 0) {
            this.outbox.push(codec.encode('HEARTBEAT', {}));
            this.pump();
          }
          // Not writable (no connection): try again one interval later, do not spin.
          this.lastSend = t;
        }
        break;
      default:
        return;
    }
    this.arm();
  }
}

module.exports = { Session, DEFAULT_HEARTBEAT_MS, DEFAULT_LIVENESS, BYE_LINGER_MS };
