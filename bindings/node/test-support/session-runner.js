'use strict';
// A runner for the session scripts of tests/vectors/sessions.json (their "about" field
// is the specification this follows): the scripted fake manager, a ROUTER (command
// socket) and an XPUB (system-message channel) on loopback ports, reading the peer's
// messages strictly in order. It knows nothing of this binding: an adapter
// (test/sessions.test.js) drives the peer under test.
//
// It has its own ROUTER rather than FakeManager's (fake-manager.js): that one hands
// out messages by command rather than in order, and its reading loop ends on a
// message it cannot decode, where a script must fail with that message.

const fs = require('node:fs');
const path = require('node:path');
const zmq = require('zeromq');

const SESSIONS = path.resolve(__dirname, '../../../tests/vectors/sessions.json');

const PEER_COMMANDS = new Set(['HELLO', 'OFFER', 'PUSH', 'ABORT', 'RESULT', 'REJECT', 'RECEIVED', 'DRAIN', 'HEARTBEAT', 'BYE',
  'SYSMSG', 'SYSACK', 'STATUS', 'MYSTATUS', 'PROGRESS', 'DEAD', 'GROUPLIMITS']);
// Commands that list entries: the listing field, and whether entries have payloads.
const LISTS = {
  RESULT: ['results', true], REJECT: ['jobs', false], ABORT: ['ids', false], PUSH: ['jobs', true], PROGRESS: ['progress', true],
};
const DEFAULT_LIMITS = { max_message_bytes: 64 * 1024 * 1024, max_frames: 100004 };
const ENTRY_OPTIONS = ['priority', 'assigntimeout', 'runTimeout'];
// The job lifecycle's push options (PROTOCOL §4, §14): only to a manager that announced them.
const LIFECYCLE_OPTIONS = ['delay', 'at', 'group', 'retry'];
const VARIABLE = /^\$[A-Za-z0-9_]+$/;
const MISSING = Symbol('absent');

function loadSessions() {
  return JSON.parse(fs.readFileSync(SESSIONS, 'utf8'));
}

class ScriptFailure extends Error {}

