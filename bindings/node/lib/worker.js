'use strict';
// Worker — a peer that offers slots to the manager and runs jobs, with the original
// node-proletariat API:
//
//   const worker = new Worker({slots: 10, host: '127.0.0.1'});
//   worker.on('work', (w, handler) => handler(null, `hello ${w.args.name}`));
//   worker.start();
//
// A job (`w`) leaves the table of running jobs exactly once: answered, timed out
// (ETO), aborted, or taken away on reconnect/stop. Whatever the handler says after
// that is dropped, so each (id, attempt) gets at most one RESULT entry. Results are
// batched: sent when ANSWER_THRESHOLD are waiting, when nothing else runs, or when
// the oldest has waited ANSWER_DELAY_MAX ms.
//
// stop() drains (PROTOCOL §4 DRAIN, §12): it sends DRAIN, so that the manager sends
// no new jobs, REJECTs any JOBS that still arrive, lets the running jobs finish and
// sends their results, for at most the drain timeout (`drainTimeout`, 30 s); then
// it takes away what still runs, says BYE and closes. A drain timeout of 0 is a
// hard stop: BYE at once, the manager requeues the running jobs.
//
// Progress (PROTOCOL §14.4): w.progress(data) reports how a running job is doing, to a
// manager that announced the job lifecycle, which hands it to the job's client. Reports
// made in one turn of the event loop travel in one PROGRESS message, sent at the end
// of that turn, and any still waiting go before every RESULT, so a job's progress
// never follows its result. Once the job has left the table of running jobs
// (answered, timed out, aborted) progress() does nothing.
//
// Events: 'work' (w, handler); 'abort' (w, reason) when a running job is taken away,
// reason 'abort' (client or manager), 'ETO' (runTimeout), 'reconnect' (manager lost)
// or 'stop'; 'ready' (offered) when the manager accepted the offer; 'sysmsg'
// (content, from); 'connect' (null, id); 'disconnect' (); 'error' (err) when the
// manager refuses the offer (EDENIED: the worker's CURVE key is not a worker key),
// after which it offers again only in its next session (only logged when nobody
// listens for 'error').

const codec = require('./codec');
const { codes, jobError, fromHandlerError, ProletariatError } = require('./errors');
const { Peer } = require('./peer');
const { nonNegative } = require('./options');

// The offer's bounds on slots and its default (PROTOCOL §4, protocol/protocol.json).
const { SLOTS_MIN, SLOTS_MAX, SLOTS_DEFAULT, RANGE_START_PATTERN } = require('./spec');
// Default bound on how long a finished result may wait for its batch (ms).
const DEFAULT_ANSWER_DELAY_MAX = 5;
// A runTimeout beyond this is treated as this: setTimeout's largest delay (~24.8 days).
const MAX_TIMER_MS = 2147483647;
// How long stop() waits for the running jobs by default (ms).
const DEFAULT_DRAIN_TIMEOUT = 30000;

// A drain timeout (ms) from an option: a number >= 0, at most MAX_TIMER_MS.
function drainTimeoutOf(value, name) {
  return Math.min(nonNegative(value, name), MAX_TIMER_MS);
}

// One job on this worker, as the 'work' and 'abort' listeners see it.
class Work {
  constructor(entry, args, controller, report) {
    this.id = entry.id;
    this.attempt = entry.attempt;
    this.args = args;
    this.priority = entry.priority || 0;
    this.key = entry.key || null;
    this.service = entry.service || null;
    this.client = entry.client || null;
    this.runTimeout = entry.runTimeout || null;
    this.timeout = this.runTimeout; // the original's name for the run timeout (ms)
    // Aborted when the job is taken away (abort, ETO, reconnect, stop); its reason
    // is an Error whose `code` is EABORTED or ETO and whose `reason` says which.
    this.signal = controller.signal;
    // Not enumerable: `w` shows the job's fields only, as before progress existed.
    Object.defineProperty(this, '_report', { value: report });
  }

  get aborted() {
    return this.signal.aborted;
  }

  // progress(data): reports the job's progress to its client (PROTOCOL §14.4). `data`
  // is any JSON value or a Buffer (raw bytes). True when the report will be sent;
  // false when it cannot be: the job is no longer running (answered, timed out,
  // aborted), the manager does not take progress (no lifecycle in its WELCOME), or the
  // report alone is too big for a message. A value JSON cannot write throws a
  // TypeError.
  progress(data) {
    return this._report(data);
  }
}

