'use strict';
// Error codes of the wire protocol (docs/PROTOCOL.md §6) and the one place where
// anything a handler or the manager produces becomes the {code, message} value that
// applications receive. Codes are the original node-proletariat's (ECSTO, ETO,
// EATO kept as they were, so programs testing err.code keep working); they never
// change meaning and are never reused.

const codes = Object.freeze({
  // Job errors.
  ECSTO: 'ECSTO', // the request's `timeout` expired (client library)
  ETO: 'ETO', // the job ran longer than its runTimeout (worker)
  EATO: 'EATO', // no worker took the job within its assigntimeout (manager)
  EWORKERLOST: 'EWORKERLOST', // the job's worker died max_attempts times (manager)
  EABORTED: 'EABORTED', // the application aborted the job, or closed the client
  ECONNLOST: 'ECONNLOST', // the manager was lost and the request does not keep state
  EHANDLER: 'EHANDLER', // the work handler failed without giving a code
  // Protocol errors (ERROR messages from the manager).
  ENOHELLO: 'ENOHELLO',
  EVERSION: 'EVERSION',
  EBADFRAME: 'EBADFRAME',
  EBADJSON: 'EBADJSON',
  EBADFIELD: 'EBADFIELD',
  EUNKNOWNCMD: 'EUNKNOWNCMD',
  ESTATE: 'ESTATE',
  EBADOFFER: 'EBADOFFER',
  ETOOBIG: 'ETOOBIG',
  ELIMIT: 'ELIMIT',
  EINTERNAL: 'EINTERNAL',
  ENOPEER: 'ENOPEER',
});

// What a caller should do about a code (PROTOCOL §6): retry later, fix the request,
// or report a fault. Unknown codes (the application's own) are faults.
const classes = Object.freeze({
  ECSTO: 'retry', ETO: 'retry', EATO: 'retry', EWORKERLOST: 'fault', EABORTED: 'request',
  ECONNLOST: 'retry', EHANDLER: 'fault', ENOHELLO: 'request', EVERSION: 'request',
  EBADFRAME: 'request', EBADJSON: 'request', EBADFIELD: 'request', EUNKNOWNCMD: 'request',
  ESTATE: 'request', EBADOFFER: 'request', ETOOBIG: 'request', ELIMIT: 'retry',
  EINTERNAL: 'fault', ENOPEER: 'request',
});

function errorClass(code) {
  return classes[code] || 'fault';
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
