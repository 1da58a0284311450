'use strict';
// What the manager does with what the binding says: priorities, prioritySlots
// guarantees, services, and hold-similar-work keys (_key), against proletariatd run
// with --hold-similar-work.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Worker } = require('proletariat');
const { Daemon, once, callback, until, memoryLogger } = require('../test-support/daemon');

const WAIT = 5000;

describe('scheduling against proletariatd', () => {
  let daemon;
  let client;
  const workers = [];

  // A worker whose jobs wait until released: returns {worker, started, release}.
  async function holdingWorker(opts = {}) {
    const started = []; // w objects, in start order
    const handlers = new Map();
    const worker = new Worker({ ...daemon.endpoint, logger: memoryLogger(), ...opts });
    worker.on('work', (w, handler) => {
      started.push(w);
      handlers.set(w.id, handler);
    });
    workers.push(worker);
    const ready = once(worker, 'ready', WAIT, 'the worker offer to be accepted');
    worker.start();
    await ready;
    const release = (id, value) => handlers.get(id)(null, value === undefined ? id : value);
    return { worker, started, release };
  }

  // Waits until the manager has accepted every job the client gave (ACCEPTED seen),
  // so that what follows on other connections cannot overtake them.
  const accepted = (n) => until(() => client._byId.size === n, WAIT, `${n} jobs to be accepted`);

  before(async () => {
    daemon = await Daemon.start(['--hold-similar-work']);
    client = new Client({ ...daemon.endpoint, logger: memoryLogger() });
    await once(client, 'connect', WAIT, 'the client to register');
  });

  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop({ drainTimeout: 0 });
  });

  after(async () => {
    if (client) await client.close();
    if (daemon) await daemon.stop();
  });

  it('higher priority runs first', async () => {
    const { started, release } = await holdingWorker({ slots: 1 });
    const blocker = callback((cb) => client.work({ name: 'blocker' }, cb), WAIT, 'the blocker');
    await until(() => started.length === 1, WAIT, 'the blocker to run');
    const order = [];
    const low = callback((cb) => client.work({ name: 'low' }, { priority: 0 }, cb), WAIT, 'the low job');
    const mid = callback((cb) => client.work({ name: 'mid' }, { priority: 1.5 }, cb), WAIT, 'the mid job');
    const high = callback((cb) => client.work({ name: 'high' }, { priority: 7 }, cb), WAIT, 'the high job');
    await accepted(4);
    release(started[0].id);
    for (let i = 1; i <= 3; ++i) {
      await until(() => started.length === i + 1, WAIT, `job ${i + 1} to run`);
      order.push(started[i].args.name);
      release(started[i].id);
    }
    await Promise.all([blocker, low, mid, high]);
    assert.deepEqual(order, ['high', 'mid', 'low']);
  });

  it('prioritySlots keep slots for higher priorities', async () => {
    // 2 slots, 1 guaranteed to priority >= 1: priority-0 jobs never hold more than 1.
    const { started, release } = await holdingWorker({ slots: 2, prioritySlots: { 1: 1 } });
    const lows = [1, 2].map((n) => callback((cb) => client.work({ low: n }, cb), WAIT, `low job ${n}`));
    await until(() => started.length === 1, WAIT, 'one low job to run');
    await accepted(2);
    const high = callback((cb) => client.work({ high: 1 }, { priority: 1 }, cb), WAIT, 'the high job');
    await until(() => started.length === 2, WAIT, 'the high job to run beside the low one');
    assert.deepEqual(started.map((w) => w.args), [{ low: 1 }, { high: 1 }], 'the second low job waits');
    release(started[1].id);
    await high;
    release(started[0].id);
    await until(() => started.length === 3, WAIT, 'the second low job to run');
    release(started[2].id);
    await Promise.all(lows);
  });

  it('a job naming a service goes only to a worker that offers it', async () => {
    const plain = await holdingWorker({ slots: 5 });
    const ocr = await holdingWorker({ slots: 5, services: ['ocr'] });
    const results = callback((cb) => client.work([{ _service: 'ocr', n: 1 }, { n: 2 }], cb), WAIT, 'the mixed request');
    const byOption = callback((cb) => client.work({ n: 3 }, { service: 'ocr' }, cb), WAIT, 'the service option');
    await until(() => plain.started.length === 1 && ocr.started.length === 2, WAIT, 'the jobs to reach their workers');
    assert.deepEqual(plain.started.map((w) => w.args), [{ n: 2 }]);
    assert.deepEqual(ocr.started.map((w) => [w.args.n, w.service]).sort(), [[1, 'ocr'], [3, 'ocr']]);
    for (const w of plain.started) plain.release(w.id);
    for (const w of ocr.started) ocr.release(w.id);
    const [err, list] = await results;
    assert.equal(err, null);
    assert.equal(list.length, 2);
    await byOption;
  });

  it('_key holds similar work: one run, every holder gets its result', async () => {
    const { started, release } = await holdingWorker({ slots: 5 });
    const result = callback((cb) => client.work([{ _key: 'same', n: 1 }, { _key: 'same', n: 2 }, { _key: 'other', n: 3 }], cb),
      WAIT, 'the keyed request');
    const later = callback((cb) => client.work({ _key: 'same', n: 4 }, cb), WAIT, 'a later job with the same key');
    await until(() => started.length === 2, WAIT, 'one job per key to run');
    await accepted(4);
    assert.deepEqual(started.map((w) => w.key).sort(), ['other', 'same']);
    for (const w of started) release(w.id, `result of ${w.args.n}`);
    const [err, results] = await result;
    assert.equal(err, null);
    assert.deepEqual(results.map((r) => r.data), ['result of 1', 'result of 1', 'result of 3']);
    const [err2, data2] = await later;
    assert.equal(err2, null);
    assert.equal(data2, 'result of 1');
    assert.equal(started.length, 2, 'held jobs never ran');
  });
});
