'use strict';
// The job lifecycle options of a push (PROTOCOL §4, §14): `delay`, `at`, `group` and
// `retry`, checked here with the manager's rules so that a mistake throws a TypeError
// at work() rather than failing a whole push with EBADFIELD later (a refused push
// fails every job that shared it, and says nothing about which option was wrong).
// Also the checks of the admin requests' arguments (DEAD, GROUPLIMITS).
//
// The rules and defaults are protocol/protocol.json's, through the generated spec.js.

const spec = require('./spec');

const { MAX_SAFE_INTEGER, MAX_GROUP_BYTES, MAX_RETRIES } = spec;
// The fields of a retry policy, in the order PROTOCOL §14.1 lists them (and the wire
// carries them, so that equal policies have equal texts).
const RETRY_FIELDS = ['max', 'codes', 'initial', 'factor', 'maxDelay', 'jitter'];

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);

function describe(value) {
  if (value instanceof Date) return `a Date (${String(value)})`;
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text;
}

// A whole number of ms, 0 .. 2^53 - 1; fractions round up (never sooner than asked).
function msOption(value, name) {
  const n = typeof value === 'number' ? value : NaN;
  if (!Number.isFinite(n) || n < 0 || Math.ceil(n) > MAX_SAFE_INTEGER) {
    throw new TypeError(`${name} must be a number of ms, 0 .. ${MAX_SAFE_INTEGER}, not ${describe(value)}`);
  }
  return Math.ceil(n);
}

// `at`: a Date, or ms since the Unix epoch.
function atOption(value) {
  if (value instanceof Date) {
    const t = value.getTime();
    if (!Number.isFinite(t)) throw new TypeError('at must be a valid Date, not an Invalid Date');
    if (t < 0) throw new TypeError(`at must not be before the Unix epoch, not ${value.toISOString()}`);
    return t;
  }
  return msOption(value, 'at (ms since the Unix epoch, or a Date)');
}

// A group name: 1 .. max_group_bytes bytes of UTF-8.
function checkGroup(value, name = 'group') {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, not ${describe(value)}`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes < 1 || bytes > MAX_GROUP_BYTES) {
    throw new TypeError(`${name} must be 1 .. ${MAX_GROUP_BYTES} bytes of UTF-8, not ${bytes}`);
  }
  return value;
}

// A retry policy (PROTOCOL §14.1) as it goes on the wire: only the fields given, in
// the protocol's order. An unknown field is refused rather than dropped: a misspelt
// `maxdelay` would otherwise give the default without a word.
function retryOption(value) {
  if (!isPlainObject(value)) throw new TypeError(`retry must be an object {max, codes, initial, factor, maxDelay, jitter}, not ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (!RETRY_FIELDS.includes(key) && value[key] !== undefined) {
      throw new TypeError(`retry has no field ${JSON.stringify(key)} (its fields: ${RETRY_FIELDS.join(', ')})`);
    }
  }
  const out = {};
  const { max } = value;
  if (!Number.isInteger(max) || max < 0 || max > MAX_RETRIES) {
    throw new TypeError(`retry.max (the attempts after the first) must be an integer 0 .. ${MAX_RETRIES}, not ${describe(max)}`);
  }
  out.max = max;
  if (value.codes != null) {
    if (!Array.isArray(value.codes) || !value.codes.every((c) => typeof c === 'string' && c !== '')) {
      throw new TypeError(`retry.codes must be an array of error codes (non-empty strings), not ${describe(value.codes)}`);
    }
    out.codes = [...value.codes];
  }
  if (value.initial != null) out.initial = intMs(value.initial, 'retry.initial');
  if (value.factor != null) {
    if (typeof value.factor !== 'number' || !Number.isFinite(value.factor) || value.factor < 1) {
      throw new TypeError(`retry.factor must be a number >= 1, not ${describe(value.factor)}`);
    }
    out.factor = value.factor;
  }
  if (value.maxDelay != null) out.maxDelay = intMs(value.maxDelay, 'retry.maxDelay');
  if (value.jitter != null) {
    if (typeof value.jitter !== 'number' || !(value.jitter >= 0 && value.jitter <= 1)) {
      throw new TypeError(`retry.jitter must be a number 0 .. 1, not ${describe(value.jitter)}`);
    }
    out.jitter = value.jitter;
  }
  return out;
}

// The manager takes integer ms in a retry policy: a fraction is refused, not rounded
// (a backoff of 0.5 ms is a mistake rather than a wish for 1 ms).
function intMs(value, name) {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${name} must be an integer number of ms >= 0, not ${describe(value)}`);
  return value;
}

// A request's lifecycle options, checked: {delay, at, group, retry, retryText}, each
// null when not asked for (a delay of 0 is no delay, as 0 means "none" for the other
// durations). `retryText` is the policy's wire text, to compare requests by.
function lifecycleOptions(opts) {
  const out = { delay: null, at: null, group: null, retry: null, retryText: '' };
  if (opts.delay != null && opts.at != null) {
    throw new TypeError('delay and at cannot both be given: a job waits a delay, or until a time');
  }
  if (opts.delay != null) {
    const delay = msOption(opts.delay, 'delay');
    if (delay > 0) out.delay = delay;
  }
  if (opts.at != null) out.at = atOption(opts.at);
  if (opts.group != null) out.group = checkGroup(opts.group);
  if (opts.retry != null) {
    out.retry = retryOption(opts.retry);
    out.retryText = JSON.stringify(out.retry);
  }
  return out;
}

// Whether a request asks for anything a manager without lifecycle cannot do.
function asksLifecycle(o) {
  return o.delay !== null || o.at !== null || o.group !== null || o.retry !== null;
}

// --- admin requests ---

function idList(ids, name) {
  if (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id) && id >= 0)) {
    throw new TypeError(`${name} must be an array of dead-letter ids (integers >= 0), not ${describe(ids)}`);
  }
  return [...ids];
}

// requeue and purge name letters by id, or all of them ('all').
function idsOrAll(which, name) {
  if (which === 'all') return { all: true };
  return { ids: idList(which, `${name}: the letters`) };
}

// A limit of GROUPLIMITS set: undefined keeps the group's current value (the field
// is left out), null lifts the limit, a number sets it.
function groupLimitField(value, name, integer) {
  if (value === undefined || value === null) return value;
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= 0 && (!integer || Number.isSafeInteger(value));
  if (!ok) throw new TypeError(`${name} must be ${integer ? 'an integer' : 'a number'} >= 0, or null for no limit, not ${describe(value)}`);
  return value;
}

module.exports = {
  RETRY_FIELDS, lifecycleOptions, asksLifecycle, checkGroup, retryOption, idList, idsOrAll, groupLimitField,
};