// A prioritySlots key as the wire writes it: JSON number syntax without a sign (no
// blanks, no hex, no leading zero), the manager's rule.
const RANGE_START = new RegExp(RANGE_START_PATTERN);

// The offer rules of protocol/protocol.json ("offer.rules"; PROTOCOL §4), the
// manager's, checked at start() so that a bad configuration throws EBADOFFER rather
// than becoming a log line. Returns the guarantees to send: those of the ranges above
// 0, keyed by their number as JavaScript writes it ("1.0" becomes "1"). A guarantee
// for the range starting at 0 is checked for its type and ignored, as the manager
// ignores it (range 0 always gets the slots the other ranges leave). Two keys naming
// the same range ("1" and "1.0") are refused: only one of them could be sent.
function validateOffer(slots, prioritySlots, services) {
  if (!Number.isInteger(slots) || slots < SLOTS_MIN || slots > SLOTS_MAX) {
    throw new ProletariatError(codes.EBADOFFER, `slots must be an integer ${SLOTS_MIN} .. ${SLOTS_MAX}, not ${slots}`);
  }
  if (prioritySlots == null) prioritySlots = {};
  if (typeof prioritySlots !== 'object' || Array.isArray(prioritySlots)) {
    throw new ProletariatError(codes.EBADOFFER, 'prioritySlots must be an object {lowestPriority: slots}');
  }
  const offer = {};
  const given = new Map(); // range start (its number as a key) -> the key that named it
  let guaranteed = 0;
  for (const [start, count] of Object.entries(prioritySlots)) {
    const s = RANGE_START.test(start) ? Number(start) : NaN;
    if (!Number.isFinite(s) || s < 0) {
      throw new ProletariatError(codes.EBADOFFER, `prioritySlots start ${JSON.stringify(start)} must be a decimal number >= 0`);
    }
    if (!Number.isInteger(count) || count < 0) {
      throw new ProletariatError(codes.EBADOFFER, `prioritySlots[${start}] must be an integer >= 0, not ${count}`);
    }
    // The range starting at 0 gets what the others leave (the original's
    // {0: slots} default); a guarantee for it means nothing.
    if (s === 0) continue;
    const key = String(s);
    if (given.has(key)) {
      throw new ProletariatError(codes.EBADOFFER,
        `prioritySlots names the range starting at ${key} twice (${JSON.stringify(given.get(key))} and ${JSON.stringify(start)})`);
    }
    given.set(key, start);
    guaranteed += count;
    offer[key] = count;
  }
  if (guaranteed > slots) {
    throw new ProletariatError(codes.EBADOFFER,
      `prioritySlots guarantee ${guaranteed} slots to the ranges above 0, more than the ${slots} slots offered`);
  }
  for (const service of services) {
    if (typeof service !== 'string' || service === '') {
      throw new ProletariatError(codes.EBADOFFER, 'service names must be non-empty strings');
    }
  }
  return offer;
}

// Header bytes of one RESULT entry: the fixed estimate and its error's strings.
function entryBytes(result) {
  const { err } = result;
  return codec.HEADER_BYTES_PER_ENTRY + (err ? codec.jsonBytes(err.code) + codec.jsonBytes(err.message) : 0);
}

