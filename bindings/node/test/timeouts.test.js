'use strict';
// timeout (ECSTO), runTimeout (ETO), assigntimeout (EATO) and abort, against the real
// manager: each error reaches the client as {code, message} and the worker's handler
// is told when its job is taken away.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Worker } = require('proletariat');
const { Daemon, once, callback, until, memoryLogger } = require('../test-support/daemon');

const WAIT = 5000;

describe('timeouts and aborts against proletariatd', () => {
  let daemon;
  let worker;
  let client;
  const held = new Map(); // job id -> handler, for jobs the worker holds on to
  const aborts = []; // [w, reason]

  before(async () => {
    daemon = await Daemon.start();
    worker = new Worker({ ...daemon.endpoint, slots: 1, logger: memoryLogger() });
    worker.on('work', (w, handler) => {
      if (w.args && w.args.hold) held.set(w.id, handler);
      else handler(null, { ran: w.args });
    });
    worker.on('abort', (w, reason) => aborts.push([w, reason]));
    const ready = once(worker, 'ready', WAIT, 'the worker offer to be accepted');
    worker.start();
    await ready;
    client = new Client({ ...daemon.endpoint, logger: memoryLogger() });
  });

  after(async () => {
    if (client) await client.close();
    if (worker) await worker.stop({ drainTimeout: 0 }); // hard: some handlers never answer
    if (daemon) await daemon.stop();
  });

  it('timeout: an unfinished job gets ECSTO and is aborted on its worker', async () => {
    const t0 = Date.now();
    const [err, data, work] = await callback((cb) => client.work({ hold: 1 }, { timeout: 150 }, cb), WAIT, 'the ECSTO');
    assert.ok(Date.now() - t0 >= 140, 'not before the timeout');
    assert.equal(err.code, 'ECSTO');
    assert.match(err.message, /150 ms/);
    assert.equal(data, null);
    await until(() => aborts.some(([w]) => w.id === work.id), WAIT, 'the worker to be told of the abort');
    const [w, reason] = aborts.find(([a]) => a.id === work.id);
    assert.equal(reason, 'abort');
    assert.equal(w.signal.aborted, true);
    assert.equal(worker.running, 0, 'the slot is free again');
  });

  it('timeout in a group fails only the unfinished jobs', async () => {
    const [err, results] = await callback((cb) => client.work([{ quick: 1 }, { hold: 2 }], { timeout: 200 }, cb),
      WAIT, 'the group');
    assert.equal(err, null);
    assert.deepEqual(results[0], { err: null, data: { ran: { quick: 1 } } });
    assert.equal(results[1].err.code, 'ECSTO');
    await until(() => worker.running === 0, WAIT, 'the held job to be aborted on the worker');
  });

  it('runTimeout: the worker answers ETO and frees the slot; a late answer is dropped', async () => {
    const [err, , work] = await callback((cb) => client.work({ hold: 3 }, { runTimeout: 100 }, cb), WAIT, 'the ETO');
    assert.equal(err.code, 'ETO');
    const [, reason] = aborts.find(([a]) => a.id === work.id);
    assert.equal(reason, 'ETO');
    held.get(work.id)(null, 'too late'); // must not disturb anything
    const [err2, data2] = await callback((cb) => client.work({ next: 1 }, cb), WAIT, 'the next job on the freed slot');
    assert.equal(err2, null);
    assert.deepEqual(data2, { ran: { next: 1 } });
  });

  it('assigntimeout: a job no worker takes gets EATO', async () => {
    const [err] = await callback((cb) => client.work({ x: 1 }, { assigntimeout: 100, service: 'nobody-offers-this' }, cb),
      WAIT, 'the EATO');
    assert.equal(err.code, 'EATO');
  });

  it('abort(request) fails the request with EABORTED and aborts its running job', async () => {
    let request;
    const heldBefore = held.size;
    const result = callback((cb) => {
      request = client.work([{ hold: 4 }, { queued: 5 }], cb);
    }, WAIT, 'the aborted request');
    await until(() => held.size === heldBefore + 1, WAIT, 'the first job to run');
    client.abort(request);
    const [err, results] = await result;
    assert.equal(err, null);
    assert.deepEqual(results.map((r) => r.err.code), ['EABORTED', 'EABORTED']);
    await until(() => worker.running === 0, WAIT, 'the running job to be aborted on the worker');
    const [err2] = await callback((cb) => client.work({ after: 1 }, cb), WAIT, 'a job after the abort');
    assert.equal(err2, null, 'the aborted queued job did not stay in the way');
  });
});
