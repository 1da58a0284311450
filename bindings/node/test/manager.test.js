'use strict';
// The original node-proletariat program shape, unchanged but for the require: a
// Manager started from Node.js (backed by proletariatd), a Worker and a Client.
const test = require('node:test');
const assert = require('node:assert');

const { Manager, Worker, Client } = require('..');
const { freePort, within, until, DAEMON } = require('../test-support/daemon');

function collect(emitter, name) {
  const seen = [];
  emitter.on(name, (...args) => seen.push(args));
  return seen;
}

test('a Manager started from Node.js serves an original-style worker and client, with its events', async () => {
  // Both ports free: tests run in parallel, so port + 1 may belong to another daemon.
  const port = await freePort();
  const pubPort = await freePort();
  const manager = new Manager({ port, pubPort, host: '127.0.0.1', daemon: DAEMON, AVAIL_THRESHOLD: 10, HOLDSIMILARWORK: true });
  const received = collect(manager, 'receive');
  const finished = collect(manager, 'finish');
  const sysmsgs = collect(manager, 'sysmsg');
  const timeouts = collect(manager, 'assigntimeout');
  await within(5000, manager.start(), 'the manager to listen');
  assert.strictEqual(manager.endpoint, `tcp://127.0.0.1:${port}`);

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
    assert.deepStrictEqual(sysmsgs[0][0], { do: 'something' });

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
  const port = await freePort();
  const first = new Manager({ port, pubPort: await freePort(), host: '127.0.0.1', daemon: DAEMON });
  await within(5000, first.start(), 'the first manager');
  const second = new Manager({ port, pubPort: await freePort(), host: '127.0.0.1', daemon: DAEMON, logger: null });
  const errors = collect(second, 'error');
  await assert.rejects(within(5000, second.start(), 'the second manager to fail'), /exited before listening/);
  assert.strictEqual(errors.length, 1);
  await first.stop();
});
