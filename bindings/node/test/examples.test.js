'use strict';
// The README's examples run as written: examples/worker.js and examples/client.js as
// their own processes against proletariatd (PROLETARIAT_PORT points them at it).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Daemon, until, within } = require('../test-support/daemon');

const WAIT = 5000;
const EXAMPLES = path.join(__dirname, '..', 'examples');

function run(name, port) {
  const child = spawn(process.execPath, [path.join(EXAMPLES, name)], {
    env: { ...process.env, PROLETARIAT_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (c) => { out.stdout += c; });
  child.stderr.on('data', (c) => { out.stderr += c; });
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, out, exit };
}

describe('examples', () => {
  let daemon;
  let worker;

  before(async () => {
    daemon = await Daemon.start();
  });

  after(async () => {
    if (worker && worker.child.exitCode === null) worker.child.kill('SIGKILL');
    if (daemon) await daemon.stop();
  });

  it('examples/client.js gets its greetings from examples/worker.js, and both exit cleanly', async () => {
    worker = run('worker.js', daemon.port);
    const client = run('client.js', daemon.port);
    const done = await within(WAIT, client.exit, `examples/client.js to exit (stderr: ${client.out.stderr})`);
    assert.deepEqual(done, { code: 0, signal: null }, client.out.stderr);
    assert.equal(client.out.stdout, 'Greetings, comrade Ivan!\nGreetings, comrade Olga!\n');
    await until(() => worker.child.exitCode === null, WAIT, 'the worker to be running');
    worker.child.kill('SIGINT');
    const stopped = await within(WAIT, worker.exit, 'examples/worker.js to stop on SIGINT');
    assert.deepEqual(stopped, { code: 0, signal: null }, worker.out.stderr);
    assert.equal(worker.out.stderr, '');
  });
});
