'use strict';
// The wire vectors of tests/vectors/peer_to_manager.json (repository root), two ways
// (as bindings/python/tests/test_vectors.py does):
//
// - against a real manager: each vector is sent on a fresh DEALER, registered first
//   with a valid HELLO unless the vector is itself about registration (a HELLO), and
//   given the role its command needs (a worker for RESULT and REJECT: a valid OFFER
//   first; a client for ABORT: a valid PUSH first; a peer takes one role only). A
//   vector that expects {"error": CODE} must get an ERROR with that code; one that
//   expects {"command": NAME} must get no ERROR: its normal reply if it has one, then
//   the answer to a STATUS sent after it as a barrier (the manager answers a peer in
//   order, so once that STATUS is in, no error for the vector can follow; after BYE
//   the barrier is answered with ENOHELLO);
// - against the Node encoder: what the Worker and Client send for the vectors they
//   can express (HELLO, OFFER, PUSH, ABORT, RESULT, REJECT, HEARTBEAT, SYSMSG, SYSACK,
//   STATUS, PROGRESS, DEAD, GROUPLIMITS) is byte for byte the vector's frames, captured
//   by the fake manager. Where
//   the binding writes a vector differently on purpose, DEVIATIONS says how and why,
//   and the frames are compared with the vector so changed; the vectors it cannot
//   write at all are skipped with the reason.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const zmq = require('zeromq');
const { Client, Worker } = require('proletariat');
const codec = require('../lib/codec');
const { COMMANDS } = require('../lib/spec');
const { Daemon, once, memoryLogger } = require('../test-support/daemon');
const { FakeManager } = require('../test-support/fake-manager');

const WAIT = 5000;
const VECTORS = path.resolve(__dirname, '../../../tests/vectors/peer_to_manager.json');
const CASES = fs.existsSync(VECTORS) ? JSON.parse(fs.readFileSync(VECTORS, 'utf8')).cases : [];

// The req of the STATUS barrier: no vector uses it.
const BARRIER_REQ = 900001;
// The reply each accepted command gets (commands not listed get none).
const REPLY = {
  HELLO: 'WELCOME', OFFER: 'OFFERED', PUSH: 'ACCEPTED', SYSMSG: 'SYSDONE', STATUS: 'STATUS', MYSTATUS: 'MYSTATUS',
  DEAD: 'DEADLETTERS', GROUPLIMITS: 'GROUPLIMITS',
};
// A service no vector names, so that the workers and jobs of the setups meet nothing else.
const PRIVATE_SERVICE = 'node-vectors-setup';

const framesOf = (c) => c.frames.map((f) => (typeof f === 'string' ? Buffer.from(f, 'utf8') : Buffer.from(f.hex, 'hex')));

// Vectors of a command that carries no payload frames (protocol.json "payloads":
// "none", PROTOCOL §2) that nevertheless end with one empty frame, and are not about
// frames (they expect no EBADFRAME): the DEAD and GROUPLIMITS vectors of issue 14. The
// manager answers such a message EBADFRAME, as §2 says it must, so the vector's verdict,
// which is about its header, is checked on the message without that frame. A vector
// written without the frame is sent as it is.
function strayEmptyFrame(c) {
  const command = c.frames.length > 2 && typeof c.frames[2] === 'string' ? c.frames[2] : '';
  const frames = framesOf(c);
  return Object.prototype.hasOwnProperty.call(COMMANDS, command) && COMMANDS[command].payloads === 'none'
    && frames.length === 5 && frames[4].length === 0 && c.expect.error !== 'EBADFRAME';
}
const sentFramesOf = (c) => (strayEmptyFrame(c) ? framesOf(c).slice(0, 4) : framesOf(c));
const commandOf = (c) => (c.frames.length > 2 && typeof c.frames[2] === 'string' ? c.frames[2] : '');

// --- against the manager ---------------------------------------------------------

// One DEALER socket driven frame by frame.
class RawPeer {
  constructor(port) {
    this.socket = new zmq.Dealer({ linger: 0, receiveTimeout: WAIT });
    this.socket.connect(`tcp://127.0.0.1:${port}`);
    this.registered = false;
    this.seen = []; // every message but heartbeats, for failure reports
  }

  send(frames) {
    return this.socket.send(frames);
  }