class Worker extends Peer {
  // opts: {slots (SLOTS_DEFAULT, 100), prioritySlots, services, host, port, endpoint, pubPort,
  // pubEndpoint, ANSWER_THRESHOLD (1), ANSWER_DELAY_MAX (5 ms), CON_RETRYTIME
  // (2000 ms), drainTimeout (30000 ms; also drain_timeout), name, curve, DEBUG, logger}.
  // curve: {serverKey, publicKey, secretKey}, as for the Client (PROTOCOL §13).
  // CLEANUP_REQS and CLEANUP_CHECKINT are accepted for compatibility and ignored
  // (there is nothing to clean up).
  constructor(opts) {
    super('worker', opts);
    const o = this._opts;
    const drain = o.drainTimeout != null ? ['drainTimeout', o.drainTimeout]
      : o.drain_timeout != null ? ['drain_timeout', o.drain_timeout] : null;
    this.drainTimeout = drain ? drainTimeoutOf(drain[1], drain[0]) : DEFAULT_DRAIN_TIMEOUT;
    this.slots = o.slots == null ? SLOTS_DEFAULT : Number(o.slots);
    this.prioritySlots = o.prioritySlots || {};
    let services = o.services;
    if (services == null) services = o.service ? [o.service] : [];
    else if (typeof services === 'string') services = [services]; // one name, not its letters
    this.services = [...services];
    this.ANSWER_THRESHOLD = Math.max(1, Math.floor(o.ANSWER_THRESHOLD == null ? 1 : nonNegative(o.ANSWER_THRESHOLD, 'ANSWER_THRESHOLD')));
    this.ANSWER_DELAY_MAX = o.ANSWER_DELAY_MAX == null ? DEFAULT_ANSWER_DELAY_MAX : nonNegative(o.ANSWER_DELAY_MAX, 'ANSWER_DELAY_MAX');
    this.ready = false;
    this._started = false;
    this._offer = null;
    this._running = new Map(); // "id:attempt" -> entry {key, work, controller, timer, done}
    this._pending = []; // RESULT entries not yet sent, with...
    this._pendingFrames = []; // ... their payloads, same order
    this._flushTimer = null;
    this._progress = []; // PROGRESS entries not yet sent, with...
    this._progressFrames = []; // ... their payloads, same order
    this._progressImmediate = null;
    this._progressRefused = false; // logged, for this session, that the manager takes none
    this._stopping = null; // stop()'s promise, once called
    this._draining = false; // stopping: JOBS are rejected
    this._drain = null; // {resolve, timer} while stop() waits for the running jobs
  }

  // Jobs running now.
  get running() {
    return this._running.size;
  }

  // Validates the offer (throws EBADOFFER for a bad one), connects and offers the
  // slots; reconnects by itself whenever the manager is lost.
  start() {
    if (this._closed) throw new ProletariatError(codes.ESTATE, 'Worker.start after stop');
    if (this._started) throw new ProletariatError(codes.ESTATE, 'Worker.start called twice');
    const prioritySlots = validateOffer(this.slots, this.prioritySlots, this.services);
    this._offer = { slots: this.slots };
    if (Object.keys(prioritySlots).length > 0) this._offer.prioritySlots = prioritySlots;
    if (this.services.length > 0) this._offer.services = this.services;
    this._started = true;
    this._session.connect();
    return this;
  }

  // stop([opts][, cb]): a graceful stop. Sends DRAIN (the manager sends no new jobs),
  // REJECTs the JOBS that still arrive, waits until the running jobs have finished
  // and their results are sent, at most opts.drainTimeout ms (the option of the same
  // name, 30 s by default; `opts` may also be that number), then takes away what
  // still runs ('abort' with reason 'stop'; the manager requeues it), says BYE and
  // closes. A drain timeout of 0 is a hard stop: no DRAIN, BYE at once. A second
  // call while draining returns the same promise, and shortens the wait if its
  // timeout ends sooner (stop(0) stops at once). cb() or the Promise when done.
  stop(opts, cb) {
    if (typeof opts === 'function') [cb, opts] = [opts, undefined];
    let timeout = this.drainTimeout;
    if (typeof opts === 'number') timeout = drainTimeoutOf(opts, 'drainTimeout');
    else if (opts != null && typeof opts === 'object') {
      if (opts.drainTimeout != null) timeout = drainTimeoutOf(opts.drainTimeout, 'drainTimeout');
      else if (opts.drain_timeout != null) timeout = drainTimeoutOf(opts.drain_timeout, 'drain_timeout');
    } else if (opts != null) throw new TypeError('stop: opts must be {drainTimeout} or a number of ms');
    if (this._stopping) {
      if (this._drain) this._shortenDrain(timeout);
    } else {
      this._stopping = this._stop(timeout);
    }
    const done = this._stopping;
    if (typeof cb === 'function') done.then(() => cb(), cb);
    return done;
  }

  async _stop(timeout) {
    if (this._closed) return;
    this.ready = false;
    this._draining = true;
    if (timeout > 0 && this._session.registered) {
      this._session.send(codec.encode('DRAIN', {}));
      this._log.info(`worker: draining: waiting up to ${timeout} ms for ${this._running.size} running jobs`);
      await new Promise((resolve) => {
        this._drain = { resolve, timer: null };
        this._shortenDrain(timeout, true);
        this._checkDrained();
      });
      if (this._running.size > 0) {
        this._log.warn(`worker: drain timeout: ${this._running.size} running jobs given back to the manager`);
      }
    }
    this._flush();
    this._takeAwayAll('stop');
    await this._closePeer();
  }

