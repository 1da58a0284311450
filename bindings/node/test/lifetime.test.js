'use strict';
// The daemon a Manager starts ends with its program (issue 10, part B): a program
// stopped by SIGTERM or SIGINT stops its daemon first and then ends as the signal
// says; a program that crashes tells its daemon to stop on the way out; a program
// killed outright (SIGKILL) leaves a daemon that notices by itself, when the daemon
// offers --parent-watch. After each, a new Manager starts on the same port.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Manager } = require('proletariat');
const { daemonSupports } = require('../lib/manager');
const { within, until, DAEMON } = require('../test-support/daemon');

const WAIT = 5000;
const PARENT = path.join(__dirname, '../test-support/manager-parent.js');

// True once the process has ended: no such process, or a zombie nobody reaped yet
// (an orphan in a container whose init does not reap).
function gone(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }
}

// Starts the parent program, its Manager on ports the kernel picks (port 0); resolves
// once its manager listens, with those ports.
async function startParent(mode) {
  const child = spawn(process.execPath, [PARENT, '0', '0', mode],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PROLETARIAT_DAEMON: DAEMON } });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (c) => { out.stdout += c; });
  child.stderr.on('data', (c) => { out.stderr += c; });
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await until(() => /listening .*\n/.test(out.stdout) || child.exitCode !== null, WAIT, 'the parent program to listen');
  const m = /listening (\d+) (\w+) (\d+) (\d+)\n/.exec(out.stdout);
  assert.ok(m, `the parent program did not start its manager: ${out.stdout} ${out.stderr}`);
  return {
    child, out, exit, daemonPid: Number(m[1]), parentWatch: m[2] === 'true', port: Number(m[3]), pubPort: Number(m[4]),
  };
}

// A new Manager on the ports the parent's daemon had: proof that they are free.
async function managerStartsOn({ port, pubPort }) {
  const manager = new Manager({ host: '127.0.0.1', port, pubPort, daemon: DAEMON, logger: null });
  try {
    await within(WAIT, manager.start(), 'a new manager on the same port');
  } finally {
    await within(WAIT, manager.stop(), 'the new manager to stop');
  }
}

describe('the daemon of a Manager ends with its program', () => {
  for (const signal of ['SIGTERM', 'SIGINT']) {
    it(`${signal} to the program: the daemon stops first, then the program ends by ${signal}`, async () => {
      const parent = await startParent('wait');
      assert.equal(gone(parent.daemonPid), false);
      parent.child.kill(signal);
      const { code, signal: by } = await within(WAIT, parent.exit, 'the program to end');
      assert.deepEqual({ code, signal: by }, { code: null, signal }, 'the program ends as the signal says');
      assert.ok(gone(parent.daemonPid), 'the daemon had ended when the program did');
      await managerStartsOn(parent);
    });
  }

  it('a program with its own SIGTERM listener decides: it stops the Manager and exits', async () => {
    const parent = await startParent('handler');
    parent.child.kill('SIGTERM');
    const { code } = await within(WAIT, parent.exit, 'the program to end');
    assert.equal(code, 0);
    assert.match(parent.out.stdout, /stopping/);
    assert.ok(gone(parent.daemonPid), 'the daemon had ended when the program did');
    await managerStartsOn(parent);
  });

  it('a program that crashes (uncaught exception) tells its daemon to stop', async () => {
    const parent = await startParent('crash');
    const { code } = await within(WAIT, parent.exit, 'the program to crash');
    assert.equal(code, 1);
    assert.match(parent.out.stderr, /a crash of the program/);
    await until(() => gone(parent.daemonPid), WAIT, 'the daemon to end after its program crashed');
    await managerStartsOn(parent);
  });

  it('a program killed with SIGKILL: its daemon (--parent-watch) notices and ends', async () => {
    assert.ok(await daemonSupports(DAEMON, '--parent-watch'), `${DAEMON} --help lists --parent-watch`);
    const parent = await startParent('wait');
    assert.equal(parent.parentWatch, true, 'the Manager started its daemon with --parent-watch');
    parent.child.kill('SIGKILL');
    await within(WAIT, parent.exit, 'the program to die');
    await until(() => gone(parent.daemonPid), WAIT, 'the daemon to end after its program was killed');
    await managerStartsOn(parent);
  });
});
