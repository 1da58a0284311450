'use strict';
// The codec: a message as a DEALER sends and receives it (docs/PROTOCOL.md §2) —
//   [empty delimiter, "PRO1", COMMAND, header JSON (empty frame = {}), payload...]
// — to and from {command, header, payloads}. It never throws on bad input from the
// manager (decode returns {error}); payload frames are passed through untouched.
//
// Its constants (signature, limits, the peers' splitting strategy) are those of
// protocol/protocol.json, through the generated spec.js: never copy them here.
// Changing the wire format: protocol/protocol.json and docs/PROTOCOL.md first (then
// run protocol/generate.py), the C++ codec, the wire vectors (tests/vectors/), then
// every binding, this file included.

const spec = require('./spec');

const { SIGNATURE, PROTOCOL_VERSION, MAX_SAFE_INTEGER, MAX_TOPIC_BYTES } = spec;
// Frames before the payloads: delimiter, signature, command, header.
const { FIXED_FRAMES } = spec;
const EMPTY = Buffer.alloc(0);

// Limits assumed when a WELCOME does not state them (PROTOCOL §10).
const DEFAULT_MAX_MESSAGE_BYTES = spec.MAX_MESSAGE_BYTES;
const DEFAULT_MAX_FRAMES = spec.MAX_FRAMES;
// Header bytes assumed per listed entry besides its strings (key, service, error
// code and message, counted at their JSON-escaped length), and for the rest of a
// header; used to split lists of jobs or results under max_message_bytes.
const HEADER_BYTES_PER_ENTRY = spec.ENTRY_HEADER_BYTES;
const HEADER_BYTES_BASE = spec.MESSAGE_HEADER_BYTES;
// The one push strategy of every binding (protocol.json, peer_strategy): at most this
// many jobs per PUSH, and this many pushes sent and not yet answered (ACCEPTED or
// ERROR), so that a huge request reaches the manager as it takes it.
const { MAX_JOBS_PER_PUSH, MAX_PUSHES_IN_FLIGHT } = spec;

// The manager's limits from its WELCOME: most payload entries per message, most
// bytes per message.
function limitsOf(welcome) {
  const w = welcome || {};
  const maxFrames = w.max_frames > FIXED_FRAMES ? w.max_frames : DEFAULT_MAX_FRAMES;
  const maxBytes = w.max_message_bytes > 0 ? w.max_message_bytes : DEFAULT_MAX_MESSAGE_BYTES;
  return { maxEntries: maxFrames - FIXED_FRAMES, maxBytes };
}

// The limits of one PUSH: the manager's, and at most MAX_JOBS_PER_PUSH jobs.
function pushLimitsOf(welcome) {
  const limits = limitsOf(welcome);
  return { ...limits, maxEntries: Math.min(limits.maxEntries, MAX_JOBS_PER_PUSH) };
}

// Bytes a string takes in a JSON header: its escaped form, quotes included.
function jsonBytes(text) {
  return text ? Buffer.byteLength(JSON.stringify(text)) : 0;
}

// Splits entries (each with its size in bytes) into runs that fit one message each:
// returns [start, end) index pairs. An entry too big on its own gets a run alone
// (callers check for that first).
function splitRuns(sizes, limits) {
  const runs = [];
  let start = 0;
  let bytes = HEADER_BYTES_BASE;
  sizes.forEach((size, i) => {
    if (i > start && (i - start >= limits.maxEntries || bytes + size > limits.maxBytes)) {
      runs.push([start, i]);
      start = i;
      bytes = HEADER_BYTES_BASE;
    }
    bytes += size;
  });
  if (sizes.length > start) runs.push([start, sizes.length]);
  return runs;
}

// Frames of one message. `payloads` are Buffers or strings, one per listed entry.
function encode(command, header, payloads) {
  const frames = [EMPTY, SIGNATURE, command];
  frames.push(header && Object.keys(header).length > 0 ? JSON.stringify(header) : EMPTY);
  if (payloads) for (const p of payloads) frames.push(p);
  return frames;
}

// Decodes frames as received on a DEALER. Returns {command, header, payloads} or
// {error: message}.
function decode(frames) {
  if (!Array.isArray(frames) || frames.length < FIXED_FRAMES) {
    return { error: `a message needs ${FIXED_FRAMES} frames, got ${frames ? frames.length : 0}` };
  }
  if (frames[0].length !== 0) return { error: 'frame 0 must be the empty delimiter' };
  if (frames[1].toString('latin1') !== SIGNATURE) return { error: `frame 1 is not ${SIGNATURE}` };
  const command = frames[2].toString('latin1');
  let header = {};
  if (frames[3].length > 0) {
    try {
      header = JSON.parse(frames[3].toString('utf8'));
    } catch {
      return { error: `${command}: header is not valid JSON`, command };
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      return { error: `${command}: header is not a JSON object`, command };
    }
  }
  return { command, header, payloads: frames.slice(FIXED_FRAMES) };
}

