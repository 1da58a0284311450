'use strict';
// Client — a peer that pushes groups of jobs and receives their results, with the
// original node-proletariat API:
//
//   const client = new Client('127.0.0.1');            // or new Client({host, port})
//   client.work([a, b], {timeout: 5000}, (err, results) => ...);  // [{err, data}, ...]
//   client.work(a, (err, data, work) => ...);            // a single job
//   client.workIndividual([a, b], opts, (err, data, work) => ..., (err, results) => ...);
//   client.workIndividual([a, b], opts, each, done, (work, progress) => ...);   // progress (§14.4)
//   client.listDeadLetters(), client.setGroupLimits('tenant-7', {maxRunning: 2}) ... (lib/peer.js)
//   client.on('connect', (err) => ...);                   // null after every registration
//
// A job's life: unsent -> sent (its PUSH waits for ACCEPTED in _awaiting) ->
// accepted (id known, in _byId) -> done (result delivered). Any state may jump to
// done (timeout, abort, ERROR for its push, connection lost with keepState: false).
// Losing the session takes every sent/accepted job back to unsent (keepState, the
// default: the original client pushed its unfinished jobs again after every
// reconnection) or, with an explicit keepState: false, to done with ECONNLOST.
// A job is delivered once: _finish ignores a job already done, and results are
// matched only through _byId, which holds the ids the current session's manager
// gave (it is emptied when a session is lost), so a late result for an id of an
// earlier session, or for a job finished meanwhile, is dropped. Invariants: _byId holds exactly the accepted jobs that are
// not done; _awaiting holds the pushes of the current session whose ACCEPTED (or
// ERROR) has not arrived, including pushes whose jobs finished meanwhile (their ids,
// when they come, are aborted on the manager).
//
// Durability (PROTOCOL §12). The client has a stable `identity`, sent in every HELLO.
// When the last WELCOME named a journal, losing the session keeps the accepted jobs
// (_byId stays, _keptJournal remembers the journal) and takes only the pushes not yet
// ACCEPTED back to unsent. The next WELCOME decides: the same journal, and the kept
// ids go on waiting for their results (the manager sends the held ones); another
// journal, or none, and the kept jobs are lost as without a journal (pushed again, or
// ECONNLOST with keepState: false). Every RESULT from a manager with a journal is
// answered with RECEIVED naming all its ids, the dropped ones too. An ERROR EDRAINING
// for a push takes its jobs back to unsent; pushing waits for the next registration
// (_holdPushes), since the draining manager says BYE when it stops.
//
// Pushing follows the one strategy of every binding (protocol/protocol.json,
// peer_strategy): jobs travel in PUSH messages of at most MAX_JOBS_PER_PUSH jobs and
// the manager's limits, and at most MAX_PUSHES_IN_FLIGHT pushes wait for their answer
// at a time; the rest waits in _toPush (requests in submission order, each with a
// cursor: its jobs before it are sent or done) and goes as answers come, so a huge
// request reaches the manager as fast as it takes it. Consecutive requests with the
// same push options (priority, assigntimeout, runTimeout) share a PUSH, as PROTOCOL
// §4 recommends: a program calling work() once per job, faster than the manager
// answers, sends one PUSH per answer, not one per job. When the manager refuses a
// push that several requests shared (ELIMIT, say), each of them is pushed again on
// its own, so that one request's fault does not fail the others.
//
// The job lifecycle (PROTOCOL §14): a request's `delay`, `at`, `group` and `retry`
// travel in its PUSH header (requests share a push only when these are the same too),
// an item's `_group` in its entry when it differs from the header's. They are checked
// when work() is called (lib/lifecycle.js), and when a push is made: a manager whose
// WELCOME does not say `"lifecycle": true` would ignore them, so such jobs fail at
// once with ENOTSUPPORTED and are not pushed (after every registration: a manager
// that replaced one with lifecycle may lack it). A RESULT's `attempts` reaches the
// application with the result; PROGRESS reaches the request's progress callback,
// for accepted jobs without a result only (_byId), so never after the result.
//
// Callbacks run on the event loop turn that delivers the result. An exception thrown
// by a callback is re-thrown on the next tick (an uncaught exception of the
// application), after the client's state is consistent.

