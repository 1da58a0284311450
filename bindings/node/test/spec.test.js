'use strict';
// One protocol, one source (issue 10): lib/spec.js is exactly what protocol/generate.py
// writes from protocol/protocol.json, and the library's tables are spec.js's, not
// copies: error codes and classes, limits, the push strategy, offer bounds, defaults.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const spec = require('../lib/spec');
const codec = require('../lib/codec');
const errors = require('../lib/errors');
const options = require('../lib/options');
const session = require('../lib/session');
const proletariat = require('proletariat');

const REPO = path.resolve(__dirname, '../../..');
const PYTHON = process.env.PROLETARIAT_PYTHON || '/usr/bin/python3';

describe('the protocol tables come from protocol/protocol.json', () => {
  it('lib/spec.js is what protocol/generate.py writes', () => {
    // The generator's Node output only: its --check also covers the other bindings
    // and PROTOCOL.md, which are not this suite's business.
    const program = [
      'import sys',
      `sys.path.insert(0, ${JSON.stringify(path.join(REPO, 'protocol'))})`,
      'import generate',
      'sys.stdout.write(generate.render_node(generate.load()))',
    ].join('\n');
    const generated = execFileSync(PYTHON, ['-c', program], { encoding: 'utf8' });
    const committed = fs.readFileSync(path.join(__dirname, '../lib/spec.js'), 'utf8');
    assert.ok(committed === generated,
      'lib/spec.js is not what protocol/protocol.json gives: run /usr/bin/python3 protocol/generate.py');
  });

  it('every error code of the description is in codes, with its class, and no other', () => {
    assert.deepEqual(Object.keys(errors.codes).sort(), Object.keys(spec.ERRORS).sort());
    for (const [code, { class: cls }] of Object.entries(spec.ERRORS)) {
      assert.equal(errors.codes[code], code);
      assert.equal(errors.errorClass(code), cls, `the class of ${code}`);
    }
    assert.equal(proletariat.codes, errors.codes);
    assert.equal(proletariat.errorClass, errors.errorClass);
    assert.equal(errors.errorClass('EMYOWN'), 'fault', "an application's own code is a fault");
    assert.equal(errors.errorClass('toString'), 'fault', 'not a property of every object');
  });

  it("the codec's, session's, options' and worker's constants are the description's", () => {
    const expected = {
      SIGNATURE: spec.SIGNATURE,
      PROTOCOL_VERSION: spec.PROTOCOL_VERSION,
      FIXED_FRAMES: spec.FIXED_FRAMES,
      MAX_SAFE_INTEGER: spec.MAX_SAFE_INTEGER,
      MAX_TOPIC_BYTES: spec.MAX_TOPIC_BYTES,
      DEFAULT_MAX_MESSAGE_BYTES: spec.MAX_MESSAGE_BYTES,
      DEFAULT_MAX_FRAMES: spec.MAX_FRAMES,
      HEADER_BYTES_PER_ENTRY: spec.ENTRY_HEADER_BYTES,
      HEADER_BYTES_BASE: spec.MESSAGE_HEADER_BYTES,
      MAX_JOBS_PER_PUSH: spec.MAX_JOBS_PER_PUSH,
      MAX_PUSHES_IN_FLIGHT: spec.MAX_PUSHES_IN_FLIGHT,
    };
    for (const [name, value] of Object.entries(expected)) assert.equal(codec[name], value, `codec.${name}`);
    assert.equal(proletariat.PROTOCOL_VERSION, spec.PROTOCOL_VERSION);
    assert.deepEqual(codec.limitsOf(null), { maxEntries: spec.MAX_FRAMES - spec.FIXED_FRAMES, maxBytes: spec.MAX_MESSAGE_BYTES });
    assert.equal(codec.pushLimitsOf(null).maxEntries, spec.MAX_JOBS_PER_PUSH);
    assert.equal(options.DEFAULT_PORT, spec.DEFAULT_PORT);
    assert.equal(options.DEFAULT_CON_RETRYTIME, spec.DEFAULT_CON_RETRY_TIME_MS);
    assert.equal(options.resolveOptions({}).CON_RETRYTIME, spec.DEFAULT_CON_RETRY_TIME_MS);
    assert.equal(options.resolveOptions({}).endpoint, `tcp://127.0.0.1:${spec.DEFAULT_PORT}`);
    assert.equal(session.DEFAULT_HEARTBEAT_MS, spec.DEFAULT_HEARTBEAT_MS);
    assert.equal(session.DEFAULT_LIVENESS, spec.DEFAULT_LIVENESS);

    const worker = (opts) => new proletariat.Worker({ port: 1, logger: null, ...opts });
    assert.equal(worker({}).slots, spec.SLOTS_DEFAULT);
    for (const slots of [spec.SLOTS_MIN - 1, spec.SLOTS_MAX + 1]) {
      assert.throws(() => worker({ slots }).start(), { code: 'EBADOFFER' }, `slots ${slots}`);
    }
    assert.ok(spec.ZERO_START_GUARANTEE_IGNORED, 'the worker drops the guarantee for 0 because the manager ignores it');
  });
});
