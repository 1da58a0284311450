'use strict';
// The session scripts of tests/vectors/sessions.json (issue 10), run against this
// binding's Worker and Client. The scripted fake manager is
// test-support/session-runner.js; this file only maps the scripts' protocol terms
// onto the Node API.

const { describe, it } = require('node:test');
const { Client, Worker } = require('proletariat');
const { SessionRunner, loadSessions } = require('../test-support/session-runner');
const { memoryLogger } = require('../test-support/daemon');

const DOC = loadSessions();

// Scripts this binding is known to fail, by name, with the bug as the reason. Empty:
// a failing script is a bug to fix, not to list here without a reason.
const KNOWN_FAILURES = {};

// The scripts' standard worker application (sessions.json, "THE APPLICATION").
function onWork(w, handler) {
  const args = w.args;
  if (Buffer.isBuffer(args)) return handler(null, args);
  if (args && typeof args === 'object' && Array.isArray(args.progress)) {
    for (const value of args.progress) w.progress(value);
  }
  if (args && typeof args === 'object' && 'echo' in args) return handler(null, args.echo);
  if (args && typeof args === 'object' && 'fail' in args) return handler({ code: args.fail, message: 'scripted failure' });
  if (args && typeof args === 'object' && args.hang === true) return undefined; // never answered
  return handler({ code: 'EHANDLER', message: `no scripted behaviour for ${JSON.stringify(args)}` });
}

// Resolves with `promise`'s value, or with null after `ms`.
function orNull(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); })])
    .finally(() => clearTimeout(timer));
}

class NodeAdapter {
  constructor() {
    this.peer = null;
    this.requests = new Map(); // name -> {req, done: Promise}
    this.messages = new Map(); // name -> Promise of ['sysdone', …] | ['err', code]
    this.got = [];
    this.gotWaiters = [];
    this.logger = memoryLogger();
  }

  start(endpoint, peer, config) {
    const common = {
      endpoint,
      CON_RETRYTIME: config.conRetryTime == null ? 50 : config.conRetryTime,
      systemMessages: config.systemMessages !== false,
      name: 'session-script',
      logger: this.logger,
    };
    if (peer === 'worker') {
      const worker = new Worker({
        ...common,
        slots: config.slots == null ? 100 : config.slots,
        prioritySlots: config.prioritySlots || {},
        services: config.services || [],
      });
      this.peer = worker;
      worker.on('work', onWork);
      this.watchSysmsgs();
      worker.start();
    } else {
      this.peer = new Client({ ...common, keepState: Boolean(config.keepState) });
      this.watchSysmsgs();
    }
  }

  watchSysmsgs() {
    this.peer.on('sysmsg', (content, from) => {
      this.got.push({ content, from });
      for (const w of this.gotWaiters.splice(0)) w();
    });
  }

  startErrorCode(err) {
    return err && typeof err.code === 'string' ? err.code : null;
  }

  work(name, jobs, options, individual) {
    const items = jobs.map((job) => {
      if ('raw' in job) return Buffer.from(job.raw, 'hex');
      if (job.key == null && job.service == null) return job.args;
      // This API takes a job's key and service from its (object) args.
      const item = { ...job.args };
      if (job.key != null) item._key = job.key;
      if (job.service != null) item._service = job.service;
      return item;
    });
    const opts = {};
    for (const k of ['priority', 'timeout', 'runTimeout', 'assigntimeout', 'delay', 'at', 'group', 'retry']) {
      if (options[k] != null) opts[k] = options[k];
    }
    let req;
    const progress = jobs.map(() => []); // per job, what the progress callback was handed
    const done = new Promise((resolve) => {
      if (individual) {
        req = this.peer.workIndividual(items, opts, () => {}, (err, results) => resolve(results),
          (work, data) => progress[work.index].push(data));
      } else {
        req = this.peer.work(items, opts, (err, results) => resolve(results));
      }
    });
    this.requests.set(name, { req, done, progress: individual ? progress : null });
  }

  abort(name, indices) {
    const { req } = this.requests.get(name);
    if (indices == null) this.peer.abort(req);
    else this.peer.abort(req, indices);
  }

  sysmsg(name, msg, to) {
    this.messages.set(name, new Promise((resolve) => {
      this.peer.systemMessage(msg, { to }, (err, answer) => resolve(err ? ['err', err.code] : ['sysdone', answer.sentTo, answer.receivedBy]));
    }));
  }

  // A worker is registered once its offer is accepted ('ready'), a client once
  // WELCOMEd ('connect' with no error).
  async waitRegistered(ms) {
    const isWorker = this.peer instanceof Worker;
    if (isWorker ? this.peer.ready : this.peer.connected) return true;
    const event = isWorker ? 'ready' : 'connect';
    return (await orNull(new Promise((resolve) => this.peer.once(event, () => resolve(true))), ms)) === true;
  }

  async workOutcome(name, ms) {
    const request = this.requests.get(name);
    const results = await orNull(request.done, ms);
    if (results === null) return null;
    return results.map((r, i) => {
      let out;
      if (r.err) out = { err: r.err.code };
      else if (Buffer.isBuffer(r.data)) out = { raw: r.data };
      else out = { data: r.data };
      if (request.progress) out.progress = request.progress[i];
      if (r.attempts !== undefined) out.attempts = r.attempts;
      return out;
    });
  }

  sysmsgOutcome(name, ms) {
    return orNull(this.messages.get(name), ms);
  }

  async received(count, ms) {
    if (this.got.length < count) {
      await orNull(new Promise((resolve) => {
        const check = () => (this.got.length >= count ? resolve() : this.gotWaiters.push(check));
        check();
      }), ms);
    }
    return [...this.got];
  }

  async close() {
    if (!this.peer) return;
    if (this.peer instanceof Worker) await this.peer.stop({ drainTimeout: 0 }); // hard: scripted jobs may hang
    else await this.peer.close();
  }
}

describe('session scripts (tests/vectors/sessions.json)', () => {
  for (const script of DOC.scripts) {
    const known = KNOWN_FAILURES[script.name];
    it(script.name, { skip: known || false }, async () => {
      const adapter = new NodeAdapter();
      const runner = new SessionRunner(DOC, script, adapter);
      await runner.bind();
      try {
        await runner.run();
      } catch (err) {
        const log = adapter.logger.lines.slice(-20).join('\n');
        if (log) err.message += `\n--- the peer's log (last lines)\n${log}`;
        throw err;
      } finally {
        await runner.close();
      }
    });
  }
});
