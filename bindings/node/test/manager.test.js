'use strict';
// The original node-proletariat program shape, unchanged but for the require: a
// Manager started from Node.js (backed by proletariatd), a Worker and a Client, and
// every Manager event with the original's arguments.
const test = require('node:test');
const assert = require('node:assert');

const { Manager, Worker, Client } = require('..');
const { within, until, DAEMON } = require('../test-support/daemon');

function collect(emitter, name) {
  const seen = [];
  emitter.on(name, (...args) => seen.push(args));
  return seen;
}

test('a Manager started from Node.js serves an original-style worker and client, with its events', async () => {
  // Port 0: the daemon binds two ports the kernel picks and says which (manager.port,
  // manager.pubPort); tests run in parallel, so no fixed port is free for sure.
  const manager = new Manager({ port: 0, host: '127.0.0.1', daemon: DAEMON, AVAIL_THRESHOLD: 10, HOLDSIMILARWORK: true });
  const received = collect(manager, 'receive');
  const finished = collect(manager, 'finish');
  const sysmsgs = collect(manager, 'sysmsg');
  const timeouts = collect(manager, 'assigntimeout');
  assert.strictEqual(await within(5000, manager.start(), 'the manager to listen'), manager);
  const { port } = manager;
  assert.ok(Number.isInteger(port) && port > 0, `the bound port: ${port}`);
  assert.ok(Number.isInteger(manager.pubPort) && manager.pubPort > 0 && manager.pubPort !== port);
  assert.strictEqual(manager.endpoint, `tcp://127.0.0.1:${port}`);
  assert.strictEqual(manager.pubEndpoint, `tcp://127.0.0.1:${manager.pubPort}`);

  const worker = new Worker({ slots: 10, host: '127.0.0.1', port, CON_RETRYTIME: 50 });
  worker.on('work', (w, handler) => {
    setTimeout(() => handler(null, `Greetings, comrade ${w.args.name}!`), 5);
  });
  worker.start();
  const client = new Client({ host: '127.0.0.1', port, CON_RETRYTIME: 50 });
  try {
    const results = await within(5000, new Promise((resolve, reject) => {
      client.work([{ name: 'Ivan' }, { name: 'Olga' }], { timeout: 5000, priority: 1 }, (err, res) => (err ? reject(err) : resolve(res)));
    }), 'the results');
    assert.deepStrictEqual(results.map((r) => r.data), ['Greetings, comrade Ivan!', 'Greetings, comrade Olga!']);
    assert.ok(results.every((r) => r.err == null));

    await until(() => finished.length === 2, 3000, 'two finish events');
    assert.strictEqual(received.length, 2);
    assert.strictEqual(received[0][0].priority, 1);
    assert.deepStrictEqual(finished.map(([, result]) => result.data).sort(), ['Greetings, comrade Ivan!', 'Greetings, comrade Olga!']);

    await within(5000, new Promise((resolve) => client.systemMessage({ do: 'something' }, { to: 'MANAGER' }, resolve)), 'the sysmsg callback');
    await until(() => sysmsgs.length === 1, 3000, 'the sysmsg event');
    // The original's one argument {from, content}; from again as the second.
    assert.deepStrictEqual(sysmsgs[0], [{ from: client.id, content: { do: 'something' } }, client.id]);

    const eato = await within(5000, new Promise((resolve) => {
      client.work({ name: 'nobody' }, { assigntimeout: 30, service: 'translate' }, (err) => resolve(err));
    }), 'the EATO');
    assert.strictEqual(eato.code, 'EATO');
    await until(() => timeouts.length === 1, 3000, 'the assigntimeout event');
  } finally {
    client.close();
    await worker.stop();
    await within(5000, manager.stop(), 'the manager to stop');
  }
  assert.strictEqual(manager.process, null);
});

test('a Manager whose port is taken reports an error instead of hanging', async () => {
  const first = new Manager({ port: 0, host: '127.0.0.1', daemon: DAEMON });
  await within(5000, first.start(), 'the first manager');
  const second = new Manager({ port: first.port, pubPort: 0, host: '127.0.0.1', daemon: DAEMON, logger: null });
  const errors = collect(second, 'error');
  await assert.rejects(within(5000, second.start(), 'the second manager to fail'), /exited before listening/);
  assert.strictEqual(errors.length, 1);
  await first.stop();
});

