'use strict';
// CURVE in the Node binding (PROTOCOL §13), without the real manager: the key helpers
// and their files, the `curve` option checked at construction, the Manager's flags,
// and against scripted managers (a CURVE ROUTER and XPUB with a ZAP handler, or a
// plain one answering EDENIED) what a peer does with its keys and with refusals.
// test/security.test.js runs the same against proletariatd.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zmq = require('zeromq');

const {
  Client, Worker, Manager, generateCurveKeyPair, readPublicKeyFile, readSecretKeyFile, readCurveOptions, writeKeyFiles,
  isZ85Key, publicKeyOf,
} = require('..');
const { daemonArgs } = require('../lib/manager');
const codec = require('../lib/codec');
const { FakeManager, ZapHandler, serverOptions } = require('../test-support/fake-manager');
const { once, callback, until, memoryLogger, DAEMON } = require('../test-support/daemon');

const WAIT = 5000;

// libzmq's own test key pair (the client keys of its CURVE security tests).
const KNOWN = { publicKey: 'Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID', secretKey: 'D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs' };

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'proletariat-node-curve-'));
}

async function withDir(fn) {
  const dir = tmpdir();
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// --- keys and their files ---

test('isZ85Key takes 40 characters of Z85 that decode to 32 bytes, and nothing else', () => {
  const { publicKey, secretKey } = generateCurveKeyPair();
  assert.ok(isZ85Key(publicKey) && isZ85Key(secretKey));
  assert.ok(isZ85Key(KNOWN.publicKey));
  for (const bad of [undefined, null, 42, Buffer.alloc(32), '', publicKey.slice(1), `${publicKey}0`,
    `${publicKey.slice(0, 39)}"`, `${publicKey.slice(0, 39)} `, '#'.repeat(40) /* a group above 2^32 - 1 */]) {
    assert.equal(isZ85Key(bad), false, `isZ85Key(${JSON.stringify(bad)})`);
  }
});

test('publicKeyOf derives the public key libzmq made for a secret key', () => {
  assert.equal(publicKeyOf(KNOWN.secretKey), KNOWN.publicKey);
  for (let i = 0; i < 5; ++i) {
    const keys = generateCurveKeyPair();
    assert.equal(publicKeyOf(keys.secretKey), keys.publicKey);
  }
  assert.throws(() => publicKeyOf('not a key'), TypeError);
});

test('writeKeyFiles writes NAME.pub and NAME.key (0600) as keygen does; the readers read them back', () => withDir((dir) => {
  const keys = generateCurveKeyPair();
  const base = path.join(dir, 'alice');
  assert.deepEqual(writeKeyFiles(base, keys), { publicFile: `${base}.pub`, secretFile: `${base}.key` });
  assert.equal(fs.readFileSync(`${base}.pub`, 'utf8'), `${keys.publicKey}\n`);
  const secret = fs.readFileSync(`${base}.key`, 'utf8');
  assert.match(secret, new RegExp(`^public = ${escape(keys.publicKey)}$`, 'm'));
  assert.match(secret, new RegExp(`^secret = ${escape(keys.secretKey)}$`, 'm'));
  assert.equal(fs.statSync(`${base}.key`).mode & 0o777, 0o600);
  assert.equal(readPublicKeyFile(`${base}.pub`), keys.publicKey);
  assert.deepEqual(readSecretKeyFile(`${base}.key`), keys);
  // Never overwritten.
  assert.throws(() => writeKeyFiles(base, generateCurveKeyPair()), { code: 'EEXIST' });
  assert.equal(readPublicKeyFile(`${base}.pub`), keys.publicKey);
  assert.throws(() => writeKeyFiles(path.join(dir, 'bad'), { publicKey: 'x', secretKey: keys.secretKey }), TypeError);
}));

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('key files: comments, blank lines and spaces are skipped; malformed files are EBADFIELD naming the file', () => withDir((dir) => {
  const write = (name, text) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const keys = generateCurveKeyPair();
  assert.equal(readPublicKeyFile(write('a.pub', `# the worker on host a\n\n  ${keys.publicKey}  \r\nignored\n`)), keys.publicKey);
  assert.deepEqual(readSecretKeyFile(write('a.key', `# secret\nsecret=${keys.secretKey}\n  public =  ${keys.publicKey}\n`)), keys);

  const badPublic = [
    ['empty.pub', ''],
    ['comments.pub', '# only a comment\n\n'],
    ['short.pub', `${keys.publicKey.slice(0, 30)}\n`],
    ['secret-file.pub', `public = ${keys.publicKey}\n`],
  ];
  for (const [name, text] of badPublic) {
    const file = write(name, text);
    assert.throws(() => readPublicKeyFile(file), (err) => err.code === 'EBADFIELD' && err.message.includes(file), name);
  }
  const other = generateCurveKeyPair();
  const badSecret = [
    ['no-secret.key', `public = ${keys.publicKey}\n`],
    ['no-public.key', `secret = ${keys.secretKey}\n`],
    ['no-equals.key', `${keys.publicKey}\n`],
    ['bad-secret.key', `public = ${keys.publicKey}\nsecret = ${keys.secretKey.slice(1)}\n`],
    ['mismatched.key', `public = ${other.publicKey}\nsecret = ${keys.secretKey}\n`],
  ];
  for (const [name, text] of badSecret) {
    const file = write(name, text);
    assert.throws(() => readSecretKeyFile(file), (err) => err.code === 'EBADFIELD' && err.message.includes(file)
      && !err.message.includes(keys.secretKey), name);
  }
  // Errors reading the file are Node's own.
  assert.throws(() => readPublicKeyFile(path.join(dir, 'missing.pub')), { code: 'ENOENT' });
}));

test("readCurveOptions makes the curve option from the manager's public key file and the peer's secret key file", () => withDir((dir) => {
  const manager = generateCurveKeyPair();
  const peer = generateCurveKeyPair();
  writeKeyFiles(path.join(dir, 'manager'), manager);
  writeKeyFiles(path.join(dir, 'peer'), peer);
  assert.deepEqual(readCurveOptions(path.join(dir, 'manager.pub'), path.join(dir, 'peer.key')),
    { serverKey: manager.publicKey, publicKey: peer.publicKey, secretKey: peer.secretKey });
}));

// --- the curve option, checked at construction ---

test('the curve option: malformed keys are a TypeError at construction, for Client and Worker', () => {
  const server = generateCurveKeyPair();
  const peer = generateCurveKeyPair();
  const good = { serverKey: server.publicKey, publicKey: peer.publicKey, secretKey: peer.secretKey };
  const bad = [
    ['a string', 'curve'],
    ['an array', []],
    ['a number', 1],
    ['no serverKey', { publicKey: peer.publicKey, secretKey: peer.secretKey }],
    ['no secretKey', { serverKey: server.publicKey, publicKey: peer.publicKey }],
    ['a short serverKey', { ...good, serverKey: server.publicKey.slice(2) }],
    ['a serverKey outside Z85', { ...good, serverKey: `${server.publicKey.slice(0, 39)}~` }],
    ['a Buffer as secretKey', { ...good, secretKey: Buffer.alloc(32) }],
    ['a publicKey not of the secretKey', { ...good, publicKey: server.publicKey }],
    ["the peer's own key as serverKey", { ...good, serverKey: peer.publicKey }],
    ['an unknown field', { ...good, serverPublicKey: server.publicKey }],
  ];
  for (const [what, curve] of bad) {
    for (const make of [(o) => new Client(o), (o) => new Worker(o)]) {
      assert.throws(() => make({ port: 1, curve, logger: null }), (err) => {
        assert.ok(err instanceof TypeError, `${what}: ${err}`);
        assert.ok(/curve/.test(err.message), `${what}: ${err.message}`);
        assert.ok(!err.message.includes(peer.secretKey), `${what}: the message shows the secret key`);
        return true;
      }, what);
    }
  }
});

test('the curve option: publicKey may be left out (derived from secretKey); absent or null means plain TCP', async () => {
  const server = generateCurveKeyPair();
  const peer = generateCurveKeyPair();
  const client = new Client({ port: 1, curve: { serverKey: server.publicKey, secretKey: peer.secretKey }, logger: null });
  const worker = new Worker({ port: 1, curve: { serverKey: server.publicKey, publicKey: peer.publicKey, secretKey: peer.secretKey }, logger: null });
  const plain = new Client({ port: 1, curve: null, logger: null });
  try {
    assert.deepEqual({ ...client._opts.curve }, { serverKey: server.publicKey, publicKey: peer.publicKey, secretKey: peer.secretKey });
    assert.equal(worker._opts.curve.publicKey, peer.publicKey);
    assert.equal(plain._opts.curve, null);
    // The DEALER is a CURVE client (libzmq does not read keys back).
    assert.equal(client._session.socket.securityMechanism, 'curve');
    assert.equal(client._session.socket.curveServer, false);
    assert.equal(plain._session.socket.securityMechanism, null);
  } finally {
    await Promise.all([client.close(), worker.stop(0), plain.close()]);
  }
});

// --- the Manager's flags ---

test('Manager options curveSecretKey, curveKeys, allowInsecureRemote become the daemon flags', () => {
  const args = daemonArgs({ port: 0, curveSecretKey: '/etc/p/manager.key', curveKeys: '/etc/p/keys', allowInsecureRemote: true });
  const after = (flag) => args[args.indexOf(flag) + 1];
  assert.equal(after('--curve-secret-key'), '/etc/p/manager.key');
  assert.equal(after('--curve-keys'), '/etc/p/keys');
  assert.ok(args.includes('--allow-insecure-remote'));
  const plain = daemonArgs({ port: 0 });
  for (const flag of ['--curve-secret-key', '--curve-keys', '--allow-insecure-remote']) assert.ok(!plain.includes(flag), flag);
  assert.ok(!daemonArgs({ port: 0, allowInsecureRemote: false }).includes('--allow-insecure-remote'));
  assert.throws(() => daemonArgs({ curveSecretKey: '/etc/p/manager.key' }), TypeError);
  assert.throws(() => daemonArgs({ curveKeys: '/etc/p/keys' }), TypeError);
  assert.throws(() => daemonArgs({ curveSecretKey: '', curveKeys: '/etc/p/keys' }), TypeError);
  assert.throws(() => daemonArgs({ curveSecretKey: 7, curveKeys: '/etc/p/keys' }), TypeError);
});

test("a Manager whose curveSecretKey file is malformed fails start() with EBADFIELD, and starts no daemon", async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'manager.key');
    fs.writeFileSync(file, 'public = nothing\n');
    fs.mkdirSync(path.join(dir, 'keys'));
    const manager = new Manager({ port: 0, host: '127.0.0.1', daemon: DAEMON, curveSecretKey: file, curveKeys: path.join(dir, 'keys'), logger: null });
    const errors = [];
    manager.on('error', (err) => errors.push(err));
    await assert.rejects(manager.start(), (err) => err.code === 'EBADFIELD' && err.message.includes(file));
    assert.equal(manager.process, null);
    assert.equal(errors.length, 1);
  });
});

