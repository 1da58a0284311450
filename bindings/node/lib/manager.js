'use strict';
// Manager: the original node-proletariat's `new Manager(options).start()`, backed by
// the C++ daemon proletariatd in a child process. Options keep their original names;
// the daemon's events arrive as JSON lines (`proletariatd --events`) and are emitted
// here with the original event names and arguments.
//
// The daemon ends with its program, as the original's in-process manager did:
// - the program exits (process.exit, the loop runs dry, an uncaught exception): the
//   'exit' hook sends the daemon SIGTERM (a clean stop);
// - the program gets SIGTERM, SIGINT or SIGHUP and has no listener of its own for it:
//   the daemon is stopped (SIGTERM) and waited for, then the signal is raised again,
//   so the program ends as it would have without a Manager, with the port free. A
//   second such signal while waiting ends the program at once. A program with its own
//   listener decides for itself (stop() the Manager, or exit: see the 'exit' hook);
// - the program is killed (SIGKILL) or crashes hard: no code runs here. The daemon's
//   stdin is a pipe from this process that is never written or closed, so it reaches
//   EOF when the process is gone; a daemon that offers `--parent-watch` (told so by
//   its --help) is started with it, and then exits cleanly on that EOF (and has its
//   PR_SET_PDEATHSIG set to SIGTERM).
//
// What cannot cross the process boundary: a custom `workSelectWorker` function (the
// daemon's choice is the weighted-random one; a C++ program embedding the manager can
// replace it). Assigning one logs a warning and changes nothing.

const { spawn, execFile } = require('node:child_process');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const { DEFAULT_PORT, makeLogger, nonNegative } = require('./options');
const { readSecretKeyFile } = require('./curve');

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
  SUSPECT_AFTER: '--suspect-after',
  MAX_ATTEMPTS: '--suspect-after', // deprecated name of SUSPECT_AFTER (SPEC 5)
  // Durability (SPEC 9): milliseconds / counts, as proletariatd takes them.
  drainTimeout: '--drain-timeout',
  heldResults: '--held-results',
  heldResultsAge: '--held-results-age',
  // Limits (SPEC 10, PROTOCOL §10).
  maxMessageBytes: '--max-message-bytes',
  maxJobsPerClient: '--max-jobs-per-client',
  maxClientBytes: '--max-client-bytes',
  maxJobsPerService: '--max-jobs-per-service',
  maxPeers: '--max-peers',
  // The job lifecycle (PROTOCOL §14): the default limits of every group (none unless
  // given; GROUPLIMITS sets one group's at run time), and how many dead letters are
  // kept, for how long (ms).
  groupMaxRunning: '--group-max-running',
  maxDeadLetters: '--max-dead-letters',
  deadLetterMaxAge: '--dead-letter-max-age',
};
// Options that take a fraction (the others are whole numbers).
const FRACTIONAL_OPTIONS = {
  groupRate: '--group-rate', // job starts a second, per group
};
const SWITCH_OPTIONS = {
  SACRED_GUARANTEES: '--sacred-guarantees',
  HOLDSIMILARWORK: '--hold-similar-work',
  DEBUG: '--debug',
};

// Whether `daemon --help` mentions `flag` (cached per daemon and flag). False when the
// daemon cannot be run: the spawn that follows reports that.
const helpCache = new Map();
function daemonSupports(daemon, flag) {
  const key = `${daemon}\0${flag}`;
  if (!helpCache.has(key)) {
    helpCache.set(key, new Promise((resolve) => {
      execFile(daemon, ['--help'], { timeout: 10000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        const text = `${stdout || ''}${stderr || ''}`;
        // The flag as a word of its own (flags are letters and dashes).
        resolve(new RegExp(`(^|\\s)${flag}(?![\\w-])`, 'm').test(text));
      });
    }));
  }
  return helpCache.get(key);
}

// --- the daemons of this process end with it ---

const live = new Set(); // Managers whose daemon runs
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'];
const signalListeners = new Map(); // signal -> our listener, while any daemon runs
let exitHooked = false;
let stoppingOnSignal = false;

function onProcessExit() {
  for (const manager of live) manager._terminateNow();
}

