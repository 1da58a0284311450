'use strict';
// Test fixtures: a real proletariatd on ephemeral loopback ports, and bounded waits.
//
// The daemon is found through PROLETARIAT_DAEMON, else <repo>/build/broker/proletariatd.
// Every wait here is bounded and fails with a message saying what did not happen.
// (This folder is not named `test` so that `node --test` does not run it as a test.)

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const DAEMON = process.env.PROLETARIAT_DAEMON || path.resolve(__dirname, '../../../build/broker/proletariatd');
// Heartbeats of the test daemon: a dead peer is noticed within 150 ms.
const HEARTBEAT_MS = 50;
const LIVENESS = 10; // 500 ms: fast failure detection, but a loaded CI machine is not a dead peer
const START_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 3000;

// A free TCP port on 127.0.0.1 (the kernel picks; we close at once and hand it on).
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

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

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

class Daemon {
  // extraArgs: more proletariatd flags (e.g. --hold-similar-work). ports: reuse
  // {port, pubPort} (to restart a manager where the previous one was).
  static async start(extraArgs = [], ports = {}) {
    const d = new Daemon();
    d.port = ports.port || (await freePort());
    do {
      d.pubPort = ports.pubPort || (await freePort());
    } while (d.pubPort === d.port);
    d.extraArgs = extraArgs;
    await d.spawn();
    return d;
  }

  async spawn() {
    if (!fs.existsSync(DAEMON)) {
      throw new Error(`proletariatd not found at ${DAEMON}: build it or set PROLETARIAT_DAEMON`);
    }
    const args = [
      '--endpoint', `tcp://127.0.0.1:${this.port}`,
      '--pub-endpoint', `tcp://127.0.0.1:${this.pubPort}`,
      '--heartbeat-interval', String(HEARTBEAT_MS),
      '--heartbeat-liveness', String(LIVENESS),
      '--log-level', process.env.PROLETARIAT_LOG_LEVEL || 'warn',
      ...this.extraArgs,
    ];
    this.stderr = '';
    this.exited = false;
    const child = spawn(DAEMON, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr.on('data', (chunk) => {
      this.stderr += chunk;
      if (process.env.PROLETARIAT_DAEMON_LOG) process.stderr.write(chunk);
    });
    this.exit = new Promise((resolve) => child.on('exit', (code, signal) => {
      this.exited = true;
      resolve({ code, signal });
    }));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (this.exited) throw new Error(`proletariatd exited at start: ${this.stderr}`);
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`proletariatd did not accept connections on ${this.port} within ${START_TIMEOUT_MS} ms`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
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

  // Stops this manager and starts a new one on the same ports.
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

module.exports = { Daemon, freePort, within, until, once, callback, memoryLogger, DAEMON, HEARTBEAT_MS, LIVENESS };
