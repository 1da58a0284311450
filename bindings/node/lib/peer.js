'use strict';
// Peer — what Client and Worker share: the Session with the manager, the
// system-message channel (PROTOCOL §8.1: a SUB socket subscribed to the peer's own
// id on the manager's XPUB), systemMessage(), status() and myStatus().
//
// Events: 'connect' (null, id) once registered (after every registration, as the
// original emitted 'connect' with null after every connection), 'connect' (err) when
// MAXRETRIES registrations failed in a row and the peer gave up, 'disconnect' () when
// the session is lost, 'sysmsg' (content, from) for every system message received.
//
// With the option `systemMessages: false` the peer opens no SUB socket and its HELLO
// says `"sysmsg": false`: the manager never counts it as a recipient (a broadcast does
// not wait for it, a SYSMSG to its id is refused with ENOPEER) and 'sysmsg' never
// fires. It may still send system messages and ask for status.
//
// Control requests (SYSMSG, STATUS, MYSTATUS, and the job lifecycle's DEAD and
// GROUPLIMITS) made before the peer is registered wait for the registration; one that
// was sent and whose session is lost fails with ECONNLOST (the manager drops a leaving
// sender's messages, PROTOCOL §8.2). Each carries its own `req`: its reply, or an ERROR,
// is matched to it by that number. DEAD and GROUPLIMITS go only to a manager that
// announced `"lifecycle": true`; with another they fail with ENOTSUPPORTED (it would
// answer EUNKNOWNCMD, or nothing).
//
// With the option `curve` ({serverKey, publicKey, secretKey}, PROTOCOL §13) both
// sockets, the DEALER (Session) and the SUB, are CURVE clients with this key pair.
// The `error` event (err with a `code`, such as EDENIED) reports what the manager
// refused for good, when it has listeners; without listeners it is only logged (a
// peer never throws at the application from its event loop).

const EventEmitter = require('node:events');
const zmq = require('zeromq');
const codec = require('./codec');
const curve = require('./curve');
const { codes, jobError } = require('./errors');
const { resolveOptions, makeLogger, nonNegative } = require('./options');
const { Session } = require('./session');
const { checkGroup, idList, idsOrAll, groupLimitField } = require('./lifecycle');

// Message ids remembered per session to drop a system message delivered twice.
const SEEN_SYSMSG_LIMIT = 1024;
// Replies matched to control requests by `req`: reply -> the request's command.
const CONTROL_REPLIES = new Map([
  ['SYSDONE', 'SYSMSG'], ['STATUS', 'STATUS'], ['MYSTATUS', 'MYSTATUS'], ['DEADLETTERS', 'DEAD'], ['GROUPLIMITS', 'GROUPLIMITS'],
]);
// Control requests only a manager with the job lifecycle answers (PROTOCOL §14).
const LIFECYCLE_CONTROLS = new Set(['DEAD', 'GROUPLIMITS']);

// The trailing arguments of a control method: ([opts][, cb]), opts an object.
function optsAndCb(opts, cb) {
  if (typeof opts === 'function') return [{}, opts];
  if (opts != null && typeof opts !== 'object') throw new TypeError('opts must be an object ({timeout})');
  return [opts || {}, cb];
}

class Peer extends EventEmitter {
  // session: more Session options from the subclass (the client's `identity`).
  constructor(role, opts, session = {}) {
    super();
    this._opts = resolveOptions(opts);
    this._role = role;
    this._log = makeLogger(this._opts);
    this._closed = false;
    this._givenUp = false; // MAXRETRIES registrations failed: nothing will be sent
    this._nextReq = 1; // req numbers of PUSH, SYSMSG, STATUS, MYSTATUS: one sequence
    this._controls = new Map(); // req -> control request (sent or waiting)
    this._sub = null;
    this._subGeneration = 0;
    this._seenSysmsg = new Set();
    this._session = new Session(
      {
        endpoint: this._opts.endpoint,
        name: this._opts.name || '',
        conRetryTime: this._opts.CON_RETRYTIME,
        maxRetries: this._opts.MAXRETRIES,
        role,
        systemMessages: this._opts.systemMessages,
        curve: this._opts.curve,
        logger: this._log,
        ...session,
      },
      {
        onRegistered: () => this._registered(),
        onMessage: (msg) => this._message(msg),
        onLost: () => this._lost(),
        onGiveUp: (err) => this._gaveUp(err),
      },
    );
  }

