'use strict';
// Test fixtures: a real proletariatd on ephemeral loopback ports, and bounded waits.
//
// The daemon binds ports the kernel picks (`tcp://127.0.0.1:*`) and announces them
// (`--announce`: one JSON line on stdout once bound), so no test probes for a free
// port and races another process for it (issue 10). A restart binds the ports it had.
// Its stdin is a pipe this process holds, and it runs with --parent-watch: a test
// process that dies takes its daemons with it.
//
// The daemon is found through PROLETARIAT_DAEMON, else <repo>/build/broker/proletariatd.
// Every wait here is bounded and fails with a message saying what did not happen.
// (This folder is not named `test` so that `node --test` does not run it as a test.)

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const DAEMON = process.env.PROLETARIAT_DAEMON || path.resolve(__dirname, '../../../build/broker/proletariatd');
// Heartbeats of the test daemon: a dead peer is noticed within 150 ms.
const HEARTBEAT_MS = 50;
const LIVENESS = 10; // 500 ms: fast failure detection, but a loaded CI machine is not a dead peer
const START_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 3000;

// A TCP port on 127.0.0.1 that refuses connections: privileged (nothing a test or
// another user's program binds) and unassigned in practice (tcpmux). For peers that
// must find nobody there; never bound by a test.
const REFUSED_PORT = 1;

// Resolves with `promise`, or rejects after `ms` with `what` in the message.
function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Polls `predicate` (cheap, synchronous) every few ms until it is true.
function until(predicate, ms, what) {
  return within(ms, new Promise((resolve) => {
    const check = () => (predicate() ? resolve() : setTimeout(check, 5));
    check();
  }), what);
}

// The next `event` of `emitter`, with its arguments as an array.
function once(emitter, event, ms, what) {
  return within(ms, new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
    what || `event '${event}'`);
}

// Calls fn(cb) and resolves with the callback's arguments as an array.
function callback(fn, ms, what) {
  return within(ms, new Promise((resolve) => fn((...args) => resolve(args))), what);
}

class Daemon {
  // extraArgs: more proletariatd flags (e.g. --hold-similar-work). ports: {port,
  // pubPort} to bind (to restart a manager where the previous one was); by default the
  // kernel picks both and the daemon announces them.
  static async start(extraArgs = [], ports = {}) {
    const d = new Daemon();
    d.port = ports.port || null;
    d.pubPort = ports.pubPort || null;
    d.extraArgs = extraArgs;
    await d.spawn();
    return d;
  }

  // Starts proletariatd on this.port/this.pubPort (null: any) and resolves with its
  // 'ready' line, once it is bound; this.port/this.pubPort are then its ports.
  async spawn() {
    if (!fs.existsSync(DAEMON)) {
      throw new Error(`proletariatd not found at ${DAEMON}: build it or set PROLETARIAT_DAEMON`);
    }
    const args = [
      '--endpoint', `tcp://127.0.0.1:${this.port || '*'}`,
      '--pub-endpoint', `tcp://127.0.0.1:${this.pubPort || '*'}`,
      '--announce',
      '--parent-watch',
      '--heartbeat-interval', String(HEARTBEAT_MS),
      '--heartbeat-liveness', String(LIVENESS),
      '--log-level', process.env.PROLETARIAT_LOG_LEVEL || 'warn',
      ...this.extraArgs,
    ];
    this.stderr = '';
    this.exited = false;
    const child = spawn(DAEMON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdin.on('error', () => {}); // never written; closed by stop()
    child.stderr.on('data', (chunk) => {
      this.stderr += chunk;
      if (process.env.PROLETARIAT_DAEMON_LOG) process.stderr.write(chunk);
    });
    this.exit = new Promise((resolve) => child.on('exit', (code, signal) => {
      this.exited = true;
      resolve({ code, signal });
    }));
    const lines = readline.createInterface({ input: child.stdout });
    const ready = new Promise((resolve, reject) => {
      lines.once('line', (line) => {
        try {
          resolve(JSON.parse(line));
        } catch {
          reject(new Error(`proletariatd announced something that is not JSON: ${line}`));
        }
      });
      this.exit.then(({ code, signal }) => reject(new Error(
        `proletariatd exited at start (code ${code}, signal ${signal}): ${this.stderr}`)));
    });
    let event;
    try {
      event = await within(START_TIMEOUT_MS, ready, `proletariatd to announce its ports (${args.join(' ')})`);
      if (event.event !== 'ready' || !Number.isInteger(event.port) || !Number.isInteger(event.pub_port)) {
        throw new Error(`proletariatd announced ${JSON.stringify(event)}, not {"event": "ready", "port", "pub_port"}`);
      }
    } catch (e) {
      await this.stop().catch(() => {});
      throw e;
    }
    lines.close();
    child.stdout.resume(); // nothing else is expected there; never let it fill up
    this.port = event.port;
    this.pubPort = event.pub_port;
    return event;
  }

  get endpoint() {
    return { host: '127.0.0.1', port: this.port };
  }

  // SIGTERM (a clean stop: peers get BYE), or SIGKILL; waits for the exit.
  async stop(signal = 'SIGTERM') {
    if (!this.child || this.exited) return;
    this.child.kill(signal);
    try {
      await within(STOP_TIMEOUT_MS, this.exit, `proletariatd to exit on ${signal}`);
    } catch (e) {
      this.child.kill('SIGKILL');
      await within(STOP_TIMEOUT_MS, this.exit, 'proletariatd to exit on SIGKILL');
      throw e;
    }
  }

  // Stops this manager and starts a new one on the same ports (known by now).
  async restart(signal = 'SIGKILL') {
    await this.stop(signal);
    await this.spawn();
  }
}

// A logger that keeps what the library says, for assertions and for failure output.
function memoryLogger() {
  const lines = [];
  const add = (level) => (...args) => lines.push(`${level}: ${args.join(' ')}`);
  return { lines, debug: () => {}, info: add('info'), warn: add('warn'), error: add('error') };
}

module.exports = { Daemon, REFUSED_PORT, within, until, once, callback, memoryLogger, DAEMON, HEARTBEAT_MS, LIVENESS };