function onStopSignal(signal) {
  // Another listener means the application handles this signal itself.
  if (process.listenerCount(signal) > 1) return;
  const reraise = () => {
    unhookProcess();
    process.kill(process.pid, signal);
  };
  if (stoppingOnSignal) {
    reraise(); // a second signal: do not wait any longer
    return;
  }
  stoppingOnSignal = true;
  Promise.all([...live].map((manager) => manager.stop())).then(reraise, reraise);
}

function hookProcess(manager) {
  live.add(manager);
  if (!exitHooked) {
    process.on('exit', onProcessExit);
    exitHooked = true;
  }
  if (signalListeners.size === 0) {
    for (const signal of STOP_SIGNALS) {
      const listener = () => onStopSignal(signal);
      signalListeners.set(signal, listener);
      process.on(signal, listener);
    }
  }
}

function unhookProcess() {
  for (const [signal, listener] of signalListeners) process.removeListener(signal, listener);
  signalListeners.clear();
  if (exitHooked) process.removeListener('exit', onProcessExit);
  exitHooked = false;
}

function unhookManager(manager) {
  live.delete(manager);
  if (live.size === 0 && !stoppingOnSignal) unhookProcess();
}

// Port 0 (or '*'): one the kernel picks; the daemon's 'ready' line says which.
const anyPort = (port) => port === 0 || port === '0' || port === '*';

function daemonArgs(opts) {
  const host = opts.host || '*';
  const port = opts.port == null ? DEFAULT_PORT : opts.port;
  const pubPort = opts.pubPort != null ? opts.pubPort : (anyPort(port) ? '*' : Number(port) + 1);
  const args = [
    '--events',
    '--endpoint', opts.endpoint || `tcp://${host}:${anyPort(port) ? '*' : port}`,
    '--pub-endpoint', opts.pubEndpoint || `tcp://${host}:${anyPort(pubPort) ? '*' : pubPort}`,
  ];
  for (const [name, flag] of Object.entries(NUMERIC_OPTIONS)) {
    if (opts[name] != null) args.push(flag, String(Math.round(nonNegative(opts[name], name))));
  }
  for (const [name, flag] of Object.entries(FRACTIONAL_OPTIONS)) {
    if (opts[name] != null) args.push(flag, String(nonNegative(opts[name], name)));
  }
  for (const [name, flag] of Object.entries(SWITCH_OPTIONS)) {
    if (opts[name]) args.push(flag);
  }
  // journal: a directory (SPEC 9); journalSync: 'always', 'interval=MS' or 'off'.
  if (opts.journal != null) {
    if (typeof opts.journal !== 'string' || opts.journal === '') throw new TypeError('journal must be a directory path');
    args.push('--journal', opts.journal);
  }
  if (opts.journalSync != null) args.push('--journal-sync', String(opts.journalSync));
  // Security (PROTOCOL §13): curveSecretKey, the manager's secret key file, and
  // curveKeys, the allow-list directory (workers/, clients/, admins/), go together;
  // allowInsecureRemote lets a manager without CURVE bind other than loopback.
  const curveFlags = { curveSecretKey: '--curve-secret-key', curveKeys: '--curve-keys' };
  for (const [name, flag] of Object.entries(curveFlags)) {
    if (opts[name] == null) continue;
    if (typeof opts[name] !== 'string' || opts[name] === '') throw new TypeError(`${name} must be a path`);
    args.push(flag, opts[name]);
  }
  if ((opts.curveSecretKey == null) !== (opts.curveKeys == null)) {
    throw new TypeError('curveSecretKey (the manager\'s secret key file) and curveKeys (the allow-list directory) go together');
  }
  if (opts.allowInsecureRemote) args.push('--allow-insecure-remote');
  // Operations (SPEC 11): http, 'HOST:PORT' of the daemon's /metrics, /status and
  // dashboard (port 0: a free one, in manager.httpAddress once started);
  // httpTokenFile, the file of the token its requests must carry.
  const httpFlags = { http: '--http', httpTokenFile: '--http-token-file' };
  for (const [name, flag] of Object.entries(httpFlags)) {
    if (opts[name] == null) continue;
    if (typeof opts[name] !== 'string' || opts[name] === '') throw new TypeError(`${name} must be a non-empty string`);
    args.push(flag, opts[name]);
  }
  if (!opts.DEBUG) args.push('--log-level', opts.logLevel || 'warn');
  return args;
}

