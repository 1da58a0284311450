'use strict';
// The original node-proletariat's events and callbacks, one by one, as an unchanged
// program written for it uses them (README "Events and callbacks, against the
// original"). Manager events are in manager.test.js, system messages in
// sysmsg.test.js.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Worker } = require('proletariat');
const { Daemon, REFUSED_PORT, once, callback, within, until, memoryLogger } = require('../test-support/daemon');

const WAIT = 5000;

describe('the original API against proletariatd', () => {
  let daemon;
  let worker;
  let client;
  const seen = [];
  const peers = [];

  before(async () => {
    daemon = await Daemon.start();
    worker = new Worker({ ...daemon.endpoint, slots: 4, logger: memoryLogger() });
    worker.on('work', (w, handler) => {
      seen.push(w);
      if (w.args && w.args.fail) return handler({ code: 'EMINE', message: 'as asked' });
      return handler(null, { twice: w.args.n * 2 });
    });
    const ready = once(worker, 'ready', WAIT, 'the worker offer to be accepted');
    worker.start();
    await ready;
    client = new Client({ ...daemon.endpoint, logger: memoryLogger() });
  });

  after(async () => {
    for (const p of peers) await (p instanceof Worker ? p.stop() : p.close());
    if (client) await client.close();
    if (worker) await worker.stop();
    if (daemon) await daemon.stop();
  });

  it("Client 'connect' is (err) with err null, after every registration; 'disconnect' in between", async () => {
    const own = await Daemon.start();
    const c = new Client({ ...own.endpoint, CON_RETRYTIME: 20, logger: memoryLogger() });
    peers.push(c);
    try {
      const events = [];
      c.on('connect', (...args) => events.push(['connect', ...args]));
      c.on('disconnect', (...args) => events.push(['disconnect', ...args]));
      const [err, id] = await once(c, 'connect', WAIT, 'the first registration');
      assert.equal(err, null, 'success is not an error');
      assert.equal(id, c.id);
      const again = once(c, 'connect', WAIT, 'the registration after the restart');
      await own.restart('SIGKILL');
      const [err2, id2] = await again;
      assert.equal(err2, null);
      assert.equal(id2, c.id);
      assert.deepEqual(events.map((e) => e.length), [3, 1, 3], 'connect(null, id), disconnect(), connect(null, id)');
      assert.deepEqual(events.map((e) => e[0]), ['connect', 'disconnect', 'connect']);
    } finally {
      await c.close();
      await own.stop();
    }
  });

  it("Client 'connect' is (err) with an Error when MAXRETRIES tries failed; waiting work fails", async () => {
    const c = new Client({ host: '127.0.0.1', port: REFUSED_PORT, MAXRETRIES: 2, CON_RETRYTIME: 20, logger: memoryLogger() });
    peers.push(c);
    const result = callback((cb) => c.work([{ n: 1 }], cb), WAIT, 'the waiting work');
    const [err] = await once(c, 'connect', WAIT, "'connect' with an error");
    assert.ok(err instanceof Error);
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.tries, 3, 'MAXRETRIES 2: the first try and two retries, as the original counted');
    const [groupErr, results] = await result;
    assert.equal(groupErr, null);
    assert.equal(results[0].err.code, 'ECONNLOST');
    const [late] = await callback((cb) => c.work({ n: 2 }, cb), WAIT, 'work after giving up');
    assert.equal(late.code, 'ECONNLOST');
    assert.equal(c.connected, false);
  });

  it('Client work(array, opts, cb): cb(null, results) in order, a one-element array too', async () => {
    const [err, results] = await callback((cb) => client.work([{ n: 1 }, { n: 2, fail: true }], { timeout: WAIT }, cb),
      WAIT, 'work');
    assert.equal(err, null);
    assert.deepEqual(results, [{ err: null, data: { twice: 2 } }, { err: { code: 'EMINE', message: 'as asked' }, data: null }]);
    const [err1, one] = await callback((cb) => client.work([{ n: 3 }], cb), WAIT, 'work of one');
    assert.equal(err1, null);
    assert.deepEqual(one, [{ err: null, data: { twice: 6 } }], 'an array of one gives an array, as in the original');
  });

  it('Client work(item, opts, cb): cb(err, data, work), work.original is the item', async () => {
    const [err, data, work] = await callback((cb) => client.work({ n: 4 }, { timeout: WAIT }, cb), WAIT, 'work');
    assert.equal(err, null);
    assert.deepEqual(data, { twice: 8 });
    assert.deepEqual(work.original, { n: 4 });
    const [failed] = await callback((cb) => client.work({ n: 5, fail: true }, cb), WAIT, 'failing work');
    assert.deepEqual(failed, { code: 'EMINE', message: 'as asked' });
  });

  it('Client workIndividual(array, opts, each, done): each(err, data, work), done(null, results)', async () => {
    const each = [];
    const [err, results] = await callback((done) => client.workIndividual([{ n: 6 }, { n: 7 }], { timeout: WAIT },
      (e, data, work) => each.push([e, data, work.original, typeof work.id, work.pushed instanceof Date]), done),
    WAIT, 'workIndividual');
    assert.equal(err, null);
    assert.deepEqual(results, [{ err: null, data: { twice: 12 } }, { err: null, data: { twice: 14 } }]);
    assert.deepEqual(each.sort((a, b) => a[2].n - b[2].n), [
      [null, { twice: 12 }, { n: 6 }, 'number', true],
      [null, { twice: 14 }, { n: 7 }, 'number', true],
    ]);
  });

  it('Client workIndividual(item, opts, each, done): done(err, data, work), as the original', async () => {
    let each = 0;
    const [err, data, work] = await callback((done) => client.workIndividual({ n: 8 }, null, () => { each += 1; }, done),
      WAIT, 'workIndividual of one item');
    assert.equal(err, null);
    assert.deepEqual(data, { twice: 16 });
    assert.deepEqual(work.original, { n: 8 });
    assert.equal(each, 1);
  });

  it("Worker 'work' is (w, handler): w.id, w.args, w.timeout (the runTimeout); handler(err, data)", async () => {
    const [err, data, work] = await callback((cb) => client.work({ n: 9 }, { runTimeout: 4000 }, cb), WAIT, 'work');
    assert.equal(err, null);
    assert.deepEqual(data, { twice: 18 });
    const w = seen.find((s) => s.id === work.id);
    assert.ok(w, 'the worker saw the job under the id the client got');
    assert.deepEqual(w.args, { n: 9 });
    assert.equal(w.timeout, 4000);
    assert.equal(w.runTimeout, 4000);
  });

  it("Worker 'connect' is (null, id) too (the original worker emitted none)", async () => {
    const w = new Worker({ ...daemon.endpoint, slots: 1, logger: memoryLogger() });
    peers.push(w);
    const connected = once(w, 'connect', WAIT, "the worker's connect");
    w.start();
    const [err, id] = await connected;
    assert.equal(err, null);
    await until(() => w.id !== null, WAIT, 'the worker id');
    assert.equal(id, w.id);
    await within(WAIT, w.stop(), 'the worker to stop');
  });
});