  // The manager's id for this peer's current session (null while not registered).
  get id() {
    return this._session.registered ? this._session.welcome.id : null;
  }

  get connected() {
    return this._session.registered;
  }

  // systemMessage(msg[, opts][, cb]): sends `msg` (any JSON value) to
  //   opts.to === 'MANAGER'  the manager only,
  //   opts.to == null         everybody: the manager and every other peer,
  //   opts.to === '<peer id>' that peer only.
  // cb(err, {sentTo, receivedBy}) once every recipient acknowledged (at once with 0/0
  // when there was nobody); err is {code, message} (ENOPEER, ECONNLOST, ECSTO after
  // opts.timeout ms, EABORTED on close). Without cb, returns a Promise of the counts.
  systemMessage(msg, opts, cb) {
    if (typeof opts === 'function') [cb, opts] = [opts, {}];
    opts = opts || {};
    const to = opts.to == null ? null : opts.to;
    if (to !== null && typeof to !== 'string') throw new TypeError('systemMessage: `to` must be a string or null');
    const text = msg === undefined ? 'null' : JSON.stringify(msg);
    if (text === undefined) throw new TypeError(`systemMessage: a ${typeof msg} is not a JSON value`);
    return this._control('SYSMSG', { to }, [text], opts.timeout, cb);
  }

  // status([opts][, cb]): the manager's status (PROTOCOL §8.2 STATUS): queues, slots,
  // workers, clients, and why waiting jobs wait. cb(err, status); Promise without cb.
  status(opts, cb) {
    if (typeof opts === 'function') [cb, opts] = [opts, {}];
    return this._control('STATUS', {}, [], (opts || {}).timeout, cb);
  }

  // myStatus([opts][, cb]): this peer as the manager sees it (MYSTATUS).
  myStatus(opts, cb) {
    if (typeof opts === 'function') [cb, opts] = [opts, {}];
    return this._control('MYSTATUS', {}, [], (opts || {}).timeout, cb);
  }

  // --- the job lifecycle's admin requests (PROTOCOL §14.2, §14.5) ---
  // Each takes [opts] ({timeout} in ms: ECSTO when no answer came) and [cb](err,
  // reply), or returns a Promise of the reply; err is {code, message}: the manager's
  // ERROR (EBADFIELD, EDENIED without an admin key under CURVE), ECONNLOST, ECSTO,
  // EABORTED (closed), ENOTSUPPORTED (a manager without the lifecycle).

  // listDeadLetters([limit][, opts][, cb]): the newest dead letters first, at most
  // `limit` (the manager's default 100, at most 1,000). Reply {op, total, letters}:
  // `total` letters are kept; each letter is {id, job, service?, key?, group?,
  // priority, client?, err, attempts, since, raw, bytes} (no payload: see show).
  listDeadLetters(limit, opts, cb) {
    if (typeof limit === 'function' || (limit != null && typeof limit === 'object')) [cb, opts, limit] = [opts, limit, undefined];
    [opts, cb] = optsAndCb(opts, cb);
    const header = { op: 'list' };
    if (limit != null) {
      if (!Number.isSafeInteger(limit) || limit < 0) throw new TypeError(`limit must be an integer >= 0, not ${JSON.stringify(limit)}`);
      header.limit = limit;
    }
    return this._control('DEAD', header, [], opts.timeout, cb);
  }

  // showDeadLetters(ids[, opts][, cb]): the letters with these ids (unknown ones are
  // left out), each with `args`, the job's payload decoded (a Buffer for a raw one).
  showDeadLetters(ids, opts, cb) {
    [opts, cb] = optsAndCb(opts, cb);
    return this._control('DEAD', { op: 'show', ids: idList(ids, 'showDeadLetters: ids') }, [], opts.timeout, cb);
  }

  // requeueDeadLetters(ids | 'all'[, opts][, cb]): the letters go back to the manager
  // as new jobs (new ids, no client: their results are only logged). Reply {op,
  // total, letters: [], requeued: [{letter, job}]}.
  requeueDeadLetters(which, opts, cb) {
    [opts, cb] = optsAndCb(opts, cb);
    return this._control('DEAD', { op: 'requeue', ...idsOrAll(which, 'requeueDeadLetters') }, [], opts.timeout, cb);
  }