function show(value) {
  if (value === MISSING) return '(absent)';
  const text = JSON.stringify(value, (k, v) => (v && v.type === 'Buffer' && Array.isArray(v.data)
    ? `bytes:${Buffer.from(v.data).toString('hex')}` : v));
  return text === undefined ? String(value) : text.length <= 300 ? text : `${text.slice(0, 300)}...`;
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// null if `actual` matches `expected` (binding unbound variables), else what differs.
function match(expected, actual, vars, where = '') {
  const at = where || '(top)';
  if (typeof expected === 'string' && VARIABLE.test(expected)) {
    if (actual === MISSING) return `${at}: absent, but ${expected} needs a value`;
    if (Object.prototype.hasOwnProperty.call(vars, expected)) {
      return match(vars[expected], actual, {}, where) === null ? null
        : `${at}: ${show(actual)}, but ${expected} is ${show(vars[expected])}`;
    }
    vars[expected] = actual;
    return null;
  }
  if (expected === null) return actual === MISSING || actual === null ? null : `${at}: ${show(actual)}, expected null or absent`;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${at}: ${show(actual)}, expected an array of ${expected.length}`;
    for (let i = 0; i < expected.length; ++i) {
      const err = match(expected[i], actual[i], vars, `${where}[${i}]`);
      if (err) return err;
    }
    return null;
  }
  if (isObject(expected)) {
    if (!isObject(actual)) return `${at}: ${show(actual)}, expected an object`;
    for (const [k, v] of Object.entries(expected)) {
      const err = match(v, Object.prototype.hasOwnProperty.call(actual, k) ? actual[k] : MISSING, vars, `${where}.${k}`);
      if (err) return err;
    }
    return null;
  }
  return typeof expected === typeof actual && expected === actual ? null : `${at}: ${show(actual)}, expected ${show(expected)}`;
}

// Plain JSON equality, without variables or null-as-absent.
function sameValue(a, b) {
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue(a[k], b[k]));
  }
  return a === b;
}

function substitute(value, vars) {
  if (typeof value === 'string' && VARIABLE.test(value)) {
    if (!Object.prototype.hasOwnProperty.call(vars, value)) throw new ScriptFailure(`the script uses ${value} before any step bound it`);
    return vars[value];
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  return value;
}

function payloadBytes(spec) {
  return 'hex' in spec ? Buffer.from(spec.hex, 'hex') : Buffer.from(JSON.stringify(spec.json), 'utf8');
}

function matchPayload(spec, frame) {
  if ('hex' in spec) return frame.equals(Buffer.from(spec.hex, 'hex')) ? null : `payload ${frame.toString('hex')}, expected hex ${spec.hex}`;
  let value;
  try {
    value = JSON.parse(frame.toString('utf8'));
  } catch {
    return `payload ${JSON.stringify(frame.toString('utf8').slice(0, 100))} is not JSON, expected ${show(spec.json)}`;
  }
  return sameValue(spec.json, value) ? null : `payload ${show(value)}, expected ${show(spec.json)}`;
}

// Messages from a socket's reading loop, taken in order with a bounded wait.
class Inbox {
  constructor() {
    this.items = [];
    this.waiter = null;
  }

  push(item) {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve(item);
    } else {
      this.items.push(item);
    }
  }

  // The next item, or null after `ms`.
  take(ms) {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, Math.max(0, ms));
      this.waiter = { resolve, timer };
    });
  }
}

class SessionRunner {
  // adapter: {start(endpoint, peer, config), startErrorCode(err), work(name, jobs, options, individual),
  // abort(name, indices), sysmsg(name, msg, to), waitRegistered(ms) -> bool,
  // workOutcome(name, ms) -> [({data}|{raw: Buffer}|{err}) with progress: [values] (individual) and attempts when reported],
  // sysmsgOutcome(name, ms) -> ['sysdone', sentTo, receivedBy] | ['err', code],
  // received(count, ms) -> [{content, from}], close()}; all may return promises.
  constructor(doc, script, adapter, { waitMs } = {}) {
    this.doc = doc;
    this.script = script;
    this.adapter = adapter;
    this.wait = waitMs || doc.wait_ms;
    this.vars = {};
    this.current = null;
    this.connections = [];
    this.welcomes = new Map(); // routing id (hex) -> WELCOME header sent
    this.subscriptions = [];
    this.heartbeats = 0;
    this.stepIndex = -1;
    this.inbox = new Inbox();
    this.subInbox = new Inbox();
  }

  async bind() {
    this.router = new zmq.Router({ linger: 0 });
    await this.router.bind('tcp://127.0.0.1:*');
    this.endpoint = this.router.lastEndpoint;
    this.xpub = new zmq.XPublisher({ linger: 0 });
    await this.xpub.bind('tcp://127.0.0.1:*');
    this.pubPort = Number(/:(\d+)$/.exec(this.xpub.lastEndpoint)[1]);
    this.loops = [
      (async () => {
        for await (const [rid, ...frames] of this.router) this.inbox.push({ rid, frames });
      })().catch(() => {}),
      (async () => {
        for await (const [frame] of this.xpub) this.subInbox.push(frame);
      })().catch(() => {}),
    ];
  }

  async close() {
    try {
      await this.adapter.close();
    } finally {
      this.router.close();
      this.xpub.close();
    }
  }

  fail(what) {
    const steps = this.script.steps;
    const where = this.stepIndex >= 0 && this.stepIndex < steps.length ? `step ${this.stepIndex} ${show(steps[this.stepIndex])}` : 'start';
    throw new ScriptFailure(`session script ${JSON.stringify(this.script.name)}, ${where}: ${what}`);
  }

  limits(rid) {
    const w = this.welcomes.get(rid.toString('hex')) || {};
    return {
      max_message_bytes: w.max_message_bytes == null ? DEFAULT_LIMITS.max_message_bytes : w.max_message_bytes,
      max_frames: w.max_frames == null ? DEFAULT_LIMITS.max_frames : w.max_frames,
    };
  }

  // The next message (heartbeats included), checked; null after `ms`.
  async takeMessage(ms) {
    const raw = await this.inbox.take(ms);
    if (raw === null) return null;
    const { rid, frames } = raw;
    if (frames.length < 4 || frames[0].length !== 0 || frames[1].toString() !== 'PRO1') {
      this.fail(`the peer sent a malformed message: ${show(frames.slice(0, 4).map((f) => f.toString()))}`);
    }
    const command = frames[2].toString();
    if (!PEER_COMMANDS.has(command)) this.fail(`the peer sent an unknown command ${JSON.stringify(command)}`);
    let header = {};
    if (frames[3].length > 0) {
      try {
        header = JSON.parse(frames[3].toString('utf8'));
      } catch {
        this.fail(`the peer's ${command} header is not JSON: ${frames[3].toString().slice(0, 200)}`);
      }
    }
    if (!isObject(header)) this.fail(`the peer's ${command} header is not an object: ${frames[3].toString().slice(0, 200)}`);
    let want = command === 'SYSMSG' ? 1 : 0;
    if (command === 'PUSH' || command === 'RESULT' || command === 'PROGRESS') {
      const listed = header[LISTS[command][0]];
      want = Array.isArray(listed) ? listed.length : -1;
    }
    if (frames.length - 4 !== want) this.fail(`the peer's ${command} has ${frames.length - 4} payload frames for ${want} entries: ${show(header)}`);
    const limits = this.limits(rid);
    const size = frames.reduce((n, f) => n + f.length, 0);
    if (size > limits.max_message_bytes || frames.length > limits.max_frames) {
      this.fail(`the peer's ${command} of ${size} bytes in ${frames.length} frames exceeds the WELCOME's limits ${show(limits)}`);
    }
    return { rid, command, header, payloads: frames.slice(4) };
  }

  describe(msg) {
    let text = `${msg.command} ${JSON.stringify(msg.header)}`;
    if (msg.payloads.length) text += ` + ${show(msg.payloads.map((p) => p.toString('utf8').slice(0, 60)))}`;
    return text.length <= 400 ? text : `${text.slice(0, 400)}...`;
  }

  async nextMessage(what, heartbeats = false) {
    const deadline = Date.now() + this.wait;
    for (;;) {
      const msg = await this.takeMessage(deadline - Date.now());
      if (msg === null) this.fail(`no ${what} from the peer within ${this.wait} ms`);
      if (msg.command === 'HEARTBEAT' && !heartbeats) {
        this.heartbeats += 1;
        continue;
      }
      if (msg.command !== 'HELLO' && !(this.current && msg.rid.equals(this.current))) {
        this.fail(`${this.describe(msg)} came from a connection that is not the current one`);
      }
      return msg;
    }
  }

  async send(command, header, payloads) {
    if (!this.current) this.fail('nothing to send to: no HELLO yet');
    if (command === 'WELCOME') {
      const merged = { ...this.doc.welcome_defaults, ...(header || {}) };
      if (!('pub_port' in merged) && !('pub_endpoint' in merged)) merged.pub_port = this.pubPort;
      header = merged;
      this.welcomes.set(this.current.toString('hex'), merged);
    }
    const head = header == null ? Buffer.alloc(0) : Buffer.from(JSON.stringify(header));
    await this.router.send([this.current, Buffer.alloc(0), 'PRO1', command, head, ...payloads]);
  }

  async readSubscription(ms) {
    const frame = await this.subInbox.take(ms);
    if (frame === null) return false;
    if (frame[0] === 1) {
      const topic = frame.subarray(1).toString('utf8');
      if (!this.subscriptions.includes(topic)) this.subscriptions.push(topic);
    }
    return true;
  }

  async run() {
    const config = this.script.config || {};
    const startError = this.script.start_error;
    let started = false;
    try {
      await this.adapter.start(this.endpoint, this.script.peer, config);
      started = true;
    } catch (err) {
      const code = this.adapter.startErrorCode(err);
      if (startError == null || code !== startError) {
        this.fail(`starting the ${this.script.peer} failed: ${code || err.name}: ${err.message}`);
      }
    }
    if (started && startError != null) this.fail(`starting the ${this.script.peer} with ${show(config)} succeeded; expected ${startError}`);
    for (const [index, step] of this.script.steps.entries()) {
      this.stepIndex = index;
      await this.runStep(step);
    }
  }

  async runStep(step) {
    if ('expect' in step) return this.stepExpect(step);
    if ('collect' in step) return this.stepCollect(step);
    if ('accept_pushes' in step) return this.stepAcceptPushes(step.accept_pushes);
    if ('send' in step) {
      return this.send(step.send, 'header' in step ? substitute(step.header, this.vars) : null,
        (step.payloads || []).map(payloadBytes));
    }
    if ('send_frames' in step) {
      if (!this.current) this.fail('nothing to send to: no HELLO yet');
      return this.router.send([this.current, ...step.send_frames.map((f) => (typeof f === 'string' ? Buffer.from(f) : Buffer.from(f.hex, 'hex')))]);
    }
    if ('expect_subscription' in step) {
      const topic = step.expect_subscription;
      const deadline = Date.now() + this.wait;
      while (!this.subscriptions.includes(topic)) {
        const left = deadline - Date.now();
        if (left <= 0 || !(await this.readSubscription(left))) {
          this.fail(`no subscription to ${JSON.stringify(topic)} within ${this.wait} ms (got ${show(this.subscriptions)})`);
        }
      }
      return undefined;
    }
    if ('subscriptions' in step) {
      while (await this.readSubscription(0)) { /* drain */ }
      if (!sameValue(step.subscriptions, this.subscriptions)) this.fail(`subscriptions ${show(this.subscriptions)}, expected ${show(step.subscriptions)}`);
      return undefined;
    }
    if ('publish' in step) {
      const p = step.publish;
      return this.xpub.send([p.topic, 'PRO1', 'SYSMSG', JSON.stringify(substitute(p.header, this.vars)), payloadBytes(p.payload)]);
    }
    if ('silence_ms' in step) {
      const deadline = Date.now() + step.silence_ms;
      for (;;) {
        const msg = await this.takeMessage(deadline - Date.now());
        if (msg === null) return undefined;
        if (msg.command === 'HEARTBEAT') {
          this.heartbeats += 1;
          continue;
        }
        this.fail(`expected silence, got ${this.describe(msg)}`);
      }
    }
    if ('do' in step) return this.stepDo(step);
    if ('outcome' in step) return this.stepOutcome(step);
    if ('received' in step) {
      const want = step.received;
      const got = await this.adapter.received(want.length, this.wait);
      if (!sameValue(want, got)) this.fail(`the application was handed the system messages ${show(got)}, expected ${show(want)}`);
      return undefined;
    }
    return this.fail('unknown step');
  }

  async stepExpect(step) {
    const command = step.expect;
    const msg = await this.nextMessage(command, command === 'HEARTBEAT');
    if (msg.command !== command) this.fail(`expected ${command}, got ${this.describe(msg)}`);
    if ('header' in step) {
      const err = match(step.header, msg.header, this.vars);
      if (err) this.fail(`${command} header ${JSON.stringify(msg.header)}: ${err}`);
    }
    if ('payloads' in step) {
      if (msg.payloads.length !== step.payloads.length) this.fail(`${command} has ${msg.payloads.length} payloads, expected ${step.payloads.length}`);
      step.payloads.forEach((spec, i) => {
        const err = matchPayload(spec, msg.payloads[i]);
        if (err) this.fail(`${command} payload ${i}: ${err}`);
      });
    }
    if (command === 'HELLO') {
      const earlier = this.connections.some((c) => c.equals(msg.rid));
      if (step.new_connection && earlier) this.fail('the HELLO came on an earlier connection; expected a new socket');
      this.current = msg.rid;
      if (!earlier) this.connections.push(msg.rid);
    }
  }

  async stepCollect(step) {
    const command = step.collect;
    const [field, withPayloads] = LISTS[command];
    const expected = step.entries;
    const matched = expected.map(() => false);
    while (matched.includes(false)) {
      const msg = await this.nextMessage(`${command} (for ${matched.filter((m) => !m).length} more entries)`);
      if (msg.command !== command) this.fail(`expected ${command}, got ${this.describe(msg)}`);
      const entries = msg.header[field];
      if (!Array.isArray(entries)) this.fail(`${command} without a ${field} list: ${this.describe(msg)}`);
      entries.forEach((entry, i) => {
        const frame = withPayloads ? msg.payloads[i] : null;
        const j = expected.findIndex((want, k) => {
          if (matched[k]) return false;
          const trial = { ...this.vars };
          if (match(want.entry, entry, trial) !== null) return false;
          if ('payload' in want && (frame === null || matchPayload(want.payload, frame) !== null)) return false;
          this.vars = trial;
          return true;
        });
        if (j < 0) {
          this.fail(`${command} entry ${show(entry)}${frame ? ` with payload ${JSON.stringify(frame.toString('utf8').slice(0, 100))}` : ''}` +
            ` matches none of the expected entries still open: ${show(expected.filter((_, k) => !matched[k]))}`);
        }
        matched[j] = true;
      });
    }
  }

  async stepAcceptPushes(jobs) {
    const matched = jobs.map(() => false);
    while (matched.includes(false)) {
      const msg = await this.nextMessage(`PUSH (for ${matched.filter((m) => !m).length} more jobs)`);
      if (msg.command !== 'PUSH') this.fail(`expected PUSH, got ${this.describe(msg)}`);
      const welcome = this.welcomes.get(this.current.toString('hex')) || {};
      const entryOptions = welcome.entry_options === true;
      const lifecycle = welcome.lifecycle === true;
      const { header } = msg;
      if (!lifecycle) {
        const carried = LIFECYCLE_OPTIONS.filter((name) => name in header
          || (header.jobs || []).some((entry) => isObject(entry) && name in entry));
        if (carried.length > 0) this.fail(`PUSH carries ${carried.join(', ')}, but the WELCOME did not announce lifecycle: ${this.describe(msg)}`);
      }
      const ids = [];
      (header.jobs || []).forEach((entry, i) => {
        if (!isObject(entry)) this.fail(`PUSH entry ${i} is not an object: ${this.describe(msg)}`);
        const view = {};
        for (const name of ENTRY_OPTIONS) {
          if (name in entry) {
            if (!entryOptions) this.fail(`PUSH entry ${show(entry)} carries ${name}, but the WELCOME did not announce entry_options`);
            view[name] = entry[name];
          } else if (name in header) {
            view[name] = header[name];
          }
        }
        if (!('priority' in view)) view.priority = 0;
        for (const name of ['key', 'service', 'raw']) if (name in entry) view[name] = entry[name];
        if (lifecycle) {
          // An entry's delay or at overrides both of the header's.
          const dueFrom = 'delay' in entry || 'at' in entry ? entry : header;
          for (const name of ['delay', 'at']) if (name in dueFrom) view[name] = dueFrom[name];
          for (const name of ['group', 'retry']) {
            if (name in entry) view[name] = entry[name];
            else if (name in header) view[name] = header[name];
          }
        }
        const frame = msg.payloads[i];
        const j = jobs.findIndex((want, k) => !matched[k] && match(want.job, view, {}) === null &&
          (!('payload' in want) || matchPayload(want.payload, frame) === null));
        if (j < 0) {
          this.fail(`pushed job ${show(view)} with payload ${JSON.stringify(frame.toString('utf8').slice(0, 100))} matches none of the jobs still expected: ` +
            show(jobs.filter((_, k) => !matched[k])));
        }
        matched[j] = true;
        ids.push(jobs[j].id);
      });
      await this.send('ACCEPTED', { req: header.req, ids }, []);
    }
  }

  async stepDo(step) {
    switch (step.do) {
      case 'work': return this.adapter.work(step.as, step.jobs, step.options || {}, step.individual === true);
      case 'abort': return this.adapter.abort(step.request, step.indices == null ? null : step.indices);
      case 'sysmsg': return this.adapter.sysmsg(step.as, step.msg, step.to === undefined ? null : step.to);
      case 'wait_registered':
        if (!(await this.adapter.waitRegistered(this.wait))) this.fail(`the ${this.script.peer} did not say it is registered within ${this.wait} ms`);
        return undefined;
      default: return this.fail(`unknown action ${JSON.stringify(step.do)}`);
    }
  }

  async stepOutcome(step) {
    const name = step.outcome;
    if ('results' in step) {
      const got = await this.adapter.workOutcome(name, this.wait);
      if (got === null) this.fail(`request ${JSON.stringify(name)} did not finish within ${this.wait} ms`);
      const want = step.results;
      const problems = [];
      if (got.length !== want.length) problems.push(`${got.length} results for ${want.length}`);
      want.forEach((w, i) => {
        const g = got[i];
        if (!g) return;
        if ('err' in w) {
          if (g.err !== w.err) problems.push(`result ${i} is ${show(g)}, expected err ${w.err}`);
        } else if ('raw' in w) {
          if (g.err != null || !Buffer.isBuffer(g.raw) || !g.raw.equals(Buffer.from(w.raw, 'hex'))) problems.push(`result ${i} is ${show(g)}, expected raw ${w.raw}`);
        } else if (g.err != null || !('data' in g) || !sameValue(w.data, g.data)) {
          problems.push(`result ${i} is ${show(g)}, expected data ${show(w.data)}`);
        }
        if ('progress' in w && !(Array.isArray(g.progress) && sameValue(w.progress, g.progress))) {
          problems.push(`result ${i} was handed the progress ${show(g.progress === undefined ? MISSING : g.progress)}, expected ${show(w.progress)}`);
        }
        if ('attempts' in w && g.attempts !== w.attempts) {
          problems.push(`result ${i} reports attempts ${show(g.attempts === undefined ? MISSING : g.attempts)}, expected ${w.attempts}`);
        }
      });
      if (problems.length) this.fail(`request ${JSON.stringify(name)}: ${problems.join('; ')}`);
      return;
    }
    const got = await this.adapter.sysmsgOutcome(name, this.wait);
    if (got === null) this.fail(`system message ${JSON.stringify(name)} did not finish within ${this.wait} ms`);
    const want = 'sysdone' in step ? ['sysdone', step.sysdone.sentTo, step.sysdone.receivedBy] : ['err', step.err];
    if (!sameValue(want, got)) this.fail(`system message ${JSON.stringify(name)} ended as ${show(got)}, expected ${show(want)}`);
  }
}

module.exports = { SessionRunner, ScriptFailure, loadSessions, match };
