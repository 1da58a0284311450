'use strict';
// A scripted manager: a ROUTER on an ephemeral loopback port that records what peers
// send and answers only what a test tells it to. For behaviour the real manager makes
// hard to provoke (too many jobs, ENOHELLO, BYE, silence, exact batching).

const zmq = require('zeromq');
const codec = require('../lib/codec');
const { encodeKey } = require('../lib/curve');
const { within } = require('./daemon');

// A ZAP handler (RFC 27) in `context`: CURVE peers whose public key is in `allowed`
// (a Set of Z85 keys, changeable) pass, others are refused (400). `requests` records
// {mechanism, key} of every request.
class ZapHandler {
  static async start(context, allowed) {
    const zap = new ZapHandler();
    zap.allowed = allowed;
    zap.requests = [];
    zap.socket = new zmq.Reply({ context, linger: 0 });
    await zap.socket.bind('inproc://zeromq.zap.01');
    zap.loop();
    return zap;
  }

  async loop() {
    try {
      for await (const [version, requestId, , , , mechanism, credential] of this.socket) {
        const key = mechanism.toString() === 'CURVE' && credential ? encodeKey(credential) : null;
        this.requests.push({ mechanism: mechanism.toString(), key });
        const ok = key !== null && this.allowed.has(key);
        await this.socket.send([version, requestId, ok ? '200' : '400', ok ? 'OK' : 'key not listed', '', '']);
      }
    } catch {
      // closed
    }
  }

  close() {
    this.socket.close();
  }
}

// The socket options of a CURVE server with `secretKey` (Z85), in `context` (whose ZAP
// handler decides who passes), or {} for a plain one.
function serverOptions(curve) {
  if (!curve) return {};
  return { context: curve.context, curveServer: true, curveSecretKey: curve.secretKey, zapDomain: 'proletariat' };
}

class FakeManager {
  // curve: {context, secretKey} for a CURVE manager (see ZapHandler); none: plain.
  static async start({ curve } = {}) {
    const m = new FakeManager();
    m.router = new zmq.Router({ linger: 0, ...serverOptions(curve) });
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

module.exports = { FakeManager, ZapHandler, serverOptions };
