'use strict';
// The job lifecycle (PROTOCOL §14) frame by frame, against a scripted manager: the
// push options in the PUSH header and entries, their checks at work(), ENOTSUPPORTED
// for a manager without the lifecycle, RESULT's attempts, progress both ways, and the
// admin requests (DEAD, GROUPLIMITS) matched to their replies by req. The same
// against the real manager: lifecycle.test.js.
//
// "Nothing was sent" is proven with a barrier: a STATUS request made after the act;
// the peer's messages leave in order, so once the STATUS is at the fake manager,
// anything sent before it is there too.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Worker } = require('proletariat');
const { daemonArgs } = require('../lib/manager');
const { FakeManager } = require('../test-support/fake-manager');
const { once, callback, until, memoryLogger } = require('../test-support/daemon');
const { MAX_PUSHES_IN_FLIGHT } = require('../lib/codec');

const WAIT = 3000;

describe('the job lifecycle against a scripted manager', () => {
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

  async function client(welcome = { lifecycle: true }, opts = {}) {
    const fake = track(await FakeManager.start());
    const logger = memoryLogger();
    const c = track(new Client({ ...fake.endpoint, CON_RETRYTIME: 50, logger, ...opts }));
    const peer = await fake.accept(welcome);
    await once(c, 'connect', WAIT, 'the client to register');
    return { fake, client: c, rid: peer.rid, logger };
  }

  async function worker(welcome = { lifecycle: true }, onWork = null, opts = {}) {
    const fake = track(await FakeManager.start());
    const logger = memoryLogger();
    const w = track(new Worker({ ...fake.endpoint, CON_RETRYTIME: 50, logger, ...opts }));
    if (onWork) w.on('work', onWork);
    w.start();
    const peer = await fake.accept(welcome);
    const offer = await fake.next('OFFER', WAIT, peer.rid);
    await fake.send(peer.rid, 'OFFERED', { slots: offer.header.slots });
    await once(w, 'ready', WAIT, 'the offer to be accepted');
    return { fake, worker: w, rid: peer.rid, logger };
  }

  // Answers the next STATUS request with {} and resolves once the peer has it.
  async function barrier(fake, rid, peer) {
    const asked = peer.status();
    const msg = await fake.next('STATUS', WAIT, rid);
    await fake.send(rid, 'STATUS', { req: msg.header.req });
    await asked;
  }

  function jobsFrom(fake, rid, entries, payloads) {
    return fake.send(rid, 'JOBS', { jobs: entries.map((e) => ({ attempt: 1, priority: 0, client: 'fake.c', ...e })) }, payloads);
  }

  // --- the client's push ---

  it('delay, group and retry travel in the PUSH header, in the protocol order, and _group in its entry', async () => {
    const { fake, client: c } = await client();
    const retry = { jitter: 0.5, max: 3, codes: ['EBUSY'], initial: 100, factor: 1.5, maxDelay: 2000 };
    c.work([{ n: 1 }, { n: 2, _group: 'other' }, { n: 3, _group: 'tenant-7' }], { delay: 500, group: 'tenant-7', retry }, () => {});
    const push = await fake.next('PUSH');
    assert.equal(push.frames[3].toString(), '{"req":1,"delay":500,"group":"tenant-7",' +
      '"retry":{"max":3,"codes":["EBUSY"],"initial":100,"factor":1.5,"maxDelay":2000,"jitter":0.5},' +
      '"jobs":[{},{"group":"other"},{}]}');
    assert.equal(push.payloads.length, 3);
  });

  it('at is ms since the epoch, from a number or a Date; a fractional ms rounds up', async () => {
    const { fake, client: c } = await client();
    const when = new Date(Date.UTC(2030, 0, 1));
    c.work([1], { at: when }, () => {});
    c.work([2], { at: 1893456000000.2 }, () => {});
    const first = await fake.next('PUSH');
    assert.equal(first.header.at, when.getTime());
    assert.equal(first.header.delay, undefined);
    const second = await fake.next('PUSH');
    assert.equal(second.header.at, 1893456000001);
  });

  it('requests share a PUSH only with the same lifecycle options', async () => {
    const { fake, client: c, rid } = await client();
    // Fill the window of pushes in flight: the requests made then wait, and go in
    // shared pushes as answers free the window, one push per answer.
    const fillers = [];
    for (let i = 0; i < MAX_PUSHES_IN_FLIGHT; ++i) c.work([`filler ${i}`], () => {});
    for (let i = 0; i < MAX_PUSHES_IN_FLIGHT; ++i) fillers.push(await fake.next('PUSH'));
    c.work(['a'], { group: 'g', retry: { max: 1 } }, () => {});
    c.work(['b'], { group: 'g', retry: { max: 1 } }, () => {});
    c.work(['c'], { group: 'g', retry: { max: 2 } }, () => {});
    c.work(['d'], { group: 'h', retry: { max: 2 } }, () => {});
    c.work(['e'], { delay: 10 }, () => {});
    c.work(['f'], { delay: 10 }, () => {});
    c.work(['g'], { at: 10 }, () => {});
    const sent = [];
    for (let i = 0; i < 5; ++i) {
      await fake.send(rid, 'ACCEPTED', { req: fillers[i].header.req, ids: [100 + i] });
      sent.push(await fake.next('PUSH'));
    }
    assert.deepEqual(sent.map((p) => p.payloads.map((f) => JSON.parse(f))), [['a', 'b'], ['c'], ['d'], ['e', 'f'], ['g']]);
    assert.deepEqual(sent.map(({ header: { req, jobs, ...rest } }) => rest), [ // eslint-disable-line no-unused-vars
      { group: 'g', retry: { max: 1 } }, { group: 'g', retry: { max: 2 } }, { group: 'h', retry: { max: 2 } }, { delay: 10 }, { at: 10 },
    ]);
  });

  it('bad lifecycle options throw a TypeError at work(), and nothing is pushed', async () => {
    const { fake, client: c, rid } = await client();
    const bad = [
      { delay: 5, at: 1 },
      { delay: -1 },
      { delay: '5' },
      { at: new Date('not a date') },
      { at: -5 },
      { group: '' },
      { group: 'g'.repeat(257) },
      { group: 7 },
      { retry: 3 },
      { retry: { initial: 10 } },
      { retry: { max: 101 } },
      { retry: { max: 1.5 } },
      { retry: { max: 1, factor: 0.5 } },
      { retry: { max: 1, jitter: 1.5 } },
      { retry: { max: 1, codes: [''] } },
      { retry: { max: 1, codes: 'EBUSY' } },
      { retry: { max: 1, initial: 0.5 } },
      { retry: { max: 1, maxdelay: 10 } },
    ];
    for (const opts of bad) assert.throws(() => c.work([1], opts, () => {}), TypeError, JSON.stringify(opts));
    assert.throws(() => c.work([{ _group: '' }], () => {}), TypeError);
    assert.throws(() => c.workIndividual([1], {}, () => {}, () => {}, 'not a function'), TypeError);
    // The limits themselves are fine.
    c.work([1], { group: 'g'.repeat(256), retry: { max: 100, jitter: 1, factor: 1 } }, () => {});
    const push = await fake.next('PUSH');
    assert.equal(push.header.group.length, 256);
    await barrier(fake, rid, c);
    assert.equal(fake.count('PUSH'), 0, 'only the good request was pushed');
  });

  it('to a manager without the lifecycle, such jobs fail with ENOTSUPPORTED and are not pushed; the others go', async () => {
    const { fake, client: c, rid } = await client({ entry_options: true });
    const done = callback((cb) => c.work([{ n: 1 }, { n: 2, _group: 'g' }], (err, r) => cb(r)), WAIT, 'the request');
    // The first job asked for nothing of the lifecycle: it is pushed, alone.
    const push = await fake.next('PUSH');
    assert.deepEqual(push.payloads.map((f) => JSON.parse(f)), [{ n: 1 }]);
    assert.deepEqual(push.header.jobs, [{}]);
    await fake.send(rid, 'ACCEPTED', { req: push.header.req, ids: [5] });
    await fake.send(rid, 'RESULT', { results: [{ id: 5 }] }, ['"one"']);
    const [results] = await done;
    assert.deepEqual(results[0], { err: null, data: 'one' });
    assert.equal(results[1].err.code, 'ENOTSUPPORTED');
    const [err] = await callback((cb) => c.work({ n: 3 }, { retry: { max: 2 } }, cb), WAIT, 'the retried job');
    assert.equal(err.code, 'ENOTSUPPORTED');
    await barrier(fake, rid, c);
    assert.equal(fake.count('PUSH'), 0, 'no push for the jobs that failed');
  });

  // --- RESULT's attempts ---

  it("a RESULT's attempts reaches the application; results without it keep the {err, data} shape", async () => {
    const { fake, client: c, rid } = await client();
    const group = callback((cb) => c.work([{ n: 1 }, { n: 2 }], { retry: { max: 3 } }, (err, r) => cb(r)), WAIT, 'the group');
    const push = await fake.next('PUSH');
    await fake.send(rid, 'ACCEPTED', { req: push.header.req, ids: [11, 12] });
    await fake.send(rid, 'RESULT', { results: [{ id: 11, attempts: 3 }, { id: 12, err: { code: 'EBUSY', message: 'busy' }, attempts: 4 }] },
      ['"done"', '']);
    const [results] = await group;
    assert.deepEqual(results, [
      { err: null, data: 'done', attempts: 3 },
      { err: { code: 'EBUSY', message: 'busy' }, data: null, attempts: 4 },
    ]);
    const single = callback((cb) => c.work({ n: 3 }, cb), WAIT, 'the single job');
    const push2 = await fake.next('PUSH');
    await fake.send(rid, 'ACCEPTED', { req: push2.header.req, ids: [13] });
    await fake.send(rid, 'RESULT', { results: [{ id: 13 }] }, ['7']);
    const [err, data, work] = await single;
    assert.equal(err, null);
    assert.equal(data, 7);
    assert.equal('attempts' in work, false);
    const each = [];
    const individual = callback((cb) => c.workIndividual([1], (e, d, w) => each.push(w.attempts), (e, r) => cb(r)), WAIT, 'individual');
    const push3 = await fake.next('PUSH');
    await fake.send(rid, 'ACCEPTED', { req: push3.header.req, ids: [14] });
    await fake.send(rid, 'RESULT', { results: [{ id: 14, attempts: 2 }] }, ['1']);
    const [r3] = await individual;
    assert.deepEqual(each, [2], "each()'s work has attempts");
    assert.deepEqual(r3, [{ err: null, data: 1, attempts: 2 }]);
  });

  // --- progress, client side ---

  it('progress reaches the callback with the job as each() gets it, in order, raw as a Buffer; never after the result', async () => {
    const { fake, client: c, rid, logger } = await client();
    const got = [];
    const order = [];
    const done = callback((cb) => c.workIndividual([{ n: 1 }, { n: 2 }], {},
      (err, data, work) => order.push(['each', work.index, data]),
      (err, r) => cb(r),
      (work, data) => {
        got.push([work.index, work.id, work.args, data]);
        order.push(['progress', work.index]);
      }), WAIT, 'the request');
    const push = await fake.next('PUSH');
    await fake.send(rid, 'ACCEPTED', { req: push.header.req, ids: [21, 22] });
    await fake.send(rid, 'PROGRESS', { progress: [{ id: 22 }, { id: 21, raw: true }, { id: 777 }] }, ['0.5', Buffer.from([1, 2]), '"x"']);
    await fake.send(rid, 'PROGRESS', { progress: [{ id: 21 }] }, ['{not json']);
    await fake.send(rid, 'RESULT', { results: [{ id: 21 }] }, ['"one"']);
    await fake.send(rid, 'PROGRESS', { progress: [{ id: 21 }, { id: 22 }] }, ['"late"', '1']);
    await fake.send(rid, 'RESULT', { results: [{ id: 22 }] }, ['"two"']);
    await done;
    assert.deepEqual(got, [[1, 22, { n: 2 }, 0.5], [0, 21, { n: 1 }, Buffer.from([1, 2])], [1, 22, { n: 2 }, 1]]);
    assert.deepEqual(order, [['progress', 1], ['progress', 0], ['each', 0, 'one'], ['progress', 1], ['each', 1, 'two']]);
    assert.ok(logger.lines.some((l) => l.includes('progress for job 21 is not valid JSON')), logger.lines.join('\n'));
  });

  it('work() takes a progress option too; workIndividual(items, each, done, progress) without opts', async () => {
    const { fake, client: c, rid } = await client();
    const a = [];
    const b = [];
    const one = callback((cb) => c.work({ n: 1 }, { progress: (w, d) => a.push(d) }, cb), WAIT, 'work');
    const two = callback((cb) => c.workIndividual([{ n: 2 }], () => {}, (e, r) => cb(r), (w, d) => b.push(d)), WAIT, 'individual');
    const p1 = await fake.next('PUSH');
    const p2 = p1.payloads.length === 2 ? p1 : await fake.next('PUSH');
    if (p2 === p1) {
      await fake.send(rid, 'ACCEPTED', { req: p1.header.req, ids: [31, 32] });
    } else {
      await fake.send(rid, 'ACCEPTED', { req: p1.header.req, ids: [31] });
      await fake.send(rid, 'ACCEPTED', { req: p2.header.req, ids: [32] });
    }
    await fake.send(rid, 'PROGRESS', { progress: [{ id: 31 }, { id: 32 }] }, ['"a"', '"b"']);
    await fake.send(rid, 'RESULT', { results: [{ id: 31 }, { id: 32 }] }, ['1', '2']);
    await one;
    await two;
    assert.deepEqual(a, ['a']);
    assert.deepEqual(b, ['b']);
  });

  it('a malformed PROGRESS from the manager is logged and dropped; the session goes on', async () => {
    const { fake, client: c, rid, logger } = await client();
    const got = [];
    const done = callback((cb) => c.work({ n: 1 }, { progress: (w, d) => got.push(d) }, cb), WAIT, 'work');
    const push = await fake.next('PUSH');
    await fake.send(rid, 'ACCEPTED', { req: push.header.req, ids: [41] });
    await fake.send(rid, 'PROGRESS', { progress: [{ id: 41 }, { id: 41 }] }, ['1']); // a payload missing
    await fake.send(rid, 'PROGRESS', { progress: [{ raw: false }] }, ['2']); // no id
    await fake.send(rid, 'PROGRESS', { progress: [{ id: 41 }] }, ['3']);
    await fake.send(rid, 'RESULT', { results: [{ id: 41 }] }, ['"ok"']);
    const [err, data] = await done;
    assert.equal(err, null);
    assert.equal(data, 'ok');
    assert.deepEqual(got, [3]);
    assert.equal(logger.lines.filter((l) => l.includes('dropping a bad message from the manager: PROGRESS')).length, 2, logger.lines.join('\n'));
  });

  // --- progress, worker side ---

  it('w.progress sends PROGRESS {id, attempt} before the RESULT, also with batched results; after the answer it does nothing', async () => {
    const calls = [];
    const { fake, rid, worker: w } = await worker({ lifecycle: true }, (job, handler) => {
      calls.push(job.progress({ step: 1 }));
      calls.push(job.progress(Buffer.from([9])));
      handler(null, job.args);
      calls.push(job.progress('after'));
    }, { ANSWER_THRESHOLD: 2, ANSWER_DELAY_MAX: 1000 });
    await jobsFrom(fake, rid, [{ id: 1, attempt: 4 }, { id: 2 }], ['"a"', '"b"']);
    await until(() => fake.count('RESULT') > 0, WAIT, 'the RESULT');
    // fake.received is in the order of arrival, which is the order of sending.
    const sent = fake.received.filter((m) => m.command === 'PROGRESS' || m.command === 'RESULT');
    assert.deepEqual(sent.map((m) => m.command), ['PROGRESS', 'RESULT'], 'one PROGRESS for both jobs, before their RESULT');
    const [progress, result] = sent;
    assert.deepEqual(progress.header, { progress: [
      { id: 1, attempt: 4 }, { id: 1, attempt: 4, raw: true }, { id: 2, attempt: 1 }, { id: 2, attempt: 1, raw: true },
    ] });
    assert.deepEqual(progress.payloads.map((p) => Buffer.from(p).toString()), ['{"step":1}', '\t', '{"step":1}', '\t']);
    assert.deepEqual(result.header.results, [{ id: 1, attempt: 4 }, { id: 2, attempt: 1 }]);
    assert.deepEqual(calls, [true, true, false, true, true, false]);
    await barrier(fake, rid, w);
    assert.equal(fake.received.filter((m) => m.command === 'PROGRESS').length, 1, 'the reports after the answers were not sent');
  });

  it('progress after an abort or a run timeout does nothing; a value JSON cannot write throws', async () => {
    const held = new Map();
    const { fake, worker: w, rid } = await worker({ lifecycle: true }, (job) => {
      held.set(job.id, job);
    });
    await jobsFrom(fake, rid, [{ id: 1 }, { id: 2, runTimeout: 100 }], ['1', '2']);
    await once(w, 'abort', WAIT, 'the run timeout');
    assert.equal(held.get(2).progress('late'), false);
    await fake.send(rid, 'ABORT', { jobs: [{ id: 1, attempt: 1 }] });
    await once(w, 'abort', WAIT, 'the abort');
    assert.equal(held.get(1).progress('late'), false);
    assert.throws(() => held.get(1).progress(() => {}), TypeError);
    await fake.next('RESULT', WAIT, rid); // the ETO
    await barrier(fake, rid, w);
    assert.equal(fake.count('PROGRESS'), 0);
  });

  it('to a manager without the lifecycle, progress is not sent (false, one warning)', async () => {
    let job;
    const { fake, worker: w, rid, logger } = await worker({}, (x) => {
      job = x;
    });
    await jobsFrom(fake, rid, [{ id: 1 }], ['1']);
    await until(() => job, WAIT, 'the job to run');
    assert.equal(job.progress(1), false);
    assert.equal(job.progress(2), false);
    await barrier(fake, rid, w);
    assert.equal(fake.count('PROGRESS'), 0);
    assert.equal(logger.lines.filter((l) => l.includes('progress is not sent')).length, 1);
  });

  // --- admin requests ---

  it('dead letters: list, show (payloads decoded), requeue, purge; replies matched by req in any order', async () => {
    const { fake, client: c, rid } = await client();
    const listed = c.listDeadLetters(5);
    const shown = c.showDeadLetters([4, 5]);
    const requeued = c.requeueDeadLetters('all');
    const purged = c.purgeDeadLetters([7]);
    const msgs = [];
    for (let i = 0; i < 4; ++i) msgs.push(await fake.next('DEAD', WAIT, rid));
    assert.deepEqual(msgs.map((m) => m.header), [
      { req: msgs[0].header.req, op: 'list', limit: 5 },
      { req: msgs[1].header.req, op: 'show', ids: [4, 5] },
      { req: msgs[2].header.req, op: 'requeue', all: true },
      { req: msgs[3].header.req, op: 'purge', ids: [7] },
    ]);
    assert.equal(new Set(msgs.map((m) => m.header.req)).size, 4);
    assert.ok(msgs.every((m) => m.payloads.length === 0));
    const letter = (id, extra) => ({ id, job: 100 + id, priority: 0, err: { code: 'EBUSY', message: 'b' }, attempts: 3, since: 1, bytes: 3, ...extra });
    // Answered last first.
    await fake.send(rid, 'DEADLETTERS', { req: msgs[3].header.req, op: 'purge', total: 2, letters: [], purged: 1 });
    await fake.send(rid, 'DEADLETTERS', { req: msgs[2].header.req, op: 'requeue', total: 0, letters: [], requeued: [{ letter: 4, job: 120 }] });
    await fake.send(rid, 'DEADLETTERS', { req: msgs[1].header.req, op: 'show', total: 3, letters: [letter(4), letter(5, { raw: true, bytes: 2 })] },
      ['{"n":4}', Buffer.from([0, 255])]);
    await fake.send(rid, 'DEADLETTERS', { req: msgs[0].header.req, op: 'list', total: 3, letters: [letter(5), letter(4)] }, ['', '']);
    assert.deepEqual(await purged, { op: 'purge', total: 2, letters: [], purged: 1 });
    assert.deepEqual(await requeued, { op: 'requeue', total: 0, letters: [], requeued: [{ letter: 4, job: 120 }] });
    const show = await shown;
    assert.deepEqual(show.letters.map((l) => l.args), [{ n: 4 }, Buffer.from([0, 255])]);
    assert.equal(show.letters[0].job, 104);
    const list = await listed;
    assert.deepEqual(list.letters, [letter(5), letter(4)], 'list letters have no args');
    assert.equal(list.total, 3);
  });

  it('group limits: list, set (absent keeps, null lifts), clear', async () => {
    const { fake, client: c, rid } = await client();
    const reply = { defaults: { maxRunning: null, rate: null }, groups: [{ group: 'g', maxRunning: 1, rate: null, running: 1, waiting: 2, started: 3, custom: true }] };
    const calls = [
      [() => c.groupLimits(), { op: 'list' }],
      [() => c.setGroupLimits('g', { maxRunning: 1 }), { op: 'set', group: 'g', maxRunning: 1 }],
      [() => c.setGroupLimits('g', { maxRunning: null, rate: 0.5 }), { op: 'set', group: 'g', maxRunning: null, rate: 0.5 }],
      [() => c.clearGroupLimits('g'), { op: 'clear', group: 'g' }],
    ];
    for (const [call, header] of calls) {
      const answer = call();
      const msg = await fake.next('GROUPLIMITS', WAIT, rid);
      assert.deepEqual(msg.header, { req: msg.header.req, ...header });
      assert.equal(msg.payloads.length, 0);
      await fake.send(rid, 'GROUPLIMITS', { req: msg.header.req, ...reply });
      assert.deepEqual(await answer, reply);
    }
    // With a callback instead of a promise.
    const cb = callback((done) => c.groupLimits({}, done), WAIT, 'the callback');
    const msg = await fake.next('GROUPLIMITS', WAIT, rid);
    await fake.send(rid, 'GROUPLIMITS', { req: msg.header.req, ...reply });
    assert.deepEqual(await cb, [null, reply]);
  });

  it('bad admin arguments throw a TypeError; nothing is sent', async () => {
    const { fake, client: c, rid } = await client();
    assert.throws(() => c.showDeadLetters(4), TypeError);
    assert.throws(() => c.showDeadLetters(['4']), TypeError);
    assert.throws(() => c.requeueDeadLetters(), TypeError);
    assert.throws(() => c.purgeDeadLetters(true), TypeError);
    assert.throws(() => c.listDeadLetters(-1), TypeError);
    assert.throws(() => c.setGroupLimits('', { maxRunning: 1 }), TypeError);
    assert.throws(() => c.setGroupLimits('g', { maxRunning: 1.5 }), TypeError);
    assert.throws(() => c.setGroupLimits('g', { rate: -1 }), TypeError);
    assert.throws(() => c.setGroupLimits('g', { maxrunning: 1 }), TypeError);
    assert.throws(() => c.setGroupLimits('g'), TypeError);
    assert.throws(() => c.clearGroupLimits(), TypeError);
    await barrier(fake, rid, c);
    assert.equal(fake.count('DEAD') + fake.count('GROUPLIMITS'), 0);
  });

  it("an ERROR with the request's req fails that request with its code; the others go on", async () => {
    const { fake, client: c, rid } = await client();
    const denied = c.setGroupLimits('g', { rate: 1 });
    const listed = c.groupLimits();
    const first = await fake.next('GROUPLIMITS', WAIT, rid);
    const second = await fake.next('GROUPLIMITS', WAIT, rid);
    await fake.send(rid, 'ERROR', { code: 'EDENIED', message: 'needs an admin key', command: 'GROUPLIMITS', req: first.header.req });
    await fake.send(rid, 'GROUPLIMITS', { req: second.header.req, defaults: {}, groups: [] });
    await assert.rejects(denied, { code: 'EDENIED' });
    assert.deepEqual(await listed, { defaults: {}, groups: [] });
  });

  it('a malformed DEADLETTERS is dropped (peer_checks); the request waits for a good one', async () => {
    const { fake, client: c, rid, logger } = await client();
    const listed = c.listDeadLetters();
    const msg = await fake.next('DEAD', WAIT, rid);
    await fake.send(rid, 'DEADLETTERS', { req: msg.header.req, op: 'list', total: 1, letters: [{ id: 4, since: 1, bytes: 0 }] }, ['']);
    await fake.send(rid, 'DEADLETTERS', { req: msg.header.req, op: 'list', total: 0, letters: [] });
    assert.deepEqual(await listed, { op: 'list', total: 0, letters: [] });
    assert.ok(logger.lines.some((l) => l.includes('dropping a bad message from the manager: DEADLETTERS')), logger.lines.join('\n'));
  });

  it('a lost manager fails a sent admin request with ECONNLOST', async () => {
    const { fake, client: c, rid } = await client();
    const listed = c.listDeadLetters();
    await fake.next('DEAD', WAIT, rid);
    await fake.send(rid, 'BYE', { reason: 'shutdown' });
    await assert.rejects(listed, { code: 'ECONNLOST' });
  });

  it('to a manager without the lifecycle, admin requests fail with ENOTSUPPORTED and are not sent', async () => {
    const { fake, client: c, rid } = await client({});
    await assert.rejects(c.listDeadLetters(), { code: 'ENOTSUPPORTED' });
    await assert.rejects(c.groupLimits(), { code: 'ENOTSUPPORTED' });
    await barrier(fake, rid, c);
    assert.equal(fake.count('DEAD') + fake.count('GROUPLIMITS'), 0);
  });

  it('an admin request made before registration waits for it', async () => {
    const fake = track(await FakeManager.start());
    const c = track(new Client({ ...fake.endpoint, CON_RETRYTIME: 50, logger: memoryLogger() }));
    const listed = c.groupLimits();
    const { rid } = await fake.accept({ lifecycle: true });
    const msg = await fake.next('GROUPLIMITS', WAIT, rid);
    await fake.send(rid, 'GROUPLIMITS', { req: msg.header.req, defaults: {}, groups: [] });
    assert.deepEqual(await listed, { defaults: {}, groups: [] });
  });
});

describe('the Manager wrapper: lifecycle options become daemon flags', () => {
  it('groupMaxRunning, groupRate (a fraction), maxDeadLetters, deadLetterMaxAge', () => {
    const args = daemonArgs({ groupMaxRunning: 3, groupRate: 2.5, maxDeadLetters: 10, deadLetterMaxAge: 60000 });
    const flag = (name) => args[args.indexOf(name) + 1];
    assert.equal(flag('--group-max-running'), '3');
    assert.equal(flag('--group-rate'), '2.5');
    assert.equal(flag('--max-dead-letters'), '10');
    assert.equal(flag('--dead-letter-max-age'), '60000');
    const none = daemonArgs({});
    for (const f of ['--group-max-running', '--group-rate', '--max-dead-letters', '--dead-letter-max-age']) {
      assert.ok(!none.includes(f), `${f} only when asked for`);
    }
    assert.throws(() => daemonArgs({ groupRate: -1 }), TypeError);
  });
});