  // purgeDeadLetters(ids | 'all'[, opts][, cb]): removes them. Reply {op, total,
  // letters: [], purged: n}.
  purgeDeadLetters(which, opts, cb) {
    [opts, cb] = optsAndCb(opts, cb);
    return this._control('DEAD', { op: 'purge', ...idsOrAll(which, 'purgeDeadLetters') }, [], opts.timeout, cb);
  }

  // groupLimits([opts][, cb]): reply {defaults: {maxRunning, rate}, groups: [{group,
  // maxRunning, rate, running, waiting, started, custom}]}, the busiest groups first.
  groupLimits(opts, cb) {
    [opts, cb] = optsAndCb(opts, cb);
    return this._control('GROUPLIMITS', { op: 'list' }, [], opts.timeout, cb);
  }

  // setGroupLimits(group, {maxRunning, rate}[, opts][, cb]): the group's own limits.
  // A limit left out (undefined) keeps its current value, null lifts it, 0 pauses the
  // group. The reply is groupLimits()'s, after the change.
  setGroupLimits(group, limits, opts, cb) {
    checkGroup(group);
    if (limits == null || typeof limits !== 'object') throw new TypeError('setGroupLimits: limits must be an object {maxRunning, rate}');
    const unknown = Object.keys(limits).filter((k) => k !== 'maxRunning' && k !== 'rate' && limits[k] !== undefined);
    if (unknown.length > 0) throw new TypeError(`setGroupLimits: unknown limit ${unknown.join(', ')} (maxRunning, rate)`);
    [opts, cb] = optsAndCb(opts, cb);
    const header = {
      op: 'set',
      group,
      maxRunning: groupLimitField(limits.maxRunning, 'maxRunning', true),
      rate: groupLimitField(limits.rate, 'rate', false),
    };
    return this._control('GROUPLIMITS', header, [], opts.timeout, cb);
  }

  // clearGroupLimits(group[, opts][, cb]): the group goes back to the manager's defaults.
  clearGroupLimits(group, opts, cb) {
    checkGroup(group);
    [opts, cb] = optsAndCb(opts, cb);
    return this._control('GROUPLIMITS', { op: 'clear', group }, [], opts.timeout, cb);
  }

  // --- for subclasses ---

  _allocReq() {
    return this._nextReq++;
  }

  // Calls application code; an exception it throws is re-thrown on the next tick, so
  // it surfaces as the application's own uncaught exception, and the library's state
  // (already consistent) is not left half-updated.
  _call(fn, ...args) {
    if (typeof fn !== 'function') return undefined;
    try {
      return fn.apply(this, args);
    } catch (e) {
      process.nextTick(() => {
        throw e;
      });
      return undefined;
    }
  }

  // Reports a refusal that stops part of the peer's work: an 'error' event when the
  // application listens for one, else an error log line.
  _reportError(code, message) {
    this._log.error(`${this._role}: ${message}`);
    if (this.listenerCount('error') > 0) this._emit('error', Object.assign(new Error(`${code}: ${message}`), { code }));
  }

  _emit(event, ...args) {
    try {
      this.emit(event, ...args);
    } catch (e) {
      process.nextTick(() => {
        throw e;
      });
    }
  }

  async _closePeer() {
    this._closed = true;
    this._closeSub();
    for (const control of [...this._controls.values()]) {
      this._finishControl(control, jobError(codes.EABORTED, `the ${this._role} was closed`));
    }
    await this._session.close(true);
  }

  // Hooks for subclasses.
  _onRegistered() {}
  _onMessage(msg) {
    this._log.warn(`${this._role}: unexpected ${msg.command} from the manager dropped`);
  }
  _onLost() {}
  _onGiveUp() {}

  // --- session hooks ---

  _registered() {
    this._seenSysmsg.clear();
    if (this._opts.systemMessages) this._openSub();
    for (const control of this._controls.values()) {
      if (!control.sent) this._sendControl(control);
    }
    this._onRegistered();
    // The original's signature: connect(err), err null on success. The id follows
    // (also this.id), for programs written for this binding.
    this._emit('connect', null, this.id);
  }

  // MAXRETRIES registrations failed in a row: the peer stops trying. Everything that
  // waits for the manager fails with ECONNLOST, then 'connect' (err) tells the
  // application, as the original client did when it gave up.
  _gaveUp(err) {
    this._givenUp = true;
    for (const control of [...this._controls.values()]) {
      this._finishControl(control, jobError(codes.ECONNLOST, err.message));
    }
    this._onGiveUp(err);
    this._emit('connect', err);
  }