  // Ends the drain in `timeout` ms, unless it is set to end sooner already.
  _shortenDrain(timeout, first = false) {
    const drain = this._drain;
    if (!drain) return;
    const end = Date.now() + timeout;
    if (!first && drain.end <= end) return;
    if (drain.timer) clearTimeout(drain.timer);
    drain.end = end;
    drain.timer = setTimeout(() => this._endDrain(), timeout);
  }

  // The drain is over when nothing runs (or the session is gone: nothing can be sent).
  _checkDrained() {
    if (this._drain && (this._running.size === 0 || !this._session.registered)) this._endDrain();
  }

  _endDrain() {
    const drain = this._drain;
    if (!drain) return;
    this._drain = null;
    if (drain.timer) clearTimeout(drain.timer);
    drain.resolve();
  }

  // --- session hooks ---

  _onRegistered() {
    this._progressRefused = false;
    if (this._draining) return; // stopping: no new offer (close follows)
    this._session.send(codec.encode('OFFER', this._offer));
  }

  _onLost() {
    this.ready = false;
    // The manager has requeued these attempts (or forgot them): nothing we finish for
    // them may be sent, now or after we register again.
    this._takeAwayAll('reconnect');
    this._clearPending();
    this._clearProgress();
    this._checkDrained();
  }

  _onMessage(msg) {
    switch (msg.command) {
      case 'OFFERED':
        this.ready = true;
        this._log.info(`worker: offer of ${msg.header.slots} slots accepted`);
        this._emit('ready', msg.header);
        break;
      case 'JOBS':
        this._onJobs(msg.header, msg.payloads);
        break;
      case 'ABORT':
        this._onAbort(msg.header);
        break;
      case 'ERROR':
        if (msg.header.command === 'DRAIN' && this._drain) {
          // A manager that does not know DRAIN keeps sending jobs, each one rejected
          // and sent again: stop at once instead, as before DRAIN existed.
          this._log.warn(`worker: the manager refused DRAIN (${msg.header.code}); stopping at once`);
          this._endDrain();
          break;
        }
        if (msg.header.command === 'OFFER') {
          // No jobs will come in this session (EDENIED: the worker's CURVE key is not
          // in the manager's workers/ allow-list). Offering again would be refused
          // again: the next offer goes with the next registration.
          this.ready = false;
          this._reportError(msg.header.code, `the manager refused the offer (${msg.header.code}: ${msg.header.message});` +
            ' this worker gets no jobs until it registers again');
          break;
        }
        this._log.error(`worker: manager answered ${msg.header.code}` +
          `${msg.header.command ? ` to ${msg.header.command}` : ''}: ${msg.header.message}`);
        break;
      default:
        super._onMessage(msg);
    }
  }

  // --- jobs ---

  _onJobs(header, payloads) {
    const jobs = Array.isArray(header.jobs) ? header.jobs : [];
    if (jobs.length !== payloads.length) {
      this._log.warn(`worker: JOBS lists ${jobs.length} jobs but has ${payloads.length} payloads; dropped`);
      return;
    }
    const reject = [];
    const accepted = [];
    jobs.forEach((a, i) => {
      if (!a || !Number.isInteger(a.id) || !Number.isInteger(a.attempt)) {
        this._log.warn('worker: JOBS entry without id and attempt dropped');
        return;
      }
      const key = `${a.id}:${a.attempt}`;
      if (this._running.has(key)) {
        this._log.warn(`worker: job ${a.id} attempt ${a.attempt} is already running; duplicate ignored`);
        return;
      }
      if (this._draining || this._running.size >= this.slots) {
        reject.push({ id: a.id, attempt: a.attempt });
        return;
      }
      const args = codec.fromPayload(payloads[i], a.raw === true);
      const controller = new AbortController();
      const entry = { key, id: a.id, attempt: a.attempt, controller, timer: null, done: false };
      entry.work = new Work(a, args.value, controller, (data) => this._reportProgress(entry, data));
      this._running.set(key, entry);
      if (args.error) {
        this._answer(entry, jobError(codes.EHANDLER, 'the job arguments are not valid JSON'));
        return;
      }
      if (Number.isInteger(a.runTimeout) && a.runTimeout >= 0) {
        entry.timer = setTimeout(() => this._expireRun(entry), Math.min(a.runTimeout, MAX_TIMER_MS));
      }
      accepted.push(entry);
    });
    if (reject.length > 0) {
      this._log.warn(`worker: rejecting ${reject.length} jobs ${this._draining ? 'while stopping' : `beyond its ${this.slots} slots`}`);
      this._session.send(codec.encode('REJECT', { jobs: reject }));
    }
    for (const entry of accepted) this._dispatch(entry);
  }