// --- against a scripted CURVE manager ---

// A scripted manager running CURVE on its ROUTER and on an XPUB (the system-message
// channel), with a ZAP handler that lets `allowed` keys in.
async function curveManager(allowed) {
  const keys = generateCurveKeyPair();
  const context = new zmq.Context();
  const zap = await ZapHandler.start(context, new Set(allowed));
  const curve = { context, secretKey: keys.secretKey };
  const manager = await FakeManager.start({ curve });
  const xpub = new zmq.XPublisher({ linger: 0, ...serverOptions(curve) });
  await xpub.bind('tcp://127.0.0.1:*');
  const pubPort = Number(/:(\d+)$/.exec(xpub.lastEndpoint)[1]);
  const subscriptions = [];
  (async () => {
    try {
      for await (const [frame] of xpub) subscriptions.push(frame);
    } catch {
      // closed
    }
  })();
  return {
    manager,
    xpub,
    pubPort,
    zap,
    publicKey: keys.publicKey,
    subscribed: (topic) => subscriptions.some((f) => f[0] === 1 && f.subarray(1).toString() === topic),
    close() {
      manager.close();
      xpub.close();
      zap.close();
    },
  };
}

test('a peer with the curve option speaks CURVE on both sockets: it registers and gets system messages', async () => {
  const peer = generateCurveKeyPair();
  const m = await curveManager([peer.publicKey]);
  const client = new Client({ ...m.manager.endpoint, CON_RETRYTIME: 50, curve: { serverKey: m.publicKey, ...peer }, logger: memoryLogger() });
  try {
    const { rid, id } = await m.manager.accept({ pub_port: m.pubPort });
    await once(client, 'connect', WAIT);
    // The SUB socket went through the CURVE handshake (and ZAP) too, then subscribed.
    await until(() => m.subscribed(id), WAIT, 'the subscription over CURVE');
    assert.deepEqual(m.zap.requests.map((r) => [r.mechanism, r.key]), [['CURVE', peer.publicKey], ['CURVE', peer.publicKey]]);
    const got = once(client, 'sysmsg', WAIT);
    const [, ...frames] = codec.encode('SYSMSG', { msg: 'm1', from: 'MANAGER' }, [Buffer.from('{"hello":1}')]);
    await m.xpub.send([id, ...frames]);
    assert.deepEqual(await got, [{ hello: 1 }, 'MANAGER']);
    assert.equal((await m.manager.next('SYSACK', WAIT, rid)).header.msg, 'm1');
  } finally {
    await client.close();
    m.close();
  }
});

