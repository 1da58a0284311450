'use strict';
// The binding's side of the protocol, frame by frame, against a scripted manager:
// registration, the offer, REJECT beyond slots, result batching (ANSWER_THRESHOLD and
// its bounded delay), ETO, ABORT, heartbeats, and reconnecting on silence, BYE and
// ENOHELLO (with keepState re-push).

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Worker } = require('proletariat');
const { FakeManager } = require('../test-support/fake-manager');
const { once, callback, until, memoryLogger } = require('../test-support/daemon');
const { MAX_JOBS_PER_PUSH, MAX_PUSHES_IN_FLIGHT } = require('../lib/codec');

const WAIT = 3000;

describe('protocol against a scripted manager', () => {
  const cleanups = [];
  const track = (x) => {
    cleanups.push(x);
    return x;
  };
  afterEach(async () => {
    for (const x of cleanups.splice(0).reverse()) {
      if (x instanceof FakeManager) x.close();
      else if (x instanceof Worker) await x.stop({ drainTimeout: 0 }); // hard: some jobs never end
      else await x.close();
    }
  });

  async function startWorker(fake, opts = {}, onWork = null) {
    const worker = track(new Worker({ ...fake.endpoint, logger: memoryLogger(), ...opts }));
    if (onWork) worker.on('work', onWork);
    worker.start();
    const peer = await fake.accept(opts.welcome || {});
    const offer = await fake.next('OFFER', WAIT, peer.rid);
    await fake.send(peer.rid, 'OFFERED', { slots: offer.header.slots, ranges: [] });
    await once(worker, 'ready', WAIT, 'OFFERED to reach the worker');
    return { worker, peer, offer };
  }

  function jobs(fake, rid, list) {
    return fake.send(rid, 'JOBS', { jobs: list.map(([id, extra]) => ({ id, attempt: 1, priority: 0, ...extra })) },
      list.map(([id]) => JSON.stringify({ n: id })));
  }

  it('a worker says HELLO (lang node, its name) and offers its slots, guarantees and services', async () => {
    const fake = track(await FakeManager.start());
    const worker = track(new Worker({
      ...fake.endpoint, name: 'w1', slots: 10, prioritySlots: { 0: 10, 1: 3, 2.5: 2 }, services: ['resize'], logger: memoryLogger(),
    }));
    worker.start();
    const hello = await fake.next('HELLO');
    assert.equal(hello.payloads.length, 0);
    assert.deepEqual(hello.header, { lang: 'node', name: 'w1' });
    const id = await fake.welcome(hello);
    const offer = await fake.next('OFFER');
    assert.deepEqual(offer.header, { slots: 10, prioritySlots: { 1: 3, 2.5: 2 }, services: ['resize'] });
    assert.equal(worker.id, id);
  });

  it('systemMessages: false says "sysmsg": false in HELLO and opens no system-message socket', async () => {
    const fake = track(await FakeManager.start());
    const zmq = require('zeromq');
    const pub = new zmq.XPublisher({ linger: 0 });
    await pub.bind('tcp://127.0.0.1:*');
    cleanups.push({ close: () => pub.close() });
    const pubPort = Number(/:(\d+)$/.exec(pub.lastEndpoint)[1]);
    const worker = track(new Worker({ ...fake.endpoint, name: 'quiet', systemMessages: false, logger: memoryLogger() }));
    worker.start();
    const hello = await fake.next('HELLO');
    assert.equal(hello.header.sysmsg, false);
    assert.deepEqual(hello.header, { name: 'quiet', lang: 'node', sysmsg: false });
    await fake.welcome(hello, { pub_port: pubPort });
    await fake.next('OFFER');
    assert.equal(worker._sub, null, 'no SUB socket');
    // It still sends system messages: SYSDONE comes on its command socket.
    const sent = worker.systemMessage('hi', { to: 'MANAGER' });
    const msg = await fake.next('SYSMSG');
    await fake.send(hello.rid, 'SYSDONE', { req: msg.header.req, sentTo: 1, receivedBy: 1 });
    assert.deepEqual(await sent, { sentTo: 1, receivedBy: 1 });
    // By default HELLO does not mention it (absent means true) and the peer subscribes.
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const hello2 = await fake.next('HELLO');
    assert.equal('sysmsg' in hello2.header, false);
    const id = await fake.welcome(hello2, { pub_port: pubPort });
    const [subscription] = await pub.receive();
    assert.deepEqual(subscription, Buffer.from(`\x01${id}`));
    assert.notEqual(client._sub, null);
    assert.throws(() => new Client({ port: 1, systemMessages: 'no' }), TypeError);
  });

  it('a bad offer is refused at start, before anything is sent', () => {
    const w = new Worker({ port: 1, slots: 5, prioritySlots: { 1: 4, 2: 2 }, logger: memoryLogger() });
    assert.throws(() => w.start(), { code: 'EBADOFFER' });
    assert.throws(() => new Worker({ port: 1, slots: 0, logger: memoryLogger() }).start(), { code: 'EBADOFFER' });
    assert.throws(() => new Worker({ port: 1, prioritySlots: { '-1': 1 }, logger: memoryLogger() }).start(), { code: 'EBADOFFER' });
  });

  it('a range start named twice ("1" and "1.0") is EBADOFFER, not a sum of both with one sent', async () => {
    const start = (prioritySlots) => new Worker({ port: 1, slots: 10, prioritySlots, logger: memoryLogger() }).start();
    assert.throws(() => start({ 1: 2, '1.0': 3 }), { code: 'EBADOFFER', message: /range starting at 1 twice/ });
    assert.throws(() => start({ 2.5: 1, '2.50': 1 }), { code: 'EBADOFFER' });
    assert.throws(() => start({ 1: 1, '1e0': 1 }), { code: 'EBADOFFER' });
    // Not decimal numbers as the wire writes them: refused, not read as JavaScript would.
    for (const key of ['0x10', ' 1', '1 ', '', 'Infinity', 'NaN', '1_0']) {
      assert.throws(() => start({ [key]: 1 }), { code: 'EBADOFFER' }, JSON.stringify(key));
    }
    // The guarantee for 0 stays ignored, however often and however written (the one
    // rule: protocol.json "offer.rules").
    const ok = track(new Worker({ port: 1, slots: 10, prioritySlots: { 0: 10, '0.0': 10, 1: 5 }, logger: memoryLogger() }));
    ok.start();
  });

  it('an offer sends each range once, keyed as JavaScript writes its number, without the range 0', async () => {
    const fake = track(await FakeManager.start());
    track(new Worker({ ...fake.endpoint, slots: 10, prioritySlots: { '0.0': 4, '1.50': 2, 3: 1 }, logger: memoryLogger() })).start();
    await fake.accept();
    const offer = await fake.next('OFFER');
    assert.equal(offer.header.prioritySlots['1.5'], 2);
    assert.deepEqual(offer.header.prioritySlots, { 1.5: 2, 3: 1 });
  });

  it('jobs beyond the free slots are rejected, the rest run', async () => {
    const fake = track(await FakeManager.start());
    const got = [];
    const { peer } = await startWorker(fake, { slots: 2 }, (w) => got.push(w.id));
    await jobs(fake, peer.rid, [[1], [2], [3], [4]]);
    const reject = await fake.next('REJECT', WAIT, peer.rid);
    assert.deepEqual(reject.header, { jobs: [{ id: 3, attempt: 1 }, { id: 4, attempt: 1 }] });
    await until(() => got.length === 2, WAIT, 'two jobs to start');
    assert.deepEqual(got, [1, 2]);
  });

  it('ANSWER_THRESHOLD batches results into one RESULT', async () => {
    const fake = track(await FakeManager.start());
    const { peer } = await startWorker(fake, { slots: 5, ANSWER_THRESHOLD: 3 }, (w, handler) => handler(null, w.args.n * 10));
    await jobs(fake, peer.rid, [[1], [2], [3]]);
    const result = await fake.next('RESULT', WAIT, peer.rid);
    assert.deepEqual(result.header.results, [{ id: 1, attempt: 1 }, { id: 2, attempt: 1 }, { id: 3, attempt: 1 }]);
    assert.deepEqual(result.payloads.map((p) => JSON.parse(p)), [10, 20, 30]);
  });

  it('a partial batch leaves after ANSWER_DELAY_MAX, or when the worker becomes idle', async () => {
    const fake = track(await FakeManager.start());
    const handlers = new Map();
    const { peer } = await startWorker(fake, { slots: 5, ANSWER_THRESHOLD: 10, ANSWER_DELAY_MAX: 30 },
      (w, handler) => handlers.set(w.id, handler));
    await jobs(fake, peer.rid, [[1], [2]]);
    await until(() => handlers.size === 2, WAIT, 'both jobs to start');
    const t0 = Date.now();
    handlers.get(1)(null, 'one');
    const first = await fake.next('RESULT', WAIT, peer.rid);
    assert.ok(Date.now() - t0 >= 25, 'the batch waited for its delay bound');
    assert.deepEqual(first.header.results, [{ id: 1, attempt: 1 }]);
    handlers.get(2)(null, 'two'); // idle now: sent at once
    const second = await fake.next('RESULT', 20, peer.rid);
    assert.deepEqual(second.header.results, [{ id: 2, attempt: 1 }]);
  });

  it('runTimeout: the worker answers ETO, tells the handler, and drops the late answer', async () => {
    const fake = track(await FakeManager.start());
    let late;
    const { worker, peer } = await startWorker(fake, { slots: 1 }, (w, handler) => {
      if (w.id === 7) late = handler;
      else handler(null, 'eight');
    });
    const aborted = once(worker, 'abort', WAIT, 'the abort event');
    await jobs(fake, peer.rid, [[7, { runTimeout: 40 }]]);
    const result = await fake.next('RESULT', WAIT, peer.rid);
    assert.equal(result.header.results[0].id, 7);
    assert.equal(result.header.results[0].err.code, 'ETO');
    assert.equal(result.payloads[0].length, 0);
    const [w, reason] = await aborted;
    assert.equal(reason, 'ETO');
    assert.equal(w.aborted, true);
    assert.equal(w.signal.reason.code, 'ETO');
    late(null, 'too late');
    await jobs(fake, peer.rid, [[8]]); // the slot is free again
    const next = await fake.next('RESULT', WAIT, peer.rid);
    assert.deepEqual(next.header.results, [{ id: 8, attempt: 1 }], 'the late answer for job 7 was dropped');
    assert.equal(fake.count('REJECT'), 0);
  });

  it('ABORT takes a running job away without a result', async () => {
    const fake = track(await FakeManager.start());
    const handlers = new Map();
    const { worker, peer } = await startWorker(fake, { slots: 3 }, (w, handler) => handlers.set(w.id, handler));
    await jobs(fake, peer.rid, [[1], [2]]);
    await until(() => handlers.size === 2, WAIT, 'both jobs to start');
    const aborted = once(worker, 'abort', WAIT, 'the abort event');
    await fake.send(peer.rid, 'ABORT', { jobs: [{ id: 1, attempt: 1 }] });
    const [w, reason] = await aborted;
    assert.deepEqual([w.id, reason, w.aborted], [1, 'abort', true]);
    handlers.get(1)(null, 'ignored');
    handlers.get(2)(null, 'kept');
    const result = await fake.next('RESULT', WAIT, peer.rid);
    assert.deepEqual(result.header.results, [{ id: 2, attempt: 1 }]);
    assert.equal(worker.running, 0);
  });

  it('a stopping worker leaves no job running, even one that arrives while its BYE drains', async () => {
    const fake = track(await FakeManager.start());
    const got = [];
    const { worker, peer } = await startWorker(fake, { slots: 2 }, (w) => got.push(w));
    const sent = jobs(fake, peer.rid, [[1]]); // on its way while the worker stops
    await worker.stop();
    await sent;
    await fake.next('BYE', WAIT, peer.rid);
    assert.equal(worker.running, 0);
    assert.deepEqual(got.filter((w) => !w.aborted).map((w) => w.id), [], 'every job that started was taken away');
  });

  it('heartbeats flow when idle, and a silent manager is left for a new session', async () => {
    const fake = track(await FakeManager.start());
    const { worker, peer } = await startWorker(fake, { CON_RETRYTIME: 20, welcome: { heartbeat_ms: 20, liveness: 3 } });
    await fake.next('HEARTBEAT', WAIT, peer.rid);
    const lost = once(worker, 'disconnect', WAIT, 'the worker to give up on a silent manager');
    await lost; // the fake never heartbeats: 60 ms of silence
    const again = await fake.next('HELLO', WAIT);
    assert.ok(!again.rid.equals(peer.rid), 'a new socket, so a new routing id');
  });

  it('BYE from the manager: the worker registers again after CON_RETRYTIME and re-offers', async () => {
    const fake = track(await FakeManager.start());
    const { worker, peer } = await startWorker(fake, { CON_RETRYTIME: 100 });
    const t0 = Date.now();
    await fake.send(peer.rid, 'BYE', { reason: 'shutdown' });
    const hello = await fake.next('HELLO', WAIT);
    assert.ok(Date.now() - t0 >= 90, 'waited its retry time');
    const id = await fake.welcome(hello);
    await fake.next('OFFER', WAIT, hello.rid);
    assert.equal(worker.id, id);
  });

  it('ENOHELLO: the worker registers again at once and cancels what it ran', async () => {
    const fake = track(await FakeManager.start());
    const { worker, peer } = await startWorker(fake, { slots: 2, CON_RETRYTIME: 5000 }, () => {});
    await jobs(fake, peer.rid, [[1]]);
    await until(() => worker.running === 1, WAIT, 'the job to start');
    const aborted = once(worker, 'abort', WAIT, 'the abort event');
    await fake.send(peer.rid, 'ERROR', { code: 'ENOHELLO', message: 'who are you', class: 'request' });
    const [, reason] = await aborted;
    assert.equal(reason, 'reconnect');
    const hello = await fake.next('HELLO', 1000); // far sooner than CON_RETRYTIME
    await fake.welcome(hello);
    await fake.next('OFFER', WAIT, hello.rid);
    assert.equal(worker.running, 0);
  });

  it('a client with keepState pushes its unfinished jobs again after ENOHELLO', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, keepState: true, logger: memoryLogger() }));
    const peer = await fake.accept();
    const result = callback((cb) => client.work([{ a: 1 }, { b: 2 }], { priority: 1.5, runTimeout: 900, assigntimeout: 800 }, cb),
      WAIT, 'the work callback');
    const push = await fake.next('PUSH', WAIT, peer.rid);
    assert.deepEqual(push.header.jobs, [{}, {}]);
    assert.equal(push.header.priority, 1.5);
    assert.equal(push.header.runTimeout, 900);
    assert.equal(push.header.assigntimeout, 800);
    assert.deepEqual(push.payloads.map((p) => JSON.parse(p)), [{ a: 1 }, { b: 2 }]);
    await fake.send(peer.rid, 'ACCEPTED', { req: push.header.req, ids: [11, 12] });
    await fake.send(peer.rid, 'RESULT', { results: [{ id: 12 }] }, ['"two"']);
    await fake.send(peer.rid, 'ERROR', { code: 'ENOHELLO', message: 'restarted', class: 'request' });
    const again = await fake.accept();
    const repush = await fake.next('PUSH', WAIT, again.rid);
    assert.deepEqual(repush.payloads.map((p) => JSON.parse(p)), [{ a: 1 }], 'only the unfinished job is pushed again');
    await fake.send(again.rid, 'ACCEPTED', { req: repush.header.req, ids: [1] });
    await fake.send(again.rid, 'RESULT', { results: [{ id: 1 }] }, ['"one"']);
    const [err, results] = await result;
    assert.equal(err, null);
    assert.deepEqual(results, [{ err: null, data: 'one' }, { err: null, data: 'two' }]);
  });

  it('by default (no keepState) a client pushes again after ENOHELLO; a late or repeated result is not delivered twice', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const peer = await fake.accept();
    let calls = 0;
    const result = callback((cb) => client.work({ a: 1 }, (...args) => {
      calls += 1;
      cb(...args);
    }), WAIT, 'the work callback');
    const push = await fake.next('PUSH', WAIT, peer.rid);
    await fake.send(peer.rid, 'ACCEPTED', { req: push.header.req, ids: [11] });
    await fake.send(peer.rid, 'ERROR', { code: 'ENOHELLO', message: 'restarted', class: 'request' });
    const again = await fake.accept();
    const repush = await fake.next('PUSH', WAIT, again.rid);
    assert.deepEqual(repush.payloads.map((p) => JSON.parse(p)), [{ a: 1 }]);
    // A result naming the id of the first session, before the new push is accepted:
    // not this session's job, dropped.
    await fake.send(again.rid, 'RESULT', { results: [{ id: 11 }] }, ['"stale"']);
    // The restarted manager happens to give the same id again; its result counts once.
    await fake.send(again.rid, 'ACCEPTED', { req: repush.header.req, ids: [11] });
    await fake.send(again.rid, 'RESULT', { results: [{ id: 11 }] }, ['"fresh"']);
    const [err, data] = await result;
    assert.equal(err, null);
    assert.equal(data, 'fresh');
    // A repeated RESULT, then the answer to a STATUS: once the status arrives, the
    // repeat (sent before it, on the same connection) has been read.
    const status = client.status({ timeout: WAIT });
    const asked = await fake.next('STATUS', WAIT, again.rid);
    await fake.send(again.rid, 'RESULT', { results: [{ id: 11 }] }, ['"twice"']);
    await fake.send(again.rid, 'STATUS', { req: asked.header.req });
    await status;
    assert.equal(calls, 1, 'one result per job');
  });

  it('with keepState: false, jobs given to a lost manager fail with ECONNLOST', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, keepState: false, logger: memoryLogger() }));
    const peer = await fake.accept();
    const result = callback((cb) => client.work({ a: 1 }, cb), WAIT, 'the work callback');
    const push = await fake.next('PUSH', WAIT, peer.rid);
    await fake.send(peer.rid, 'ACCEPTED', { req: push.header.req, ids: [5] });
    await fake.send(peer.rid, 'BYE', {});
    const [err] = await result;
    assert.equal(err.code, 'ECONNLOST');
  });

  it('jobs given before the manager answers wait for the registration, _key and _service map to the entry', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    client.work([{ _key: 'img-1' }, { _key: 42, _service: 'ocr' }, Buffer.from([1, 2])], { service: 'resize' }, () => {});
    const hello = await fake.next('HELLO');
    assert.equal(fake.count('PUSH'), 0);
    await fake.welcome(hello);
    const push = await fake.next('PUSH', WAIT, hello.rid);
    assert.deepEqual(push.header.jobs, [
      { key: 'img-1', service: 'resize' },
      { key: '42', service: 'ocr' },
      { service: 'resize', raw: true },
    ]);
    assert.deepEqual(push.payloads[2], Buffer.from([1, 2]));
  });

  it('a refused push fails its jobs with the manager\'s code; timeout aborts what was accepted', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const peer = await fake.accept();
    const refused = callback((cb) => client.work([1, 2], cb), WAIT, 'the refused work');
    const push = await fake.next('PUSH', WAIT, peer.rid);
    await fake.send(peer.rid, 'ERROR', { code: 'ELIMIT', message: 'too many', class: 'retry', command: 'PUSH', req: push.header.req });
    const [, results] = await refused;
    assert.deepEqual(results.map((r) => r.err.code), ['ELIMIT', 'ELIMIT']);

    const timedOut = callback((cb) => client.work({ slow: true }, { timeout: 50 }, cb), WAIT, 'the timed-out work');
    const push2 = await fake.next('PUSH', WAIT, peer.rid);
    await fake.send(peer.rid, 'ACCEPTED', { req: push2.header.req, ids: [77] });
    const [err] = await timedOut;
    assert.equal(err.code, 'ECSTO');
    const abort = await fake.next('ABORT', WAIT, peer.rid);
    assert.deepEqual(abort.header, { ids: [77] });
  });

  it('a request larger than max_frames is split into several pushes', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const peer = await fake.accept({ max_frames: 4 + 3 });
    client.work([1, 2, 3, 4, 5, 6, 7], () => {});
    const sizes = [];
    for (let i = 0; i < 3; ++i) sizes.push((await fake.next('PUSH', WAIT, peer.rid)).payloads.length);
    assert.deepEqual(sizes, [3, 3, 1]);
  });

  it('a push carries at most MAX_JOBS_PER_PUSH jobs, however many the manager takes', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const peer = await fake.accept({ max_frames: 100004 });
    client.work(Array.from({ length: MAX_JOBS_PER_PUSH + 1 }, (_, i) => i), () => {});
    const sizes = [];
    for (let i = 0; i < 2; ++i) sizes.push((await fake.next('PUSH', WAIT, peer.rid)).payloads.length);
    assert.deepEqual(sizes, [MAX_JOBS_PER_PUSH, 1]);
  });

  it('at most MAX_PUSHES_IN_FLIGHT pushes wait for their answer; each answer lets the next one go', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const peer = await fake.accept({ max_frames: 4 + 1 }); // one job per push
    const total = MAX_PUSHES_IN_FLIGHT + 3;
    const done = callback((cb) => client.work(Array.from({ length: total }, (_, i) => i), cb), WAIT, 'the work');
    const pushes = [];
    for (let i = 0; i < MAX_PUSHES_IN_FLIGHT; ++i) pushes.push(await fake.next('PUSH', WAIT, peer.rid));
    // A barrier: the STATUS is sent after whatever the client sent so far.
    const status = client.status();
    const barrier = await fake.next('STATUS', WAIT, peer.rid);
    assert.equal(fake.count('PUSH'), 0, 'the window is full: no push beyond it');
    await fake.send(peer.rid, 'STATUS', { req: barrier.header.req });
    await status;
    // ETOOBIG names no req (the manager refused it before reading its header): it
    // answers the oldest push waiting; the manager answers pushes in order.
    await fake.send(peer.rid, 'ERROR', { code: 'ETOOBIG', message: 'too big', class: 'request', command: 'PUSH' });
    let next = 100;
    for (const push of pushes.slice(1)) await fake.send(peer.rid, 'ACCEPTED', { req: push.header.req, ids: [next++] });
    for (let i = MAX_PUSHES_IN_FLIGHT; i < total; ++i) {
      const push = await fake.next('PUSH', WAIT, peer.rid);
      pushes.push(push);
      await fake.send(peer.rid, 'ACCEPTED', { req: push.header.req, ids: [next++] });
    }
    assert.deepEqual(pushes.map((p) => JSON.parse(p.payloads[0])), Array.from({ length: total }, (_, i) => i), 'in order');
    for (let id = 100; id < next; ++id) await fake.send(peer.rid, 'RESULT', { results: [{ id }] }, [String(id)]);
    const [, results] = await done;
    assert.equal(results[0].err.code, 'ETOOBIG');
    assert.deepEqual(results.slice(1).map((r) => r.data), Array.from({ length: total - 1 }, (_, i) => 100 + i));
  });

  it('requests waiting for the window share a PUSH when their options agree; a refused shared push is retried per request', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const connected = once(client, 'connect', WAIT, 'the client to register');
    const peer = await fake.accept();
    await connected; // from now on each work() pushes at once while the window has room
    const results = [];
    const work = (item, opts = {}) => client.work(item, opts, (err, data) => results.push([item, err ? err.code : data]));
    for (let i = 0; i < MAX_PUSHES_IN_FLIGHT; ++i) work(`w${i}`);
    const first = [];
    for (let i = 0; i < MAX_PUSHES_IN_FLIGHT; ++i) first.push(await fake.next('PUSH', WAIT, peer.rid));
    // The window is full: these wait, and then travel together where they may.
    work('a');
    work('b');
    work('c', { priority: 2 });
    work('d');
    const accept = (push, ids) => fake.send(peer.rid, 'ACCEPTED', { req: push.header.req, ids });
    await accept(first[0], [1]);
    const shared = await fake.next('PUSH', WAIT, peer.rid);
    assert.deepEqual(shared.payloads.map(String), ['"a"', '"b"'], 'a and b share one PUSH');
    assert.equal(shared.header.priority, undefined);
    await accept(first[1], [2]);
    const high = await fake.next('PUSH', WAIT, peer.rid);
    assert.deepEqual([high.header.priority, high.payloads.map(String)], [2, ['"c"']], 'c has another priority');
    await accept(first[2], [3]);
    const last = await fake.next('PUSH', WAIT, peer.rid);
    assert.deepEqual(last.payloads.map(String), ['"d"']);
    // The shared push is refused as a whole: a and b go again, each on its own, first.
    await fake.send(peer.rid, 'ERROR', { code: 'ELIMIT', message: 'too many', class: 'retry', command: 'PUSH', req: shared.header.req });
    const again = [await fake.next('PUSH', WAIT, peer.rid)]; // the window has room for one
    await accept(first[3], [4]);
    again.push(await fake.next('PUSH', WAIT, peer.rid));
    assert.deepEqual(again.map((p) => p.payloads.map(String)), [['"a"'], ['"b"']]);
    await accept(again[0], [10]);
    await fake.send(peer.rid, 'ERROR', { code: 'ELIMIT', message: 'still too many', class: 'retry', command: 'PUSH', req: again[1].header.req });
    await fake.send(peer.rid, 'RESULT', { results: [{ id: 10 }] }, ['"A"']);
    await until(() => results.length === 2, WAIT, 'the results of a and b');
    assert.deepEqual(results, [['b', 'ELIMIT'], ['a', 'A']], 'only b, refused on its own, fails');
  });

  it("the system-message channel is WELCOME's pub_endpoint when it gives no pub_port", async () => {
    const fake = track(await FakeManager.start());
    const zmq = require('zeromq');
    const pub = new zmq.XPublisher({ linger: 0 });
    await pub.bind('tcp://127.0.0.1:*');
    cleanups.push({ close: () => pub.close() });
    track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const { id } = await fake.accept({ pub_endpoint: pub.lastEndpoint });
    const [subscription] = await pub.receive();
    assert.deepEqual(subscription, Buffer.from(`\x01${id}`));
  });

  it('a batch of results larger than max_frames leaves in several RESULT messages', async () => {
    const fake = track(await FakeManager.start());
    const { peer } = await startWorker(fake, { slots: 9, ANSWER_THRESHOLD: 5, welcome: { max_frames: 4 + 2 } },
      (w, handler) => handler(null, w.id));
    await jobs(fake, peer.rid, [[1], [2], [3], [4], [5]]);
    const sizes = [];
    for (let i = 0; i < 3; ++i) sizes.push((await fake.next('RESULT', WAIT, peer.rid)).header.results.length);
    assert.deepEqual(sizes, [2, 2, 1]);
  });

  it('a job or result too big for the manager fails with ETOOBIG instead of vanishing', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const peer = await fake.accept({ max_message_bytes: 4096 });
    const done = callback((cb) => client.work(['x'.repeat(5000), 'small'], cb), WAIT, 'the work callback');
    const push = await fake.next('PUSH', WAIT, peer.rid);
    assert.deepEqual(push.payloads.map((p) => JSON.parse(p)), ['small']);
    await fake.send(peer.rid, 'ACCEPTED', { req: push.header.req, ids: [3] });
    await fake.send(peer.rid, 'RESULT', { results: [{ id: 3 }] }, ['"ok"']);
    const [, results] = await done;
    assert.equal(results[0].err.code, 'ETOOBIG');
    assert.deepEqual(results[1], { err: null, data: 'ok' });

    const { peer: wpeer } = await startWorker(fake, { welcome: { max_message_bytes: 4096 } },
      (w, handler) => handler(null, 'y'.repeat(5000)));
    await jobs(fake, wpeer.rid, [[9]]);
    const result = await fake.next('RESULT', WAIT, wpeer.rid);
    assert.equal(result.header.results[0].err.code, 'ETOOBIG');
    assert.equal(result.payloads[0].length, 0);
  });

  it('an ERROR without req for a control request fails it (a manager without STATUS)', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const peer = await fake.accept();
    const status = callback((cb) => client.status(cb), WAIT, 'the status callback');
    await fake.next('STATUS', WAIT, peer.rid);
    await fake.send(peer.rid, 'ERROR', { code: 'EUNKNOWNCMD', message: "unknown command 'STATUS'", class: 'request', command: 'STATUS' });
    const [err] = await status;
    assert.deepEqual(err, { code: 'EUNKNOWNCMD', message: "unknown command 'STATUS'" });
  });

  it('a system message whose manager is lost before SYSDONE: cb(err) with ECONNLOST, as the original cb(err)', async () => {
    const fake = track(await FakeManager.start());
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const peer = await fake.accept();
    const done = callback((cb) => client.systemMessage({ do: 'it' }, cb), WAIT, 'the systemMessage callback');
    await fake.next('SYSMSG', WAIT, peer.rid);
    await fake.send(peer.rid, 'BYE', {});
    const [err, counts] = await done;
    assert.equal(err.code, 'ECONNLOST');
    assert.equal(counts, undefined);
  });

  it('system messages: SYSMSG with to, SYSDONE to the callback, SYSACK for what arrives on the channel', async () => {
    const fake = track(await FakeManager.start());
    const zmq = require('zeromq');
    const pub = new zmq.XPublisher({ linger: 0 });
    await pub.bind('tcp://127.0.0.1:*');
    const pubPort = Number(/:(\d+)$/.exec(pub.lastEndpoint)[1]);
    cleanups.push({ close: () => pub.close() });
    const client = track(new Client({ ...fake.endpoint, logger: memoryLogger() }));
    const peer = await fake.accept({ id: 'x.1', pub_port: pubPort });
    const [sub] = await pub.receive(); // the subscription to its own id
    assert.deepEqual(sub, Buffer.from('\x01x.1'));

    const done = callback((cb) => client.systemMessage({ do: 'it' }, { to: 'x.2' }, cb), WAIT, 'the systemMessage callback');
    const sent = await fake.next('SYSMSG', WAIT, peer.rid);
    assert.equal(sent.header.to, 'x.2');
    assert.deepEqual(JSON.parse(sent.payloads[0]), { do: 'it' });
    await fake.send(peer.rid, 'SYSDONE', { req: sent.header.req, sentTo: 1, receivedBy: 1 });
    assert.deepEqual(await done, [null, { sentTo: 1, receivedBy: 1 }]);

    const got = [];
    client.on('sysmsg', (msg, from) => got.push([msg, from]));
    // "x.12" shares the prefix "x.1": the subscription matches it, the client must not.
    await pub.send(['x.12', 'PRO1', 'SYSMSG', JSON.stringify({ msg: 1, from: 'x.3' }), '"not mine"']);
    await pub.send(['x.1', 'PRO1', 'SYSMSG', JSON.stringify({ msg: 2, from: 'MANAGER' }), '{"hi":1}']);
    const ack = await fake.next('SYSACK', WAIT, peer.rid);
    assert.deepEqual(ack.header, { msg: 2 });
    assert.deepEqual(got, [[{ hi: 1 }, 'MANAGER']]);
    // Content that is not JSON is acknowledged and dropped; a repeat is acknowledged
    // and not delivered twice.
    await pub.send(['x.1', 'PRO1', 'SYSMSG', JSON.stringify({ msg: 3, from: 'x.3' }), 'not json{']);
    assert.deepEqual((await fake.next('SYSACK', WAIT, peer.rid)).header, { msg: 3 });
    await pub.send(['x.1', 'PRO1', 'SYSMSG', JSON.stringify({ msg: 2, from: 'MANAGER' }), '{"hi":1}']);
    assert.deepEqual((await fake.next('SYSACK', WAIT, peer.rid)).header, { msg: 2 });
    assert.deepEqual(got, [[{ hi: 1 }, 'MANAGER']]);
  });
});
