'use strict';
// System messages (PROTOCOL §8.1, §8.2) and status against the real manager:
// broadcast, to the manager, to one peer, to an unknown peer, ids that share a
// prefix, peers that never subscribe (systemMessages: false); status() and myStatus().

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Worker } = require('proletariat');
const { Daemon, once, callback, memoryLogger, HEARTBEAT_MS } = require('../test-support/daemon');

const WAIT = 5000;

describe('system messages and status against proletariatd', () => {
  let daemon;
  let worker;
  let sender;
  let listener;
  const got = { worker: [], sender: [], listener: [] };

  before(async () => {
    daemon = await Daemon.start();
    worker = new Worker({ ...daemon.endpoint, slots: 3, name: 'node-worker', logger: memoryLogger() });
    worker.on('work', (w, handler) => handler(null, w.args));
    const ready = once(worker, 'ready', WAIT, 'the worker offer to be accepted');
    worker.start();
    await ready;
    sender = new Client({ ...daemon.endpoint, name: 'sender', logger: memoryLogger() });
    listener = new Client({ ...daemon.endpoint, logger: memoryLogger() });
    await Promise.all([once(sender, 'connect', WAIT, 'the sender to register'),
      once(listener, 'connect', WAIT, 'the listener to register')]);
    worker.on('sysmsg', (msg, from) => got.worker.push([msg, from]));
    sender.on('sysmsg', (msg, from) => got.sender.push([msg, from]));
    listener.on('sysmsg', (msg, from) => got.listener.push([msg, from]));
  });

  after(async () => {
    for (const p of [listener, sender]) if (p) await p.close();
    if (worker) await worker.stop();
    if (daemon) await daemon.stop();
  });

  const clear = () => Object.values(got).forEach((list) => list.splice(0));

  it('a broadcast reaches every other peer; the callback counts them', async () => {
    clear();
    const [err, counts] = await callback((cb) => sender.systemMessage({ do: 'something' }, cb), WAIT, 'the broadcast to complete');
    assert.equal(err, null);
    // PROTOCOL §8.2: a broadcast counts peers (the manager receives it but counts
    // only when addressed): the worker and the other client.
    assert.deepEqual(counts, { sentTo: 2, receivedBy: 2 });
    assert.deepEqual(got.worker, [[{ do: 'something' }, sender.id]]);
    assert.deepEqual(got.listener, [[{ do: 'something' }, sender.id]]);
    assert.deepEqual(got.sender, [], 'not to the sender itself');
  });

  it('a broadcast with nobody else registered completes at once with 0/0', async () => {
    const lonely = await Daemon.start();
    const alone = new Client({ ...lonely.endpoint, logger: memoryLogger() });
    try {
      const counts = await alone.systemMessage('anyone?', { timeout: WAIT });
      assert.deepEqual(counts, { sentTo: 0, receivedBy: 0 });
    } finally {
      await alone.close();
      await lonely.stop();
    }
  });

  it('peers with systemMessages: false are no recipients: a broadcast completes at once without them', async () => {
    // A long liveness window (5 s): a peer counted as a recipient that never
    // subscribes would hold the broadcast that long (PROTOCOL §8.2).
    const windowMs = HEARTBEAT_MS * 100;
    const own = await Daemon.start(['--heartbeat-liveness', '100']);
    const quietClient = new Client({ ...own.endpoint, systemMessages: false, logger: memoryLogger() });
    const quietWorker = new Worker({ ...own.endpoint, systemMessages: false, logger: memoryLogger() });
    const loud = new Client({ ...own.endpoint, logger: memoryLogger() });
    const from = new Client({ ...own.endpoint, logger: memoryLogger() });
    const peers = [quietClient, quietWorker, loud, from];
    const heard = new Map(peers.map((p) => [p, []]));
    for (const p of peers) p.on('sysmsg', (msg) => heard.get(p).push(msg));
    try {
      const ready = once(quietWorker, 'ready', WAIT, 'the quiet worker to offer');
      quietWorker.start();
      await Promise.all([ready, ...[quietClient, loud, from].map((c) => once(c, 'connect', WAIT, 'a client to register'))]);
      // The loud client's subscription may not have reached the manager yet: it is
      // counted all the same and gets the message once it arrives (§8.2).
      const started = Date.now();
      const counts = await from.systemMessage({ to: 'all' }, { timeout: WAIT });
      const elapsed = Date.now() - started;
      assert.deepEqual(counts, { sentTo: 1, receivedBy: 1 }, 'only the loud client counts');
      assert.ok(elapsed < windowMs / 2, `completed after ${elapsed} ms, not after a liveness window (${windowMs} ms)`);
      assert.deepEqual(heard.get(loud), [{ to: 'all' }]);
      assert.deepEqual(heard.get(quietClient), [], "'sysmsg' never fires without the channel");
      assert.deepEqual(heard.get(quietWorker), []);
      for (const quiet of [quietClient, quietWorker]) {
        await assert.rejects(from.systemMessage('you?', { to: quiet.id, timeout: WAIT }), { code: 'ENOPEER' },
          `a SYSMSG to ${quiet.id}, which never subscribes`);
      }
      // They still send system messages themselves.
      assert.deepEqual(await quietClient.systemMessage('from a quiet one', { timeout: WAIT }), { sentTo: 2, receivedBy: 2 });
      assert.deepEqual(heard.get(loud), [{ to: 'all' }, 'from a quiet one']);
      assert.deepEqual(heard.get(from), ['from a quiet one']);
    } finally {
      for (const p of peers) await (p instanceof Worker ? p.stop() : p.close());
      await own.stop();
    }
  });

  it('to MANAGER reaches only the manager', async () => {
    clear();
    const [err, counts] = await callback((cb) => worker.systemMessage('hello manager', { to: 'MANAGER' }, cb), WAIT,
      'the message to the manager');
    assert.equal(err, null);
    assert.deepEqual(counts, { sentTo: 1, receivedBy: 1 });
    assert.deepEqual(got, { worker: [], sender: [], listener: [] });
  });

  it('to a peer id reaches that peer only; the promise form works too', async () => {
    clear();
    const counts = await sender.systemMessage([1, 2, 3], { to: worker.id, timeout: WAIT });
    assert.deepEqual(counts, { sentTo: 1, receivedBy: 1 });
    assert.deepEqual(got.worker, [[[1, 2, 3], sender.id]]);
    assert.deepEqual(got.listener, []);
  });

  it('to an unknown peer fails with ENOPEER', async () => {
    const [err] = await callback((cb) => sender.systemMessage({}, { to: 'no.such.peer' }, cb), WAIT, 'the ENOPEER');
    assert.equal(err.code, 'ENOPEER');
  });

  it('peer ids are prefix-free and each peer gets only its own messages (PROTOCOL §8.1)', async () => {
    const extra = [];
    try {
      for (let i = 0; i < 10; ++i) {
        const c = new Client({ ...daemon.endpoint, logger: memoryLogger() });
        extra.push(c);
        await once(c, 'connect', WAIT, 'an extra client to register');
      }
      const all = [worker, sender, listener, ...extra];
      for (const a of all) {
        for (const b of all) {
          assert.ok(a === b || !b.id.startsWith(a.id), `${a.id} is a prefix of ${b.id}`);
        }
      }
      const seen = new Map(all.map((p) => [p, []]));
      for (const p of all) p.on('sysmsg', (msg) => seen.get(p).push(msg));
      // The ids whose counters share their first digit ("1@…", "1x@…") were the ones
      // a prefix match confused.
      const byLength = [...extra].sort((a, b) => a.id.length - b.id.length);
      const short = byLength[0];
      const long = byLength[byLength.length - 1];
      for (const [p, text] of [[long, 'only you'], [short, 'yours']]) {
        const [err, counts] = await callback((cb) => sender.systemMessage(text, { to: p.id }, cb), WAIT,
          `the message to ${p.id}`);
        assert.equal(err, null);
        assert.deepEqual(counts, { sentTo: 1, receivedBy: 1 });
      }
      for (const p of all) {
        const expected = p === long ? ['only you'] : p === short ? ['yours'] : [];
        assert.deepEqual(seen.get(p), expected, `what ${p.id} received`);
      }
    } finally {
      for (const c of extra) await c.close();
    }
  });

  it('status() tells the manager\'s state, myStatus() the peer\'s own', async () => {
    const [err0] = await callback((cb) => sender.work([1, 2], cb), WAIT, 'some work first');
    assert.equal(err0, null);
    const [err, status] = await callback((cb) => listener.status(cb), WAIT, 'the status');
    assert.equal(err, null);
    assert.equal(status.req, undefined, 'the req is the library\'s business');
    assert.equal(typeof status.boot, 'number');
    assert.equal(status.totalSlots, 3);
    assert.ok(status.finished >= 2);
    const w = status.workers.find((x) => x.id === worker.id);
    assert.ok(w, 'our worker is listed');
    assert.equal(w.name, 'node-worker');
    assert.equal(w.lang, 'node');
    assert.equal(w.slots, 3);
    assert.ok(status.clients.some((c) => c.id === sender.id && c.lang === 'node'));
    const mine = await worker.myStatus({ timeout: WAIT });
    assert.equal(mine.id, worker.id);
    assert.equal(mine.role, 'worker');
    const [err2, clientMine] = await callback((cb) => sender.myStatus(cb), WAIT, 'the client\'s own status');
    assert.equal(err2, null);
    assert.equal(clientMine.id, sender.id);
    assert.equal(clientMine.role, 'client');
  });
});
