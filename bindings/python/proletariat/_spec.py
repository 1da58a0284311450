"""The protocol description (PROTOCOL.md, PRO1) as Python tables.

Generated from protocol/protocol.json by protocol/generate.py. Do not edit: change the description and run the generator.
"""

SIGNATURE = "PRO1".encode('ascii')
PROTOCOL_VERSION = 1
FIXED_FRAMES = 4
MAX_SAFE_INTEGER = 9007199254740991
LONGEST_TIMEOUT_MS = 1099511627776
TO_MANAGER = "MANAGER"
DEFAULT_PORT = 1917
DEFAULT_PUB_PORT = 1918
DEFAULT_HEARTBEAT_MS = 1000
DEFAULT_LIVENESS = 5
DEFAULT_CON_RETRY_TIME_MS = 2000
#: all frames of one message together, in bytes
MAX_MESSAGE_BYTES = 67108864
#: frames of one message (100,000 payloads and the 4 fixed frames)
MAX_FRAMES = 100004
#: jobs a client may have outstanding; a push that would exceed it is refused whole
MAX_JOBS_PER_CLIENT = 1000000
#: what a client's outstanding jobs may hold: their payload bytes plus 256 bytes a job; a push that would exceed it is refused whole
MAX_CLIENT_BYTES = 335544320
#: jobs in the manager (queued, held, running) naming one service, all clients together; a push that would exceed it is refused whole
MAX_JOBS_PER_SERVICE = 2000000
#: registered peers; a HELLO beyond it is refused and the peer stays unregistered
MAX_PEERS = 12000
#: longest subscription topic (a peer id) the manager takes on the system-message channel; the subscription message is this plus its one-byte prefix; longer ones are refused and logged
MAX_TOPIC_BYTES = 256
#: waiting jobs explained in a STATUS document
MAX_WAITING_LISTED = 100
#: longest group key of a job (PROTOCOL §14.5), in bytes
MAX_GROUP_BYTES = 256
#: most retries a push may ask for per job (retry.max)
MAX_RETRIES = 100
#: dead letters the manager keeps (PROTOCOL §14.2); beyond it the oldest is dropped and logged (manager option)
MAX_DEAD_LETTERS = 10000
#: age after which a dead letter is dropped and logged (7 days; manager option)
DEAD_LETTER_MAX_AGE_MS = 604800000
#: dead letters one DEADLETTERS reply carries (DEAD list's limit, default 100, is capped by it)
MAX_LETTERS_LISTED = 1000
#: groups one GROUPLIMITS reply lists; STATUS lists up to 100
MAX_GROUPS_LISTED = 1000
MAX_JOBS_PER_PUSH = 4096
MAX_PUSHES_IN_FLIGHT = 8
ENTRY_HEADER_BYTES = 96
MESSAGE_HEADER_BYTES = 256
SLOTS_MIN = 1
SLOTS_MAX = 1000000
SLOTS_DEFAULT = 100
ZERO_START_GUARANTEE_IGNORED = True
#: a prioritySlots key: JSON number syntax, no sign
RANGE_START_PATTERN = "^(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$"
RETRY_INITIAL_MS = 1000
RETRY_FACTOR = 2
RETRY_MAX_DELAY_MS = 300000
RETRY_JITTER = 0.2
RETRY_DEFAULT_EXCLUDES = ['ETO']
NEVER_RETRIED = ['EATO', 'EPOISON', 'ECSTO', 'EABORTED', 'ECONNLOST']
DEAD_LIST_DEFAULT_LIMIT = 100
DEAD_OPS = ['list', 'show', 'requeue', 'purge']
GROUP_LIMIT_OPS = ['list', 'set', 'clear']