const crypto = require('node:crypto');
const codec = require('./codec');
const { codes, jobError } = require('./errors');
const { Peer } = require('./peer');
const { lifecycleOptions, asksLifecycle, checkGroup } = require('./lifecycle');

// HELLO's `identity`: 1 to 128 bytes of UTF-8 (PROTOCOL §4).
const MAX_IDENTITY_BYTES = 128;

// The client's identity: the `identity` option, checked, or one made up once for
// this client's life ("node-" and 32 random hex digits).
function resolveIdentity(opts) {
  const given = opts != null && typeof opts === 'object' ? opts.identity : undefined;
  if (given == null) return `node-${crypto.randomBytes(16).toString('hex')}`;
  if (typeof given !== 'string') {
    throw new TypeError(`identity must be a string of 1 .. ${MAX_IDENTITY_BYTES} bytes of UTF-8, not a ${typeof given}`);
  }
  const bytes = Buffer.byteLength(given, 'utf8');
  if (bytes < 1 || bytes > MAX_IDENTITY_BYTES) {
    throw new TypeError(`identity must be 1 .. ${MAX_IDENTITY_BYTES} bytes of UTF-8, not ${bytes}`);
  }
  if (Buffer.from(given, 'utf8').toString('utf8') !== given) {
    throw new TypeError('identity must be valid UTF-8 (it has an unpaired surrogate)');
  }
  return given;
}

// WELCOME's `journal`, or null when it names none.
function journalOf(welcome) {
  return welcome && typeof welcome.journal === 'string' && welcome.journal !== '' ? welcome.journal : null;
}

// A duration option in ms: null/undefined/0 mean none (as in the original). Durations
// are integers below 2^53 on the wire (PROTOCOL §2).
function durationOption(opts, name) {
  const value = opts[name];
  if (value == null || value === 0) return null;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || Math.ceil(n) > codec.MAX_SAFE_INTEGER) {
    throw new TypeError(`${name} must be a number of ms, 0 .. ${codec.MAX_SAFE_INTEGER}, not ${JSON.stringify(value)}`);
  }
  return Math.ceil(n);
}

// Whether a request's jobs may share the PUSH whose header `options` (a request)
// gives: the same priority, timeouts and lifecycle options.
function samePushOptions(options, request) {
  return options.priority === request.priority && options.assigntimeout === request.assigntimeout
    && options.runTimeout === request.runTimeout && options.delay === request.delay && options.at === request.at
    && options.group === request.group && options.retryText === request.retryText;
}

// Header bytes a request's lifecycle options add to its PUSH (the two numbers, the
// group and the retry policy, at their JSON length, with their names).
function lifecycleHeaderBytes(life) {
  let bytes = 0;
  if (life.delay !== null || life.at !== null) bytes += 32;
  if (life.group !== null) bytes += 10 + codec.jsonBytes(life.group);
  if (life.retry !== null) bytes += 10 + Buffer.byteLength(life.retryText);
  return bytes;
}

function keyOf(item) {
  if (item == null || typeof item !== 'object' || Buffer.isBuffer(item) || item._key == null) return '';
  return typeof item._key === 'string' ? item._key : JSON.stringify(item._key);
}

function serviceOf(item, fallback) {
  if (item != null && typeof item === 'object' && !Buffer.isBuffer(item) && item._service != null) {
    if (typeof item._service !== 'string') throw new TypeError('_service must be a string');
    return item._service;
  }
  return fallback;
}

// An item's own group (`_group`), or null.
function groupOf(item) {
  if (item != null && typeof item === 'object' && !Buffer.isBuffer(item) && item._group != null) {
    return checkGroup(item._group, '_group');
  }
  return null;
}