test('a key the manager does not list is refused at the handshake: EDENIED, a failed try (MAXRETRIES)', async () => {
  const listed = generateCurveKeyPair();
  const unlisted = generateCurveKeyPair();
  const m = await curveManager([listed.publicKey]);
  const logger = memoryLogger();
  const worker = new Worker({ ...m.manager.endpoint, CON_RETRYTIME: 20, MAXRETRIES: 1, curve: { serverKey: m.publicKey, ...unlisted }, logger });
  try {
    worker.start();
    const [err] = await once(worker, 'connect', WAIT, 'the worker to give up');
    assert.equal(err.code, 'EDENIED');
    assert.equal(err.tries, 2);
    assert.equal(m.manager.count('HELLO'), 0);
    assert.ok(logger.lines.some((l) => l.startsWith('error:') && l.includes('refused') && l.includes(unlisted.publicKey)), logger.lines.join('\n'));
    assert.ok(!logger.lines.some((l) => l.includes(unlisted.secretKey)));
  } finally {
    await worker.stop(0);
    m.close();
  }
});

test('without the curve option a CURVE manager is refused at the handshake (EPROTO), and a CURVE peer at a plain one', async () => {
  const peer = generateCurveKeyPair();
  const m = await curveManager([peer.publicKey]);
  const plainManager = await FakeManager.start();
  const logger = memoryLogger();
  const plain = new Client({ ...m.manager.endpoint, CON_RETRYTIME: 20, MAXRETRIES: 1, logger });
  const curved = new Client({ ...plainManager.endpoint, CON_RETRYTIME: 20, MAXRETRIES: 1, logger, curve: { serverKey: m.publicKey, ...peer } });
  try {
    const [[plainErr], [curveErr]] = await Promise.all([once(plain, 'connect', WAIT), once(curved, 'connect', WAIT)]);
    assert.equal(plainErr.code, 'EPROTO');
    assert.match(plainErr.message, /requires? CURVE/);
    assert.equal(curveErr.code, 'EPROTO');
    assert.match(curveErr.message, /run CURVE/);
    assert.equal(m.manager.count('HELLO') + plainManager.count('HELLO'), 0);
  } finally {
    await Promise.all([plain.close(), curved.close()]);
    m.close();
    plainManager.close();
  }
});

