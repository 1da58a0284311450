'use strict';
// Job flow against the real manager: the original API's result shapes, handler
// errors, workIndividual, raw payloads, options.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Worker } = require('proletariat');
const { Daemon, once, callback, within, memoryLogger } = require('../test-support/daemon');

const WAIT = 5000;

describe('work against proletariatd', () => {
  let daemon;
  let worker;
  let client;
  const seen = []; // w objects the worker got

  before(async () => {
    daemon = await Daemon.start();
    worker = new Worker({ ...daemon.endpoint, slots: 8, logger: memoryLogger() });
    worker.on('work', (w, handler) => {
      seen.push(w);
      const args = w.args;
      if (Buffer.isBuffer(args)) return handler(null, Buffer.concat([Buffer.from('got:'), args]));
      switch (args && args.op) {
        case 'fail-error': return handler(new Error('boom'));
        case 'fail-code': return handler({ code: 'EMINE', message: 'my own' });
        case 'fail-string': return handler('just a string');
        case 'throw': throw new Error('thrown');
        case 'async': return Promise.resolve({ async: true });
        case 'reject': return Promise.reject(Object.assign(new Error('async no'), { code: 'EASYNC' }));
        case 'sleep': {
          const timer = setTimeout(() => handler(null, args.n), args.ms);
          return w.signal.addEventListener('abort', () => clearTimeout(timer));
        }
        default: return handler(null, { echo: args });
      }
    });
    const ready = once(worker, 'ready', WAIT, 'the worker offer to be accepted');
    worker.start();
    await ready;
    client = new Client({ ...daemon.endpoint, logger: memoryLogger() });
  });

  after(async () => {
    if (client) await client.close();
    if (worker) await worker.stop({ drainTimeout: 0 });
    if (daemon) await daemon.stop();
  });

  it('a single item gives (err, data, work) and the worker sees it as w.args', async () => {
    const [err, data, work] = await callback((cb) => client.work({ hello: 'comrade' }, { timeout: WAIT }, cb), WAIT, 'work');
    assert.equal(err, null);
    assert.deepEqual(data, { echo: { hello: 'comrade' } });
    assert.equal(typeof work.id, 'number');
    assert.deepEqual(work.args, { hello: 'comrade' });
    const w = seen.find((s) => s.id === work.id);
    assert.ok(w, 'the worker saw the job under the id the client got');
    assert.deepEqual(w.args, { hello: 'comrade' });
    assert.equal(w.attempt, 1);
  });

  it('an array gives an array of {err, data} in the order given, whatever the finishing order', async () => {
    const items = [40, 5, 25, 1, 15].map((ms, n) => ({ op: 'sleep', ms, n }));
    const [err, results] = await callback((cb) => client.work(items, { timeout: WAIT }, cb), WAIT, 'work');
    assert.equal(err, null);
    assert.deepEqual(results, items.map((_, n) => ({ err: null, data: n })));
  });

  it('a one-element array still gives an array', async () => {
    const [err, results] = await callback((cb) => client.work([{ a: 1 }], {}, cb), WAIT, 'work');
    assert.equal(err, null);
    assert.deepEqual(results, [{ err: null, data: { echo: { a: 1 } } }]);
  });

  it('work(items, cb) works without options, and an empty array answers at once', async () => {
    const [err, results] = await callback((cb) => client.work([1, 'two', null, [3]], cb), WAIT, 'work');
    assert.equal(err, null);
    assert.deepEqual(results.map((r) => r.data.echo), [1, 'two', null, [3]]);
    const [err2, empty] = await callback((cb) => client.work([], cb), WAIT, 'empty work');
    assert.equal(err2, null);
    assert.deepEqual(empty, []);
  });

  it('handler errors arrive as {code, message}', async () => {
    const items = ['fail-error', 'fail-code', 'fail-string', 'throw', 'async', 'reject'].map((op) => ({ op }));
    const [, results] = await callback((cb) => client.work(items, { timeout: WAIT }, cb), WAIT, 'work');
    assert.deepEqual(results, [
      { err: { code: 'EHANDLER', message: 'boom' }, data: null },
      { err: { code: 'EMINE', message: 'my own' }, data: null },
      { err: { code: 'EHANDLER', message: 'just a string' }, data: null },
      { err: { code: 'EHANDLER', message: 'thrown' }, data: null },
      { err: null, data: { async: true } },
      { err: { code: 'EASYNC', message: 'async no' }, data: null },
    ]);
    const [err] = await callback((cb) => client.work({ op: 'fail-code' }, cb), WAIT, 'single failing work');
    assert.deepEqual(err, { code: 'EMINE', message: 'my own' });
  });

  it('workIndividual calls each job in finishing order, then done with all results', async () => {
    const items = [60, 1, 30].map((ms, n) => ({ op: 'sleep', ms, n }));
    const order = [];
    const [err, results] = await callback((done) => client.workIndividual(items, { timeout: WAIT },
      (e, data, work) => order.push({ e, data, index: work.index }), done), WAIT, 'workIndividual');
    assert.equal(err, null);
    assert.deepEqual(order, [{ e: null, data: 1, index: 1 }, { e: null, data: 2, index: 2 }, { e: null, data: 0, index: 0 }]);
    assert.deepEqual(results.map((r) => r.data), [0, 1, 2]);
  });

  it('workIndividual(items, each, done) works without options', async () => {
    let each = 0;
    const [err, results] = await callback((done) => client.workIndividual([{ a: 1 }, { a: 2 }], () => { each += 1; }, done),
      WAIT, 'workIndividual');
    assert.equal(err, null);
    assert.equal(each, 2);
    assert.equal(results.length, 2);
  });

  it('Buffers travel as raw bytes both ways', async () => {
    const bytes = Buffer.from([0, 255, 16, 1]);
    const [err, data] = await callback((cb) => client.work(bytes, cb), WAIT, 'raw work');
    assert.equal(err, null);
    assert.ok(Buffer.isBuffer(data));
    assert.deepEqual(data, Buffer.concat([Buffer.from('got:'), bytes]));
  });

  it('priority, runTimeout and _key reach the worker', async () => {
    const [err, , work] = await callback((cb) => client.work({ _key: 'k-1', v: 1 }, { priority: 2.5, runTimeout: 4000 }, cb),
      WAIT, 'work');
    assert.equal(err, null);
    const w = seen.find((s) => s.id === work.id);
    assert.equal(w.priority, 2.5);
    assert.equal(w.runTimeout, 4000);
    assert.equal(w.key, 'k-1');
    assert.deepEqual(w.args, { _key: 'k-1', v: 1 }, 'the item reaches the worker whole, _key included');
    assert.equal(w.client, client.id);
  });

  it('new Client(host) and new Client({host, port}) reach the manager', async () => {
    // The string form takes the default port 1917, which the test daemon does not
    // use; check the endpoint it builds, then the object form end to end.
    const byHost = new Client({ host: '127.0.0.1', port: daemon.port, logger: memoryLogger() });
    try {
      const [err, data] = await callback((cb) => byHost.work({ x: 1 }, cb), WAIT, 'work through {host, port}');
      assert.equal(err, null);
      assert.deepEqual(data, { echo: { x: 1 } });
    } finally {
      await byHost.close();
    }
    const plain = new Client('127.0.0.1');
    try {
      assert.equal(plain._opts.endpoint, 'tcp://127.0.0.1:1917');
    } finally {
      await plain.close();
    }
  });

  it('many jobs in one request all come back', async () => {
    const items = Array.from({ length: 500 }, (_, n) => n);
    const [err, results] = await callback((cb) => client.work(items, { timeout: WAIT }, cb), WAIT, '500 jobs');
    assert.equal(err, null);
    assert.deepEqual(results.map((r) => r.data.echo), items);
  });

  it('bad options throw at once', () => {
    assert.throws(() => client.work({}, { priority: -1 }, () => {}), TypeError);
    assert.throws(() => client.work({}, { timeout: 'soon' }, () => {}), TypeError);
    assert.throws(() => client.work(() => 1, () => {}), TypeError);
  });

  it('close() fails unfinished jobs with EABORTED and later work too', async () => {
    const other = new Client({ ...daemon.endpoint, logger: memoryLogger() });
    await once(other, 'connect', WAIT, 'the client to register');
    const pending = callback((cb) => other.work({ op: 'sleep', ms: 2000, n: 1 }, cb), WAIT, 'the aborted job');
    await other.close();
    const [err] = await pending;
    assert.equal(err.code, 'EABORTED');
    const [err2] = await within(WAIT, callback((cb) => other.work({}, cb), WAIT, 'work after close'), 'work after close');
    assert.equal(err2.code, 'EABORTED');
  });
});