// A progress callback given as an option or argument: a function, or nothing.
function progressOption(value) {
  if (value == null) return null;
  if (typeof value !== 'function') throw new TypeError('progress must be a function (work, data)');
  return value;
}

class Client extends Peer {
  // opts: a host name, or {host, port, endpoint, pubPort, pubEndpoint, keepState,
  // CON_RETRYTIME, MAXRETRIES, name, curve, DEBUG, logger}. Connects at once and keeps
  // reconnecting (MAXRETRIES failed tries in a row end it); jobs given before the
  // first registration are pushed once it happens. keepState defaults to true (the
  // original's behaviour); only an explicit false fails unfinished jobs with
  // ECONNLOST when the manager is lost.
  //
  // identity: the client's stable identity (1 .. 128 bytes of UTF-8) sent in every
  // HELLO, so that a manager with a journal gives it back its jobs after a lost
  // session; by default "node-" and 32 random hex digits, made once per Client.
  //
  // curve: {serverKey, publicKey, secretKey} (Z85) to reach a manager that runs CURVE
  // (PROTOCOL §13); a malformed key is a TypeError here. A push the manager refuses
  // with EDENIED (the key is not a client key) fails its jobs with EDENIED.
  constructor(opts) {
    const identity = resolveIdentity(opts);
    super('client', opts, { identity });
    this.identity = identity;
    this.keepState = this._opts.keepState == null ? true : Boolean(this._opts.keepState);
    this._nextRequest = 1;
    this._requests = new Map(); // request number -> unfinished request
    this._awaiting = new Map(); // PUSH req -> {jobs: [[request, index], ...], shared}
    this._byId = new Map(); // manager's job id -> {request, index}
    this._toPush = []; // requests that may have unsent jobs, in submission order
    this._pumping = false; // _pushPending is running (a callback it calls may submit)
    this._journal = null; // the journal named by the current (or last) WELCOME
    this._keptJournal = null; // a lost session's journal, while its accepted jobs are kept
    this._abortLater = new Set(); // ids of kept jobs ended while no session was up
    this._holdPushes = false; // EDRAINING: push nothing until the next registration
    this._session.connect();
  }

  // work(items[, opts][, cb]): an array gives cb(null, [{err, data}, ...]) in the
  // order of `items`; a single item gives cb(err, data, work) (the original gave
  // cb(err, data)). Options: timeout,
  // runTimeout, assigntimeout (ms), priority (>= 0), service, keepState; the job
  // lifecycle's delay (ms), at (a Date or ms since the epoch), group, retry
  // ({max, codes, initial, factor, maxDelay, jitter}), and progress(work, data). A
  // result the manager retried carries `attempts` ({err, data, attempts}, and
  // work.attempts). Returns the request number (for abort()).
  work(items, opts, cb) {
    if (typeof opts === 'function') [cb, opts] = [opts, {}];
    opts = opts || {};
    const single = !Array.isArray(items);
    return this._submit('group', single, single ? [items] : items, opts, { done: cb, progress: progressOption(opts.progress) });
  }

  // workIndividual(items[, opts], each, done[, progress]): each(err, data, work) per
  // job in finishing order; done(null, [{err, data}, ...]) once all have finished, or,
  // for a single item (not an array), done(err, data, work), as in the original.
  // progress(work, data) (or opts.progress) for each progress report of a job, in
  // order, before that job's each().
  workIndividual(items, opts, each, done, progress) {
    if (typeof opts === 'function') [progress, done, each, opts] = [done, each, opts, {}];
    opts = opts || {};
    const onProgress = progressOption(progress) || progressOption(opts.progress);
    const single = !Array.isArray(items);
    return this._submit('individual', single, single ? [items] : items, opts, { each, done, progress: onProgress });
  }

  // Aborts every unfinished job of a request, or those at the given positions. They
  // finish with EABORTED; running ones are aborted on their workers.
  abort(request, indices) {
    const r = this._requests.get(request);
    if (!r) return;
    const which = indices == null ? r.jobs.map((_, i) => i) : indices.filter((i) => Number.isInteger(i) && i >= 0 && i < r.jobs.length);
    this._endJobs(r, which, codes.EABORTED, 'aborted by the application');
  }