test("the Manager's other events keep the original's arguments: abort(job, workerId), giveup(job, worker), cleanup(), exit(code, signal)", async () => {
  const manager = new Manager({ port: 0, host: '127.0.0.1', daemon: DAEMON, CLEANUP_REQS: 1 });
  const received = collect(manager, 'receive');
  const aborts = collect(manager, 'abort');
  const giveups = collect(manager, 'giveup');
  const finished = collect(manager, 'finish');
  const cleanups = collect(manager, 'cleanup');
  const exits = collect(manager, 'exit');
  await within(5000, manager.start(), 'the manager to listen');
  const { port } = manager;
  const first = new Worker({ slots: 1, host: '127.0.0.1', port, logger: null });
  first.on('work', () => {}); // never answers
  const client = new Client({ host: '127.0.0.1', port, logger: null });
  try {
    first.start();
    await within(5000, new Promise((resolve) => first.once('ready', resolve)), 'the first worker');
    // abort: the client aborts a running job; the second argument is the worker's id.
    let request;
    const aborted = new Promise((resolve) => {
      request = client.work({ a: 1 }, resolve);
    });
    await until(() => first.running === 1, 3000, 'the job to run');
    client.abort(request);
    await within(5000, aborted, 'the aborted callback');
    await until(() => aborts.length === 1, 3000, 'the abort event');
    assert.strictEqual(aborts[0][0].id, received[0][0].id);
    assert.strictEqual(aborts[0][1], first.id);
    assert.strictEqual(received[0][0].requester, client.id, "the job's requester, as the original named it");
    // giveup: the worker leaves with a running job; the second argument is the
    // worker (an object with its id, as the original's worker record had).
    const done = new Promise((resolve) => client.work({ b: 2 }, (err, data) => resolve([err, data])));
    await until(() => first.running === 1, 3000, 'the second job to run');
    const firstId = first.id;
    await first.stop({ drainTimeout: 0 }); // hard: the job never ends
    await until(() => giveups.length === 1, 3000, 'the giveup event');
    assert.strictEqual(giveups[0][1].id, firstId);
    const second = new Worker({ slots: 1, host: '127.0.0.1', port, logger: null });
    second.on('work', (w, handler) => handler(null, 'second'));
    second.start();
    try {
      assert.deepStrictEqual(await within(5000, done, 'the job to finish elsewhere'), [null, 'second']);
    } finally {
      await second.stop();
    }
    await until(() => finished.length >= 1 && cleanups.length >= 1, 3000, 'finish and cleanup (CLEANUP_REQS: 1)');
    assert.deepStrictEqual(finished[0][1], { err: null, data: 'second' });
    assert.deepStrictEqual(cleanups[0], []);
  } finally {
    await client.close();
    await first.stop({ drainTimeout: 0 });
    await within(5000, manager.stop(), 'the manager to stop');
  }
  assert.deepStrictEqual(exits, [[0, null]]);
});

test('a Manager with a journal passes its durability options to the daemon', async () => {
  const os = require('node:os');
  const fs = require('node:fs');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prlt-node-journal-'));
  const manager = new Manager({
    port: 0, host: '127.0.0.1', daemon: DAEMON, journal: dir, journalSync: 'interval=5', drainTimeout: 0, heldResults: 7,
  });
  await within(5000, manager.start(), 'the manager to listen');
  const client = new Client({ host: '127.0.0.1', port: manager.port, CON_RETRYTIME: 50 });
  try {
    const status = await within(5000, client.status(), 'the status');
    assert.strictEqual(typeof status.journal, 'object', 'the daemon keeps a journal');
    assert.strictEqual(status.journal.sync, 'interval=5');
    assert.strictEqual(status.heldResults, 0);
    assert.ok(fs.readdirSync(dir).some((name) => name.endsWith('.seg')), 'its segments are in the directory');
  } finally {
    await client.close();
    await within(5000, manager.stop(), 'the manager to stop');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(new Manager({ daemon: DAEMON, journal: '' }).start(), TypeError);
});

test('a Manager passes its limits to the daemon (SPEC 10)', async () => {
  const manager = new Manager({ port: 0, host: '127.0.0.1', daemon: DAEMON, maxJobsPerClient: 2, maxPeers: 100 });
  await within(5000, manager.start(), 'the manager to listen');
  const client = new Client({ host: '127.0.0.1', port: manager.port, CON_RETRYTIME: 50 });
  try {
    const [err, results] = await within(5000, new Promise((resolve) => client.work([1, 2, 3], (...a) => resolve(a))),
      'the refused push');
    assert.strictEqual(err, null);
    assert.deepStrictEqual(results.map((r) => r.err && r.err.code), ['ELIMIT', 'ELIMIT', 'ELIMIT'],
      'three jobs over a limit of two are refused whole');
  } finally {
    await client.close();
    await within(5000, manager.stop(), 'the manager to stop');
  }
});

test('a Manager serves the daemon\'s HTTP endpoint, guarded by its token file (SPEC 11)', async () => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const http = require('node:http');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prlt-node-http-'));
  const token = 'node-test-token-0123456789';
  fs.writeFileSync(path.join(dir, 'token'), `${token}\n`);
  const manager = new Manager({ port: 0, host: '127.0.0.1', daemon: DAEMON, http: '127.0.0.1:0',
    httpTokenFile: path.join(dir, 'token') });
  const get = (urlPath, headers = {}) => new Promise((resolve, reject) => {
    const [host, port] = manager.httpAddress.split(':');
    http.get({ host, port: Number(port), path: urlPath, headers }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
  await within(5000, manager.start(), 'the manager to listen');
  try {
    assert.match(manager.httpAddress, /^127\.0\.0\.1:\d+$/);
    assert.strictEqual((await get('/status')).status, 401, 'no token: refused');
    const status = await get('/status', { Authorization: `Bearer ${token}` });
    assert.strictEqual(status.status, 200);
    assert.strictEqual(JSON.parse(status.body).received, 0);
    const metrics = await get(`/metrics?token=${token}`);
    assert.match(metrics.body, /^proletariat_jobs_received_total 0$/m);
  } finally {
    await within(5000, manager.stop(), 'the manager to stop');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(new Manager({ daemon: DAEMON, http: '' }).start(), TypeError);
});