  // The next message other than HEARTBEAT.
  async recv(what) {
    for (;;) {
      let frames;
      try {
        frames = await this.socket.receive();
      } catch (e) {
        throw new Error(`no message from the manager within ${WAIT} ms waiting for ${what} (${e.message});` +
          ` got ${JSON.stringify(this.seen)}`);
      }
      const msg = codec.decode(frames);
      assert.ok(!msg.error, `the manager sent an undecodable message: ${msg.error}`);
      if (msg.command === 'HEARTBEAT') continue;
      this.seen.push([msg.command, msg.header]);
      return msg;
    }
  }

  async request(command, header, payloads) {
    await this.send(codec.encode(command, header, payloads));
    const reply = await this.recv(`the reply to ${command}`);
    assert.equal(reply.command, REPLY[command], `setup ${command} ${JSON.stringify(header)} answered` +
      ` ${reply.command} ${JSON.stringify(reply.header)}`);
    return reply.header;
  }

  // "sysmsg": false: a setup peer left over from an earlier vector is never a
  // recipient, so no broadcast of a later one waits for it.
  async hello() {
    await this.request('HELLO', { name: 'vectors', lang: 'node', sysmsg: false });
    this.registered = true;
  }

  async close() {
    if (this.registered) { // leave at once: the next vector meets no worker or job of this one
      await this.send(codec.encode('BYE', {}));
      this.socket.linger = 200;
    }
    this.socket.close();
  }
}

// A fresh peer in the state the vector's command needs.
async function setupPeer(port, c) {
  const peer = new RawPeer(port);
  const command = commandOf(c);
  if (command === 'HELLO') return peer; // the vector registers it, or shows what an unregistered peer gets
  await peer.hello();
  if (command === 'RESULT' || command === 'REJECT' || command === 'DRAIN' || command === 'PROGRESS') { // only a worker sends them
    await peer.request('OFFER', { slots: 1, services: [PRIVATE_SERVICE] });
  } else if (command === 'ABORT' || command === 'RECEIVED') { // only a client that pushed sends them
    await peer.request('PUSH', { req: 1, jobs: [{ service: PRIVATE_SERVICE }] }, ['null']);
  }
  return peer;
}

async function verdict(peer, c) {
  const command = commandOf(c);
  await peer.send(sentFramesOf(c));
  await peer.send(codec.encode('STATUS', { req: BARRIER_REQ }));
  const isBarrier = (msg) => msg.command === 'STATUS' && msg.header.req === BARRIER_REQ;
  const { expect } = c;
  if ('error' in expect) {
    for (;;) {
      const msg = await peer.recv(`ERROR ${expect.error}`);
      if (msg.command === 'ERROR') {
        assert.equal(msg.header.code, expect.error, `${c.name}: ${JSON.stringify(msg.header)}`);
        return;
      }
      assert.ok(!isBarrier(msg), `${c.name}: accepted, but the vectors expect ERROR ${expect.error};` +
        ` got ${JSON.stringify(peer.seen)}`);
    }
  }
  const reply = REPLY[command];
  let gotReply = false;
  for (;;) {
    const msg = await peer.recv(gotReply || !reply ? 'the barrier STATUS' : reply);
    if (command === 'BYE' && msg.command === 'ERROR' && msg.header.code === 'ENOHELLO') {
      peer.registered = false; // BYE unregistered the peer, so the barrier is refused: nothing came in between
      return;
    }
    assert.notEqual(msg.command, 'ERROR', `${c.name}: the manager refused it: ${JSON.stringify(msg.header)}`);
    if (isBarrier(msg)) break;
    if (msg.command === reply) gotReply = true;
  }
  // A SYSDONE waits for other recipients: it may follow the barrier.
  while (reply && !gotReply) gotReply = (await peer.recv(reply)).command === reply;
  if (command === 'BYE') peer.registered = false;
}

describe('the wire vectors against proletariatd', () => {
  let daemon;
  before(async () => {
    daemon = await Daemon.start();
  });
  after(async () => {
    if (daemon) await daemon.stop();
  });

  it('there are vectors', () => assert.ok(CASES.length > 0, `no wire vectors at ${VECTORS}`));

  for (const c of CASES) {
    const expected = 'error' in c.expect ? `ERROR ${c.expect.error}` : 'accepted';
    const note = strayEmptyFrame(c) ? ' (sent without its trailing empty frame: the command carries none, PROTOCOL §2)' : '';
    it(`${c.name}: ${expected}${note}`, async () => {
      const peer = await setupPeer(daemon.port, c);
      try {
        await verdict(peer, c);
      } finally {
        await peer.close();
      }
    });
  }
});

// --- the worker's offer check ------------------------------------------------------

