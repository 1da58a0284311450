'use strict';
// Security against the real manager (PROTOCOL §13): proletariatd with
// `--curve-secret-key FILE --curve-keys DIR`, DIR holding workers/, clients/ and
// admins/ allow-lists of public key files. Peers connect with the `curve` option on
// both sockets; keys listed nowhere, peers without CURVE, and commands outside a
// key's roles (EDENIED) are refused; SIGHUP (Manager.reloadKeys()) drops a revoked key.
//
// These tests run only against a daemon whose `--help` lists `--curve-keys`; with an
// older build they are skipped (and run by themselves once it lands).
// test/curve.test.js covers the same behaviour against scripted managers.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  Client, Worker, Manager, generateCurveKeyPair, readSecretKeyFile, readCurveOptions, writeKeyFiles,
} = require('..');
const { Daemon, DAEMON, HEARTBEAT_MS, LIVENESS, once, callback, until, memoryLogger } = require('../test-support/daemon');

const WAIT = 10000;

function helpOf(program) {
  if (!fs.existsSync(program)) return '';
  const help = spawnSync(program, ['--help'], { encoding: 'utf8', timeout: 5000 });
  return `${help.stdout}${help.stderr}`;
}
const SKIP = helpOf(DAEMON).includes('--curve-keys') ? false
  : `${DAEMON} --help does not mention --curve-keys (the manager's CURVE has not landed in this build)`;
// `proletariat-ctl keygen` writes the manager's key files when it can; else the
// binding's writeKeyFiles (the same format) does.
const CTL = path.resolve(path.dirname(DAEMON), '../ctl/proletariat-ctl');

// The commands a peer sends through its Session (heartbeats excepted), and those it
// receives from the manager, in order.
function recordCommands(peer) {
  const record = { sent: [], received: [] };
  const session = peer._session;
  const send = session.send.bind(session);
  session.send = (frames) => {
    record.sent.push(String(frames[2]));
    return send(frames);
  };
  const handle = session.handle.bind(session);
  session.handle = (frames) => {
    record.received.push(String(frames[2]));
    return handle(frames);
  };
  return record;
}