  // Hands a job to the 'work' listeners. A listener that throws, or returns a
  // promise that rejects, fails the job; a promise that resolves to a value other
  // than undefined answers it with that value (if handler was not called before).
  _dispatch(entry) {
    if (entry.done) return;
    const handler = (err, data) => this._answer(entry, err, data);
    const listeners = this.listeners('work');
    if (listeners.length === 0) {
      this._answer(entry, jobError(codes.EHANDLER, 'this worker has no work handler'));
      return;
    }
    for (const listener of listeners) {
      try {
        const r = listener.call(this, entry.work, handler);
        if (r && typeof r.then === 'function') {
          r.then(
            (value) => {
              if (value !== undefined) handler(null, value);
            },
            (err) => handler(err == null ? jobError(codes.EHANDLER, 'the work handler rejected') : err),
          );
        }
      } catch (err) {
        handler(err == null ? jobError(codes.EHANDLER, 'the work handler threw') : err);
      }
    }
  }

  _answer(entry, err, data) {
    if (entry.done) {
      this._log.debug(`worker: late answer for job ${entry.id} attempt ${entry.attempt} dropped`);
      return;
    }
    this._remove(entry);
    let error = fromHandlerError(err);
    let payload;
    try {
      payload = error && data == null ? { frame: Buffer.alloc(0), raw: false } : codec.toPayload(data);
    } catch (e) {
      error = jobError(codes.EHANDLER, `the result cannot be sent: ${e.message}`);
      payload = { frame: Buffer.alloc(0), raw: false };
    }
    // A result the manager would refuse whole (ETOOBIG, without saying for which
    // job) would leave the job running there forever: send the error instead.
    const { maxBytes } = codec.limitsOf(this._session.welcome);
    const bytes = codec.frameBytes(payload.frame);
    if (bytes + entryBytes({ err: error }) + codec.HEADER_BYTES_BASE > maxBytes) {
      error = jobError(codes.ETOOBIG, `the result is ${bytes} bytes, the manager takes messages up to ${maxBytes}`);
      payload = { frame: Buffer.alloc(0), raw: false };
    }
    this._addResult(entry, error, payload);
    this._maybeFlush();
  }

  _expireRun(entry) {
    entry.timer = null;
    if (entry.done) return;
    const ms = entry.work.runTimeout;
    this._addResult(entry, jobError(codes.ETO, `the job ran longer than its runTimeout of ${ms} ms`),
      { frame: Buffer.alloc(0), raw: false });
    this._takeAway(entry, 'ETO');
    this._maybeFlush();
  }

  _onAbort(header) {
    for (const job of Array.isArray(header.jobs) ? header.jobs : []) {
      const entry = job && this._running.get(`${job.id}:${job.attempt}`);
      if (entry) {
        this._takeAway(entry, 'abort');
      } else {
        this._log.debug(`worker: ABORT for job ${job && job.id} attempt ${job && job.attempt}, which is not running`);
      }
    }
    this._maybeFlush();
  }

  _remove(entry) {
    entry.done = true;
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    this._running.delete(entry.key);
    if (this._drain && this._running.size === 0) {
      // The last one: end the drain once its result has been queued (the caller of
      // _remove adds it right after; the stop then flushes it before BYE).
      process.nextTick(() => this._checkDrained());
    }
  }

  // Removes a running job: aborts its signal and tells the 'abort' listeners. No
  // RESULT follows unless the caller queued one (ETO).
  _takeAway(entry, reason) {
    if (entry.done) return;
    this._remove(entry);
    const code = reason === 'ETO' ? codes.ETO : codes.EABORTED;
    const error = Object.assign(new Error(`job ${entry.id} was taken away (${reason})`), { code, reason });
    entry.controller.abort(error);
    this._emit('abort', entry.work, reason);
  }

