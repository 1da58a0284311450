'use strict';
// Durability against the real manager (PROTOCOL §12): proletariatd with a journal
// (`--journal DIR`) and a drain timeout (`--drain-timeout MS`). A client keeps its
// accepted jobs across a manager restart on the same journal and across its own lost
// session (held results), a worker's stop() drains, and a SIGTERM drains the manager
// (EDRAINING pushes go again after the restart).
//
// These tests run only against a daemon whose `--help` lists `--journal`; with an
// older build they are skipped (and run by themselves once it lands).

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { Client, Worker } = require('proletariat');
const { Daemon, DAEMON, once, callback, until, within, memoryLogger } = require('../test-support/daemon');

const WAIT = 10000;

function daemonHasJournal() {
  if (!fs.existsSync(DAEMON)) return false;
  const help = spawnSync(DAEMON, ['--help'], { encoding: 'utf8', timeout: 5000 });
  return `${help.stdout}${help.stderr}`.includes('--journal');
}
const SKIP = daemonHasJournal() ? false : `${DAEMON} --help does not mention --journal (the manager's journal has not landed in this build)`;

// Polls an async condition until it gives a truthy value (which it returns).
async function eventually(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('durability against proletariatd with a journal', () => {
  let dir;
  let daemon;
  let observer; // asks for status
  const peers = [];
  const track = (p) => {
    peers.push(p);
    return p;
  };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proletariat-node-journal-'));
  });

  afterEach(async () => {
    for (const p of peers.splice(0).reverse()) {
      if (p instanceof Worker) await p.stop({ drainTimeout: 0 });
      else if (p instanceof Client) await p.close();
      else if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    if (observer) await observer.close();
    observer = null;
    if (daemon) await daemon.stop('SIGKILL');
    daemon = null;
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // A manager on its own journal directory (a fresh one per test).
  async function startDaemon(extra = []) {
    const journal = fs.mkdtempSync(path.join(dir, 'j-'));
    daemon = await Daemon.start(['--journal', journal, ...extra]);
    observer = new Client({ ...daemon.endpoint, CON_RETRYTIME: 50, systemMessages: false, logger: memoryLogger() });
    return daemon;
  }

  // The manager's status. The observer learns of a restarted manager when its
  // request is answered ENOHELLO (ECONNLOST here): then it asks again.
  async function status() {
    for (let tries = 0; ; ++tries) {
      try {
        return await observer.status({ timeout: WAIT });
      } catch (e) {
        if (e.code !== 'ECONNLOST' || tries >= 3) throw e;
      }
    }
  }

  async function startWorker(opts, onWork) {
    const worker = track(new Worker({ ...daemon.endpoint, CON_RETRYTIME: 50, logger: memoryLogger(), ...opts }));
    worker.on('work', onWork);
    const ready = once(worker, 'ready', WAIT, 'the worker offer to be accepted');
    worker.start();
    await ready;
    return worker;
  }

  it('a client re-attaches to a manager restarted on the same journal: every accepted job runs once, no ECONNLOST', { skip: SKIP }, async () => {
    await startDaemon();
    const N = 20;
    // keepState: false: a job the manager had lost would fail with ECONNLOST.
    const client = track(new Client({ ...daemon.endpoint, CON_RETRYTIME: 50, keepState: false, logger: memoryLogger() }));
    const [, firstId] = await once(client, 'connect', WAIT, 'the client to register');
    const items = Array.from({ length: N }, (_, n) => ({ n }));
    const done = callback((cb) => client.work(items, cb), WAIT, 'the results');
    await eventually(async () => (await status()).queued === N, WAIT, `${N} jobs queued (no worker yet)`);
    // Every ACCEPTED has reached the client (a push it never heard answered would go
    // again, and may then run twice).
    await until(() => client._awaiting.size === 0 && client._byId.size === N, WAIT, 'the client to know every id');
    const journal = client._journal;
    assert.equal(typeof journal, 'string', "the manager's WELCOME names its journal");

    const reconnected = once(client, 'connect', WAIT, 'the client to register again');
    await daemon.restart('SIGKILL'); // same ports, same journal
    const [, secondId] = await reconnected;
    assert.notEqual(secondId, firstId, 'a new session');
    assert.equal(client._journal, journal, 'the same journal after the restart');
    const runs = new Array(N).fill(0);
    await startWorker({ slots: 5 }, (w, handler) => {
      runs[w.args.n] += 1;
      handler(null, w.args.n * 3);
    });
    const [err, results] = await done;
    assert.equal(err, null);
    assert.deepEqual(results, items.map(({ n }) => ({ err: null, data: n * 3 })));
    assert.deepEqual(runs, new Array(N).fill(1), 'each job ran once: kept, not pushed again');
    assert.equal((await status()).queued, 0);
  });

  it('results finished while the client was away are held, then delivered once when it comes back', { skip: SKIP }, async () => {
    await startDaemon();
    const N = 10;
    const child = track(spawn(process.execPath, [path.join(__dirname, '../test-support/child-client.js'), String(daemon.port), String(N)],
      { stdio: ['ignore', 'pipe', 'inherit'] }));
    const lines = [];
    readline.createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line)));
    await until(() => lines.some((l) => l.event === 'connect'), WAIT, 'the child client to register');
    const childId = lines.find((l) => l.event === 'connect').id;
    await eventually(async () => (await status()).queued === N, WAIT, `the child's ${N} jobs queued`);

    child.kill('SIGSTOP'); // silent: the manager declares it dead, keeps its jobs
    try {
      await eventually(async () => !(await status()).clients.some((c) => c.id === childId), WAIT,
        'the manager to declare the frozen client dead');
      let runs = 0;
      await startWorker({ slots: 5 }, (w, handler) => {
        runs += 1;
        handler(null, `done ${w.args.n}`);
      });
      await until(() => runs === N, WAIT, 'the jobs to run while their client is away');
      const held = await eventually(async () => {
        const s = await status();
        return s.heldResults === N ? s : null;
      }, WAIT, `${N} held results in the status`);
      assert.equal(held.queued, 0);
    } finally {
      child.kill('SIGCONT');
    }
    await until(() => lines.some((l) => l.event === 'done'), WAIT, 'the child client to get every result');
    const connects = lines.filter((l) => l.event === 'connect');
    assert.ok(connects.length >= 2, 'the child registered again');
    assert.equal(new Set(connects.map((c) => c.identity)).size, 1, 'with the same identity');
    const got = lines.filter((l) => l.event === 'result');
    assert.equal(got.length, N, 'each result once');
    assert.deepEqual(got.map((r) => r.n).sort((a, b) => a - b), Array.from({ length: N }, (_, n) => n));
    for (const r of got) {
      assert.equal(r.err, null, `job ${r.n}: ${JSON.stringify(r.err)}`);
      assert.equal(r.data, `done ${r.n}`);
    }
    // RECEIVED let the manager forget them.
    await eventually(async () => (await status()).heldResults === 0, WAIT, 'the held results to be forgotten');
  });

  it("a worker's stop() drains: the running job finishes there, the manager sends it nothing new, then BYE", { skip: SKIP }, async () => {
    await startDaemon();
    const client = track(new Client({ ...daemon.endpoint, logger: memoryLogger() }));
    const firstLog = memoryLogger();
    let release;
    const firstGot = [];
    const first = await startWorker({ slots: 1, logger: firstLog }, (w, handler) => {
      firstGot.push(w.args.name);
      release = () => handler(null, 'first');
    });
    const aborts = [];
    first.on('abort', (w, reason) => aborts.push(reason));
    const a = callback((cb) => client.work({ name: 'a' }, cb), WAIT, 'job a');
    await until(() => first.running === 1, WAIT, 'job a to run on the first worker');
    const b = callback((cb) => client.work({ name: 'b' }, cb), WAIT, 'job b');
    await eventually(async () => (await status()).queued === 1, WAIT, 'job b queued behind the full worker');
    let stopped = false;
    const stopping = first.stop().then(() => {
      stopped = true;
    });
    // The DRAIN leaves before the result: the manager must not fill the freed slot.
    await first.status({ timeout: WAIT }); // sent after the DRAIN: the manager has read it
    release();
    const [errA, dataA] = await a;
    assert.equal(errA, null);
    assert.equal(dataA, 'first', 'the running job finished on the stopping worker');
    await within(WAIT, stopping, 'the drain to end');
    assert.equal(stopped, true);
    assert.deepEqual(aborts, [], 'nothing taken away');
    assert.deepEqual(firstGot, ['a'], 'the stopping worker got no new job');
    assert.equal(firstLog.lines.filter((l) => /rejecting/.test(l)).length, 0, 'the manager sent it nothing to reject');
    await startWorker({ slots: 1 }, (w, handler) => handler(null, 'second'));
    const [errB, dataB] = await b;
    assert.equal(errB, null);
    assert.equal(dataB, 'second');
  });

  it('SIGTERM drains the manager: the running job finishes, new pushes wait (EDRAINING) and run after the restart', { skip: SKIP }, async () => {
    await startDaemon(['--drain-timeout', '5000']);
    const clientLog = memoryLogger();
    // A HELLO that reaches the stopping manager between its BYE and its exit is never
    // answered (the peer then waits a default liveness window, 5 s, for WELCOME):
    // retry after the manager is gone.
    const retry = 300;
    const client = track(new Client({ ...daemon.endpoint, CON_RETRYTIME: retry, keepState: false, logger: clientLog }));
    await once(client, 'connect', WAIT, 'the client to register');
    const runs = new Map();
    let release = null;
    await startWorker({ slots: 1, CON_RETRYTIME: retry }, (w, handler) => {
      runs.set(w.args.name, (runs.get(w.args.name) || 0) + 1);
      if (w.args.name === 'running') release = () => handler(null, 'finished in the drain');
      else handler(null, `ran ${w.args.name}`);
    });
    const running = callback((cb) => client.work({ name: 'running' }, cb), WAIT, 'the running job');
    await until(() => release !== null, WAIT, 'the job to run');

    daemon.child.kill('SIGTERM');
    // Push until the manager refuses one with EDRAINING (one pushed before it read the
    // signal is journaled and queued: it runs after the restart all the same).
    const later = [];
    const refused = () => clientLog.lines.some((l) => /EDRAINING/.test(l));
    await within(WAIT, (async () => {
      while (!refused()) {
        const name = `later-${later.length}`;
        later.push([name, callback((cb) => client.work({ name }, cb), 3 * WAIT, name)]);
        await until(() => refused() || client._awaiting.size === 0, WAIT, `the answer to ${name}`);
      }
    })(), 'a push refused with EDRAINING');
    assert.equal(daemon.exited, false, 'the manager waits for its running job');
    release();
    const [err, data] = await running;
    assert.equal(err, null);
    assert.equal(data, 'finished in the drain');
    const { code } = await within(WAIT, daemon.exit, 'the drained manager to exit');
    assert.equal(code, 0);
    assert.ok(client.pending >= 1, 'the refused push waits, not failed');

    await daemon.spawn(); // the same ports and journal
    for (const [name, result] of later) {
      const [e, d] = await result;
      assert.equal(e, null, `${name}: ${JSON.stringify(e)}`);
      assert.equal(d, `ran ${name}`);
    }
    assert.equal(runs.get('running'), 1, 'the job finished in the drain ran once');
    for (const [name] of later) assert.equal(runs.get(name), 1, `${name} ran once`);
  });
});