// Vectors whose header the Worker API cannot be given as it is on the wire.
const OFFER_API_DIFFERS = {
  'offer with a string slots': 'the API reads slots as a number (the original took "10" from the environment); the wire then says 10',
  'offer with services not an array': 'the API takes a single service name as a string; the wire needs an array',
};

describe("the Worker refuses at start() the offers the manager refuses (the one rule)", () => {
  for (const c of CASES.filter((x) => commandOf(x) === 'OFFER')) {
    let why = OFFER_API_DIFFERS[c.name];
    try {
      JSON.parse(framesOf(c)[3].toString('utf8'));
    } catch {
      why = 'the header is not JSON: no Worker option writes it';
    }
    it(c.name, { skip: why || false }, async () => {
      const header = JSON.parse(framesOf(c)[3].toString('utf8'));
      const worker = new Worker({
        port: 1, slots: header.slots, prioritySlots: header.prioritySlots, services: header.services, logger: memoryLogger(),
      });
      if ('error' in c.expect) {
        assert.throws(() => worker.start(), { code: c.expect.error });
        assert.equal(c.expect.error, 'EBADOFFER');
      } else {
        worker.start();
        await worker.stop();
      }
    });
  }
});

// --- against the encoder ---------------------------------------------------------

const peers = [];
const track = (p) => {
  peers.push(p);
  return p;
};

// The next `command` message's frames, as the peer sent them.
async function capture(fake, command) {
  return (await fake.next(command, WAIT)).frames;
}

async function workerOffered(fake, opts, onWork, welcome = {}) {
  const worker = track(new Worker({ ...fake.endpoint, CON_RETRYTIME: 50, logger: memoryLogger(), ...opts }));
  if (onWork) worker.on('work', onWork);
  worker.start();
  const { rid } = await fake.accept({ id: 'fake.w', ...welcome });
  const offer = await fake.next('OFFER', WAIT);
  await fake.send(rid, 'OFFERED', { slots: offer.header.slots, ranges: [] });
  await once(worker, 'ready', WAIT, 'the offer to be accepted');
  return { worker, rid };
}

function jobs(fake, rid, ...idAttempts) {
  const entries = idAttempts.map(([id, attempt]) => ({ id, attempt, priority: 0, client: 'fake.c' }));
  return fake.send(rid, 'JOBS', { jobs: entries }, entries.map(() => '0'));
}

async function clientWelcomed(fake, welcome = {}, opts = {}) {
  const client = track(new Client({ ...fake.endpoint, CON_RETRYTIME: 50, logger: memoryLogger(), ...opts }));
  const { rid } = await fake.accept({ id: 'fake.c', ...welcome });
  return { client, rid };
}

// The `count`-th of: a broadcast {"do": 1} (req 1), "hi" to the manager (req 2), a
// STATUS request (req 3), each answered before the next is made.
function controls(count) {
  return async (fake) => {
    const { client, rid } = await clientWelcomed(fake);
    const requests = [
      [() => client.systemMessage({ do: 1 }), 'SYSMSG', 'SYSDONE', { sentTo: 0, receivedBy: 0 }],
      [() => client.systemMessage('hi', { to: 'MANAGER' }), 'SYSMSG', 'SYSDONE', { sentTo: 1, receivedBy: 1 }],
      [() => client.status(), 'STATUS', 'STATUS', {}],
    ];
    let frames;
    for (const [make, command, reply, answer] of requests.slice(0, count)) {
      const done = make();
      const msg = await fake.next(command, WAIT);
      frames = msg.frames;
      await fake.send(rid, reply, { req: msg.header.req, ...answer });
      await done;
    }
    return frames;
  };
}

// Vector name -> how the binding produces it.
// The identity the HELLO builders give their clients (a Client always sends one).
const TEST_IDENTITY = 'node-vector-client';

