'use strict';
// The protocol description (PROTOCOL.md, PRO1) as JavaScript tables.
// Generated from protocol/protocol.json by protocol/generate.py. Do not edit: change the description and run the generator.

const SIGNATURE = "PRO1";
const PROTOCOL_VERSION = 1;
const FIXED_FRAMES = 4;
const MAX_SAFE_INTEGER = 9007199254740991;
const LONGEST_TIMEOUT_MS = 1099511627776;
const TO_MANAGER = "MANAGER";
const DEFAULT_PORT = 1917;
const DEFAULT_PUB_PORT = 1918;
const DEFAULT_HEARTBEAT_MS = 1000;
const DEFAULT_LIVENESS = 5;
const DEFAULT_CON_RETRY_TIME_MS = 2000;
const MAX_MESSAGE_BYTES = 67108864;
const MAX_FRAMES = 100004;
const MAX_JOBS_PER_CLIENT = 1000000;
const MAX_CLIENT_BYTES = 335544320;
const MAX_JOBS_PER_SERVICE = 2000000;
const MAX_PEERS = 12000;
const MAX_TOPIC_BYTES = 256;
const MAX_WAITING_LISTED = 100;
const MAX_GROUP_BYTES = 256;
const MAX_RETRIES = 100;
const MAX_DEAD_LETTERS = 10000;
const DEAD_LETTER_MAX_AGE_MS = 604800000;
const MAX_LETTERS_LISTED = 1000;
const MAX_GROUPS_LISTED = 1000;
const MAX_JOBS_PER_PUSH = 4096;
const MAX_PUSHES_IN_FLIGHT = 8;
const ENTRY_HEADER_BYTES = 96;
const MESSAGE_HEADER_BYTES = 256;
const SLOTS_MIN = 1;
const SLOTS_MAX = 1000000;
const SLOTS_DEFAULT = 100;
const ZERO_START_GUARANTEE_IGNORED = true;
const RANGE_START_PATTERN = "^(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$";
const RETRY_INITIAL_MS = 1000;
const RETRY_FACTOR = 2;
const RETRY_MAX_DELAY_MS = 300000;
const RETRY_JITTER = 0.2;
const RETRY_DEFAULT_EXCLUDES = ["ETO"];
const NEVER_RETRIED = ["EATO", "EPOISON", "ECSTO", "EABORTED", "ECONNLOST"];
const DEAD_LIST_DEFAULT_LIMIT = 100;
const DEAD_OPS = ["list", "show", "requeue", "purge"];
const GROUP_LIMIT_OPS = ["list", "set", "clear"];

// code -> {class, meaning}
const ERRORS = Object.freeze({
  ECSTO: Object.freeze({ class: "retry", meaning: "the request's timeout expired before the job finished; the library aborts the job on the manager" }),
  ETO: Object.freeze({ class: "retry", meaning: "the job ran longer than its runTimeout" }),
  EATO: Object.freeze({ class: "retry", meaning: "no worker took the job within its assigntimeout" }),
  EWORKERLOST: Object.freeze({ class: "fault", meaning: "retired, no longer sent: managers before EPOISON existed sent it when a job's worker had died max_attempts times" }),
  EPOISON: Object.freeze({ class: "fault", meaning: "the job's worker died while running it alone, after its workers had died while running it suspect_after times before: the job kills workers" }),
  EABORTED: Object.freeze({ class: "request", meaning: "the application aborted the job" }),
  ECONNLOST: Object.freeze({ class: "retry", meaning: "the manager was lost and the client does not push the job again" }),
  EHANDLER: Object.freeze({ class: "fault", meaning: "the worker's handler failed without giving a code (exception, no handler)" }),
  ENOHELLO: Object.freeze({ class: "request", meaning: "the peer is not registered (first command was not HELLO, or the manager restarted): send HELLO again" }),
  EVERSION: Object.freeze({ class: "request", meaning: "frame 1 is not PRO1" }),
  EBADFRAME: Object.freeze({ class: "request", meaning: "missing frames, wrong payload frame count" }),
  EBADJSON: Object.freeze({ class: "request", meaning: "the header is not a JSON object, or a system message's content is not JSON" }),
  EBADFIELD: Object.freeze({ class: "request", meaning: "a header field of a command other than OFFER is missing or has the wrong type or range" }),
  EUNKNOWNCMD: Object.freeze({ class: "request", meaning: "frame 2 names no command a peer may send" }),
  ESTATE: Object.freeze({ class: "request", meaning: "the command is not allowed in the peer's state or role (RESULT from a client, PUSH from a worker, a second HELLO or OFFER)" }),
  EBADOFFER: Object.freeze({ class: "request", meaning: "the OFFER header is wrong: a field of the wrong type, slots out of range, a bad range start or guarantee, guarantees above slots, an empty service name" }),
  ETOOBIG: Object.freeze({ class: "request", meaning: "the message exceeds max_message_bytes or max_frames; as a job error: the job or its result alone is too big to travel" }),
  ELIMIT: Object.freeze({ class: "retry", meaning: "a limit of \u00a710 would be exceeded: the push (max_jobs_per_client, max_client_bytes, max_jobs_per_service) or the HELLO (max_peers) is refused whole" }),
  EINTERNAL: Object.freeze({ class: "fault", meaning: "the manager failed while handling the message; it logged the details and goes on" }),
  EDRAINING: Object.freeze({ class: "retry", meaning: "the manager is stopping (draining): it takes no new pushes; push again later, or to another manager" }),
  EDENIED: Object.freeze({ class: "request", meaning: "the peer's CURVE key does not hold the role the command needs: OFFER needs a worker key, PUSH a client key, STATUS (everybody's) and a SYSMSG to everybody an admin key" }),
  ENOPEER: Object.freeze({ class: "request", meaning: "a SYSMSG names a peer id that is not registered, or one that registered with \"sysmsg\": false" }),
  ENOTSUPPORTED: Object.freeze({ class: "request", meaning: "the job asks for a lifecycle option (delay, at, group, retry, PROTOCOL \u00a714) and the manager did not announce lifecycle in WELCOME: the job fails at once, it is not pushed without it; a DEAD or GROUPLIMITS request to such a manager fails the same way, unsent" }),
});

