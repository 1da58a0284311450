'use strict';
// Options shared by Client and Worker: where the manager is, and how to log.
//
// host/port name the manager's command socket (its ROUTER, default 127.0.0.1:1917),
// as in the original node-proletariat. The system-message channel (the manager's
// XPUB) is found from there: same host, the port the manager announces in WELCOME
// (`pub_port`; proletariatd binds port+1, 1918, unless told otherwise). `endpoint`
// and `pubEndpoint` take full ZeroMQ endpoints instead, `pubPort` overrides the
// announced port. `curve` ({serverKey, publicKey, secretKey}) makes both sockets
// CURVE clients (PROTOCOL §13); it is checked here, at construction.

const spec = require('./spec');
const { curveOption } = require('./curve');

const DEFAULT_HOST = '127.0.0.1';
const { DEFAULT_PORT } = spec;
// How long a peer waits before registering again after the manager was lost, or a
// try failed (the original's CON_RETRYTIME, PROTOCOL §7).
const DEFAULT_CON_RETRYTIME = spec.DEFAULT_CON_RETRY_TIME_MS;

function formatHost(host) {
  // A bare IPv6 address needs brackets in a ZeroMQ TCP endpoint.
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function checkPort(value, name) {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`${name} must be a TCP port (1 .. 65535), not ${JSON.stringify(value)}`);
  }
  return port;
}

// Accepts `host`, `{host, port}`, `{endpoint}`; returns the normalised options with
// `endpoint` (command socket) and `pubHost` (host of the system-message channel, or
// null when the command endpoint is not TCP).
function resolveOptions(opts) {
  if (opts == null) opts = {};
  else if (typeof opts === 'string') opts = { host: opts };
  else if (typeof opts !== 'object') throw new TypeError('options must be a host name or an object');
  const out = { ...opts };
  out.host = opts.host || DEFAULT_HOST;
  out.port = opts.port == null ? DEFAULT_PORT : checkPort(opts.port, 'port');
  out.endpoint = opts.endpoint || `tcp://${formatHost(out.host)}:${out.port}`;
  const tcp = /^tcp:\/\/(.+):(\d+)$/.exec(out.endpoint);
  out.pubHost = tcp ? tcp[1] : null;
  if (opts.pubPort != null) out.pubPort = checkPort(opts.pubPort, 'pubPort');
  // systemMessages: false means this peer never subscribes to the system-message
  // channel (HELLO says so, the manager never counts it as a recipient).
  if (opts.systemMessages != null && typeof opts.systemMessages !== 'boolean') {
    throw new TypeError(`systemMessages must be true or false, not ${JSON.stringify(opts.systemMessages)}`);
  }
  out.systemMessages = opts.systemMessages !== false;
  out.curve = curveOption(opts.curve);
  out.CON_RETRYTIME = opts.CON_RETRYTIME == null ? DEFAULT_CON_RETRYTIME : nonNegative(opts.CON_RETRYTIME, 'CON_RETRYTIME');
  // The original's MAXRETRIES: give up after that many failed tries in a row; absent
  // or 0 (the original's `|| null`) means retry forever.
  out.MAXRETRIES = opts.MAXRETRIES == null || opts.MAXRETRIES === 0 ? null : Math.floor(nonNegative(opts.MAXRETRIES, 'MAXRETRIES')) || null;
  return out;
}

function nonNegative(value, name) {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new TypeError(`${name} must be a number >= 0, not ${JSON.stringify(value)}`);
  return n;
}

// The library logs through one logger: `opts.logger` (any object with some of
// debug/info/warn/error; missing methods are silent), else warnings and errors go to
// stderr and debug/info only with `DEBUG: true` (the original's option).
function makeLogger(opts) {
  const noop = () => {};
  const given = opts.logger;
  if (given === null || given === false) return { debug: noop, info: noop, warn: noop, error: noop };
  if (given && typeof given === 'object') {
    const pick = (name) => (typeof given[name] === 'function' ? given[name].bind(given) : noop);
    return { debug: pick('debug'), info: pick('info'), warn: pick('warn'), error: pick('error') };
  }
  const prefix = 'proletariat';
  const print = (...args) => console.error(prefix, ...args); // eslint-disable-line no-console
  return {
    debug: opts.DEBUG ? print : noop,
    info: opts.DEBUG ? print : noop,
    warn: print,
    error: print,
  };
}

module.exports = { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_CON_RETRYTIME, resolveOptions, makeLogger, nonNegative };