// The port of a bound TCP endpoint ("tcp://0.0.0.0:41234" -> 41234), else null.
function portOf(endpoint) {
  const m = /^tcp:\/\/.*:(\d+)$/.exec(endpoint || '');
  return m ? Number(m[1]) : null;
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
    this.port = null; // the bound ports, once start() resolved (port 0: the kernel's pick)
    this.pubPort = null;
    this.parentWatch = false; // whether the daemon was started with --parent-watch
    // With curveSecretKey: the manager's public key (Z85), read from that file by
    // start(), for the `curve.serverKey` of its peers.
    this.publicKey = null;
    this._started = null;
    this._stopped = null;
    this._stopRequested = false;
  }

  // Starts the daemon; resolves once it listens (`endpoint`/`pubEndpoint` are then
  // the real bound endpoints, `port`/`pubPort` their ports: with `port: 0` the ports
  // the kernel picked, as the daemon's 'ready' line says). The returned promise may be ignored, as the original's
  // start() returned nothing: failures are also emitted as 'error'.
  start() {
    if (this._started) return this._started;
    const daemon = findDaemon(this.options.daemon);
    this._started = daemonSupports(daemon, '--parent-watch').then((parentWatch) => new Promise((resolve, reject) => {
      if (this._stopRequested) {
        reject(new Error('the manager was stopped before it started'));
        return;
      }
      this.parentWatch = parentWatch;
      let args;
      try {
        args = daemonArgs(this.options);
        if (this.options.curveSecretKey != null) this.publicKey = readSecretKeyFile(this.options.curveSecretKey).publicKey;
      } catch (err) {
        reject(err);
        if (this.listenerCount('error') > 0) this.emit('error', err);
        return;
      }
      if (parentWatch) args.push('--parent-watch');
      // stdin: a pipe this process never writes or closes, so that the daemon sees
      // EOF when this process is gone (--parent-watch).
      const child = spawn(daemon, args, { stdio: ['pipe', 'pipe', 'inherit'] });
      this.process = child;
      child.stdin.on('error', () => {}); // never written; an EPIPE here means nothing
      let ready = false;
      const fail = (err) => {
        if (!ready) reject(err);
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else this.log.error(`manager: ${err.message}`);
      };
      child.on('error', (err) => {
        if (this.process === child && child.pid === undefined) {
          this.process = null;
          unhookManager(this);
        }
        fail(new Error(`cannot start ${daemon}: ${err.message}`));
      });
      if (child.pid !== undefined) hookProcess(this);
      child.on('exit', (code, signal) => {
        this.process = null;
        unhookManager(this);
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
          this.port = Number.isInteger(event.port) ? event.port : portOf(event.endpoint);
          this.pubPort = Number.isInteger(event.pub_port) ? event.pub_port : portOf(event.pub_endpoint);
          this.httpAddress = typeof event.http === 'string' ? event.http : null;
          resolve(this);
          return;
        }
        this._dispatch(event);
      });
    }));
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
    this._stopRequested = true;
    this._stopped = (async () => {
      if (this._started) await this._started.catch(() => {});
      const child = this.process;
      if (!child) return;
      await new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    })();
    return this._stopped;
  }

  // Has the daemon read its CURVE allow-lists again (SIGHUP): peers whose keys are no
  // longer listed are disconnected. False when the daemon is not running.
  reloadKeys() {
    if (!this.process) return false;
    return this.process.kill('SIGHUP');
  }

  // From the process's 'exit' hook: no waiting is possible there.
  _terminateNow() {
    if (this.process) this.process.kill('SIGTERM');
  }

  set workSelectWorker(fn) {
    this.log.warn('manager: workSelectWorker cannot be replaced from Node.js; the daemon keeps its weighted-random choice');
  }
}

module.exports = { Manager, daemonArgs, daemonSupports };