// command -> {from, payloads}
const COMMANDS = Object.freeze({
  HELLO: Object.freeze({ from: "peer", payloads: "none" }),
  OFFER: Object.freeze({ from: "peer", payloads: "none" }),
  PUSH: Object.freeze({ from: "peer", payloads: "jobs" }),
  ABORT: Object.freeze({ from: "peer", payloads: "none" }),
  RESULT: Object.freeze({ from: "peer", payloads: "results" }),
  REJECT: Object.freeze({ from: "peer", payloads: "none" }),
  RECEIVED: Object.freeze({ from: "peer", payloads: "none" }),
  DRAIN: Object.freeze({ from: "peer", payloads: "none" }),
  PROGRESS: Object.freeze({ from: "both", payloads: "progress" }),
  DEAD: Object.freeze({ from: "peer", payloads: "none" }),
  GROUPLIMITS: Object.freeze({ from: "both", payloads: "none" }),
  HEARTBEAT: Object.freeze({ from: "both", payloads: "none" }),
  BYE: Object.freeze({ from: "both", payloads: "none" }),
  SYSMSG: Object.freeze({ from: "peer", payloads: "one" }),
  SYSACK: Object.freeze({ from: "peer", payloads: "none" }),
  STATUS: Object.freeze({ from: "both", payloads: "none" }),
  MYSTATUS: Object.freeze({ from: "both", payloads: "none" }),
  WELCOME: Object.freeze({ from: "manager", payloads: "none" }),
  OFFERED: Object.freeze({ from: "manager", payloads: "none" }),
  ACCEPTED: Object.freeze({ from: "manager", payloads: "none" }),
  JOBS: Object.freeze({ from: "manager", payloads: "jobs" }),
  ERROR: Object.freeze({ from: "manager", payloads: "none" }),
  SYSDONE: Object.freeze({ from: "manager", payloads: "none" }),
  DEADLETTERS: Object.freeze({ from: "manager", payloads: "letters" }),
});