  _takeAwayAll(reason) {
    for (const entry of [...this._running.values()]) this._takeAway(entry, reason);
  }

  // --- progress (PROTOCOL §14.4) ---

  _reportProgress(entry, data) {
    // Throws for what JSON cannot write, as for a result, whatever the job's state: a
    // mistake should not hide behind a race with the job's end.
    const payload = codec.toPayload(data);
    if (entry.done) return false;
    const { welcome } = this._session;
    if (!this._session.registered || welcome.lifecycle !== true) {
      if (this._session.registered && !this._progressRefused) {
        this._progressRefused = true;
        this._log.warn('worker: the manager does not announce the job lifecycle (PROTOCOL §14): progress is not sent');
      }
      return false;
    }
    const bytes = codec.frameBytes(payload.frame);
    const { maxBytes } = codec.limitsOf(welcome);
    if (bytes + codec.HEADER_BYTES_PER_ENTRY + codec.HEADER_BYTES_BASE > maxBytes) {
      this._log.warn(`worker: progress of job ${entry.id} is ${bytes} bytes, the manager takes messages up to ${maxBytes}; dropped`);
      return false;
    }
    const report = { id: entry.id, attempt: entry.attempt };
    if (payload.raw) report.raw = true;
    this._progress.push(report);
    this._progressFrames.push(payload.frame);
    if (!this._progressImmediate) {
      this._progressImmediate = setImmediate(() => {
        this._progressImmediate = null;
        this._flushProgress();
      });
    }
    return true;
  }

  // Sends the waiting progress, in as many PROGRESS messages as the manager's limits
  // need. Called before any RESULT goes.
  _flushProgress() {
    if (this._progress.length === 0) return;
    const entries = this._progress;
    const frames = this._progressFrames;
    this._clearProgress();
    const sizes = frames.map((f) => codec.frameBytes(f) + codec.HEADER_BYTES_PER_ENTRY);
    for (const [start, end] of codec.splitRuns(sizes, codec.limitsOf(this._session.welcome))) {
      this._session.send(codec.encode('PROGRESS', { progress: entries.slice(start, end) }, frames.slice(start, end)));
    }
  }

  _clearProgress() {
    this._progress = [];
    this._progressFrames = [];
    if (this._progressImmediate) clearImmediate(this._progressImmediate);
    this._progressImmediate = null;
  }

  // --- result batching (ANSWER_THRESHOLD) ---

  _addResult(entry, error, payload) {
    const result = { id: entry.id, attempt: entry.attempt };
    if (error) result.err = error;
    if (payload.raw) result.raw = true;
    this._pending.push(result);
    this._pendingFrames.push(payload.frame);
    if (this._pending.length === 1 && this.ANSWER_THRESHOLD > 1) {
      this._flushTimer = setTimeout(() => {
        this._flushTimer = null;
        this._flush();
      }, this.ANSWER_DELAY_MAX);
    }
  }

  // Sends the batch when it is full or nothing else runs; the timer set by
  // _addResult sends it when its oldest result has waited ANSWER_DELAY_MAX.
  _maybeFlush() {
    if (this._pending.length === 0) return;
    if (this._pending.length >= this.ANSWER_THRESHOLD || this._running.size === 0) this._flush();
  }

  // Sends what is waiting, in as many RESULT messages as the manager's limits need,
  // after the progress still waiting (which may be of these jobs).
  _flush() {
    this._flushProgress();
    if (this._pending.length === 0) return;
    const results = this._pending;
    const frames = this._pendingFrames;
    this._clearPending();
    const sizes = frames.map((f, i) => codec.frameBytes(f) + entryBytes(results[i]));
    for (const [start, end] of codec.splitRuns(sizes, codec.limitsOf(this._session.welcome))) {
      this._session.send(codec.encode('RESULT', { results: results.slice(start, end) }, frames.slice(start, end)));
    }
  }

  _clearPending() {
    this._pending = [];
    this._pendingFrames = [];
    if (this._flushTimer) clearTimeout(this._flushTimer);
    this._flushTimer = null;
  }
}

module.exports = { Worker, Work };