  // Jobs given and not yet finished.
  get pending() {
    let n = 0;
    for (const r of this._requests.values()) n += r.remaining;
    return n;
  }

  // Aborts everything on the manager, fails it here with EABORTED, says BYE and
  // closes the sockets. cb() or the returned Promise when done.
  close(cb) {
    const done = (async () => {
      if (this._closed) return;
      this._sendAbort([...this._byId.keys()]);
      for (const r of [...this._requests.values()]) {
        this._endJobs(r, r.jobs.map((_, i) => i), codes.EABORTED, 'the client was closed');
      }
      await this._closePeer();
    })();
    if (typeof cb === 'function') done.then(() => cb(), cb);
    return done;
  }

  // --- requests ---

  _submit(kind, single, items, opts, callbacks) {
    const priority = opts.priority == null ? 0 : Number(opts.priority);
    if (!Number.isFinite(priority) || priority < 0) {
      throw new TypeError(`priority must be a finite number >= 0, not ${JSON.stringify(opts.priority)}`);
    }
    if (opts.service != null && typeof opts.service !== 'string') throw new TypeError('service must be a string');
    const life = lifecycleOptions(opts);
    const request = {
      req: this._nextRequest++,
      kind,
      single,
      priority,
      timeout: durationOption(opts, 'timeout'),
      runTimeout: durationOption(opts, 'runTimeout'),
      assigntimeout: durationOption(opts, opts.assigntimeout == null ? 'assignTimeout' : 'assigntimeout'),
      keepState: opts.keepState == null ? this.keepState : Boolean(opts.keepState),
      delay: life.delay,
      at: life.at,
      group: life.group,
      retry: life.retry,
      retryText: life.retryText,
      lifecycle: asksLifecycle(life), // the manager must announce lifecycle
      headerBytes: lifecycleHeaderBytes(life),
      pushed: new Date(),
      jobs: items.map((item) => {
        const { frame, raw } = codec.toPayload(item);
        const key = keyOf(item);
        const service = serviceOf(item, opts.service || '');
        const group = groupOf(item);
        const bytes = codec.frameBytes(frame) + codec.jsonBytes(key) + codec.jsonBytes(service)
          + (group === null ? 0 : 10 + codec.jsonBytes(group)) + codec.HEADER_BYTES_PER_ENTRY;
        return { item, frame, raw, key, service, group, bytes, id: 0, sent: false, done: false, result: null, attempts: null };
      }),
      remaining: items.length,
      callbacks,
      timer: null,
      cursor: 0, // jobs before it are sent or done (see _pushPending)
      alone: false, // shares no push (set when a push it shared was refused)
    };
    if (this._closed || this._givenUp) {
      const [code, message] = this._closed ? [codes.EABORTED, 'the client is closed']
        : [codes.ECONNLOST, 'the client gave up reaching the manager (MAXRETRIES)'];
      process.nextTick(() => this._endJobs(request, request.jobs.map((_, i) => i), code, message));
      if (request.jobs.length === 0) process.nextTick(() => this._complete(request));
      return request.req;
    }
    if (request.jobs.length === 0) {
      process.nextTick(() => this._complete(request));
      return request.req;
    }
    if (request.timeout) {
      request.timer = setTimeout(() => {
        request.timer = null;
        this._endJobs(request, request.jobs.map((_, i) => i), codes.ECSTO,
          `the request did not finish within its timeout of ${request.timeout} ms`);
      }, request.timeout);
    }
    this._requests.set(request.req, request);
    this._toPush.push(request);
    this._pushPending();
    return request.req;
  }