#: code -> (class, meaning)
ERRORS = {
    "ECSTO": ("retry", "the request's timeout expired before the job finished; the library aborts the job on the manager"),
    "ETO": ("retry", "the job ran longer than its runTimeout"),
    "EATO": ("retry", "no worker took the job within its assigntimeout"),
    "EWORKERLOST": ("fault", "retired, no longer sent: managers before EPOISON existed sent it when a job's worker had died max_attempts times"),
    "EPOISON": ("fault", "the job's worker died while running it alone, after its workers had died while running it suspect_after times before: the job kills workers"),
    "EABORTED": ("request", "the application aborted the job"),
    "ECONNLOST": ("retry", "the manager was lost and the client does not push the job again"),
    "EHANDLER": ("fault", "the worker's handler failed without giving a code (exception, no handler)"),
    "ENOHELLO": ("request", "the peer is not registered (first command was not HELLO, or the manager restarted): send HELLO again"),
    "EVERSION": ("request", "frame 1 is not PRO1"),
    "EBADFRAME": ("request", "missing frames, wrong payload frame count"),
    "EBADJSON": ("request", "the header is not a JSON object, or a system message's content is not JSON"),
    "EBADFIELD": ("request", "a header field of a command other than OFFER is missing or has the wrong type or range"),
    "EUNKNOWNCMD": ("request", "frame 2 names no command a peer may send"),
    "ESTATE": ("request", "the command is not allowed in the peer's state or role (RESULT from a client, PUSH from a worker, a second HELLO or OFFER)"),
    "EBADOFFER": ("request", "the OFFER header is wrong: a field of the wrong type, slots out of range, a bad range start or guarantee, guarantees above slots, an empty service name"),
    "ETOOBIG": ("request", "the message exceeds max_message_bytes or max_frames; as a job error: the job or its result alone is too big to travel"),
    "ELIMIT": ("retry", "a limit of §10 would be exceeded: the push (max_jobs_per_client, max_client_bytes, max_jobs_per_service) or the HELLO (max_peers) is refused whole"),
    "EINTERNAL": ("fault", "the manager failed while handling the message; it logged the details and goes on"),
    "EDRAINING": ("retry", "the manager is stopping (draining): it takes no new pushes; push again later, or to another manager"),
    "EDENIED": ("request", "the peer's CURVE key does not hold the role the command needs: OFFER needs a worker key, PUSH a client key, STATUS (everybody's) and a SYSMSG to everybody an admin key"),
    "ENOPEER": ("request", "a SYSMSG names a peer id that is not registered, or one that registered with \"sysmsg\": false"),
    "ENOTSUPPORTED": ("request", "the job asks for a lifecycle option (delay, at, group, retry, PROTOCOL §14) and the manager did not announce lifecycle in WELCOME: the job fails at once, it is not pushed without it; a DEAD or GROUPLIMITS request to such a manager fails the same way, unsent"),
}

#: command -> (from, payloads)
COMMANDS = {
    "HELLO": ("peer", "none"),
    "OFFER": ("peer", "none"),
    "PUSH": ("peer", "jobs"),
    "ABORT": ("peer", "none"),
    "RESULT": ("peer", "results"),
    "REJECT": ("peer", "none"),
    "RECEIVED": ("peer", "none"),
    "DRAIN": ("peer", "none"),
    "PROGRESS": ("both", "progress"),
    "DEAD": ("peer", "none"),
    "GROUPLIMITS": ("both", "none"),
    "HEARTBEAT": ("both", "none"),
    "BYE": ("both", "none"),
    "SYSMSG": ("peer", "one"),
    "SYSACK": ("peer", "none"),
    "STATUS": ("both", "none"),
    "MYSTATUS": ("both", "none"),
    "WELCOME": ("manager", "none"),
    "OFFERED": ("manager", "none"),
    "ACCEPTED": ("manager", "none"),
    "JOBS": ("manager", "jobs"),
    "ERROR": ("manager", "none"),
    "SYSDONE": ("manager", "none"),
    "DEADLETTERS": ("manager", "letters"),
}

