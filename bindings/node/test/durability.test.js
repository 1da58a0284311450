'use strict';
// Durability against a scripted manager (PROTOCOL §4 HELLO identity, RECEIVED, DRAIN;
// §5 WELCOME journal; §6 EDRAINING; §12): the client's identity, keeping accepted
// jobs across a lost session when the manager keeps a journal, RECEIVED, pushes
// refused with EDRAINING, and the worker's graceful stop.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Worker } = require('proletariat');
const { FakeManager } = require('../test-support/fake-manager');
const { once, callback, until, within, memoryLogger } = require('../test-support/daemon');

const WAIT = 3000;
const IDENTITY = /^node-[0-9a-f]{32}$/;

describe('durability against a scripted manager', () => {
  const cleanups = [];
  const track = (x) => {
    cleanups.push(x);
    return x;
  };
  afterEach(async () => {
    for (const x of cleanups.splice(0).reverse()) {
      if (x instanceof FakeManager) x.close();
      else if (x instanceof Worker) await x.stop({ drainTimeout: 0 });
      else await x.close();
    }
  });

  function newClient(fake, opts = {}) {
    return track(new Client({ ...fake.endpoint, CON_RETRYTIME: 20, logger: memoryLogger(), ...opts }));
  }

  // Waits until every message the client sent before now has reached the fake
  // manager: a STATUS is answered in order after them.
  async function barrier(fake, client, rid) {
    const status = client.status();
    const msg = await fake.next('STATUS', WAIT, rid);
    await fake.send(rid, 'STATUS', { req: msg.header.req });
    await status;
  }

  // Makes the client lose its session (the manager says BYE) and register again:
  // resolves with the new session's {rid, id, hello}.
  async function reconnect(fake, client, rid, welcome = {}) {
    const lost = once(client, 'disconnect', WAIT, 'the client to lose its session');
    await fake.send(rid, 'BYE', { reason: 'shutdown' });
    await lost;
    return fake.accept(welcome);
  }

  function results(fake, rid, list) {
    return fake.send(rid, 'RESULT', { results: list.map(([id, extra]) => ({ id, ...extra })) },
      list.map(([, , data]) => JSON.stringify(data === undefined ? null : data)));
  }

  // --- identity ---

  it('a client sends its identity in every HELLO, the same across reconnections', async () => {
    const fake = track(await FakeManager.start());
    const client = newClient(fake);
    assert.match(client.identity, IDENTITY);
    const first = await fake.accept();
    assert.equal(first.hello.header.identity, client.identity);
    assert.deepEqual(Object.keys(first.hello.header), ['lang', 'identity']);
    const second = await reconnect(fake, client, first.rid);
    assert.ok(!second.rid.equals(first.rid), 'a new socket');
    assert.equal(second.hello.header.identity, client.identity, 'the same identity after the reconnection');
    const third = await reconnect(fake, client, second.rid);
    assert.equal(third.hello.header.identity, client.identity);
    // Another client has another identity.
    const other = newClient(fake);
    const hello = await fake.next('HELLO');
    assert.match(hello.header.identity, IDENTITY);
    assert.notEqual(hello.header.identity, client.identity);
    assert.notEqual(other.identity, client.identity);
  });

  it('the identity option is sent as given; a bad one is refused at construction', async () => {
    const fake = track(await FakeManager.start());
    const mine = 'ledger-7 · «east»'; // UTF-8, several bytes per character
    const client = newClient(fake, { identity: mine, name: 'me' });
    assert.equal(client.identity, mine);
    const { hello } = await fake.accept();
    assert.deepEqual(hello.header, { name: 'me', lang: 'node', identity: mine });
    const bad = (identity) => new Client({ port: 1, identity, logger: memoryLogger() });
    assert.throws(() => bad(''), { name: 'TypeError', message: /identity must be 1 \.\. 128 bytes of UTF-8, not 0/ });
    assert.throws(() => bad('x'.repeat(129)), { name: 'TypeError', message: /not 129/ });
    assert.throws(() => bad('é'.repeat(65)), { name: 'TypeError', message: /not 130/ }, '65 characters, 130 bytes');
    assert.throws(() => bad(42), { name: 'TypeError', message: /a number/ });
    assert.throws(() => bad('a\ud800b'), { name: 'TypeError', message: /UTF-8/ });
    const longest = track(new Client({ port: 1, identity: 'é'.repeat(64), logger: memoryLogger() }));
    assert.equal(Buffer.byteLength(longest.identity), 128);
  });

  it('a worker sends no identity', async () => {
    const fake = track(await FakeManager.start());
    track(new Worker({ ...fake.endpoint, logger: memoryLogger() })).start();
    const hello = await fake.next('HELLO');
    assert.equal('identity' in hello.header, false);
  });

  // --- re-attachment ---

  it('same journal: accepted jobs wait across the lost session, unaccepted ones go again, each result once', async () => {
    const fake = track(await FakeManager.start());
    // keepState: false, so that a job lost rather than kept would fail (ECONNLOST).
    const client = newClient(fake, { keepState: false });
    const first = await fake.accept({ journal: 'j-1' });
    const group = callback((cb) => client.work([{ n: 1 }, { n: 2 }], cb), WAIT, 'the group');
    const push1 = await fake.next('PUSH', WAIT, first.rid);
    await fake.send(first.rid, 'ACCEPTED', { req: push1.header.req, ids: [11, 12] });
    const single = callback((cb) => client.work({ n: 3 }, cb), WAIT, 'the single job');
    const push2 = await fake.next('PUSH', WAIT, first.rid); // never ACCEPTED
    assert.equal(push2.header.jobs.length, 1);
    await barrier(fake, client, first.rid); // the ACCEPTED has arrived

    const second = await reconnect(fake, client, first.rid, { journal: 'j-1' });
    // Only the job whose push had no answer is pushed again.
    const push3 = await fake.next('PUSH', WAIT, second.rid);
    assert.deepEqual(push3.payloads.map((p) => JSON.parse(p)), [{ n: 3 }]);
    await fake.send(second.rid, 'ACCEPTED', { req: push3.header.req, ids: [13] });
    // The held results, one of them twice (sent again: the manager had no RECEIVED),
    // and one for the id of the unanswered push (the manager had accepted it too).
    await results(fake, second.rid, [[11, {}, 'one']]);
    await results(fake, second.rid, [[11, {}, 'one again'], [12, {}, 'two'], [99, {}, 'first id of n: 3']]);
    await results(fake, second.rid, [[13, {}, 'three']]);
    const [err, got] = await group;
    assert.equal(err, null);
    assert.deepEqual(got, [{ err: null, data: 'one' }, { err: null, data: 'two' }]);
    const [err3, data3, work3] = await single;
    assert.equal(err3, null);
    assert.equal(data3, 'three');
    assert.equal(work3.id, 13);
    // RECEIVED once per RESULT, naming every entry, dropped ones too.
    assert.deepEqual((await fake.next('RECEIVED', WAIT, second.rid)).header, { ids: [11] });
    assert.deepEqual((await fake.next('RECEIVED', WAIT, second.rid)).header, { ids: [11, 12, 99] });
    assert.deepEqual((await fake.next('RECEIVED', WAIT, second.rid)).header, { ids: [13] });
    await barrier(fake, client, second.rid);
    assert.equal(fake.count('PUSH'), 0, 'nothing else was pushed');
    assert.equal(fake.count('RECEIVED'), 0);
    assert.equal(client.pending, 0);
  });

  it('kept jobs survive several lost sessions while the manager is away, and the registration attempts between', async () => {
    const fake = track(await FakeManager.start());
    const client = newClient(fake, { keepState: false });
    const first = await fake.accept({ journal: 'j-1' });
    const result = callback((cb) => client.work({ n: 1 }, cb), WAIT, 'the job');
    const push = await fake.next('PUSH', WAIT, first.rid);
    await fake.send(first.rid, 'ACCEPTED', { req: push.header.req, ids: [5] });
    await barrier(fake, client, first.rid);
    const second = await reconnect(fake, client, first.rid, { journal: 'j-1' });
    const third = await reconnect(fake, client, second.rid, { journal: 'j-1' });
    await results(fake, third.rid, [[5, {}, 'kept']]);
    const [err, data] = await result;
    assert.equal(err, null);
    assert.equal(data, 'kept');
    assert.equal(fake.count('PUSH'), 0, 'never pushed again');
  });

  it('another journal, or none: kept jobs fail with ECONNLOST (keepState: false) or are pushed again (keepState)', async () => {
    for (const next of [{ journal: 'j-2' }, {}]) {
      const fake = track(await FakeManager.start());
      const failing = newClient(fake, { keepState: false });
      const a = await fake.accept({ journal: 'j-1' });
      const lost = callback((cb) => failing.work({ n: 1 }, cb), WAIT, 'the job of keepState: false');
      const pushA = await fake.next('PUSH', WAIT, a.rid);
      await fake.send(a.rid, 'ACCEPTED', { req: pushA.header.req, ids: [1] });
      await barrier(fake, failing, a.rid);
      const a2 = await reconnect(fake, failing, a.rid, next);
      const [err] = await lost;
      assert.equal(err.code, 'ECONNLOST', JSON.stringify(next));
      await barrier(fake, failing, a2.rid);
      assert.equal(fake.count('PUSH'), 0);

      const keeping = newClient(fake); // keepState: true by default
      const b = await fake.accept({ journal: 'j-1' });
      const again = callback((cb) => keeping.work({ n: 2 }, cb), WAIT, 'the job of keepState');
      const pushB = await fake.next('PUSH', WAIT, b.rid);
      await fake.send(b.rid, 'ACCEPTED', { req: pushB.header.req, ids: [2] });
      await barrier(fake, keeping, b.rid);
      const b2 = await reconnect(fake, keeping, b.rid, next);
      const pushB2 = await fake.next('PUSH', WAIT, b2.rid);
      assert.deepEqual(pushB2.payloads.map((p) => JSON.parse(p)), [{ n: 2 }], 'pushed again');
      await fake.send(b2.rid, 'ACCEPTED', { req: pushB2.header.req, ids: [3] });
      await results(fake, b2.rid, [[2, {}, 'old id'], [3, {}, 'new id']]);
      const [err2, data2] = await again;
      assert.equal(err2, null);
      assert.equal(data2, 'new id');
    }
  });

  it('without a journal nothing is kept: ECONNLOST with keepState: false, as before', async () => {
    const fake = track(await FakeManager.start());
    const client = newClient(fake, { keepState: false });
    const first = await fake.accept();
    const lost = callback((cb) => client.work({ n: 1 }, cb), WAIT, 'the job');
    const push = await fake.next('PUSH', WAIT, first.rid);
    await fake.send(first.rid, 'ACCEPTED', { req: push.header.req, ids: [1] });
    await barrier(fake, client, first.rid);
    await reconnect(fake, client, first.rid, { journal: 'j-1' }); // only the last WELCOME counts
    const [err] = await lost;
    assert.equal(err.code, 'ECONNLOST');
  });

  it('a kept job aborted while no session is up is aborted on the manager once re-attached', async () => {
    const fake = track(await FakeManager.start());
    const client = newClient(fake, { CON_RETRYTIME: 100 });
    const first = await fake.accept({ journal: 'j-1' });
    let request;
    const result = within(WAIT, new Promise((resolve) => {
      request = client.work({ n: 1 }, (...args) => resolve(args));
    }), 'the aborted job');
    const push = await fake.next('PUSH', WAIT, first.rid);
    await fake.send(first.rid, 'ACCEPTED', { req: push.header.req, ids: [7] });
    await barrier(fake, client, first.rid);
    const lost = once(client, 'disconnect', WAIT, 'the lost session');
    await fake.send(first.rid, 'BYE', {});
    await lost;
    client.abort(request);
    const [err] = await result;
    assert.equal(err.code, 'EABORTED');
    const second = await fake.accept({ journal: 'j-1' });
    const abort = await fake.next('ABORT', WAIT, second.rid);
    assert.deepEqual(abort.header, { ids: [7] });
    await results(fake, second.rid, [[7, {}, 'too late']]);
    assert.deepEqual((await fake.next('RECEIVED', WAIT, second.rid)).header, { ids: [7] });
  });

  // --- RECEIVED ---

  it('RECEIVED names every id of a RESULT from a manager with a journal, and none goes to one without', async () => {
    const fake = track(await FakeManager.start());
    const plain = newClient(fake);
    const p = await fake.accept();
    const plainResult = callback((cb) => plain.work([{ n: 1 }, { n: 2 }], cb), WAIT, 'the plain group');
    const pushP = await fake.next('PUSH', WAIT, p.rid);
    await fake.send(p.rid, 'ACCEPTED', { req: pushP.header.req, ids: [1, 2] });
    await results(fake, p.rid, [[1, {}, 'a'], [2, { err: { code: 'EMINE', message: 'no' } }], [500, {}, 'unknown']]);
    const [, got] = await plainResult;
    assert.deepEqual(got, [{ err: null, data: 'a' }, { err: { code: 'EMINE', message: 'no' }, data: null }]);
    await barrier(fake, plain, p.rid);
    assert.equal(fake.count('RECEIVED'), 0, 'no RECEIVED to a manager without a journal');

    const journaled = newClient(fake);
    const j = await fake.accept({ journal: 'j-9' });
    const jResult = callback((cb) => journaled.work([{ n: 1 }, { n: 2 }], cb), WAIT, 'the journaled group');
    const pushJ = await fake.next('PUSH', WAIT, j.rid);
    await fake.send(j.rid, 'ACCEPTED', { req: pushJ.header.req, ids: [31, 32] });
    await results(fake, j.rid, [[31, {}, 'a'], [999, {}, 'not ours'], [32, { err: { code: 'EMINE', message: 'no' } }]]);
    await jResult;
    const received = await fake.next('RECEIVED', WAIT, j.rid);
    assert.deepEqual(received.header, { ids: [31, 999, 32] });
    assert.equal(received.payloads.length, 0);
    await barrier(fake, journaled, j.rid);
    assert.equal(fake.count('RECEIVED'), 0, 'one RECEIVED per RESULT');
  });

  // --- EDRAINING ---

  it('a push refused with EDRAINING is pushed again after the next registration, and fails nothing', async () => {
    const fake = track(await FakeManager.start());
    const client = newClient(fake, { keepState: false });
    const first = await fake.accept();
    const one = callback((cb) => client.work({ n: 1 }, cb), WAIT, 'the refused job');
    const push = await fake.next('PUSH', WAIT, first.rid);
    await fake.send(first.rid, 'ERROR', {
      code: 'EDRAINING', message: 'the manager is stopping', class: 'retry', command: 'PUSH', req: push.header.req,
    });
    await barrier(fake, client, first.rid); // the ERROR has arrived
    const two = callback((cb) => client.work({ n: 2 }, cb), WAIT, 'a job given while the manager drains');
    await barrier(fake, client, first.rid);
    assert.equal(fake.count('PUSH'), 0, 'nothing is pushed to a draining manager');
    assert.equal(client.pending, 2, 'nothing failed');

    const second = await reconnect(fake, client, first.rid);
    const again = await fake.next('PUSH', WAIT, second.rid);
    assert.deepEqual(again.payloads.map((p) => JSON.parse(p)), [{ n: 1 }, { n: 2 }]);
    await fake.send(second.rid, 'ACCEPTED', { req: again.header.req, ids: [21, 22] });
    await results(fake, second.rid, [[21, {}, 'one'], [22, {}, 'two']]);
    assert.deepEqual((await one).slice(0, 2), [null, 'one']);
    assert.deepEqual((await two).slice(0, 2), [null, 'two']);
  });

  it('EDRAINING keeps the push it names only: another ERROR still fails its jobs', async () => {
    const fake = track(await FakeManager.start());
    const client = newClient(fake);
    const first = await fake.accept();
    const limited = callback((cb) => client.work({ n: 1 }, { priority: 1 }, cb), WAIT, 'the ELIMIT job');
    const draining = callback((cb) => client.work({ n: 2 }, { priority: 2 }, cb), WAIT, 'the EDRAINING job');
    const p1 = await fake.next('PUSH', WAIT, first.rid);
    const p2 = await fake.next('PUSH', WAIT, first.rid);
    await fake.send(first.rid, 'ERROR', { code: 'ELIMIT', message: 'too many', class: 'retry', command: 'PUSH', req: p1.header.req });
    await fake.send(first.rid, 'ERROR', { code: 'EDRAINING', message: 'stopping', class: 'retry', command: 'PUSH', req: p2.header.req });
    const [err] = await limited;
    assert.equal(err.code, 'ELIMIT');
    const second = await reconnect(fake, client, first.rid);
    const again = await fake.next('PUSH', WAIT, second.rid);
    assert.deepEqual(again.payloads.map((p) => JSON.parse(p)), [{ n: 2 }]);
    assert.equal(again.header.priority, 2);
    await fake.send(second.rid, 'ACCEPTED', { req: again.header.req, ids: [1] });
    await results(fake, second.rid, [[1, {}, 'done']]);
    assert.deepEqual((await draining).slice(0, 2), [null, 'done']);
  });

  // --- the worker's graceful stop ---

  async function startWorker(fake, opts = {}, onWork = null) {
    const worker = track(new Worker({ ...fake.endpoint, logger: memoryLogger(), ...opts }));
    if (onWork) worker.on('work', onWork);
    worker.start();
    const peer = await fake.accept();
    const offer = await fake.next('OFFER', WAIT, peer.rid);
    await fake.send(peer.rid, 'OFFERED', { slots: offer.header.slots, ranges: [] });
    await once(worker, 'ready', WAIT, 'OFFERED to reach the worker');
    return { worker, peer };
  }

  function jobs(fake, rid, ids) {
    return fake.send(rid, 'JOBS', { jobs: ids.map((id) => ({ id, attempt: 1, priority: 0 })) },
      ids.map((id) => JSON.stringify({ n: id })));
  }

  it('stop() drains: DRAIN, late JOBS rejected, running jobs finish and their results go, then BYE', async () => {
    const fake = track(await FakeManager.start());
    const handlers = new Map();
    const aborts = [];
    const { worker, peer } = await startWorker(fake, { slots: 3 }, (w, handler) => handlers.set(w.id, handler));
    worker.on('abort', (w, reason) => aborts.push([w.id, reason]));
    await jobs(fake, peer.rid, [1, 2]);
    await until(() => handlers.size === 2, WAIT, 'both jobs to start');
    let stopped = false;
    const stopping = worker.stop().then(() => {
      stopped = true;
    });
    assert.deepEqual((await fake.next('DRAIN', WAIT, peer.rid)).header, {});
    assert.equal(worker.ready, false);
    await jobs(fake, peer.rid, [3]); // on its way before the manager read DRAIN
    const reject = await fake.next('REJECT', WAIT, peer.rid);
    assert.deepEqual(reject.header, { jobs: [{ id: 3, attempt: 1 }] });
    assert.equal(handlers.has(3), false, 'the late job never started');
    handlers.get(1)(null, 'one');
    const r1 = await fake.next('RESULT', WAIT, peer.rid);
    assert.deepEqual(r1.header.results, [{ id: 1, attempt: 1 }]);
    assert.equal(stopped, false, 'still draining while a job runs');
    assert.equal(fake.count('BYE'), 0);
    handlers.get(2)(null, 'two');
    await fake.next('BYE', WAIT, peer.rid);
    // Messages arrive in order: the RESULT came before the BYE.
    assert.equal(fake.count('RESULT'), 1);
    assert.deepEqual(fake.received.find((m) => m.command === 'RESULT').header.results, [{ id: 2, attempt: 1 }]);
    await within(WAIT, stopping, 'stop() to resolve');
    assert.deepEqual(aborts, [], 'nothing was taken away');
    assert.equal(worker.running, 0);
  });

  it('a drain that outlasts drainTimeout gives the running jobs back (abort "stop") and says BYE', async () => {
    const fake = track(await FakeManager.start());
    const aborts = [];
    const { worker, peer } = await startWorker(fake, { slots: 2, drainTimeout: 150 }, () => {});
    worker.on('abort', (w, reason) => aborts.push([w.id, reason]));
    await jobs(fake, peer.rid, [1]);
    await until(() => worker.running === 1, WAIT, 'the job to start');
    const t0 = Date.now();
    const stopping = worker.stop();
    await fake.next('DRAIN', WAIT, peer.rid);
    await fake.next('BYE', WAIT, peer.rid);
    assert.ok(Date.now() - t0 >= 140, `BYE after the drain timeout (${Date.now() - t0} ms)`);
    await within(WAIT, stopping, 'stop() to resolve');
    assert.deepEqual(aborts, [[1, 'stop']]);
    assert.equal(fake.count('RESULT'), 0, 'no result for a job taken away');
  });

  it('a hard stop (drainTimeout 0) says BYE at once, without DRAIN; stop(0) cuts a drain short', async () => {
    const fake = track(await FakeManager.start());
    const aborts = [];
    const { worker, peer } = await startWorker(fake, { slots: 2 }, () => {});
    worker.on('abort', (w, reason) => aborts.push([w.id, reason]));
    await jobs(fake, peer.rid, [1]);
    await until(() => worker.running === 1, WAIT, 'the job to start');
    await within(WAIT, worker.stop({ drainTimeout: 0 }), 'the hard stop');
    await fake.next('BYE', WAIT, peer.rid);
    assert.equal(fake.count('DRAIN'), 0, 'no DRAIN before a hard stop');
    assert.deepEqual(aborts, [[1, 'stop']]);

    // The option makes every stop hard; a stop(0) during a drain ends it at once.
    const hard = await startWorker(fake, { drainTimeout: 0 }, () => {});
    await jobs(fake, hard.peer.rid, [2]);
    await until(() => hard.worker.running === 1, WAIT, 'the job to start');
    await within(WAIT, hard.worker.stop(), 'the stop of a worker with drainTimeout 0');
    await fake.next('BYE', WAIT, hard.peer.rid);
    assert.equal(fake.count('DRAIN'), 0);

    const slow = await startWorker(fake, { drainTimeout: 60000 }, () => {});
    await jobs(fake, slow.peer.rid, [3]);
    await until(() => slow.worker.running === 1, WAIT, 'the job to start');
    const draining = slow.worker.stop();
    await fake.next('DRAIN', WAIT, slow.peer.rid);
    const now = slow.worker.stop(0);
    assert.equal(now, draining, 'the same stop');
    await within(WAIT, now, 'stop(0) to end the drain');
    await fake.next('BYE', WAIT, slow.peer.rid);
    assert.throws(() => new Worker({ port: 1, drainTimeout: -1, logger: memoryLogger() }), TypeError);
    assert.throws(() => slow.worker.stop('soon'), TypeError);
  });

  it('drain_timeout is accepted as the option\'s other spelling; stop(cb) still calls back', async () => {
    const fake = track(await FakeManager.start());
    const { worker, peer } = await startWorker(fake, { drain_timeout: 0 }, () => {});
    assert.equal(worker.drainTimeout, 0);
    await jobs(fake, peer.rid, [1]);
    await until(() => worker.running === 1, WAIT, 'the job to start');
    await callback((cb) => worker.stop(cb), WAIT, 'the stop callback');
    await fake.next('BYE', WAIT, peer.rid);
    assert.equal(fake.count('DRAIN'), 0);
  });

  it('a manager that refuses DRAIN (an older one) gets BYE at once', async () => {
    const fake = track(await FakeManager.start());
    const aborts = [];
    const { worker, peer } = await startWorker(fake, {}, () => {});
    worker.on('abort', (w, reason) => aborts.push([w.id, reason]));
    await jobs(fake, peer.rid, [1]);
    await until(() => worker.running === 1, WAIT, 'the job to start');
    const stopping = worker.stop();
    await fake.next('DRAIN', WAIT, peer.rid);
    await fake.send(peer.rid, 'ERROR', { code: 'EUNKNOWNCMD', message: "unknown command 'DRAIN'", class: 'request', command: 'DRAIN' });
    await fake.next('BYE', WAIT, peer.rid);
    await within(WAIT, stopping, 'stop() to resolve');
    assert.deepEqual(aborts, [[1, 'stop']]);
  });

  it('a drain whose manager is lost ends: the jobs were requeued, the worker does not register again', async () => {
    const fake = track(await FakeManager.start());
    const aborts = [];
    const { worker, peer } = await startWorker(fake, { CON_RETRYTIME: 0 }, () => {});
    worker.on('abort', (w, reason) => aborts.push([w.id, reason]));
    await jobs(fake, peer.rid, [1]);
    await until(() => worker.running === 1, WAIT, 'the job to start');
    const stopping = worker.stop();
    await fake.next('DRAIN', WAIT, peer.rid);
    await fake.send(peer.rid, 'BYE', { reason: 'shutdown' });
    await within(WAIT, stopping, 'stop() to resolve');
    assert.deepEqual(aborts, [[1, 'reconnect']]);
    await barrierOnFake(fake);
    assert.equal(fake.count('HELLO'), 0, 'no new registration after the stop');
  });

  // A round trip through the fake manager's socket from a fresh client: messages
  // already on their way to it have arrived when this resolves.
  async function barrierOnFake(fake) {
    const probe = newClient(fake);
    const hello = await fake.next('HELLO');
    assert.equal(hello.header.identity, probe.identity);
  }
});