// --- EDENIED, from a scripted manager ---

test('a PUSH refused with EDENIED fails its jobs with EDENIED, also a push that several requests shared', async () => {
  const fake = await FakeManager.start();
  const client = new Client({ ...fake.endpoint, CON_RETRYTIME: 50, logger: memoryLogger() });
  try {
    // Two requests given before the registration share the first push.
    const first = callback((cb) => client.work(1, cb), WAIT, 'the first request');
    const second = callback((cb) => client.work(2, cb), WAIT, 'the second request');
    await fake.accept();
    const message = 'PUSH needs a client key';
    const shared = await fake.next('PUSH');
    assert.equal(shared.header.jobs.length, 2, 'the two requests share a push');
    await fake.send(shared.rid, 'ERROR', { code: 'EDENIED', command: 'PUSH', req: shared.header.req, message });
    const [[err1], [err2]] = await Promise.all([first, second]);
    assert.deepEqual(err1, { code: 'EDENIED', message });
    assert.deepEqual(err2, { code: 'EDENIED', message });

    const third = callback((cb) => client.work([3, 4], cb), WAIT, 'the third request');
    const push = await fake.next('PUSH');
    assert.equal(fake.count('PUSH'), 0, 'the shared push refused with EDENIED was not split and pushed again');
    await fake.send(push.rid, 'ERROR', { code: 'EDENIED', command: 'PUSH', req: push.header.req, message });
    const [, results] = await third;
    assert.deepEqual(results.map((r) => r.err), [{ code: 'EDENIED', message }, { code: 'EDENIED', message }]);
  } finally {
    await client.close();
    fake.close();
  }
});