  _lost() {
    this._closeSub();
    for (const control of [...this._controls.values()]) {
      if (control.sent) {
        this._finishControl(control, jobError(codes.ECONNLOST, 'the connection to the manager was lost'));
      }
    }
    this._onLost();
    this._emit('disconnect');
  }

  _message(msg) {
    const { command, header } = msg;
    if (CONTROL_REPLIES.has(command)) {
      const control = this._controls.get(header.req);
      if (!control || control.command !== CONTROL_REPLIES.get(command)) {
        this._log.warn(`${this._role}: ${command} for request ${header.req}, which is not waiting; dropped`);
        return;
      }
      if (command === 'SYSDONE') {
        this._finishControl(control, null, { sentTo: header.sentTo, receivedBy: header.receivedBy });
      } else {
        const { req, ...reply } = header; // eslint-disable-line no-unused-vars
        if (command === 'DEADLETTERS') reply.letters = this._letters(reply, msg.payloads);
        this._finishControl(control, null, reply);
      }
      return;
    }
    if (command === 'ERROR' && this._controlError(header)) return;
    this._onMessage(msg);
  }

  // An ERROR answering a control request: by `req`, or, when the manager could not
  // read one (say, a manager without SYSMSG answers EUNKNOWNCMD), by command, oldest
  // first. True when it was one.
  _controlError(header) {
    let control = header.req != null ? this._controls.get(header.req) : undefined;
    if (!control && header.req == null && header.command) {
      for (const c of this._controls.values()) {
        if (c.sent && c.command === header.command) {
          control = c;
          break;
        }
      }
    }
    if (!control) return false;
    this._finishControl(control, jobError(header.code, header.message));
    return true;
  }

  // --- control requests ---

  _control(command, header, payloads, timeout, cb) {
    let promise;
    if (typeof cb !== 'function') {
      promise = new Promise((resolve, reject) => {
        cb = (err, value) => (err ? reject(Object.assign(new Error(`${err.code}: ${err.message}`), { code: err.code })) : resolve(value));
      });
    }
    const req = this._allocReq();
    const control = { req, command, cb, frames: codec.encode(command, { req, ...header }, payloads), sent: false };
    if (this._closed || this._givenUp) {
      const err = this._closed ? jobError(codes.EABORTED, `the ${this._role} is closed`)
        : jobError(codes.ECONNLOST, `the ${this._role} gave up reaching the manager (MAXRETRIES)`);
      process.nextTick(() => this._call(cb, err));
      return promise;
    }
    if (timeout) {
      const ms = nonNegative(timeout, 'timeout');
      control.timer = setTimeout(() => {
        this._finishControl(control, jobError(codes.ECSTO, `no answer to ${command} within ${ms} ms`));
      }, ms);
    }
    this._controls.set(req, control);
    if (this._session.registered) this._sendControl(control);
    return promise;
  }

  _sendControl(control) {
    if (LIFECYCLE_CONTROLS.has(control.command) && this._session.welcome.lifecycle !== true) {
      // Later, not from inside the call that made the request.
      process.nextTick(() => this._finishControl(control, jobError(codes.ENOTSUPPORTED,
        `the manager does not announce the job lifecycle (PROTOCOL §14): it answers no ${control.command}`)));
      return;
    }
    control.sent = this._session.send(control.frames);
  }

  // The letters of a DEADLETTERS reply; those of `show` with their payloads decoded
  // as `args` (the other operations' payload frames are empty).
  _letters(reply, payloads) {
    return reply.letters.map((letter, i) => {
      if (reply.op !== 'show') return letter;
      const payload = codec.fromPayload(payloads[i], letter.raw === true);
      if (payload.error) {
        // The manager never reads payloads: a client may have pushed anything.
        this._log.warn(`${this._role}: dead letter ${letter.id}'s payload is not valid JSON; given as bytes`);
        return { ...letter, args: Buffer.from(payloads[i]) };
      }
      return { ...letter, args: payload.value };
    });
  }

  _finishControl(control, err, value) {
    if (!this._controls.delete(control.req)) return;
    if (control.timer) clearTimeout(control.timer);
    this._call(control.cb, err, value);
  }

  // --- the system-message channel ---

