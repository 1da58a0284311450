'use strict';
// Error codes of the wire protocol (docs/PROTOCOL.md §6) and the one place where
// anything a handler or the manager produces becomes the {code, message} value that
// applications receive. Codes are the original node-proletariat's (ECSTO, ETO,
// EATO kept as they were, so programs testing err.code keep working); they never
// change meaning and are never reused.
//
// The codes, their classes and meanings are those of protocol/protocol.json, through
// the generated spec.js: never list them here.

const { ERRORS } = require('./spec');

// code -> code: `codes.ETO === 'ETO'`, one entry per code of the protocol.
const codes = Object.freeze(Object.fromEntries(Object.keys(ERRORS).map((code) => [code, code])));

// What a caller should do about a code (PROTOCOL §6): retry later, fix the request,
// or report a fault. Unknown codes (the application's own) are faults.
const classes = Object.freeze(Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, e.class])));

function errorClass(code) {
  return Object.prototype.hasOwnProperty.call(classes, code) ? classes[code] : 'fault';
}

// A job or request error as applications receive it: a plain object, the same shape
// on every path (worker handler, manager, client library).
function jobError(code, message) {
  return { code: String(code), message: message == null ? '' : String(message) };
}

// Turns whatever a work handler passed as its error into {code, message}:
// an Error keeps its `code` when it has a string one (else EHANDLER) and its message;
// an object keeps `code` and `message` (or the original's `description`); a string
// becomes the message of an EHANDLER error. Other fields do not cross the wire.
function fromHandlerError(err) {
  if (err == null) return null;
  if (typeof err === 'string') return jobError(codes.EHANDLER, err);
  if (typeof err === 'object') {
    const code = typeof err.code === 'string' && err.code !== '' ? err.code : codes.EHANDLER;
    let message = err.message;
    if (message == null) message = err.description;
    if (message == null && !(err instanceof Error)) {
      try {
        message = JSON.stringify(err);
      } catch {
        message = String(err);
      }
    }
    return jobError(code, message);
  }
  return jobError(codes.EHANDLER, String(err));
}

// An Error thrown for misuse of the API (bad options), carrying a code.
class ProletariatError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = 'ProletariatError';
    this.code = code;
  }
}

module.exports = { codes, errorClass, jobError, fromHandlerError, ProletariatError };