// command -> the rules a peer checks in it (protocol.json "peer_checks"); a
// command the manager sends has an entry, others are malformed from the manager.
const FROM_MANAGER = Object.freeze({
  ABORT: [{"name": "jobs", "type": "list", "optional": false, "fields": [{"name": "id", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "attempt", "optional": false, "type": "uint", "max": 4294967295}], "payloads": false}],
  RESULT: [{"name": "results", "type": "list", "optional": false, "fields": [{"name": "id", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "raw", "optional": true, "type": "bool"}, {"name": "err", "type": "object", "optional": true, "fields": [{"name": "code", "optional": true, "type": "string"}, {"name": "message", "optional": true, "type": "string"}]}, {"name": "attempts", "optional": true, "type": "uint", "max": 4294967295}], "payloads": true}],
  PROGRESS: [{"name": "progress", "type": "list", "optional": false, "fields": [{"name": "id", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "raw", "optional": true, "type": "bool"}], "payloads": true}],
  GROUPLIMITS: [{"name": "req", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "groups", "type": "list", "optional": false, "fields": [{"name": "group", "optional": false, "type": "string"}, {"name": "running", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "waiting", "optional": false, "type": "uint", "max": 9007199254740991}], "payloads": false}],
  HEARTBEAT: [],
  BYE: [],
  STATUS: [],
  MYSTATUS: [],
  WELCOME: [{"name": "id", "optional": false, "type": "nonempty"}, {"name": "protocol", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "heartbeat_ms", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "liveness", "optional": false, "type": "uint", "max": 1000}, {"name": "max_message_bytes", "optional": true, "type": "uint", "max": 9007199254740991}, {"name": "max_frames", "optional": true, "type": "uint", "max": 9007199254740991}, {"name": "pub_port", "optional": true, "type": "uint", "max": 65535}, {"name": "pub_endpoint", "optional": true, "type": "string"}, {"name": "entry_options", "optional": true, "type": "bool"}, {"name": "journal", "optional": true, "type": "string"}, {"name": "lifecycle", "optional": true, "type": "bool"}],
  OFFERED: [{"name": "slots", "optional": false, "type": "uint", "max": 4294967295}, {"name": "ranges", "type": "list", "optional": true, "fields": [{"name": "start", "optional": true, "type": "nonnegative"}, {"name": "slots", "optional": true, "type": "uint", "max": 4294967295}], "payloads": false}],
  ACCEPTED: [{"name": "req", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "ids", "optional": false, "type": "uint[]"}],
  JOBS: [{"name": "jobs", "type": "list", "optional": false, "fields": [{"name": "id", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "attempt", "optional": false, "type": "uint", "max": 4294967295}, {"name": "priority", "optional": true, "type": "nonnegative"}, {"name": "runTimeout", "optional": true, "type": "uint", "max": 9007199254740991}, {"name": "key", "optional": true, "type": "string"}, {"name": "service", "optional": true, "type": "string"}, {"name": "client", "optional": true, "type": "string"}, {"name": "raw", "optional": true, "type": "bool"}], "payloads": true}],
  ERROR: [{"name": "code", "optional": false, "type": "nonempty"}, {"name": "message", "optional": true, "type": "string"}, {"name": "class", "optional": true, "type": "string"}, {"name": "command", "optional": true, "type": "string"}, {"name": "req", "optional": true, "type": "uint", "max": 9007199254740991}],
  SYSDONE: [{"name": "req", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "sentTo", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "receivedBy", "optional": false, "type": "uint", "max": 9007199254740991}],
  DEADLETTERS: [{"name": "req", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "op", "optional": false, "type": "nonempty"}, {"name": "total", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "letters", "type": "list", "optional": false, "fields": [{"name": "id", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "attempts", "optional": false, "type": "uint", "max": 4294967295}, {"name": "since", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "bytes", "optional": false, "type": "uint", "max": 9007199254740991}, {"name": "raw", "optional": true, "type": "bool"}, {"name": "service", "optional": true, "type": "string"}, {"name": "key", "optional": true, "type": "string"}, {"name": "group", "optional": true, "type": "string"}, {"name": "client", "optional": true, "type": "string"}, {"name": "err", "type": "object", "optional": true, "fields": [{"name": "code", "optional": true, "type": "string"}, {"name": "message", "optional": true, "type": "string"}]}], "payloads": true}],
});

const WAITING_REASONS = Object.freeze(["no_worker", "no_worker_for_service", "no_free_slot", "held_behind_key", "throttled", "needs_idle_worker", "delayed", "retry_backoff", "group_running_limit", "group_rate_limit"]);
const WORKER_STATES = Object.freeze(["ready", "full", "reserved"]);
const ROLES = Object.freeze(["peer", "worker", "client"]);

module.exports = {
  SIGNATURE,
  PROTOCOL_VERSION,
  FIXED_FRAMES,
  MAX_SAFE_INTEGER,
  LONGEST_TIMEOUT_MS,
  TO_MANAGER,
  DEFAULT_PORT,
  DEFAULT_PUB_PORT,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_LIVENESS,
  DEFAULT_CON_RETRY_TIME_MS,
  MAX_MESSAGE_BYTES,
  MAX_FRAMES,
  MAX_JOBS_PER_CLIENT,
  MAX_CLIENT_BYTES,
  MAX_JOBS_PER_SERVICE,
  MAX_PEERS,
  MAX_TOPIC_BYTES,
  MAX_WAITING_LISTED,
  MAX_GROUP_BYTES,
  MAX_RETRIES,
  MAX_DEAD_LETTERS,
  DEAD_LETTER_MAX_AGE_MS,
  MAX_LETTERS_LISTED,
  MAX_GROUPS_LISTED,
  MAX_JOBS_PER_PUSH,
  MAX_PUSHES_IN_FLIGHT,
  ENTRY_HEADER_BYTES,
  MESSAGE_HEADER_BYTES,
  SLOTS_MIN,
  SLOTS_MAX,
  SLOTS_DEFAULT,
  ZERO_START_GUARANTEE_IGNORED,
  RANGE_START_PATTERN,
  RETRY_INITIAL_MS,
  RETRY_FACTOR,
  RETRY_MAX_DELAY_MS,
  RETRY_JITTER,
  RETRY_DEFAULT_EXCLUDES,
  NEVER_RETRIED,
  DEAD_LIST_DEFAULT_LIMIT,
  DEAD_OPS,
  GROUP_LIMIT_OPS,
  ERRORS,
  COMMANDS,
  FROM_MANAGER,
  WAITING_REASONS,
  WORKER_STATES,
  ROLES,
};
