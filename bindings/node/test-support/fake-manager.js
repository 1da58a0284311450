'use strict';
// A scripted manager: a ROUTER on an ephemeral loopback port that records what peers
// send and answers only what a test tells it to. For behaviour the real manager makes
// hard to provoke (too many jobs, ENOHELLO, BYE, silence, exact batching).

const zmq = require('zeromq');
const codec = require('../lib/codec');
const { within } = require('./daemon');

class FakeManager {
  static async start() {
    const m = new FakeManager();
    m.router = new zmq.Router({ linger: 0 });
    await m.router.bind('tcp://127.0.0.1:*');
    m.port = Number(/:(\d+)$/.exec(m.router.lastEndpoint)[1]);
    m.received = []; // messages not yet taken by next()
    m.waiters = [];
    m.loop();
    return m;
  }

  get endpoint() {
    return { host: '127.0.0.1', port: this.port };
  }

  async loop() {
    try {
      for await (const [rid, ...frames] of this.router) {
        const msg = codec.decode(frames);
        msg.rid = rid;
        msg.frames = frames; // as the peer sent them (for byte-exact checks)
        this.received.push(msg);
        this.wake();
      }
    } catch {
      // closed
    }
  }

  wake() {
    for (const w of [...this.waiters]) {
      const i = this.received.findIndex(w.pred);
      if (i >= 0) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(this.received.splice(i, 1)[0]);
      }
    }
  }

  // The first message (oldest) with `command` (and, if given, from `rid`), taken out
  // of the record. Heartbeats are only returned when asked for.
  next(command, ms = 3000, rid = null) {
    const pred = (m) => m.command === command && (!rid || m.rid.equals(rid));
    return within(ms, new Promise((resolve) => {
      this.waiters.push({ pred, resolve });
      this.wake();
    }), `${command} at the fake manager`);
  }

  // How many recorded (not yet taken) messages have `command`.
  count(command) {
    return this.received.filter((m) => m.command === command).length;
  }

  send(rid, command, header, payloads) {
    return this.router.send([rid, ...codec.encode(command, header, payloads)]);
  }

  // Answers a HELLO; returns the peer id given.
  async welcome(hello, extra = {}) {
    const id = extra.id || `fake.${++FakeManager.ids}`;
    await this.send(hello.rid, 'WELCOME', {
      id, protocol: 1, heartbeat_ms: 1000, liveness: 5, max_message_bytes: 1 << 20, max_frames: 1004, ...extra,
    });
    return id;
  }

  // Waits for a HELLO and welcomes it: {rid, id, hello}.
  async accept(extra = {}, ms = 3000) {
    const hello = await this.next('HELLO', ms);
    const id = await this.welcome(hello, extra);
    return { rid: hello.rid, id, hello };
  }

  close() {
    this.router.close();
  }
}
FakeManager.ids = 0;

module.exports = { FakeManager };