  // Pushes the jobs of _toPush that are neither done nor sent, in order, one PUSH at
  // a time while fewer than MAX_PUSHES_IN_FLIGHT wait for their answer; called again
  // when an answer frees the window. A job too big for any message fails here with
  // ETOOBIG (the manager would refuse its whole push without saying which job).
  _pushPending() {
    if (this._pumping || this._holdPushes || !this._session.registered) return;
    this._pumping = true;
    const tooBig = [];
    const unsupported = [];
    try {
      const limits = codec.pushLimitsOf(this._session.welcome);
      const lifecycle = this._session.welcome.lifecycle === true;
      while (this._toPush.length > 0 && this._awaiting.size < codec.MAX_PUSHES_IN_FLIGHT) {
        const push = { options: null, jobs: [], bytes: codec.HEADER_BYTES_BASE, requests: 0 };
        let full = false;
        while (!full && this._toPush.length > 0) {
          const request = this._toPush[0];
          if (this._requests.get(request.req) !== request) {
            this._toPush.shift(); // finished meanwhile
            continue;
          }
          if (push.jobs.length > 0 && (request.alone || push.alone || !samePushOptions(push.options, request))) break;
          let i = request.cursor;
          let added = false;
          for (; i < request.jobs.length; ++i) {
            const job = request.jobs[i];
            if (job.done || job.sent || job.tooBig || job.unsupported) continue;
            if (!lifecycle && (request.lifecycle || job.group !== null)) {
              job.unsupported = true;
              unsupported.push([request, i]);
              continue;
            }
            if (job.bytes + codec.HEADER_BYTES_BASE + request.headerBytes > limits.maxBytes) {
              job.tooBig = true;
              tooBig.push([request, i, job.bytes]);
              continue;
            }
            if (push.jobs.length > 0 && (push.jobs.length >= limits.maxEntries || push.bytes + job.bytes > limits.maxBytes)) {
              full = true;
              break;
            }
            if (push.jobs.length === 0) {
              push.options = request;
              push.alone = request.alone;
              push.bytes += request.headerBytes;
            }
            push.jobs.push([request, i]);
            push.bytes += job.bytes;
            job.sent = true;
            added = true;
          }
          request.cursor = i;
          if (added) push.requests += 1;
          if (i >= request.jobs.length) this._toPush.shift();
        }
        if (push.jobs.length === 0) break; // _toPush is empty
        this._sendPush(push);
      }
    } finally {
      this._pumping = false;
    }
    // Finished last: their callbacks may submit more work, which pushes again.
    for (const [request, index] of unsupported) {
      this._finish(request, index, {
        err: jobError(codes.ENOTSUPPORTED, 'the manager does not announce the job lifecycle (PROTOCOL §14): it cannot' +
          ' honour delay, at, group or retry, so the job was not pushed'),
        data: null,
      });
    }
    for (const [request, index, bytes] of tooBig) {
      this._finish(request, index, {
        err: jobError(codes.ETOOBIG, `the job is ${bytes} bytes, the manager takes messages up to ${codec.limitsOf(this._session.welcome).maxBytes}`),
        data: null,
      });
    }
  }

  _sendPush(push) {
    const req = this._allocReq();
    const { options } = push;
    // The fields in PROTOCOL §4's order.
    const header = { req };
    if (options.priority !== 0) header.priority = options.priority;
    if (options.assigntimeout != null) header.assigntimeout = options.assigntimeout;
    if (options.runTimeout != null) header.runTimeout = options.runTimeout;
    if (options.delay !== null) header.delay = options.delay;
    if (options.at !== null) header.at = options.at;
    if (options.group !== null) header.group = options.group;
    if (options.retry !== null) header.retry = options.retry;
    header.jobs = [];
    const payloads = [];
    for (const [request, index] of push.jobs) {
      const job = request.jobs[index];
      const entry = {};
      if (job.key) entry.key = job.key;
      if (job.service) entry.service = job.service;
      if (job.raw) entry.raw = true;
      // Only an item's own group differs from the header's (requests share a push
      // only with the same group).
      if (job.group !== null && job.group !== options.group) entry.group = job.group;
      header.jobs.push(entry);
      payloads.push(job.frame);
    }
    this._awaiting.set(req, { jobs: push.jobs, shared: push.requests > 1 });
    this._session.send(codec.encode('PUSH', header, payloads));
  }

