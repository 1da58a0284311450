'use strict';
// Failures against the real manager: a worker process killed mid-job, a worker
// stopping mid-job, and a manager killed and restarted (workers re-offer, clients
// push their unfinished jobs again, those with keepState: false get ECONNLOST).

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Client, Worker } = require('proletariat');
const { Daemon, once, callback, until, within, memoryLogger } = require('../test-support/daemon');

const WAIT = 5000;

describe('failures against proletariatd', () => {
  let daemon;
  const peers = [];
  const track = (p) => {
    peers.push(p);
    return p;
  };

  async function startWorker(opts, onWork) {
    const worker = track(new Worker({ ...daemon.endpoint, logger: memoryLogger(), ...opts }));
    worker.on('work', onWork);
    const ready = once(worker, 'ready', WAIT, 'the worker offer to be accepted');
    worker.start();
    await ready;
    return worker;
  }

  before(async () => {
    daemon = await Daemon.start(['--suspect-after', '2']);
  });

  // A worker in its own process (test-support/child-worker.js): takes jobs, never
  // answers. Resolves once its offer is accepted; `got()` tells whether it has a job.
  async function childWorker() {
    const child = track(spawn(process.execPath, [path.join(__dirname, '../test-support/child-worker.js'), String(daemon.port)],
      { stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    await until(() => /ready /.test(out), WAIT, 'the child worker to be ready');
    child.got = () => /got /.test(out);
    return child;
  }

  afterEach(async () => {
    for (const p of peers.splice(0).reverse()) {
      if (p instanceof Worker) await p.stop({ drainTimeout: 0 });
      else if (p instanceof Client) await p.close();
      else if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  });

  after(async () => {
    if (daemon) await daemon.stop();
  });

  it('a job whose worker process is killed runs again on another worker', async () => {
    const child = await childWorker();
    const client = track(new Client({ ...daemon.endpoint, logger: memoryLogger() }));
    const result = callback((cb) => client.work({ v: 1 }, cb), WAIT, 'the job to finish');
    await until(() => child.got(), WAIT, 'the child worker to get the job');
    let attempt = 0;
    await startWorker({ slots: 1 }, (w, handler) => {
      attempt = w.attempt;
      handler(null, 'survivor');
    });
    child.kill('SIGKILL');
    const [err, data] = await result;
    assert.equal(err, null);
    assert.equal(data, 'survivor');
    assert.equal(attempt, 2);
  });

  // SPEC 5: after suspect_after (2) deaths the job is suspect and runs alone; only the
  // death of a worker running it alone makes it poison (EPOISON).
  it('a job that keeps killing its workers fails with EPOISON once it killed one alone', async () => {
    const first = await childWorker();
    const client = track(new Client({ ...daemon.endpoint, logger: memoryLogger() }));
    const result = callback((cb) => client.work({ deadly: 1 }, cb), WAIT, 'the job to fail');
    await until(() => first.got(), WAIT, 'the first child worker to get the job');
    const second = await childWorker();
    first.kill('SIGKILL');
    await until(() => second.got(), WAIT, 'the second child worker to get the job');
    const third = await childWorker();
    second.kill('SIGKILL');
    await until(() => third.got(), WAIT, 'the third child worker to get the suspect job, alone');
    third.kill('SIGKILL');
    const [err, data] = await result;
    assert.equal(err.code, 'EPOISON');
    assert.equal(typeof err.message, 'string');
    assert.equal(data, null);
  });

  it('a worker stopped hard (drainTimeout 0) gives its running jobs back; they finish elsewhere', async () => {
    const reasons = [];
    const first = await startWorker({ slots: 1 }, () => {});
    first.on('abort', (w, reason) => reasons.push(reason));
    const client = track(new Client({ ...daemon.endpoint, logger: memoryLogger() }));
    const result = callback((cb) => client.work({ v: 2 }, cb), WAIT, 'the job to finish');
    await until(() => first.running === 1, WAIT, 'the first worker to get the job');
    await startWorker({ slots: 1 }, (w, handler) => handler(null, `second took attempt ${w.attempt}`));
    await first.stop({ drainTimeout: 0 });
    assert.deepEqual(reasons, ['stop']);
    const [err, data] = await result;
    assert.equal(err, null);
    assert.match(data, /^second took attempt/);
  });

  it('after a manager restart, workers offer again, clients push again unless keepState: false', async () => {
    const reasons = [];
    let runs = 0;
    let holdFirst = true;
    const worker = await startWorker({ slots: 3, CON_RETRYTIME: 50 }, (w, handler) => {
      runs += 1;
      if (holdFirst) return; // the first run dies with the manager
      handler(null, `done on run ${runs}`);
    });
    worker.on('abort', (w, reason) => reasons.push(reason));
    const keeper = track(new Client({ ...daemon.endpoint, keepState: true, CON_RETRYTIME: 50, logger: memoryLogger() }));
    const byDefault = track(new Client({ ...daemon.endpoint, CON_RETRYTIME: 50, logger: memoryLogger() }));
    const plain = track(new Client({ ...daemon.endpoint, keepState: false, CON_RETRYTIME: 50, logger: memoryLogger() }));
    const kept = callback((cb) => keeper.work({ keep: 1 }, cb), WAIT, 'the kept job');
    const keptByDefault = callback((cb) => byDefault.work([{ keep: 2 }], cb), WAIT, 'the job kept by default');
    const lost = callback((cb) => plain.work({ lose: 1 }, cb), WAIT, 'the lost job');
    await until(() => runs === 3, WAIT, 'the three jobs to run');
    const oldId = worker.id;
    holdFirst = false;
    const reoffered = within(WAIT, new Promise((resolve) => worker.once('ready', resolve)), 'the worker to offer again');
    await daemon.restart('SIGKILL');
    await reoffered;
    assert.notEqual(worker.id, oldId, 'a new session, a new id');
    assert.deepEqual(reasons, ['reconnect', 'reconnect', 'reconnect']);
    const [err, data] = await kept;
    assert.equal(err, null);
    assert.match(data, /^done on run [45]$/);
    const [groupErr, results] = await keptByDefault;
    assert.equal(groupErr, null);
    assert.equal(results.length, 1);
    assert.equal(results[0].err, null, 'no keepState given: pushed again, as the original did');
    assert.match(results[0].data, /^done on run [45]$/);
    const [lostErr] = await lost;
    assert.equal(lostErr.code, 'ECONNLOST');
    const [again] = await callback((cb) => plain.work({ after: 1 }, cb), WAIT, 'work after the restart');
    assert.equal(again, null, 'the plain client works again after the restart');
  });
});