const BUILDERS = {
  hello: async (fake) => {
    track(new Client({ ...fake.endpoint, name: 'w1', identity: TEST_IDENTITY, logger: memoryLogger() }));
    return capture(fake, 'HELLO');
  },
  'hello of a peer that takes no system messages': async (fake) => {
    track(new Client({ ...fake.endpoint, name: 'ctl', systemMessages: false, identity: TEST_IDENTITY, logger: memoryLogger() }));
    return capture(fake, 'HELLO');
  },
  offer: async (fake) => {
    track(new Worker({ ...fake.endpoint, slots: 100, prioritySlots: { 1: 30, 2: 20 }, services: ['a'], logger: memoryLogger() }))
      .start();
    await fake.accept({ id: 'fake.w' });
    return capture(fake, 'OFFER');
  },
  'push of two jobs': async (fake) => {
    const { client } = await clientWelcomed(fake);
    client.work([{ x: 1, _key: 'k' }, Buffer.from([0x00, 0xff, 0x10])], { priority: 1.5 }, () => {});
    return capture(fake, 'PUSH');
  },
  abort: async (fake) => {
    const { client, rid } = await clientWelcomed(fake);
    const request = client.work([1, 2], () => {});
    const push = await fake.next('PUSH', WAIT);
    await fake.send(rid, 'ACCEPTED', { req: push.header.req, ids: [1, 2] });
    // The ACCEPTED has arrived once a STATUS sent after it is answered.
    const status = client.status();
    const barrier = await fake.next('STATUS', WAIT);
    await fake.send(rid, 'STATUS', { req: barrier.header.req });
    await status;
    client.abort(request);
    return capture(fake, 'ABORT');
  },
  result: async (fake) => {
    const { rid } = await workerOffered(fake, {}, (w, handler) => handler(null, 42));
    await jobs(fake, rid, [1, 1]);
    return capture(fake, 'RESULT');
  },
  'result with error': async (fake) => {
    const { rid } = await workerOffered(fake, {}, (w, handler) => handler({ code: 'EBOOM', message: 'no' }));
    await jobs(fake, rid, [1, 2]);
    return capture(fake, 'RESULT');
  },
  reject: async (fake) => {
    const { rid } = await workerOffered(fake, { slots: 1 }, () => {}); // never answers
    await jobs(fake, rid, [2, 1], [1, 1]); // one slot: job 1 is the extra
    return capture(fake, 'REJECT');
  },
  heartbeat: async (fake) => {
    await clientWelcomed(fake, { heartbeat_ms: 20, liveness: 100 });
    return capture(fake, 'HEARTBEAT');
  },
  'sysmsg to everybody': controls(1),
  'sysmsg to the manager': controls(2),
  status: controls(3),
  'progress of two jobs': async (fake) => {
    // Both jobs report in the same turn of the event loop: one PROGRESS carries both.
    const { rid } = await workerOffered(fake, {}, (w) => {
      w.progress(w.id === 5 ? 50 : Buffer.from([0x00, 0xff]));
    }, { lifecycle: true });
    await jobs(fake, rid, [5, 1], [6, 2]);
    return capture(fake, 'PROGRESS');
  },
  'dead list': async (fake) => {
    const { client } = await clientWelcomed(fake, { lifecycle: true });
    client.listDeadLetters(10).catch(() => {});
    return capture(fake, 'DEAD');
  },
  'dead requeue of all': async (fake) => {
    const { client } = await clientWelcomed(fake, { lifecycle: true });
    client.requeueDeadLetters('all').catch(() => {});
    return capture(fake, 'DEAD');
  },
  'group limits set': async (fake) => {
    const { client } = await clientWelcomed(fake, { lifecycle: true });
    client.setGroupLimits('tenant-7', { maxRunning: 10, rate: 2.5 }).catch(() => {});
    return capture(fake, 'GROUPLIMITS');
  },
  'group limits set to no limit': async (fake) => {
    const { client } = await clientWelcomed(fake, { lifecycle: true });
    client.setGroupLimits('tenant-7', { maxRunning: null, rate: null }).catch(() => {});
    return capture(fake, 'GROUPLIMITS');
  },
  sysack: async (fake) => {
    const pub = new zmq.XPublisher({ linger: 0 });
    try {
      await pub.bind('tcp://127.0.0.1:*');
      const pubPort = Number(/:(\d+)$/.exec(pub.lastEndpoint)[1]);
      await clientWelcomed(fake, { pub_port: pubPort });
      const [subscription] = await pub.receive();
      assert.deepEqual(subscription, Buffer.from('\x01fake.c'));
      await pub.send(['fake.c', 'PRO1', 'SYSMSG', '{"msg":17,"from":"MANAGER"}', '1']);
      return await capture(fake, 'SYSACK');
    } finally {
      pub.close();
    }
  },
};

// The header frame of a HELLO vector as this binding's client writes it: its own
// language after the name (the one field that names the binding), the rest as in the
// vector, then the client's identity (PROTOCOL §4) unless the vector names one.
function withNodeLang(frames) {
  const { name, lang, ...rest } = JSON.parse(frames[3].toString('utf8')); // eslint-disable-line no-unused-vars
  const header = name === undefined ? {} : { name };
  header.lang = 'node';
  const all = { ...header, ...rest };
  if (all.identity === undefined) all.identity = TEST_IDENTITY;
  return [...frames.slice(0, 3), Buffer.from(JSON.stringify(all)), ...frames.slice(4)];
}