  _onRegistered() {
    const journal = journalOf(this._session.welcome);
    this._journal = journal;
    this._holdPushes = false;
    if (this._keptJournal !== null) {
      const kept = this._keptJournal;
      this._keptJournal = null;
      const abortLater = [...this._abortLater];
      this._abortLater.clear();
      if (journal === kept) {
        // Re-attached: the manager sends the held results and the later ones.
        this._log.info(`client: re-attached to journal ${journal}; ${this._byId.size} accepted jobs wait for their results`);
        this._sendAbort(abortLater);
      } else {
        this._log.warn(`client: the manager's journal is ${journal === null ? 'none' : journal}, not ${kept}:` +
          ' the jobs it accepted are lost');
        this._loseAccepted();
      }
    }
    this._pushPending();
  }

  _onLost() {
    // Whatever was not accepted goes again, in the order it was given.
    this._toPush = [...this._requests.values()];
    for (const request of this._toPush) request.cursor = 0;
    if (this._journal !== null) {
      // The manager keeps what it accepted (PROTOCOL §12): the accepted jobs wait
      // for the next WELCOME. A push not yet ACCEPTED goes again (the manager may
      // have accepted it: the job may run twice, its first id's result is dropped).
      this._keptJournal = this._journal;
      let again = 0;
      for (const { jobs } of this._awaiting.values()) {
        for (const [request, index] of jobs) {
          const job = request.jobs[index];
          if (job.done || this._requests.get(request.req) !== request) continue;
          job.sent = false;
          ++again;
        }
      }
      this._awaiting.clear();
      this._log.warn(`client: manager lost: ${this._byId.size} accepted jobs kept for journal ${this._journal},` +
        ` ${again} jobs not yet accepted will be pushed again`);
      return;
    }
    this._awaiting.clear();
    this._loseAccepted();
  }

  // The manager has lost every job it had of ours (no journal, or another one): each
  // sent job goes back to unsent (keepState) or fails with ECONNLOST.
  _loseAccepted() {
    this._byId.clear();
    this._toPush = [...this._requests.values()];
    for (const request of this._toPush) request.cursor = 0;
    let lost = 0;
    let kept = 0;
    for (const request of [...this._requests.values()]) {
      request.jobs.forEach((job, i) => {
        if (job.done || !job.sent) return; // never given to the lost manager: stays queued
        if (request.keepState) {
          job.sent = false;
          job.id = 0;
          ++kept;
        } else {
          ++lost;
          this._finish(request, i, { err: jobError(codes.ECONNLOST, 'the connection to the manager was lost'), data: null });
        }
      });
    }
    if (kept + lost > 0) {
      this._log.warn(`client: manager lost: ${kept} unfinished jobs will be pushed again, ${lost} failed with ECONNLOST`);
    }
  }

  _onGiveUp(err) {
    for (const request of [...this._requests.values()]) {
      this._endJobs(request, request.jobs.map((_, i) => i), codes.ECONNLOST, err.message);
    }
  }

  _onMessage(msg) {
    switch (msg.command) {
      case 'ACCEPTED':
        this._onAccepted(msg.header);
        break;
      case 'RESULT':
        this._onResults(msg.header, msg.payloads);
        break;
      case 'PROGRESS':
        this._onProgress(msg.header, msg.payloads);
        break;
      case 'ERROR':
        this._onError(msg.header);
        break;
      default:
        super._onMessage(msg);
    }
  }

