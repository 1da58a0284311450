'use strict';
// A program written for the original node-proletariat (no keepState, its callbacks,
// `connect` read as (err)) across a manager SIGKILL and restart on the same port,
// under load: the original client pushed its unfinished jobs again after every
// reconnection, so no job may be lost, none may fail with ECONNLOST, and none may be
// answered twice.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Worker } = require('proletariat');
const { Daemon, once, until, within, callback, memoryLogger } = require('../test-support/daemon');

const WAIT = 10000;
const GROUPS = 20; // work([100 items]) calls ...
const GROUP_SIZE = 100;
const SINGLES = 100; // ... and work(item) calls: 2,100 jobs
const KILL_AFTER = 300; // results seen before the manager is killed

describe('a manager killed and restarted under load', () => {
  let daemon;
  let worker;
  let client;

  before(async () => {
    daemon = await Daemon.start();
  });

  after(async () => {
    if (client) await client.close();
    if (worker) await worker.stop({ drainTimeout: 0 });
    if (daemon) await daemon.stop();
  });

  it('an original-API program gets exactly one successful result per job, no ECONNLOST', async () => {
    // The original's options only (CON_RETRYTIME is the original worker's; the client
    // takes it too), so that the test does not wait 2 s per reconnection.
    worker = new Worker({ ...daemon.endpoint, slots: 50, CON_RETRYTIME: 50, logger: memoryLogger() });
    worker.on('work', (w, handler) => {
      setTimeout(() => handler(null, w.args.n * 2), 5);
    });
    worker.start();
    client = new Client({ ...daemon.endpoint, CON_RETRYTIME: 50, logger: memoryLogger() });
    const connects = [];
    let failedConnects = 0;
    client.on('connect', (err) => {
      connects.push(err);
      if (err) failedConnects += 1; // the original program's `if (err) ...`
    });
    await once(client, 'connect', WAIT, 'the client to connect');

    const total = GROUPS * GROUP_SIZE + SINGLES;
    const answers = new Array(total).fill(0); // results handed over, per job
    const errors = [];
    const wrong = [];
    let seen = 0;
    let pendingAtKill = -1;
    const take = (n, err, data) => {
      answers[n] += 1;
      if (err) errors.push(err.code);
      else if (data !== n * 2) wrong.push([n, data]);
      seen += 1;
      if (seen === KILL_AFTER) {
        pendingAtKill = client.pending;
        daemon.child.kill('SIGKILL'); // right here, with the load in flight
      }
    };
    let n = 0;
    for (let g = 0; g < GROUPS; ++g) {
      const items = [];
      for (let i = 0; i < GROUP_SIZE; ++i) items.push({ n: n++ });
      client.work(items, { priority: g % 3 }, (err, results) => {
        assert.equal(err, null);
        results.forEach((r, i) => take(items[i].n, r.err, r.data));
      });
    }
    for (let s = 0; s < SINGLES; ++s) {
      const item = { n: n++ };
      client.work(item, (err, data) => take(item.n, err, data));
    }

    await until(() => pendingAtKill >= 0, WAIT, `${KILL_AFTER} results before the kill`);
    assert.ok(pendingAtKill > 0, 'jobs were unfinished when the manager was killed');
    await within(WAIT, daemon.exit, 'the killed manager to exit');
    await daemon.spawn(); // the same ports
    await until(() => seen >= total, WAIT, `all ${total} results (${seen} so far, errors ${errors.length})`);

    // One more round trip after the last result: a late duplicate would have arrived.
    const [err, data] = await callback((cb) => client.work({ n: -1 }, cb), WAIT, 'one more job');
    assert.equal(err, null);
    assert.equal(data, -2);

    assert.deepEqual(errors, [], 'no job failed (no ECONNLOST)');
    assert.deepEqual(wrong, []);
    assert.equal(answers.filter((a) => a !== 1).length, 0, 'every job answered exactly once');
    assert.equal(failedConnects, 0, "'connect' never reported a failure");
    assert.ok(connects.length >= 2, 'connected again after the restart');
    assert.equal(client.pending, 0);
  });
});