describe('CURVE against proletariatd (--curve-secret-key, --curve-keys)', { skip: SKIP }, () => {
  let dir;
  let managerKeyFile;
  let managerPub;
  let daemon;
  let endpoint; // {host, port} of this test's manager
  const keys = {}; // name -> {publicKey, secretKey}
  const peers = [];
  const track = (peer) => {
    peers.push(peer);
    return peer;
  };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proletariat-node-security-'));
    if (helpOf(CTL).includes('keygen')) {
      const made = spawnSync(CTL, ['keygen', 'manager'], { cwd: dir, encoding: 'utf8', timeout: 5000 });
      assert.equal(made.status, 0, `proletariat-ctl keygen: ${made.stderr}`);
    } else {
      writeKeyFiles(path.join(dir, 'manager'), generateCurveKeyPair());
    }
    managerKeyFile = path.join(dir, 'manager.key');
    managerPub = path.join(dir, 'manager.pub');
    for (const name of ['worker', 'client', 'client2', 'admin', 'stranger']) {
      keys[name] = generateCurveKeyPair();
      writeKeyFiles(path.join(dir, name), keys[name]);
    }
  });

  afterEach(async () => {
    for (const peer of peers.splice(0).reverse()) {
      if (peer instanceof Worker) await peer.stop({ drainTimeout: 0 });
      else if (peer instanceof Client) await peer.close();
      else await peer.stop();
    }
    if (daemon) await daemon.stop('SIGKILL');
    daemon = null;
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // A fresh allow-list directory: {workers: [names], clients: [...], admins: [...]}.
  function keyDir(lists) {
    const root = fs.mkdtempSync(path.join(dir, 'keys-'));
    for (const role of ['workers', 'clients', 'admins']) {
      fs.mkdirSync(path.join(root, role));
      for (const name of lists[role] || []) fs.copyFileSync(path.join(dir, `${name}.pub`), path.join(root, role, `${name}.pub`));
    }
    return root;
  }

  const DEFAULT_LISTS = { workers: ['worker'], clients: ['client', 'client2'], admins: ['admin'] };

  async function startDaemon(lists = DEFAULT_LISTS) {
    daemon = await Daemon.start(['--curve-secret-key', managerKeyFile, '--curve-keys', keyDir(lists)]);
    endpoint = daemon.endpoint;
    return daemon;
  }

  // The curve option of the named peer key, from the files (as a program would).
  const curveOf = (name) => readCurveOptions(managerPub, path.join(dir, `${name}.key`));

  function worker(name, opts = {}) {
    const w = track(new Worker({ ...endpoint, slots: 4, CON_RETRYTIME: 50, curve: curveOf(name), logger: memoryLogger(), ...opts }));
    w.on('work', (job, handler) => handler(null, { doubled: job.args * 2 }));
    return w;
  }

  // A worker of the named key, started, once the manager took its offer.
  async function readyWorker(name) {
    const w = worker(name);
    const ready = once(w, 'ready', WAIT);
    w.start();
    await ready;
    return w;
  }

  function client(name, opts = {}) {
    return track(new Client({ ...endpoint, CON_RETRYTIME: 50, curve: curveOf(name), logger: memoryLogger(), ...opts }));
  }

  async function exchange(c, values) {
    const [err, results] = await callback((cb) => c.work(values, { timeout: WAIT }, cb), WAIT, 'the results');
    assert.equal(err, null);
    return results.map((r) => (r.err ? r.err.code : r.data.doubled));
  }

  it('an authorized client and worker exchange jobs, and system messages reach them over CURVE', async () => {
    await startDaemon();
    const w = await readyWorker('worker');
    const c = client('client');
    assert.deepEqual(await exchange(c, [1, 2, 3]), [2, 4, 6]);
    // The worker's SUB socket is a CURVE client too: a system message reaches it.
    const got = once(w, 'sysmsg', WAIT);
    const counts = await c.systemMessage({ hello: 'comrade' }, { to: w.id, timeout: WAIT });
    assert.deepEqual(counts, { sentTo: 1, receivedBy: 1 });
    assert.deepEqual(await got, [{ hello: 'comrade' }, c.id]);
  });

  it("another listed key's SUB reads none of a peer's system messages, nor does one without CURVE", async () => {
    const zmq = require('zeromq');
    await startDaemon();
    const w = await readyWorker('worker');
    const got = [];
    w.on('sysmsg', (msg) => got.push(msg));
    const c = client('client');
    assert.deepEqual(await exchange(c, [1]), [2]);
    const other = curveOf('client2');
    const snoops = [
      new zmq.Subscriber({
        curveServerKey: other.serverKey, curvePublicKey: other.publicKey, curveSecretKey: other.secretKey,
        linger: 0, receiveTimeout: 200,
      }),
      new zmq.Subscriber({ linger: 0, receiveTimeout: 200 }),
    ];
    try {
      for (const sub of snoops) {
        sub.subscribe('');
        sub.subscribe(w.id);
        sub.connect(`tcp://127.0.0.1:${daemon.pubPort}`);
      }
      // The CURVE SUB is let in (its key is listed) and its subscriptions refused; the
      // plain one is refused at the handshake (or, if it got in, its subscriptions).
      const admin = client('admin');
      const deadline = Date.now() + WAIT;
      while ((await admin.status()).subscriptionsRefused < 2) {
        assert.ok(Date.now() < deadline, 'the manager never refused the two subscriptions of the listed SUB');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (let n = 0; n < 3; ++n) {
        assert.deepEqual(await c.systemMessage({ secret: n }, { to: w.id, timeout: WAIT }), { sentTo: 1, receivedBy: 1 });
      }
      assert.deepEqual(got, [{ secret: 0 }, { secret: 1 }, { secret: 2 }]);
      for (const sub of snoops) {
        await assert.rejects(sub.receive(), (e) => e.code === 'EAGAIN', 'a SUB read messages addressed to the worker');
      }
    } finally {
      for (const sub of snoops) sub.close();
    }
  });

  it('a key listed nowhere never registers (EDENIED), while the authorized pair keeps working', async () => {
    await startDaemon();
    const w = worker('worker');
    w.start();
    const c = client('client');
    const stranger = client('stranger', { MAXRETRIES: 2, CON_RETRYTIME: 20 });
    const strangerWorker = worker('stranger', { MAXRETRIES: 2, CON_RETRYTIME: 20 });
    strangerWorker.start();
    const refused = Promise.all([once(stranger, 'connect', WAIT), once(strangerWorker, 'connect', WAIT)]);
    const pending = callback((cb) => stranger.work(7, cb), WAIT, "the stranger's job");
    assert.deepEqual(await exchange(c, [5, 6]), [10, 12]);
    const [[clientErr], [workerErr]] = await refused;
    assert.equal(clientErr.code, 'EDENIED');
    assert.equal(workerErr.code, 'EDENIED');
    assert.equal((await pending)[0].code, 'ECONNLOST');
    assert.equal(stranger.id, null);
    assert.equal(strangerWorker.id, null);
    assert.deepEqual(await exchange(c, [7]), [14]);
  });

  it('a peer without CURVE is refused at the handshake, and so is one with a wrong serverKey', async () => {
    await startDaemon();
    const plain = track(new Client({ ...endpoint, CON_RETRYTIME: 20, MAXRETRIES: 2, logger: memoryLogger() }));
    const wrong = client('client', { CON_RETRYTIME: 20, MAXRETRIES: 2, curve: { ...curveOf('client'), serverKey: keys.admin.publicKey } });
    const [[err], [wrongErr]] = await Promise.all([once(plain, 'connect', WAIT), once(wrong, 'connect', WAIT)]);
    assert.equal(err.code, 'EPROTO');
    assert.match(err.message, /requires? CURVE/);
    assert.equal(plain.id, null);
    assert.equal(wrongErr.code, 'EPROTO');
    assert.match(wrongErr.message, /serverKey/);
    assert.equal(wrong.id, null);
  });

  it('a worker key that pushes gets EDENIED for its jobs', async () => {
    await startDaemon();
    const c = client('worker');
    const [err, results] = await callback((cb) => c.work([1, 2], { timeout: WAIT }, cb), WAIT, 'the refused jobs');
    assert.equal(err, null);
    assert.deepEqual(results.map((r) => r.err && r.err.code), ['EDENIED', 'EDENIED']);
    assert.ok(c.connected, 'the session goes on');
  });

  it("a client key that offers gets EDENIED: an 'error' event, and no offer again", async () => {
    await startDaemon();
    const w = worker('client');
    const { sent, received } = recordCommands(w);
    const errors = [];
    w.on('error', (err) => errors.push(err));
    w.start();
    await until(() => errors.length === 1, WAIT, "the worker's 'error' event");
    assert.equal(errors[0].code, 'EDENIED');
    assert.equal(w.ready, false);
    assert.ok(w.connected, 'the session goes on');
    // The manager sends a heartbeat every HEARTBEAT_MS: after several, still one offer.
    const heartbeats = () => received.filter((c) => c === 'HEARTBEAT').length;
    const before = heartbeats();
    await until(() => heartbeats() >= before + 4, WAIT, 'four heartbeats after the refusal');
    assert.equal(sent.filter((c) => c === 'OFFER').length, 1);
    assert.equal(errors.length, 1);
  });

  it('STATUS and broadcasts need an admin key: EDENIED for a client key, the status (with keys) for the admin', async () => {
    await startDaemon();
    const w = await readyWorker('worker');
    const c = client('client');
    await assert.rejects(c.status({ timeout: WAIT }), { code: 'EDENIED' });
    await assert.rejects(c.systemMessage('to everybody', { timeout: WAIT }), { code: 'EDENIED' });
    assert.deepEqual(await c.systemMessage('to the manager', { to: 'MANAGER', timeout: WAIT }), { sentTo: 1, receivedBy: 1 });
    const mine = await c.myStatus({ timeout: WAIT }); // any listed key
    assert.equal(mine.id, c.id);
    const admin = client('admin', { systemMessages: false });
    const status = await admin.status({ timeout: WAIT });
    const listed = (status.workers || []).find((entry) => entry.id === w.id);
    assert.ok(listed, `the worker in ${JSON.stringify(status.workers)}`);
    assert.equal(listed.key, keys.worker.publicKey);
  });

  it('a key removed from the allow-lists is disconnected on SIGHUP (Manager.reloadKeys), the others go on', async () => {
    const keysDir = keyDir(DEFAULT_LISTS);
    const manager = track(new Manager({
      port: 0, host: '127.0.0.1', daemon: DAEMON, curveSecretKey: managerKeyFile, curveKeys: keysDir,
      HEARTBEAT_INTERVAL: HEARTBEAT_MS, HEARTBEAT_LIVENESS: LIVENESS, logLevel: 'error',
    }));
    await manager.start();
    assert.equal(manager.publicKey, readSecretKeyFile(managerKeyFile).publicKey);
    endpoint = { host: '127.0.0.1', port: manager.port };
    const w = worker('worker');
    w.start();
    const revoked = client('client', { MAXRETRIES: 2, CON_RETRYTIME: 20 });
    const other = client('client2');
    assert.deepEqual(await exchange(revoked, [1]), [2]);
    assert.deepEqual(await exchange(other, [2]), [4]);
    const disconnects = { worker: 0, other: 0 };
    w.on('disconnect', () => ++disconnects.worker);
    other.on('disconnect', () => ++disconnects.other);

    fs.rmSync(path.join(keysDir, 'clients', 'client.pub'));
    const lost = once(revoked, 'disconnect', WAIT, 'the revoked client to be disconnected');
    const gaveUp = once(revoked, 'connect', WAIT, 'the revoked client to give up');
    assert.equal(manager.reloadKeys(), true);
    await lost;
    assert.ok(revoked._opts.logger.lines.some((l) => l.includes('key revoked')), revoked._opts.logger.lines.join('\n'));
    const [err] = await gaveUp;
    assert.equal(err.code, 'EDENIED', 'registering again is refused at the handshake');
    assert.deepEqual(await exchange(other, [3, 4]), [6, 8]);
    assert.deepEqual(disconnects, { worker: 0, other: 0 });
    assert.ok(w.connected && other.connected);
  });
});