  _onAccepted(header) {
    const ids = Array.isArray(header.ids) ? header.ids : [];
    const pushed = this._awaiting.get(header.req);
    if (!pushed) {
      this._log.warn(`client: ACCEPTED for unknown push ${header.req}; aborting its ${ids.length} jobs`);
      this._sendAbort(ids);
      return;
    }
    this._awaiting.delete(header.req);
    const { jobs } = pushed;
    const toAbort = [];
    const matched = Math.min(jobs.length, ids.length);
    for (let k = 0; k < matched; ++k) {
      const [request, index] = jobs[k];
      const job = request.jobs[index];
      if (this._requests.get(request.req) !== request || job.done) {
        toAbort.push(ids[k]); // finished here meanwhile (timeout, abort)
        continue;
      }
      job.id = ids[k];
      this._byId.set(ids[k], { request, index });
    }
    for (let k = matched; k < ids.length; ++k) toAbort.push(ids[k]);
    this._sendAbort(toAbort);
    if (jobs.length !== ids.length) {
      this._log.error(`client: manager accepted ${ids.length} ids for a push of ${jobs.length} jobs`);
      for (let k = matched; k < jobs.length; ++k) {
        const [request, index] = jobs[k];
        this._finish(request, index, { err: jobError(codes.EINTERNAL, 'the manager did not accept this job'), data: null });
      }
    }
    this._pushPending(); // the window has room again
  }

  _onResults(header, payloads) {
    const results = Array.isArray(header.results) ? header.results : [];
    if (results.length !== payloads.length) {
      this._log.warn(`client: RESULT lists ${results.length} entries but has ${payloads.length} payloads; dropped`);
      return;
    }
    // Read before the callbacks run (one of them may close the client).
    const journal = journalOf(this._session.welcome);
    results.forEach((entry, i) => {
      const where = entry && this._byId.get(entry.id);
      if (!where) {
        this._log.debug(`client: result for job ${entry && entry.id} that is not waiting; dropped`);
        return;
      }
      let err = null;
      if (entry.err != null) {
        err = jobError(typeof entry.err.code === 'string' && entry.err.code ? entry.err.code : codes.EHANDLER,
          entry.err.message);
      }
      const payload = codec.fromPayload(payloads[i], entry.raw === true);
      if (payload.error && !err) err = jobError(codes.EHANDLER, 'the result is not valid JSON');
      const result = { err, data: payload.error ? null : payload.value };
      // Present only when the push asked for retries (PROTOCOL §5): results of other
      // jobs keep the original's {err, data} shape.
      if (entry.attempts != null) {
        result.attempts = entry.attempts;
        where.request.jobs[where.index].attempts = entry.attempts;
      }
      this._finish(where.request, where.index, result);
    });
    // A manager with a journal holds each result until told that it arrived: name
    // every entry, also those dropped (already delivered, or not ours).
    if (journal !== null) {
      const ids = results.filter((entry) => entry && Number.isSafeInteger(entry.id)).map((entry) => entry.id);
      if (ids.length > 0) this._session.send(codec.encode('RECEIVED', { ids }));
    }
  }

  // PROGRESS (PROTOCOL §14.4): each entry to its request's progress callback, in
  // order. A job that is not waiting (unknown, or finished: its result came first)
  // gets none; neither does a request without a callback.
  _onProgress(header, payloads) {
    header.progress.forEach((entry, i) => {
      const where = this._byId.get(entry.id);
      if (!where) {
        this._log.debug(`client: progress for job ${entry.id}, which is not waiting; dropped`);
        return;
      }
      const { request, index } = where;
      if (!request.callbacks.progress) return;
      const payload = codec.fromPayload(payloads[i], entry.raw === true);
      if (payload.error) {
        this._log.warn(`client: progress for job ${entry.id} is not valid JSON; dropped`);
        return;
      }
      this._call(request.callbacks.progress, this._workInfo(request, index), payload.value);
    });
  }