// --- what a message from the manager must hold (PROTOCOL §5, §8.2) ----------------
// The rules are protocol.json's "peer_checks" (generated into spec.FROM_MANAGER), the
// same the C++ peer's decoder and the Python binding apply, so every binding drops the
// same messages (tests/vectors/manager_to_peer.json). A field that is null counts as
// absent; unknown fields are ignored. Each check returns a problem, or '' when none.

const isUint = (v, max = MAX_SAFE_INTEGER) => Number.isSafeInteger(v) && v >= 0 && v <= max;
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// One present field against its rule.
function fieldProblem(v, rule) {
  const { name } = rule;
  switch (rule.type) {
    case 'nonempty': return typeof v === 'string' && v !== '' ? '' : `missing field '${name}'`;
    case 'string': return typeof v === 'string' ? '' : `field '${name}' must be a string`;
    case 'bool': return typeof v === 'boolean' ? '' : `field '${name}' must be a boolean`;
    case 'uint': return isUint(v, rule.max) ? '' : `field '${name}' must be an unsigned integer up to ${rule.max}`;
    case 'nonnegative':
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? '' : `field '${name}' must be a finite number >= 0`;
    case 'uint[]':
      return Array.isArray(v) && v.every((i) => isUint(i)) ? '' : `field '${name}' must be an array of unsigned integers`;
    case 'object': return isObject(v) ? fieldsProblem(v, rule.fields) : `field '${name}' must be null or an object`;
    case 'list':
      if (!Array.isArray(v) || !v.every(isObject)) return `field '${name}' must be an array of objects`;
      for (const entry of v) {
        const problem = fieldsProblem(entry, rule.fields);
        if (problem) return problem;
      }
      return '';
    default: throw new Error(`unknown peer_checks type ${rule.type}`); // generate.py emits only the above
  }
}

function fieldsProblem(obj, rules) {
  for (const rule of rules) {
    const v = obj[rule.name];
    const problem = v == null ? (rule.optional ? '' : `missing field '${rule.name}'`) : fieldProblem(v, rule);
    if (problem) return problem;
  }
  return '';
}

function problemFromManager(msg) {
  if (!Object.prototype.hasOwnProperty.call(spec.FROM_MANAGER, msg.command)) {
    return `${JSON.stringify(msg.command.slice(0, 32))} is not a command the manager sends`;
  }
  const rules = spec.FROM_MANAGER[msg.command];
  const problem = fieldsProblem(msg.header, rules);
  if (problem) return problem;
  for (const rule of rules) {
    if (!rule.payloads) continue;
    const listed = msg.header[rule.name].length;
    if (listed !== msg.payloads.length) return `header lists ${listed} entries but ${msg.payloads.length} payload frames follow`;
  }
  return '';
}

// Decodes a message received on the peer's DEALER from the manager, and checks that
// it is one the manager sends, with its required fields of their types and one
// payload frame per listed job or result. Returns {command, header, payloads} or
// {error: message} (the session logs it and drops the message, and goes on).
function decodeFromManager(frames) {
  const msg = decode(frames);
  if (msg.error) return msg;
  const problem = problemFromManager(msg);
  return problem ? { error: `${msg.command.slice(0, 32)}: ${problem}`, command: msg.command } : msg;
}

// A job's arguments or a result's data as a payload frame: Buffers travel as raw
// bytes (entry flag `raw: true`), everything else as JSON text. `undefined` is sent
// as null, as JSON.stringify would inside an array. Throws TypeError for values JSON
// cannot represent (cycles, BigInt).
function toPayload(value) {
  if (Buffer.isBuffer(value)) return { frame: value, raw: true };
  if (value instanceof Uint8Array) return { frame: Buffer.from(value), raw: true };
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`a ${typeof value} cannot be sent as a job or result`);
  }
  const text = value === undefined ? 'null' : JSON.stringify(value);
  return { frame: text, raw: false };
}

// A payload frame back to a value. An empty non-raw frame means null. Returns
// {value} or {error} when the text is not JSON.
function fromPayload(frame, raw) {
  if (raw) return { value: Buffer.from(frame) };
  if (!frame || frame.length === 0) return { value: null };
  try {
    return { value: JSON.parse(frame.toString('utf8')) };
  } catch {
    return { error: 'payload is not valid JSON' };
  }
}

// Byte length of a frame as it will go on the wire.
function frameBytes(frame) {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
}

// A printable, bounded excerpt of a frame for logs.
function snippet(frame, max = 64) {
  if (frame == null) return '';
  const text = (Buffer.isBuffer(frame) ? frame : Buffer.from(String(frame))).subarray(0, max);
  let out = '';
  for (const c of text) out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return frameBytes(frame) > max ? `${out}...` : out;
}

module.exports = {
  SIGNATURE,
  PROTOCOL_VERSION,
  FIXED_FRAMES,
  MAX_SAFE_INTEGER,
  MAX_TOPIC_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_FRAMES,
  HEADER_BYTES_PER_ENTRY,
  HEADER_BYTES_BASE,
  MAX_JOBS_PER_PUSH,
  MAX_PUSHES_IN_FLIGHT,
  limitsOf,
  pushLimitsOf,
  jsonBytes,
  splitRuns,
  encode,
  decode,
  decodeFromManager,
  toPayload,
  fromPayload,
  frameBytes,
  snippet,
};
