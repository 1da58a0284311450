'use strict';
// Manager: the original node-proletariat's `new Manager(options).start()`, backed by
// the C++ daemon proletariatd in a child process. Options keep their original names;
// the daemon's events arrive as JSON lines (`proletariatd --events`) and are emitted
// here with the original event names and arguments.
//
// What cannot cross the process boundary: a custom `workSelectWorker` function (the
// daemon's choice is the weighted-random one; a C++ program embedding the manager can
// replace it). Assigning one logs a warning and changes nothing.

const { spawn } = require('node:child_process');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const { DEFAULT_PORT, makeLogger, nonNegative } = require('./options');

// Where the daemon is: options.daemon, $PROLETARIAT_DAEMON, the build tree of this
// repository, else `proletariatd` on the PATH.
function findDaemon(explicit) {
  if (explicit) return explicit;
  if (process.env.PROLETARIAT_DAEMON) return process.env.PROLETARIAT_DAEMON;
  const inTree = path.resolve(__dirname, '../../../build/broker/proletariatd');
  return fs.existsSync(inTree) ? inTree : 'proletariatd';
}

// The original options, and the daemon flag each becomes.
const NUMERIC_OPTIONS = {
  AVAIL_THRESHOLD: '--avail-threshold',
  CLEANUP_REQS: '--cleanup-reqs',
  CLEANUP_CHECKINT: '--cleanup-checkint',
  DISTRIB_RANDMAX: '--distrib-randmax',
  HEARTBEAT_INTERVAL: '--heartbeat-interval',
  HEARTBEAT_LIVENESS: '--heartbeat-liveness',
  MAX_ATTEMPTS: '--max-attempts',
};
const SWITCH_OPTIONS = {
  SACRED_GUARANTEES: '--sacred-guarantees',
  HOLDSIMILARWORK: '--hold-similar-work',
  DEBUG: '--debug',
};

function daemonArgs(opts) {
  const host = opts.host || '*';
  const port = opts.port == null ? DEFAULT_PORT : opts.port;
  const args = [
    '--events',
    '--endpoint', opts.endpoint || `tcp://${host}:${port}`,
    '--pub-endpoint', opts.pubEndpoint || `tcp://${host}:${opts.pubPort || (port === '*' || port === 0 ? '*' : Number(port) + 1)}`,
  ];
  for (const [name, flag] of Object.entries(NUMERIC_OPTIONS)) {
    if (opts[name] != null) args.push(flag, String(Math.round(nonNegative(opts[name], name))));
  }
  for (const [name, flag] of Object.entries(SWITCH_OPTIONS)) {
    if (opts[name]) args.push(flag);
  }
  if (!opts.DEBUG) args.push('--log-level', opts.logLevel || 'warn');
  return args;
}

// The original's job fields that the daemon's event lines name differently.
function jobOf(job) {
  if (!job || typeof job !== 'object') return job;
  return { ...job, requester: job.client };
}

class Manager extends EventEmitter {
  constructor(opts = {}) {
    super();
    this.options = { ...opts };
    this.log = makeLogger(this.options);
    this.process = null;
    this.endpoint = null;
    this.pubEndpoint = null;
    this._started = null;
    this._stopped = null;
  }

  // Starts the daemon; resolves once it listens (`endpoint`/`pubEndpoint` are then
  // the real bound endpoints). The returned promise may be ignored, as the original's
  // start() returned nothing: failures are also emitted as 'error'.
  start() {
    if (this._started) return this._started;
    const daemon = findDaemon(this.options.daemon);
    this._started = new Promise((resolve, reject) => {
      const child = spawn(daemon, daemonArgs(this.options), { stdio: ['ignore', 'pipe', 'inherit'] });
      this.process = child;
      let ready = false;
      const fail = (err) => {
        if (!ready) reject(err);
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else this.log.error(`manager: ${err.message}`);
      };
      child.on('error', (err) => fail(new Error(`cannot start ${daemon}: ${err.message}`)));
      child.on('exit', (code, signal) => {
        this.process = null;
        if (!ready) fail(new Error(`${daemon} exited before listening (code ${code}, signal ${signal})`));
        this.emit('exit', code, signal);
      });
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        let event;
        try {
          event = JSON.parse(line);
        } catch {
          this.log.warn(`manager: unreadable event line: ${line.slice(0, 200)}`);
          return;
        }
        if (event.event === 'ready') {
          ready = true;
          this.endpoint = event.endpoint;
          this.pubEndpoint = event.pub_endpoint;
          resolve(this);
          return;
        }
        this._dispatch(event);
      });
    });
    this._started.catch(() => {}); // reported through 'error' as well
    return this._started;
  }

  // The daemon's event lines, emitted with the original's names and arguments.
  _dispatch(event) {
    switch (event.event) {
      case 'receive':
      case 'assigntimeout':
        this.emit(event.event, jobOf(event.job));
        break;
      case 'finish':
        this.emit('finish', jobOf(event.job), event.result);
        break;
      case 'giveup':
        // The original passed the worker's record; its id is what crosses over.
        this.emit('giveup', jobOf(event.job), { id: event.worker });
        break;
      case 'abort':
        // The original passed the id of the worker running the job (none if queued).
        this.emit('abort', jobOf(event.job), event.worker || null);
        break;
      case 'sysmsg':
        // The original's one argument {from, content}; `from` again as the second.
        this.emit('sysmsg', { from: event.from, content: event.msg }, event.from);
        break;
      case 'cleanup':
        this.emit('cleanup');
        break;
      default:
        this.log.debug(`manager: unknown event ${event.event}`);
    }
  }

  // Stops the daemon (SIGTERM: it tells every peer BYE); resolves when it has exited.
  stop() {
    if (this._stopped) return this._stopped;
    const child = this.process;
    if (!child) return Promise.resolve();
    this._stopped = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
    return this._stopped;
  }

  set workSelectWorker(fn) {
    this.log.warn('manager: workSelectWorker cannot be replaced from Node.js; the daemon keeps its weighted-random choice');
  }
}

module.exports = { Manager, daemonArgs };