// A DEAD or GROUPLIMITS vector as the binding sends it: numbered by its own request
// counter, and without the vector's trailing empty frame.
function ownReqNoPayload(frames, sent) {
  const { req } = JSON.parse(Buffer.from(sent[3]).toString('utf8'));
  const header = frames[3].toString('utf8').replace(/^\{"req":\d+/, `{"req":${req}`);
  return [...frames.slice(0, 3), Buffer.from(header)];
}
const OWN_REQ_NO_PAYLOAD = {
  why: 'the binding numbers its requests (req) with its own counter, and sends no payload frame: PROTOCOL §2 gives' +
    ' DEAD and GROUPLIMITS none, where the vector has an empty one',
  expect: ownReqNoPayload,
};

// Vector name -> {why, expect: (vector frames, sent frames) -> the frames this binding sends}.
const DEVIATIONS = {
  'dead list': OWN_REQ_NO_PAYLOAD,
  'dead requeue of all': OWN_REQ_NO_PAYLOAD,
  'group limits set': OWN_REQ_NO_PAYLOAD,
  'group limits set to no limit': OWN_REQ_NO_PAYLOAD,
  hello: { why: 'the binding names its own language, "lang":"node", and a client its identity', expect: withNodeLang },
  'hello of a peer that takes no system messages': {
    why: 'the binding always says "lang":"node", and a client its identity', expect: withNodeLang,
  },
  'push of two jobs': {
    why: 'an item reaches the worker whole (the original API): the job keyed "k" is {x: 1, _key: "k"}, and so is its payload',
    expect: (frames) => [...frames.slice(0, 4), Buffer.from('{"x":1,"_key":"k"}'), ...frames.slice(5)],
  },
  result: {
    why: 'a successful result has no "err" (absent and null mean the same, as the C++ worker writes it)',
    expect: (frames) => [...frames.slice(0, 3), Buffer.from(frames[3].toString('utf8').replace(',"err":null', '')), ...frames.slice(4)],
  },
};

// Vector name -> why the binding never sends these frames.
const NOT_EXPRESSIBLE = {
  'hello with empty header': "the binding's HELLO always names its language",
  'push with entry options': 'the Node client sends one priority and one set of timeouts per PUSH, no entry options',
  'push with unknown fields of any shape': 'the binding sends only fields the protocol defines',
  bye: "the binding's BYE has an empty header frame (which means {}), not {}",
  mystatus: 'the binding numbers every MYSTATUS ({"req": n}); the vector\'s empty header is another valid form',
  'push with lifecycle options in the header and an entry':
    'the Node client gives delay, at and retry per request (the PUSH header) and only a group per job (`_group`);' +
    ' a job of its own `at` has no API (lifecycle-wire.test.js checks the header and `_group` entries)',
  'offer whose guarantee for 0 is ignored (issue 10, defect 3)':
    'the binding drops the ignored guarantee for 0 instead of sending it (protocol.test.js)',
};

describe("the Node encoder writes the vectors' frames", () => {
  let fake;
  afterEach(async () => {
    // Hard stops: a worker whose job never ends would drain until the fake manager
    // is found silent.
    for (const p of peers.splice(0).reverse()) await (p instanceof Worker ? p.stop({ drainTimeout: 0 }) : p.close());
    if (fake) fake.close();
    fake = null;
  });

  for (const c of CASES.filter((x) => 'command' in x.expect)) {
    const skip = NOT_EXPRESSIBLE[c.name]
      || (!BUILDERS[c.name] && 'no Node builder for this vector yet: add one to BUILDERS or a reason to NOT_EXPRESSIBLE');
    const deviation = DEVIATIONS[c.name];
    it(`${c.name}${deviation ? ` (but: ${deviation.why})` : ''}`, { skip: skip || false }, async () => {
      fake = await FakeManager.start();
      const sent = await BUILDERS[c.name](fake);
      const vector = framesOf(c);
      const expected = deviation ? deviation.expect(vector, sent) : vector;
      const show = (frames) => frames.map((f) => Buffer.from(f).toString('utf8'));
      assert.deepEqual(show(sent), show(expected), 'the frames as text');
      assert.ok(sent.length === expected.length && sent.every((f, i) => Buffer.from(f).equals(expected[i])), 'byte for byte');
    });
  }
});