#: command -> the rules a peer checks in it (protocol.json "peer_checks"); a
#: command the manager sends has an entry, others are malformed from the manager.
FROM_MANAGER = {
    "ABORT": [{'name': 'jobs', 'type': 'list', 'optional': False, 'fields': [{'name': 'id', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'attempt', 'optional': False, 'type': 'uint', 'max': 4294967295}], 'payloads': False}],
    "RESULT": [{'name': 'results', 'type': 'list', 'optional': False, 'fields': [{'name': 'id', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'raw', 'optional': True, 'type': 'bool'}, {'name': 'err', 'type': 'object', 'optional': True, 'fields': [{'name': 'code', 'optional': True, 'type': 'string'}, {'name': 'message', 'optional': True, 'type': 'string'}]}, {'name': 'attempts', 'optional': True, 'type': 'uint', 'max': 4294967295}], 'payloads': True}],
    "PROGRESS": [{'name': 'progress', 'type': 'list', 'optional': False, 'fields': [{'name': 'id', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'raw', 'optional': True, 'type': 'bool'}], 'payloads': True}],
    "GROUPLIMITS": [{'name': 'req', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'groups', 'type': 'list', 'optional': False, 'fields': [{'name': 'group', 'optional': False, 'type': 'string'}, {'name': 'running', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'waiting', 'optional': False, 'type': 'uint', 'max': 9007199254740991}], 'payloads': False}],
    "HEARTBEAT": [],
    "BYE": [],
    "STATUS": [],
    "MYSTATUS": [],
    "WELCOME": [{'name': 'id', 'optional': False, 'type': 'nonempty'}, {'name': 'protocol', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'heartbeat_ms', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'liveness', 'optional': False, 'type': 'uint', 'max': 1000}, {'name': 'max_message_bytes', 'optional': True, 'type': 'uint', 'max': 9007199254740991}, {'name': 'max_frames', 'optional': True, 'type': 'uint', 'max': 9007199254740991}, {'name': 'pub_port', 'optional': True, 'type': 'uint', 'max': 65535}, {'name': 'pub_endpoint', 'optional': True, 'type': 'string'}, {'name': 'entry_options', 'optional': True, 'type': 'bool'}, {'name': 'journal', 'optional': True, 'type': 'string'}, {'name': 'lifecycle', 'optional': True, 'type': 'bool'}],
    "OFFERED": [{'name': 'slots', 'optional': False, 'type': 'uint', 'max': 4294967295}, {'name': 'ranges', 'type': 'list', 'optional': True, 'fields': [{'name': 'start', 'optional': True, 'type': 'nonnegative'}, {'name': 'slots', 'optional': True, 'type': 'uint', 'max': 4294967295}], 'payloads': False}],
    "ACCEPTED": [{'name': 'req', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'ids', 'optional': False, 'type': 'uint[]'}],
    "JOBS": [{'name': 'jobs', 'type': 'list', 'optional': False, 'fields': [{'name': 'id', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'attempt', 'optional': False, 'type': 'uint', 'max': 4294967295}, {'name': 'priority', 'optional': True, 'type': 'nonnegative'}, {'name': 'runTimeout', 'optional': True, 'type': 'uint', 'max': 9007199254740991}, {'name': 'key', 'optional': True, 'type': 'string'}, {'name': 'service', 'optional': True, 'type': 'string'}, {'name': 'client', 'optional': True, 'type': 'string'}, {'name': 'raw', 'optional': True, 'type': 'bool'}], 'payloads': True}],
    "ERROR": [{'name': 'code', 'optional': False, 'type': 'nonempty'}, {'name': 'message', 'optional': True, 'type': 'string'}, {'name': 'class', 'optional': True, 'type': 'string'}, {'name': 'command', 'optional': True, 'type': 'string'}, {'name': 'req', 'optional': True, 'type': 'uint', 'max': 9007199254740991}],
    "SYSDONE": [{'name': 'req', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'sentTo', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'receivedBy', 'optional': False, 'type': 'uint', 'max': 9007199254740991}],
    "DEADLETTERS": [{'name': 'req', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'op', 'optional': False, 'type': 'nonempty'}, {'name': 'total', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'letters', 'type': 'list', 'optional': False, 'fields': [{'name': 'id', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'attempts', 'optional': False, 'type': 'uint', 'max': 4294967295}, {'name': 'since', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'bytes', 'optional': False, 'type': 'uint', 'max': 9007199254740991}, {'name': 'raw', 'optional': True, 'type': 'bool'}, {'name': 'service', 'optional': True, 'type': 'string'}, {'name': 'key', 'optional': True, 'type': 'string'}, {'name': 'group', 'optional': True, 'type': 'string'}, {'name': 'client', 'optional': True, 'type': 'string'}, {'name': 'err', 'type': 'object', 'optional': True, 'fields': [{'name': 'code', 'optional': True, 'type': 'string'}, {'name': 'message', 'optional': True, 'type': 'string'}]}], 'payloads': True}],
}

WAITING_REASONS = ("no_worker", "no_worker_for_service", "no_free_slot", "held_behind_key", "throttled", "needs_idle_worker", "delayed", "retry_backoff", "group_running_limit", "group_rate_limit",)
WORKER_STATES = ("ready", "full", "reserved",)
ROLES = ("peer", "worker", "client",)
