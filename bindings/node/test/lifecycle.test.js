'use strict';
// The job lifecycle against the real manager (PROTOCOL §14): a delayed job, retries
// with backoff and RESULT's attempts, dead letters (list, show, requeue, purge),
// progress reaching the client before the result, and a group limit set at run time.
// The frames themselves are checked against a scripted manager in
// lifecycle-wire.test.js.
//
// These tests run only against a daemon whose `--help` lists `--group-max-running`;
// with an older build they are skipped (and run by themselves once it lands). Each
// test has a manager of its own, so that counts (dead letters, groups) start at zero.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Client, Worker, Manager } = require('proletariat');
const { Daemon, DAEMON, once, callback, until, within, memoryLogger } = require('../test-support/daemon');

const WAIT = 10000;

function daemonHasLifecycle() {
  if (!fs.existsSync(DAEMON)) return false;
  const help = spawnSync(DAEMON, ['--help'], { encoding: 'utf8', timeout: 5000 });
  return `${help.stdout}${help.stderr}`.includes('--group-max-running');
}
const SKIP = daemonHasLifecycle() ? false
  : `${DAEMON} --help does not mention --group-max-running (the job lifecycle has not landed in this build)`;

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

describe('the job lifecycle against proletariatd', { skip: SKIP }, () => {
  let daemon;
  const peers = [];
  const track = (p) => {
    peers.push(p);
    return p;
  };

  afterEach(async () => {
    for (const p of peers.splice(0).reverse()) {
      if (p instanceof Worker) await p.stop({ drainTimeout: 0 });
      else if (p instanceof Manager) await p.stop();
      else await p.close();
    }
    if (daemon) await daemon.stop();
    daemon = null;
  });

  // A manager, a worker running `onWork`, and a client.
  async function setup(onWork, { slots = 4, daemonArgs = [] } = {}) {
    daemon = await Daemon.start(daemonArgs);
    const worker = track(new Worker({ ...daemon.endpoint, slots, CON_RETRYTIME: 50, logger: memoryLogger() }));
    worker.on('work', onWork);
    const ready = once(worker, 'ready', WAIT, 'the worker offer to be accepted');
    worker.start();
    await ready;
    const client = track(new Client({ ...daemon.endpoint, CON_RETRYTIME: 50, logger: memoryLogger() }));
    await once(client, 'connect', WAIT, 'the client to register');
    return { worker, client };
  }

  it('a delayed job runs, and finishes, no earlier than its delay', async () => {
    const DELAY = 300;
    let started = 0;
    const { client } = await setup((w, handler) => {
      started = Date.now();
      handler(null, w.args.n * 2);
    });
    const pushed = Date.now();
    const [err, data] = await callback((cb) => client.work({ n: 21 }, { delay: DELAY, timeout: WAIT }, cb), WAIT, 'the delayed job');
    const finished = Date.now();
    assert.equal(err, null);
    assert.equal(data, 42);
    // The delay counts from the manager's receipt, which is after `pushed`.
    assert.ok(started - pushed >= DELAY, `the job started ${started - pushed} ms after work(), before its delay of ${DELAY} ms`);
    assert.ok(finished - pushed >= DELAY);
  });

  it('a job at a time in the past queues at once; at takes a Date', async () => {
    const { client } = await setup((w, handler) => handler(null, 'now'));
    const [err, data] = await callback((cb) => client.work({}, { at: new Date(Date.now() - 60000), timeout: WAIT }, cb), WAIT, 'the job');
    assert.equal(err, null);
    assert.equal(data, 'now');
  });

  it('a job whose worker fails with EBUSY twice, then succeeds, gives one result with attempts 3', async () => {
    const runs = new Map(); // job id -> attempts seen by the worker
    const { client } = await setup((w, handler) => {
      runs.set(w.id, [...(runs.get(w.id) || []), w.attempt]);
      if (w.args.plain) return handler(null, 'plain');
      if (runs.get(w.id).length <= 2) return handler({ code: 'EBUSY', message: 'try later' });
      return handler(null, `done after ${runs.get(w.id).length}`);
    });
    const each = [];
    const [results] = await callback((cb) => client.workIndividual([{ n: 1 }], { retry: { max: 3, codes: ['EBUSY'], initial: 10, jitter: 0 } },
      (err, data, work) => each.push([err, data, work.attempts]), (err, r) => cb(r)), WAIT, 'the retried job');
    assert.deepEqual(results, [{ err: null, data: 'done after 3', attempts: 3 }]);
    assert.deepEqual(each, [[null, 'done after 3', 3]], 'one result for the job');
    assert.equal(runs.size, 1);
    const [attempts] = [...runs.values()];
    assert.equal(attempts.length, 3, 'the worker ran it three times');
    assert.ok(attempts[0] < attempts[1] && attempts[1] < attempts[2], `each retry is a new attempt: ${attempts}`);
    // A job without a retry policy keeps the {err, data} shape.
    const [plain] = await callback((cb) => client.work([{ plain: true }], (err, r) => cb(r)), WAIT, 'the plain job');
    assert.deepEqual(plain, [{ err: null, data: 'plain' }]);
  });

  it('an exhausted job is a dead letter: list, show (its payload), requeue (runs again, the letter is gone), purge', async () => {
    let succeed = false;
    const seen = []; // [id, args] of every run
    const { client } = await setup((w, handler) => {
      seen.push([w.id, w.args]);
      if (succeed) return handler(null, 'fine now');
      return handler({ code: 'EBUSY', message: 'still busy' });
    });
    const retry = { max: 1, codes: ['EBUSY'], initial: 10, jitter: 0 };
    const payload = { letter: 'one', nested: [1, 2, 3] };
    const [err, , work] = await callback((cb) => client.work(payload, { retry, group: 'dl-group' }, cb), WAIT, 'the exhausted job');
    assert.equal(err.code, 'EBUSY');
    assert.equal(work.attempts, 2, 'the first attempt and one retry');

    // The letter is recorded before the result goes out (PROTOCOL §14.2).
    const list = await client.listDeadLetters();
    assert.equal(list.op, 'list');
    assert.equal(list.total, 1);
    assert.equal(list.letters.length, 1);
    const [letter] = list.letters;
    assert.equal(letter.job, work.id);
    assert.equal(letter.attempts, 2);
    assert.equal(letter.err.code, 'EBUSY');
    assert.equal(letter.group, 'dl-group');
    assert.equal(letter.client, client.id);
    assert.equal(letter.bytes, Buffer.byteLength(JSON.stringify(payload)));
    assert.equal('args' in letter, false, 'list carries no payloads');

    const shown = await client.showDeadLetters([letter.id, letter.id + 1000]);
    assert.equal(shown.letters.length, 1, 'an unknown id is left out');
    assert.deepEqual(shown.letters[0].args, payload);

    succeed = true;
    const runsBefore = seen.length;
    const requeued = await client.requeueDeadLetters([letter.id]);
    assert.equal(requeued.op, 'requeue');
    assert.equal(requeued.requeued.length, 1);
    assert.equal(requeued.requeued[0].letter, letter.id);
    const newJob = requeued.requeued[0].job;
    assert.notEqual(newJob, work.id, 'a requeued letter is a new job');
    assert.equal(requeued.total, 0);
    await until(() => seen.length > runsBefore, WAIT, 'the requeued job to run');
    assert.deepEqual(seen[seen.length - 1], [newJob, payload]);
    // Once the manager has its result (nothing runs, waits or backs off), no letter
    // came back.
    await eventually(async () => {
      const s = await client.status();
      return s.running === 0 && s.queued === 0 && (s.retrying || 0) === 0;
    }, WAIT, 'the requeued job to finish');
    assert.deepEqual((await client.listDeadLetters()).letters, []);

    // Two more letters, then purge them all.
    succeed = false;
    const [again] = await callback((cb) => client.work([{ a: 1 }, { a: 2 }], { retry }, (e, r) => cb(r)), WAIT, 'two exhausted jobs');
    assert.deepEqual(again.map((r) => r.err.code), ['EBUSY', 'EBUSY']);
    assert.equal((await client.listDeadLetters()).total, 2);
    const one = (await client.listDeadLetters(1)).letters;
    assert.equal(one.length, 1, 'limit');
    const purged = await client.purgeDeadLetters('all');
    assert.equal(purged.purged, 2);
    assert.equal(purged.total, 0);
    const after = await client.listDeadLetters();
    assert.deepEqual([after.total, after.letters], [0, []]);
  });

  it('progress reaches the progress callback, in order, before each() for that job', async () => {
    const { client } = await setup((w, handler) => {
      for (let step = 1; step <= 3; ++step) assert.equal(w.progress({ job: w.args.n, step }), true);
      w.progress(Buffer.from([w.args.n]));
      handler(null, w.args.n);
    });
    const events = [];
    const items = [{ n: 1 }, { n: 2 }, { n: 3 }];
    const [results] = await callback((cb) => client.workIndividual(items, {},
      (err, data, work) => events.push(['each', work.index, data]),
      (err, r) => cb(r),
      (work, data) => events.push(['progress', work.index, data])), WAIT, 'the request');
    assert.deepEqual(results.map((r) => r.data), [1, 2, 3]);
    for (const [index, { n }] of items.entries()) {
      const mine = events.filter((e) => e[1] === index);
      assert.deepEqual(mine, [
        ['progress', index, { job: n, step: 1 }],
        ['progress', index, { job: n, step: 2 }],
        ['progress', index, { job: n, step: 3 }],
        ['progress', index, Buffer.from([n])],
        ['each', index, n],
      ], `job ${index}`);
    }
  });

  it('a group limited to maxRunning 1 at run time never runs two of its jobs at once', async () => {
    const GROUP = 'tenant-7';
    const held = []; // handlers of the running group jobs
    let running = 0;
    let most = 0;
    const { client } = await setup((w, handler) => {
      running += 1;
      most = Math.max(most, running);
      held.push(() => {
        running -= 1;
        handler(null, w.args.n);
      });
    }, { slots: 4 });
    const set = await client.setGroupLimits(GROUP, { maxRunning: 1 });
    const mine = set.groups.find((g) => g.group === GROUP);
    assert.ok(mine, `the group is listed: ${JSON.stringify(set)}`);
    assert.equal(mine.maxRunning, 1);
    assert.equal(mine.custom, true);

    const N = 4;
    const done = callback((cb) => client.work(Array.from({ length: N }, (_, n) => ({ n })), { group: GROUP }, (e, r) => cb(r)),
      WAIT, 'the group');
    for (let i = 0; i < N; ++i) {
      await until(() => held.length === 1, WAIT, `job ${i + 1} of the group to run`);
      // The slots are free (4 for 1 running): what keeps the others waiting is the
      // group's limit, as the manager says.
      const left = N - 1 - i;
      if (left > 0) {
        await eventually(async () => (await client.status()).groupLimited === left, WAIT,
          `${left} jobs to wait for the group's limit`);
      }
      assert.equal(running, 1);
      held.shift()();
    }
    const [results] = await done;
    assert.deepEqual(results.map((r) => r.data).sort(), [0, 1, 2, 3]);
    assert.equal(most, 1, 'never two of the group at once');
    const listed = (await client.groupLimits()).groups.find((g) => g.group === GROUP);
    assert.equal(listed.started, N);
    const cleared = await client.clearGroupLimits(GROUP);
    const after = cleared.groups.find((g) => g.group === GROUP);
    assert.ok(!after || after.custom === false, `cleared: ${JSON.stringify(after)}`);
  });

  it('examples/lifecycle.js (the README\'s) runs as written', async () => {
    daemon = await Daemon.start();
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'examples', 'lifecycle.js')], {
      env: { ...process.env, PROLETARIAT_PORT: String(daemon.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (c) => { out.stdout += c; });
    child.stderr.on('data', (c) => { out.stderr += c; });
    const exit = await within(WAIT, new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
      'examples/lifecycle.js to exit').catch((e) => {
      child.kill('SIGKILL');
      throw e;
    });
    assert.deepEqual(exit, { code: 0, signal: null }, out.stderr);
    const lines = out.stdout.trim().split('\n');
    // The two jobs' lines interleave; each job's own come in order.
    const of = (image) => lines.filter((l) => l.startsWith(image));
    assert.deepEqual(of('a.png'), ['a.png: try 1', 'a.png: try 2', 'a.png resized after 2 attempts']);
    assert.deepEqual(of('broken.png'), ['broken.png: try 1', 'broken.png: try 2', 'broken.png: try 3', 'broken.png: EBUSY after 3 attempts']);
    const letters = lines.filter((l) => l.startsWith('dead letter'));
    assert.equal(letters.length, 1, out.stdout);
    assert.match(letters[0], /^dead letter \d+: job \d+, EBUSY, 3 attempts$/);
    assert.equal(lines.length, 8, out.stdout);
  });

  it('the Manager wrapper passes groupMaxRunning, groupRate, maxDeadLetters and deadLetterMaxAge to the daemon', async () => {
    const manager = track(new Manager({
      port: 0, host: '127.0.0.1', daemon: DAEMON, logLevel: 'error', groupMaxRunning: 2, groupRate: 2.5, maxDeadLetters: 1, deadLetterMaxAge: 600000,
    }));
    await within(5000, manager.start(), 'the manager to listen');
    const worker = track(new Worker({ host: '127.0.0.1', port: manager.port, CON_RETRYTIME: 50, logger: memoryLogger() }));
    worker.on('work', (w, handler) => handler({ code: 'EBUSY' }));
    worker.start();
    const client = track(new Client({ host: '127.0.0.1', port: manager.port, CON_RETRYTIME: 50, logger: memoryLogger() }));
    const limits = await client.groupLimits();
    assert.deepEqual(limits.defaults, { maxRunning: 2, rate: 2.5 });
    // maxDeadLetters 1: of two exhausted jobs, one letter is kept.
    await callback((cb) => client.work([1, 2], { retry: { max: 0, codes: ['EBUSY'] } }, (e, r) => cb(r)), WAIT, 'two dead jobs');
    assert.equal((await client.listDeadLetters()).total, 1);
  });
});