test("an OFFER refused with EDENIED is an 'error' event (or a log line), and the worker does not offer again", async () => {
  const fake = await FakeManager.start();
  const logger = memoryLogger();
  const worker = new Worker({ ...fake.endpoint, slots: 3, CON_RETRYTIME: 50, logger });
  const silentLog = memoryLogger();
  const silent = new Worker({ ...fake.endpoint, slots: 3, CON_RETRYTIME: 50, logger: silentLog });
  try {
    const errors = [];
    worker.on('error', (err) => errors.push(err));
    worker.start();
    // Heartbeats every 20 ms show that time passes while no second OFFER comes.
    const { rid } = await fake.accept({ heartbeat_ms: 20, liveness: 50 });
    const offer = await fake.next('OFFER', WAIT, rid);
    await fake.send(rid, 'ERROR', { code: 'EDENIED', command: 'OFFER', message: 'OFFER needs a worker key' });
    await until(() => errors.length === 1, WAIT, "the 'error' event");
    assert.equal(errors[0].code, 'EDENIED');
    assert.match(errors[0].message, /OFFER needs a worker key/);
    assert.equal(worker.ready, false);
    assert.ok(worker.connected, 'the session goes on');
    for (let i = 0; i < 5; ++i) await fake.next('HEARTBEAT', WAIT, rid);
    assert.equal(fake.count('OFFER'), 0, 'no second OFFER');
    assert.equal(errors.length, 1);
    assert.ok(offer.header.slots === 3);

    // Nobody listens for 'error': it is logged, nothing throws.
    silent.start();
    const s = await fake.accept({ heartbeat_ms: 20, liveness: 50 });
    await fake.next('OFFER', WAIT, s.rid);
    await fake.send(s.rid, 'ERROR', { code: 'EDENIED', command: 'OFFER', message: 'OFFER needs a worker key' });
    await until(() => silentLog.lines.some((l) => l.startsWith('error:') && l.includes('EDENIED')), WAIT, 'the log line');
    for (let i = 0; i < 3; ++i) await fake.next('HEARTBEAT', WAIT, s.rid);
    assert.equal(fake.count('OFFER'), 0);
    assert.ok(logger.lines.some((l) => l.startsWith('error:') && l.includes('refused the offer')), logger.lines.join('\n'));
  } finally {
    await Promise.all([worker.stop(0), silent.stop(0)]);
    fake.close();
  }
});