  _openSub() {
    this._closeSub();
    const welcome = this._session.welcome;
    // The channel (PROTOCOL §8.1): the pubEndpoint option; else the command endpoint's
    // host at the pubPort option or WELCOME's pub_port; else WELCOME's pub_endpoint
    // (a channel that is not TCP).
    let endpoint = this._opts.pubEndpoint;
    if (!endpoint) {
      const port = this._opts.pubPort || welcome.pub_port;
      if (port && this._opts.pubHost) {
        endpoint = `tcp://${this._opts.pubHost}:${port}`;
      } else if (typeof welcome.pub_endpoint === 'string' && welcome.pub_endpoint !== '') {
        endpoint = welcome.pub_endpoint;
      } else {
        this._log.warn(`${this._role}: the manager announced no system-message channel it can be reached on` +
          ' (pub_port, pub_endpoint); system messages will not be received');
        return;
      }
    }
    if (Buffer.byteLength(welcome.id) > codec.MAX_TOPIC_BYTES) {
      // The manager ignores a longer subscription (PROTOCOL §8.1): nothing would come.
      this._log.warn(`${this._role}: peer id ${welcome.id.slice(0, 40)}... is longer than the` +
        ` ${codec.MAX_TOPIC_BYTES} bytes a subscription topic may have; system messages will not be received`);
      return;
    }
    const sub = new zmq.Subscriber({ linger: 0, ...curve.socketOptions(this._opts.curve) });
    let reported = false;
    for (const type of ['handshake:error:auth', 'handshake:error:protocol', 'handshake:error:other']) {
      sub.events.on(type, (event) => {
        if (reported || this._sub !== sub) return;
        reported = true; // ZeroMQ retries by itself; one line per socket says it
        this._log.error(`${this._role}: the handshake with the system-message channel ${endpoint} failed (${type}` +
          `${event && event.error ? `: ${event.error.message}` : ''}); system messages will not be received`);
      });
    }
    try {
      sub.connect(endpoint);
      sub.subscribe(welcome.id);
    } catch (e) {
      sub.close();
      this._log.error(`${this._role}: cannot connect to the system-message channel ${endpoint}: ${e.message}`);
      return;
    }
    this._sub = sub;
    const generation = ++this._subGeneration;
    this._log.debug(`${this._role}: system messages from ${endpoint}, topic ${welcome.id}`);
    this._subLoop(sub, generation, welcome.id);
  }

  _closeSub() {
    if (!this._sub) return;
    const sub = this._sub;
    this._sub = null;
    ++this._subGeneration;
    try {
      sub.close();
    } catch (e) {
      this._log.warn(`${this._role}: closing the system-message socket failed: ${e.message}`);
    }
  }

  async _subLoop(sub, generation, id) {
    try {
      for await (const frames of sub) {
        if (generation !== this._subGeneration) return;
        try {
          this._onSysmsgFrames(frames, id);
        } catch (e) {
          this._log.error(`${this._role}: failed to handle a system message: ${e.stack || e}`);
        }
      }
    } catch (e) {
      if (generation === this._subGeneration) this._log.error(`${this._role}: system-message receive failed: ${e.message}`);
    }
  }

  _onSysmsgFrames(frames, id) {
    // A subscription matches by prefix: "a.1" also receives the topics "a.12",
    // "a.13"... Only the exact topic is ours.
    if (frames.length === 0 || frames[0].toString('utf8') !== id) return;
    const msg = codec.decode([Buffer.alloc(0), ...frames.slice(1)]);
    if (msg.error || msg.command !== 'SYSMSG' || msg.payloads.length !== 1) {
      this._log.warn(`${this._role}: bad message on the system-message channel dropped:` +
        ` ${msg.error || msg.command}`);
      return;
    }
    const { msg: msgId, from } = msg.header;
    const content = codec.fromPayload(msg.payloads[0], false);
    // PROTOCOL §8.2: content that is not JSON is acknowledged and dropped.
    if (content.error) this._log.warn(`${this._role}: system message ${msgId} from ${from} is not JSON; dropped`);
    const skip = content.error || (msgId != null && this._seenSysmsg.has(msgId)); // bad, or seen
    if (msgId != null && !skip) {
      this._seenSysmsg.add(msgId);
      if (this._seenSysmsg.size > SEEN_SYSMSG_LIMIT) {
        this._seenSysmsg.delete(this._seenSysmsg.values().next().value);
      }
    }
    // Acknowledged after the listeners ran, so that receivedBy means "delivered".
    if (!skip) this._emit('sysmsg', content.value, from);
    if (msgId != null) this._session.send(codec.encode('SYSACK', { msg: msgId }));
  }
}

module.exports = { Peer };