  _onError(header) {
    let req = header.req;
    // An ERROR naming PUSH without a req (ETOOBIG, refused before its header was
    // read): the manager answers pushes in order, so it refuses the oldest waiting.
    if (req == null && header.command === 'PUSH' && this._awaiting.size > 0) req = this._awaiting.keys().next().value;
    const pushed = req != null ? this._awaiting.get(req) : undefined;
    if (!pushed) {
      this._log.error(`client: manager answered ${header.code}${header.command ? ` to ${header.command}` : ''}:` +
        ` ${header.message}`);
      return;
    }
    this._awaiting.delete(req);
    if (header.code === codes.EDRAINING) {
      // The manager is stopping: push these again once registered anew (it says BYE
      // when it stops, and the session reconnects as usual). Nothing fails.
      if (!this._holdPushes) {
        this._log.warn('client: the manager is draining (EDRAINING); pushing waits for the next registration');
      }
      this._holdPushes = true;
      for (const [request, index] of pushed.jobs) request.jobs[index].sent = false;
      this._toPush = [...this._requests.values()];
      for (const request of this._toPush) request.cursor = 0;
      return;
    }
    if (pushed.shared && header.code !== codes.EDENIED) {
      // Several requests shared it: each goes again on its own (first, in order).
      this._log.warn(`client: manager refused a push of ${pushed.jobs.length} jobs shared by several requests` +
        ` (${header.code} ${header.message}); pushing each request on its own`);
      const again = [...new Set(pushed.jobs.map(([request]) => request))];
      for (const [request, index] of pushed.jobs) {
        request.jobs[index].sent = false;
        request.cursor = Math.min(request.cursor, index);
      }
      for (const request of again) request.alone = true;
      this._toPush = [...again, ...this._toPush.filter((r) => !again.includes(r))];
    } else {
      // EDENIED (the client's CURVE key is not in the manager's clients/ allow-list)
      // is no single request's fault: the whole push fails, shared or not.
      this._log[header.code === codes.EDENIED ? 'error' : 'warn'](`client: manager refused a push of` +
        ` ${pushed.jobs.length} jobs: ${header.code} ${header.message}`);
      for (const [request, index] of pushed.jobs) {
        this._finish(request, index, { err: jobError(header.code, header.message), data: null });
      }
    }
    this._pushPending();
  }

  // Finishes the given unfinished jobs of a request with an error, and tells the
  // manager to abort the ones it accepted. Jobs pushed but not yet accepted are
  // aborted when their ACCEPTED arrives.
  _endJobs(request, indices, code, message) {
    this._sendAbort(indices.map((i) => request.jobs[i]).filter((job) => !job.done && job.id).map((job) => job.id));
    for (const index of indices) this._finish(request, index, { err: jobError(code, message), data: null });
  }

  _sendAbort(ids) {
    if (ids.length === 0) return;
    if (!this._session.registered) {
      // Kept jobs live on in the journal: abort them once re-attached.
      if (this._keptJournal !== null) for (const id of ids) this._abortLater.add(id);
      return;
    }
    this._session.send(codec.encode('ABORT', { ids }));
  }

  // Marks one job done and delivers its result; completes the request when it was
  // the last.
  _finish(request, index, result) {
    const job = request.jobs[index];
    if (job.done) return;
    job.done = true;
    if (job.id) this._byId.delete(job.id);
    job.result = result;
    request.remaining -= 1;
    const last = request.remaining === 0;
    if (last) {
      if (request.timer) clearTimeout(request.timer);
      request.timer = null;
      this._requests.delete(request.req);
    }
    if (request.kind === 'individual') {
      this._call(request.callbacks.each, result.err, result.data, this._workInfo(request, index));
    }
    if (last) this._complete(request);
  }

  _complete(request) {
    const { done } = request.callbacks;
    const results = request.jobs.map((job) => job.result || { err: null, data: null });
    if (request.single) {
      this._call(done, results[0].err, results[0].data, this._workInfo(request, 0));
    } else {
      this._call(done, null, results);
    }
  }

  // What a callback learns about one job: the manager's id (null if it never got
  // one), the request number, the position in the request, the job's arguments (as
  // `args`, and as `original`, the original's name for them), when work() was called.
  // `attempts` is there once a result of a retried job said how many it took.
  _workInfo(request, index) {
    const job = request.jobs[index];
    const info = { id: job.id || null, request: request.req, index, args: job.item, original: job.item, pushed: request.pushed };
    if (job.attempts !== null) info.attempts = job.attempts;
    return info;
  }
}

module.exports = { Client };
