/* proletariat.h — the C API of proletariat, a distributed job broker on ZeroMQ.
 *
 * A pure C99 header over the C++ library (libproletariat). It gives C programs, and
 * any language with a C foreign-function interface, the three roles of the system:
 *
 *   manager   the broker, embedded in this process (proletariat_manager_*)
 *   worker    offers slots and runs jobs through a handler callback (proletariat_worker_*)
 *   client    pushes groups of jobs, gets results by callback or blocking wait
 *             (proletariat_client_*, proletariat_request_*)
 *
 * Conventions, the same for every function:
 *
 *  - Handles are opaque. proletariat_X_new(..., &handle) creates one and gives it to the
 *    caller, who owns it and must pass it to proletariat_X_destroy(&handle) exactly
 *    once; destroy sets the handle to NULL, and accepts a NULL handle (no-op).
 *  - Every function that can fail returns a proletariat_status; PROLETARIAT_OK is 0.
 *    A failing call also records, for the calling thread, a stable error code string
 *    (the wire codes of docs/PROTOCOL.md §6 such as "EBADOFFER", plus the few C-only
 *    codes listed at proletariat_last_error_code) and a human message. Successful
 *    calls leave that record unchanged, as errno does.
 *  - No C++ exception ever leaves this library.
 *  - Strings passed in are NUL-terminated UTF-8 and are copied before the call returns
 *    unless a comment says otherwise. Strings handed out are owned by the library;
 *    each comment says how long they stay valid.
 *  - Payloads (job arguments, results) are JSON text by default, or opaque bytes when a
 *    `raw` flag is set. JSON text is checked when it goes in (PROLETARIAT_EINVAL,
 *    code "EBADJSON"). A JSON length of 0 with a non-NULL pointer means "NUL-terminated:
 *    use strlen"; a NULL pointer means JSON null. Raw lengths are always taken as given.
 *  - Durations are int64_t milliseconds; PROLETARIAT_NO_TIMEOUT (-1) means "none" or
 *    "wait forever".
 *  - Options structs start with a `size` member and are filled with defaults by their
 *    init macro (proletariat_manager_options_init(&o)), which records sizeof as the
 *    caller was compiled (from another language, call the function behind it:
 *    proletariat_manager_options_init_sized(&o, sizeof o)). The library reads only the
 *    members that fit in `size`, so members can be added at the end in later versions
 *    without breaking programs built against this header. Structs the library hands out (results, job info) may
 *    likewise grow at the end; arrays of them are reached through accessor functions.
 *
 * Threads: every function may be called from any thread, except that a handle must not
 * be destroyed while another thread is still using it. Callbacks run on the library's
 * own threads (which ones is said at each callback type); they must not destroy the
 * object whose callback they are in (that call is refused with PROLETARIAT_ESTATE).
 */
#ifndef PROLETARIAT_H
#define PROLETARIAT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(PROLETARIAT_C_BUILDING)
#define PROLETARIAT_API __declspec(dllexport)
#else
#define PROLETARIAT_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define PROLETARIAT_API __attribute__((visibility("default")))
#else
#define PROLETARIAT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this C API: the major changes only when a program built against an older
 * header of the same major could break; the minor grows with additions (1: the client
 * identity and the worker's graceful stop, drain_timeout_ms; 2: CURVE, the curve_*
 * options and the key functions; 3: the job lifecycle of docs/PROTOCOL.md §14: retries,
 * delays and groups in proletariat_work_options, proletariat_result.attempts, progress
 * (proletariat_job_progress, proletariat_client_push_progress), dead letters and group
 * limits (proletariat_client_dead_letters*, proletariat_client_*group_limits)). */
#define PROLETARIAT_C_API_VERSION_MAJOR 1
#define PROLETARIAT_C_API_VERSION_MINOR 3

/* "none" for a timeout option, "forever" for a wait. */
#define PROLETARIAT_NO_TIMEOUT (-1)

/* "no limit" for a limit option (group limits; added in API version 1.3). */
#define PROLETARIAT_NO_LIMIT (-1)

/* ------------------------------------------------------------------------------------
 * Status codes and the per-thread last error
 * ------------------------------------------------------------------------------------ */

typedef enum proletariat_status {
  PROLETARIAT_OK = 0,
  /* A bad argument: a NULL handle or pointer, an options struct not initialised by its
   * init macro, JSON text that does not parse ("EBADJSON"), an out-of-range value
   * ("EBADFIELD"), an inconsistent worker offer ("EBADOFFER"). Fix the call. */
  PROLETARIAT_EINVAL = 1,
  /* Not allowed now: started twice, not started yet, answered twice, destroying an
   * object from its own callback, waiting on a client's own I/O thread ("ESTATE"). */
  PROLETARIAT_ESTATE = 2,
  /* A wait ran out before its condition held ("ETIMEDOUT"); nothing changed, wait
   * again if you like. */
  PROLETARIAT_ETIMEDOUT = 3,
  /* Out of memory ("ENOMEM"). */
  PROLETARIAT_ENOMEM = 4,
  /* The operation failed for a reason outside the arguments, e.g. an endpoint that
   * cannot be bound ("EINTERNAL" from the library, with the reason in the message), a
   * manager that does not implement the job lifecycle ("ENOTSUPPORTED"), a request the
   * manager refused ("EDENIED" without an admin key) or a manager that was lost
   * ("ECONNLOST"). */
  PROLETARIAT_EFAILED = 5,
  /* An unexpected failure inside the library: a bug, please report it ("EINTERNAL"). */
  PROLETARIAT_EINTERNAL = 6
} proletariat_status;

/* A constant English name for a status ("PROLETARIAT_EINVAL"); never NULL. */
PROLETARIAT_API const char* proletariat_status_string(proletariat_status status);

/* The last failure on the calling thread: its status (PROLETARIAT_OK if none since the
 * thread started or since proletariat_clear_error), its code and its message. The
 * strings are never NULL ("" when there was no failure) and stay valid until the next
 * failing call, or proletariat_clear_error, on the same thread.
 *
 * Codes are the wire codes of docs/PROTOCOL.md §6 ("EBADFIELD", "EBADJSON",
 * "EBADOFFER", "ESTATE", "EINTERNAL", "EDENIED", "ECONNLOST", "ENOTSUPPORTED" (a
 * manager that does not announce the job lifecycle of §14: the admin calls below fail
 * with it, and so do the jobs of a push that asks for a delay, a group or retries), ...)
 * and these C-API-only codes, which never travel on the wire: "ETIMEDOUT" (a wait ran
 * out), "ENOMEM" (out of memory). */
PROLETARIAT_API proletariat_status proletariat_last_error_status(void);
PROLETARIAT_API const char* proletariat_last_error_code(void);
PROLETARIAT_API const char* proletariat_last_error_message(void);
PROLETARIAT_API void proletariat_clear_error(void);

/* What a caller should do about an error code (of a result or of the last error):
 * "retry" (transient), "request" (fix the request) or "fault" (report it; also every
 * application code the library does not know). Constant string, never NULL. */
PROLETARIAT_API const char* proletariat_error_class(const char* code);

/* The library version ("0.1.0"), a constant string. */
PROLETARIAT_API const char* proletariat_version(void);

/* ------------------------------------------------------------------------------------
 * Results and job descriptions (shared by the three roles)
 * ------------------------------------------------------------------------------------ */

/* The outcome of one job, {err, data} as in the original node API. Handed out by the
 * library; see where each pointer comes from for how long it lives. */
typedef struct proletariat_result {
  /* NULL when the job succeeded; else a stable code ("ETO", "ECSTO", "EATO",
   * "EABORTED", ... or the worker's own code) and a human message (never NULL then). */
  const char* error_code;
  const char* error_message;
  /* The data: JSON text (JSON null is given as "null"), or bytes when `raw` is non-zero.
   * Always followed by a NUL byte, which data_len does not count. For a failed job,
   * "null". */
  const char* data;
  size_t data_len;
  int raw;
  /* Added in API version 1.3. The attempts a worker answered for the job, this one
   * included, when its push asked for retries (proletariat_work_options.retry,
   * PROTOCOL §14.1); 0 otherwise. */
  unsigned attempts;
} proletariat_result;

/* A job as the manager's events see it; valid only during the callback. */
typedef struct proletariat_job_info {
  uint64_t id;
  const char* client; /* the pushing client's peer id */
  double priority;
  const char* key;     /* "" when none */
  const char* service; /* "" when none */
  unsigned attempt;    /* current assignment attempt, 0 while never assigned */
} proletariat_job_info;

/* ------------------------------------------------------------------------------------
 * CURVE keys (docs/PROTOCOL.md §13; added in API version 1.2)
 * ------------------------------------------------------------------------------------ */

/* Z85 text of a CURVE key: 40 characters and the NUL. */
#define PROLETARIAT_CURVE_KEY_SIZE 41

/* Writes a fresh key pair, NUL-terminated Z85, into the two buffers. */
PROLETARIAT_API proletariat_status proletariat_curve_keypair(char public_key[PROLETARIAT_CURVE_KEY_SIZE],
                                                             char secret_key[PROLETARIAT_CURVE_KEY_SIZE]);
/* Reads a public key file (the key on its first line that is not a # comment, as
 * `proletariat-ctl keygen` writes NAME.pub) into public_key. A missing file or a
 * malformed key: PROLETARIAT_EINVAL, "EBADFIELD", naming the file. */
PROLETARIAT_API proletariat_status proletariat_read_public_key_file(const char* path,
                                                                    char public_key[PROLETARIAT_CURVE_KEY_SIZE]);
/* Reads a secret key file (`public = <z85>` and `secret = <z85>` lines, as
 * `proletariat-ctl keygen` writes NAME.key) into the two buffers; errors as above. */
PROLETARIAT_API proletariat_status proletariat_read_secret_key_file(const char* path,
                                                                    char public_key[PROLETARIAT_CURVE_KEY_SIZE],
                                                                    char secret_key[PROLETARIAT_CURVE_KEY_SIZE]);
/* 1 when text is a CURVE key in Z85 (40 characters that decode to 32 bytes), else 0. */
PROLETARIAT_API int proletariat_is_curve_key(const char* text);

/* ------------------------------------------------------------------------------------
 * Manager: the broker, embedded
 * ------------------------------------------------------------------------------------ */

typedef struct proletariat_manager proletariat_manager;

/* Every manager option (SPEC §4; names of the original in capitals). String members
 * are copied by proletariat_manager_new. */
typedef struct proletariat_manager_options {
  size_t size; /* set by the init macro; do not touch */
  /* The ROUTER for commands; default all interfaces, port 1917. A port "*" (as in
   * "tcp://127.0.0.1:" followed by "*") picks a free one; see proletariat_manager_endpoint. */
  const char* endpoint;
  const char* pub_endpoint;      /* the XPUB for system messages; default all interfaces, port 1918 */
  unsigned avail_threshold;      /* AVAIL_THRESHOLD, 50 */
  unsigned cleanup_reqs;         /* CLEANUP_REQS, 1000 */
  int64_t cleanup_checkint_ms;   /* CLEANUP_CHECKINT, 60000 */
  int64_t distrib_randmax_ms;    /* DISTRIB_RANDMAX, 0 (latency first) */
  int debug;                     /* DEBUG logging, 0 */
  int sacred_guarantees;         /* SACRED_GUARANTEES, 0 */
  int hold_similar_work;         /* HOLDSIMILARWORK, 0 */
  int64_t heartbeat_interval_ms; /* 1000 */
  unsigned heartbeat_liveness;   /* a peer silent liveness x interval is dead; 5 */
  unsigned max_attempts;         /* deprecated, ignored (a value other than 3 logs a warning): use suspect_after */
  uint64_t max_message_bytes;    /* 64 MiB */
  uint64_t max_frames;           /* 100004 */
  uint64_t max_jobs_per_client;  /* 1000000 */
  uint64_t seed;                 /* dispatch randomness; 0: random */
  /* Added after version 1 (read only when `size` covers it, else 2): a job becomes
   * suspect after its workers died this many times while running it, and then runs
   * alone; only a suspect whose worker dies fails, with EPOISON (SPEC 5); 2 */
  unsigned suspect_after;
  /* Added in API version 1.2 (read only when `size` covers them, else NULL / 0).
   * CURVE (docs/PROTOCOL.md §13): the manager's own key pair (Z85, 40 characters
   * each) and the directory of allow-lists (workers/, clients/, admins/ holding *.pub
   * files; read again on every change). All three NULL: no CURVE (every peer holds
   * every role). Some but not all, or a malformed key: proletariat_manager_new fails
   * with PROLETARIAT_EINVAL, "EBADFIELD". See proletariat_read_secret_key_file. */
  const char* curve_public_key;
  const char* curve_secret_key;
  const char* curve_keys_dir;
  /* Without CURVE, endpoints other than loopback are refused (a wildcard binds
   * loopback only) unless this is non-zero. 0 */
  int allow_insecure_remote;
  /* Added in API version 1.3 (read only when `size` covers them, else the defaults).
   * The job lifecycle (PROTOCOL §14). The limits of every job group that has none of
   * its own (proletariat_client_set_group_limits sets those): at most group_max_running
   * of a group's jobs run at once (>= 0), at most group_rate of them start a second
   * (a finite number >= 0); PROLETARIAT_NO_LIMIT: none. PROLETARIAT_NO_LIMIT both */
  int64_t group_max_running;
  double group_rate;
  /* Dead letters (jobs that exhausted their retries, poison jobs): at most this many
   * are kept, none older than dead_letter_max_age_ms (> 0); the oldest go first.
   * 10000 and 604800000 (a week) */
  uint64_t max_dead_letters;
  int64_t dead_letter_max_age_ms;
} proletariat_manager_options;

PROLETARIAT_API void proletariat_manager_options_init_sized(proletariat_manager_options* options, size_t size);
/* Fills *options with the defaults above. */
#define proletariat_manager_options_init(options) proletariat_manager_options_init_sized((options), sizeof *(options))

/* Creates a manager (not yet bound). options NULL: the defaults. The caller owns
 * *manager and destroys it with proletariat_manager_destroy. */
PROLETARIAT_API proletariat_status proletariat_manager_new(const proletariat_manager_options* options,
                                                           proletariat_manager** manager);
/* Stops the manager if running (peers are told BYE) and frees it; sets *manager NULL. */
PROLETARIAT_API void proletariat_manager_destroy(proletariat_manager** manager);

/* Event callbacks (SPEC §7). Set them before proletariat_manager_start (later:
 * PROLETARIAT_ESTATE); fn NULL removes one. They run on the manager's loop thread,
 * must return quickly, and must not stop or destroy the manager. Pointers they get are
 * valid only during the call. */
typedef void (*proletariat_manager_job_fn)(const proletariat_job_info* job, void* user_data);
typedef void (*proletariat_manager_finish_fn)(const proletariat_job_info* job, const proletariat_result* result,
                                              void* user_data);
typedef void (*proletariat_manager_worker_fn)(const proletariat_job_info* job, const char* worker_id, void* user_data);
typedef void (*proletariat_manager_sysmsg_fn)(const char* json, size_t json_len, const char* from, void* user_data);
typedef void (*proletariat_manager_cleanup_fn)(void* user_data);

/* A job arrived from a client. */
PROLETARIAT_API proletariat_status proletariat_manager_on_receive(proletariat_manager* manager,
                                                                  proletariat_manager_job_fn fn, void* user_data);
/* A job got its result (sent to its client). */
PROLETARIAT_API proletariat_status proletariat_manager_on_finish(proletariat_manager* manager,
                                                                 proletariat_manager_finish_fn fn, void* user_data);
/* A worker died holding the job; the job goes back to the front of its queue. */
PROLETARIAT_API proletariat_status proletariat_manager_on_giveup(proletariat_manager* manager,
                                                                 proletariat_manager_worker_fn fn, void* user_data);
/* A running job was aborted on its worker. */
PROLETARIAT_API proletariat_status proletariat_manager_on_abort(proletariat_manager* manager,
                                                                proletariat_manager_worker_fn fn, void* user_data);
/* No worker took the job within its assign timeout (EATO). */
PROLETARIAT_API proletariat_status proletariat_manager_on_assigntimeout(proletariat_manager* manager,
                                                                        proletariat_manager_job_fn fn, void* user_data);
/* A system message addressed to the manager (or to everyone); json is its content. */
PROLETARIAT_API proletariat_status proletariat_manager_on_sysmsg(proletariat_manager* manager,
                                                                 proletariat_manager_sysmsg_fn fn, void* user_data);
/* The manager gave memory back (CLEANUP_REQS / CLEANUP_CHECKINT). */
PROLETARIAT_API proletariat_status proletariat_manager_on_cleanup(proletariat_manager* manager,
                                                                  proletariat_manager_cleanup_fn fn, void* user_data);

/* Binds both sockets and runs the manager on a new thread; returns once bound.
 * PROLETARIAT_EFAILED when an endpoint cannot be bound; PROLETARIAT_ESTATE if started
 * before. A stopped manager cannot be started again. */
PROLETARIAT_API proletariat_status proletariat_manager_start(proletariat_manager* manager);
/* Says BYE to every peer, closes the sockets and joins the loop thread. Idempotent. */
PROLETARIAT_API proletariat_status proletariat_manager_stop(proletariat_manager* manager);

/* The endpoints actually bound, with the real port when "*" was asked
 * ("tcp://127.0.0.1:40123"). Owned by the manager, valid until it is destroyed. NULL
 * (and PROLETARIAT_ESTATE as last error) before a successful start. */
PROLETARIAT_API const char* proletariat_manager_endpoint(const proletariat_manager* manager);
PROLETARIAT_API const char* proletariat_manager_pub_endpoint(const proletariat_manager* manager);

/* ------------------------------------------------------------------------------------
 * Worker and jobs
 * ------------------------------------------------------------------------------------ */

typedef struct proletariat_worker proletariat_worker;
typedef struct proletariat_job proletariat_job;

/* The work handler. Runs on one of the worker's handler threads (`handler_threads`),
 * or on its I/O thread when `handler_threads` is 0 (then it must return quickly: a
 * handler that blocks there also blocks heartbeats). It may stop its worker (the stop
 * goes on in the background, see proletariat_worker_stop_drain), not destroy it.
 *
 * `job` is borrowed: valid until the handler returns. To answer at once, call
 * proletariat_job_reply or proletariat_job_fail before returning. To answer later
 * (from any thread), take your own reference with proletariat_job_retain, return, and
 * answer and proletariat_job_release that reference when done. A handler that returns
 * without answering and without retaining fails the job with "EHANDLER". */
typedef void (*proletariat_work_fn)(proletariat_job* job, void* user_data);

/* The job was taken away from the handler: reason is "abort" (client or manager),
 * "ETO" (its run timeout), "reconnect" (the manager was lost) or "stop". The job is
 * cancelled (proletariat_job_cancelled is 1) and any later answer is dropped. Runs on
 * the worker's I/O thread: return quickly. `job` is borrowed for the call; compare
 * proletariat_job_id/attempt to find your own references. */
typedef void (*proletariat_job_abort_fn)(proletariat_job* job, const char* reason, void* user_data);

/* Slots guaranteed to the priority range starting at `start` (SPEC §3). */
typedef struct proletariat_priority_slots {
  double start;
  unsigned slots;
} proletariat_priority_slots;

/* Worker options. Arrays and strings are copied by proletariat_worker_new. */
typedef struct proletariat_worker_options {
  size_t size;          /* set by the init macro; do not touch */
  const char* endpoint; /* the manager's command endpoint; "tcp://127.0.0.1:1917" */
  unsigned slots;       /* jobs run at once, 1 .. 1000000; 100 */
  /* Guarantees per priority range (the rest belongs to the range starting at 0); their
   * sum above `slots`, a negative start or a repeated start is refused by
   * proletariat_worker_start with PROLETARIAT_EINVAL, code "EBADOFFER". */
  const proletariat_priority_slots* priority_slots;
  size_t priority_slots_count;
  /* Services offered; none: only jobs that name no service. */
  const char* const* services;
  size_t services_count;
  unsigned answer_threshold;   /* ANSWER_THRESHOLD: batch results; 1 */
  int64_t answer_delay_max_ms; /* a batch waits at most this long; 5 */
  int64_t con_retry_time_ms;   /* CON_RETRYTIME: wait before reconnecting; 2000 */
  unsigned handler_threads;    /* threads that call the handler; 1. 0: the I/O thread calls it */
  const char* name;            /* shown in the manager's status; NULL: none */
  proletariat_work_fn handler; /* required */
  void* handler_data;
  proletariat_job_abort_fn abort_handler; /* optional */
  void* abort_data;
  /* Added after version 1 (read only when `size` covers it). 0: this worker never
   * receives system messages, and tells the manager so at registration, so that
   * broadcasts never wait for it (PROTOCOL §4 HELLO "sysmsg"); 1 */
  int system_messages;
  /* Added after version 1 (read only when `size` covers it, else 30000). How long
   * proletariat_worker_stop and proletariat_worker_destroy wait for the running jobs
   * to finish (a graceful stop, PROTOCOL §4 DRAIN); >= 0; 0: every stop is immediate.
   * 30000 */
  int64_t drain_timeout_ms;
  /* Added in API version 1.2 (read only when `size` covers them, else NULL). CURVE
   * (docs/PROTOCOL.md §13), Z85 text of 40 characters each: the manager's public key
   * and this peer's own key pair. All three NULL: no CURVE. Some but not all, or a
   * malformed key: proletariat_worker_new fails with PROLETARIAT_EINVAL, "EBADFIELD". A
   * key the manager does not list (or lists in another role) is refused at the
   * handshake: the worker then never becomes ready (and is not told why). NULL */
  const char* curve_server_key;
  const char* curve_public_key;
  const char* curve_secret_key;
} proletariat_worker_options;

PROLETARIAT_API void proletariat_worker_options_init_sized(proletariat_worker_options* options, size_t size);
/* Fills *options with the defaults above (handler NULL: you must set one). */
#define proletariat_worker_options_init(options) proletariat_worker_options_init_sized((options), sizeof *(options))

/* Creates a worker (not yet connected). The caller owns *worker. A negative
 * drain_timeout_ms is refused (PROLETARIAT_EINVAL, "EBADFIELD"). */
PROLETARIAT_API proletariat_status proletariat_worker_new(const proletariat_worker_options* options,
                                                          proletariat_worker** worker);
/* Stops the worker (see proletariat_worker_stop: waits at most drain_timeout_ms for
 * the running jobs) and frees it; sets *worker NULL. Job references still retained
 * stay valid; answers through them are dropped. */
PROLETARIAT_API void proletariat_worker_destroy(proletariat_worker** worker);

/* Validates the offer and starts connecting; does not wait for the manager.
 * PROLETARIAT_EINVAL ("EBADOFFER") for an inconsistent offer. */
PROLETARIAT_API proletariat_status proletariat_worker_start(proletariat_worker* worker);
/* Stops the worker gracefully: proletariat_worker_stop_drain with the options'
 * drain_timeout_ms. Idempotent. */
PROLETARIAT_API proletariat_status proletariat_worker_stop(proletariat_worker* worker);
/* Stops the worker, waiting at most drain_timeout_ms (>= 0) for its running jobs.
 * Graceful: tells the manager DRAIN (it sends no new jobs; any that still arrive are
 * rejected), waits until the running jobs are answered and their results sent, then
 * says goodbye. What still runs when the time is up, or at once with 0 (a hard stop),
 * is cancelled (the abort handler sees reason "stop"; proletariat_job_cancelled turns
 * 1) and the manager requeues it. Then joins the threads. A call while another
 * thread's stop drains shortens that drain to this call's timeout. Called from this
 * worker's handler or abort handler, it returns at once and the worker stops in the
 * background (a graceful stop then waits for the calling job too: answer it).
 * Idempotent (a stopped worker stays stopped). Added after version 1. */
PROLETARIAT_API proletariat_status proletariat_worker_stop_drain(proletariat_worker* worker, int64_t drain_timeout_ms);
/* PROLETARIAT_OK once the manager accepted the offer, PROLETARIAT_ETIMEDOUT if that
 * did not happen within timeout_ms (PROLETARIAT_NO_TIMEOUT: wait forever). */
PROLETARIAT_API proletariat_status proletariat_worker_wait_ready(const proletariat_worker* worker, int64_t timeout_ms);
/* Copies the worker's peer id (empty before registration) into buf, NUL-terminated and
 * truncated to buf_size; returns the id's full length (as snprintf does). */
PROLETARIAT_API size_t proletariat_worker_id(const proletariat_worker* worker, char* buf, size_t buf_size);
/* Jobs running on the worker now (0 for a NULL worker). */
PROLETARIAT_API size_t proletariat_worker_running(const proletariat_worker* worker);

/* Job accessors. Strings and payloads are owned by the job and valid as long as the
 * handle is (borrowed: during the callback; retained: until released). */
PROLETARIAT_API uint64_t proletariat_job_id(const proletariat_job* job);
PROLETARIAT_API unsigned proletariat_job_attempt(const proletariat_job* job);
PROLETARIAT_API double proletariat_job_priority(const proletariat_job* job);
PROLETARIAT_API const char* proletariat_job_key(const proletariat_job* job);     /* "" when none */
PROLETARIAT_API const char* proletariat_job_service(const proletariat_job* job); /* "" when none */
/* The arguments: JSON text ("null" for null) or bytes when proletariat_job_args_raw is
 * non-zero; NUL-terminated, the NUL not counted in *len. len may be NULL. */
PROLETARIAT_API const char* proletariat_job_args(const proletariat_job* job, size_t* len);
PROLETARIAT_API int proletariat_job_args_raw(const proletariat_job* job);
/* 1 once the job was aborted, timed out (runTimeout) or its worker stopped: a
 * long-running handler should check it and give up. */
PROLETARIAT_API int proletariat_job_cancelled(const proletariat_job* job);

/* Answers the job with JSON text (len 0: NUL-terminated; NULL: JSON null) or raw bytes.
 * Callable once per job from any thread, through any handle to it: a second answer is
 * refused with PROLETARIAT_ESTATE. An answer to a job cancelled meanwhile returns
 * PROLETARIAT_OK and is dropped. */
PROLETARIAT_API proletariat_status proletariat_job_reply(proletariat_job* job, const char* json, size_t len);
PROLETARIAT_API proletariat_status proletariat_job_reply_raw(proletariat_job* job, const void* bytes, size_t len);
/* Fails the job with an error code (NULL or "": "EHANDLER") and message (NULL: ""). */
PROLETARIAT_API proletariat_status proletariat_job_fail(proletariat_job* job, const char* code, const char* message);

/* Reports progress or partial data for the running job (PROTOCOL §14.4), as JSON text
 * (len 0: NUL-terminated; NULL: JSON null) or raw bytes, as proletariat_job_reply takes
 * them. Any number of times before the answer, from any thread, through any handle to
 * the job; the client's progress callback (proletariat_client_push_progress) gets each,
 * in order, always before the job's result. Never waits for the network. After this
 * job was answered through the C API: PROLETARIAT_ESTATE. Progress of a job cancelled
 * meanwhile, or sent to a manager without the job lifecycle, returns PROLETARIAT_OK and
 * is dropped. Added in API version 1.3. */
PROLETARIAT_API proletariat_status proletariat_job_progress(proletariat_job* job, const char* json, size_t len);
PROLETARIAT_API proletariat_status proletariat_job_progress_raw(proletariat_job* job, const void* bytes, size_t len);

/* Makes a new reference to the job, owned by the caller, valid on any thread until
 * proletariat_job_release(&ref); independent of `job` and of the worker's lifetime. */
PROLETARIAT_API proletariat_status proletariat_job_retain(proletariat_job* job, proletariat_job** ref);
/* Releases a reference from proletariat_job_retain and sets *ref NULL. Releasing the
 * borrowed handle a callback got is refused (PROLETARIAT_ESTATE). Releasing does not
 * answer the job. */
PROLETARIAT_API proletariat_status proletariat_job_release(proletariat_job** ref);

/* ------------------------------------------------------------------------------------
 * Client and requests
 * ------------------------------------------------------------------------------------ */

typedef struct proletariat_client proletariat_client;
typedef struct proletariat_request proletariat_request;
typedef struct proletariat_results proletariat_results;

typedef struct proletariat_client_options {
  size_t size;               /* set by the init macro; do not touch */
  const char* endpoint;      /* "tcp://127.0.0.1:1917" */
  int keep_state;            /* after reconnecting, push unfinished jobs again; 0 */
  int64_t con_retry_time_ms; /* CON_RETRYTIME; 2000 */
  const char* name;          /* NULL: none */
  /* Added after version 1 (read only when `size` covers it). 0: this client never
   * receives system messages, and broadcasts never wait for it; 1 */
  int system_messages;
  /* Added after version 1 (read only when `size` covers it, else NULL). The client's
   * stable identity, sent in every registration (PROTOCOL §12): with a manager that
   * keeps a journal, jobs accepted in one session are answered in the next, even
   * across a restart of the manager. 1 to 128 bytes of UTF-8 (else
   * proletariat_client_new fails with PROLETARIAT_EINVAL, "EBADFIELD"). NULL or "":
   * a random one, chosen by proletariat_client_new (see proletariat_client_identity).
   * Give the same identity again to a client that should own the jobs of an earlier
   * one; never to two clients at once. NULL */
  const char* identity;
  /* Added in API version 1.2 (read only when `size` covers them, else NULL). CURVE
   * (docs/PROTOCOL.md §13), Z85 text of 40 characters each: the manager's public key
   * and this peer's own key pair. All three NULL: no CURVE. Some but not all, or a
   * malformed key: proletariat_client_new fails with PROLETARIAT_EINVAL, "EBADFIELD". A
   * key the manager does not list (or lists in another role) is refused at the
   * handshake: the client then never connects (and is not told why). NULL */
  const char* curve_server_key;
  const char* curve_public_key;
  const char* curve_secret_key;
} proletariat_client_options;

PROLETARIAT_API void proletariat_client_options_init_sized(proletariat_client_options* options, size_t size);
#define proletariat_client_options_init(options) proletariat_client_options_init_sized((options), sizeof *(options))

/* Creates a client; it connects in the background. The caller owns *client. */
PROLETARIAT_API proletariat_status proletariat_client_new(const proletariat_client_options* options,
                                                          proletariat_client** client);
/* Aborts every unfinished job (they finish with "EABORTED": callbacks fire, waits
 * return), says goodbye and frees the client; sets *client NULL. Requests stay valid
 * handles (waits return at once) until destroyed themselves. Must not be called from
 * one of this client's callbacks. */
PROLETARIAT_API void proletariat_client_destroy(proletariat_client** client);
/* PROLETARIAT_OK once registered with a manager, else PROLETARIAT_ETIMEDOUT. */
PROLETARIAT_API proletariat_status proletariat_client_wait_connected(const proletariat_client* client,
                                                                     int64_t timeout_ms);
/* As proletariat_worker_id. */
PROLETARIAT_API size_t proletariat_client_id(const proletariat_client* client, char* buf, size_t buf_size);
/* Copies the client's identity (options.identity, or the one chosen for it; fixed
 * for the client's life) into buf, NUL-terminated and truncated to buf_size; returns
 * its full length (at most 128), as snprintf does. 0 for a NULL client. Added after
 * version 1. */
PROLETARIAT_API size_t proletariat_client_identity(const proletariat_client* client, char* buf, size_t buf_size);
/* Jobs pushed and not yet finished. */
PROLETARIAT_API size_t proletariat_client_pending(const proletariat_client* client);

/* One job to push. This layout is fixed for API version 1 (arrays of it are passed in);
 * a later per-job field would come with a new struct and function. Zero-initialise it. */
typedef struct proletariat_job_spec {
  const char* args; /* JSON text (args_len 0: NUL-terminated; NULL: null) or bytes */
  size_t args_len;
  int raw;             /* non-zero: args are bytes, delivered as they are */
  const char* key;     /* hold-similar-work key (the original's _key); NULL: none */
  const char* service; /* only workers offering it take the job; NULL: none */
} proletariat_job_spec;

/* How the manager retries a job whose worker answered an error (PROTOCOL §14.1; added
 * in API version 1.3). Pointed to by proletariat_work_options.retry; strings and the
 * array are copied by the push. Fill it with proletariat_retry_options_init. The
 * backoff before retry n (from 1) is min(max_delay, initial x factor^(n-1)), shortened
 * by a random fraction up to jitter. Only errors a worker answers are retried (never
 * "EATO", "EPOISON", "ECSTO", "EABORTED", "ECONNLOST"); a job that fails with a retried
 * code on its last allowed attempt becomes a dead letter (see
 * proletariat_client_dead_letters). Out of range: the push fails with
 * PROLETARIAT_EINVAL, "EBADFIELD". */
typedef struct proletariat_retry_options {
  size_t size;              /* set by the init macro; do not touch */
  unsigned max;             /* attempts after the first, 0 .. 100; 0 */
  const char* const* codes; /* the error codes retried (non-empty strings); none: every code but "ETO" */
  size_t codes_count;
  int64_t initial_ms;   /* backoff before the first retry, >= 0; 1000 */
  double factor;        /* each backoff is the previous one times this, >= 1; 2 */
  int64_t max_delay_ms; /* no backoff is longer, >= 0; 300000 */
  double jitter;        /* 0 .. 1; 0.2 */
} proletariat_retry_options;

PROLETARIAT_API void proletariat_retry_options_init_sized(proletariat_retry_options* options, size_t size);
#define proletariat_retry_options_init(options) proletariat_retry_options_init_sized((options), sizeof *(options))

/* Options of one push (SPEC §2.1). */
typedef struct proletariat_work_options {
  size_t size;               /* set by the init macro; do not touch */
  int64_t timeout_ms;        /* whole request, from the push; expiry: "ECSTO"; none */
  int64_t run_timeout_ms;    /* per job, from its start on a worker; expiry: "ETO"; none */
  int64_t assign_timeout_ms; /* per job, until a worker takes it; expiry: "EATO"; none */
  double priority;           /* >= 0, fractions allowed, higher runs first; 0 */
  /* Added in API version 1.3 (read only when `size` covers them, else none): the job
   * lifecycle (PROTOCOL §14). A manager that does not announce it fails the jobs of a
   * push that sets any of these with "ENOTSUPPORTED". Out of range: the push fails with
   * PROLETARIAT_EINVAL, "EBADFIELD".
   * The jobs are accepted at once but queue only delay_ms after the manager received
   * them, or at at_ms (ms since the Unix epoch, on the manager's clock; a time past
   * queues at once); at most one of the two. Set timeout_ms beyond the delay: it counts
   * from the push. PROLETARIAT_NO_TIMEOUT: none. none */
  int64_t delay_ms;
  int64_t at_ms;
  /* The jobs' group (1 to 256 bytes of UTF-8, PROTOCOL max_group_bytes): the
   * manager's per-group limits apply (see proletariat_client_set_group_limits). NULL
   * or "": none. NULL */
  const char* group;
  /* Retries with backoff; NULL: none (a failure is the result). NULL */
  const proletariat_retry_options* retry;
} proletariat_work_options;

PROLETARIAT_API void proletariat_work_options_init_sized(proletariat_work_options* options, size_t size);
#define proletariat_work_options_init(options) proletariat_work_options_init_sized((options), sizeof *(options))

/* Called once per job as it finishes, in finishing order, with its position in the
 * group. Runs on the client's I/O thread; `result` is valid during the call only. */
typedef void (*proletariat_each_fn)(size_t index, const proletariat_result* result, void* user_data);
/* Called once when every job of the group has finished, with all results in the order
 * the jobs were given; `results` is valid during the call only. Runs on the client's
 * I/O thread: keep it short. It may push more work or abort, not wait or destroy. */
typedef void (*proletariat_done_fn)(const proletariat_results* results, void* user_data);

/* Pushes a group of `count` jobs (count 0 finishes at once with no results). options
 * NULL: defaults. Never blocks on the network. The caller owns *request: wait on it,
 * abort it, and destroy it. */
PROLETARIAT_API proletariat_status proletariat_client_push(proletariat_client* client, const proletariat_job_spec* jobs,
                                                           size_t count, const proletariat_work_options* options,
                                                           proletariat_request** request);
/* As proletariat_client_push, with callbacks: `each` (may be NULL) per finished job,
 * then `done` (may be NULL) once, both with user_data. request may be NULL if you need
 * no handle (fire and forget: the callbacks still fire). */
PROLETARIAT_API proletariat_status proletariat_client_push_cb(proletariat_client* client,
                                                              const proletariat_job_spec* jobs, size_t count,
                                                              const proletariat_work_options* options,
                                                              proletariat_each_fn each, proletariat_done_fn done,
                                                              void* user_data, proletariat_request** request);
/* Progress a worker reported for a running job (proletariat_job_progress, PROTOCOL
 * §14.4): the job's position in the group and the payload, JSON text or bytes when
 * `raw` is non-zero, NUL-terminated (the NUL not counted in data_len), valid during the
 * call only. Called in the order the worker reported, never after that job's `each`
 * (or its place in `done`). Runs on the client's I/O thread, as the other callbacks.
 * Progress is not kept: what is reported while this client is away is lost. */
typedef void (*proletariat_progress_fn)(size_t index, const char* data, size_t data_len, int raw, void* user_data);

/* As proletariat_client_push_cb, and `progress` (may be NULL) gets what the workers
 * report while the jobs run; all three callbacks get user_data. Added in API version
 * 1.3. */
PROLETARIAT_API proletariat_status proletariat_client_push_progress(proletariat_client* client,
                                                                    const proletariat_job_spec* jobs, size_t count,
                                                                    const proletariat_work_options* options,
                                                                    proletariat_each_fn each, proletariat_done_fn done,
                                                                    proletariat_progress_fn progress, void* user_data,
                                                                    proletariat_request** request);
/* Single-job convenience: one JSON job (len 0: NUL-terminated) with no key or service;
 * its result is proletariat_results_at(results, 0) after proletariat_request_wait. */
PROLETARIAT_API proletariat_status proletariat_client_push_one(proletariat_client* client, const char* json, size_t len,
                                                               const proletariat_work_options* options,
                                                               proletariat_request** request);

/* Blocks until every job of the request has finished (and its done callback, if any,
 * has returned), then sets *results (owned by the request, valid until it is
 * destroyed; results may be NULL if you only want to wait).
 * PROLETARIAT_ETIMEDOUT if that takes longer than timeout_ms (0: just check;
 * PROLETARIAT_NO_TIMEOUT: forever). Refused (PROLETARIAT_ESTATE) with a timeout other
 * than 0 from a callback of the request's own client, which would deadlock. */
PROLETARIAT_API proletariat_status proletariat_request_wait(proletariat_request* request, int64_t timeout_ms,
                                                            const proletariat_results** results);
/* Aborts every unfinished job of the request: they finish with "EABORTED"; running ones
 * are aborted on their workers. Finished requests are left alone (PROLETARIAT_OK). */
PROLETARIAT_API proletariat_status proletariat_request_abort(proletariat_request* request);
/* Aborts the jobs at the given positions of the group; positions beyond it are ignored. */
PROLETARIAT_API proletariat_status proletariat_request_abort_jobs(proletariat_request* request, const size_t* indices,
                                                                  size_t count);
/* The client's number for the request (unique per client, from 1). */
PROLETARIAT_API uint64_t proletariat_request_id(const proletariat_request* request);
/* Jobs in the request. */
PROLETARIAT_API size_t proletariat_request_size(const proletariat_request* request);
/* Frees the handle; sets *request NULL. Does not abort: call proletariat_request_abort
 * first if you no longer want the work done. Callbacks, if any, still fire. */
PROLETARIAT_API void proletariat_request_destroy(proletariat_request** request);

/* A group's results, in the order the jobs were given. */
PROLETARIAT_API size_t proletariat_results_count(const proletariat_results* results);
/* The result at `index`, or NULL when out of range; lives as long as `results`. */
PROLETARIAT_API const proletariat_result* proletariat_results_at(const proletariat_results* results, size_t index);

/* ------------------------------------------------------------------------------------
 * Administration: dead letters and group limits (PROTOCOL §14.2, §14.5; added in API
 * version 1.3)
 * ------------------------------------------------------------------------------------ */

/* The manager's reply to one administrative call: its JSON document, and for
 * proletariat_client_dead_letters_show the payload of each letter. The caller owns it
 * and frees it with proletariat_admin_reply_destroy; what its accessors hand out lives
 * as long as it. */
typedef struct proletariat_admin_reply proletariat_admin_reply;

/* Every call below asks the manager through the client and blocks until it answers,
 * then sets *reply (NULL on failure). They need a registered client (else
 * PROLETARIAT_EFAILED, "ECONNLOST"; see proletariat_client_wait_connected); a manager
 * lost before it answers fails them with "ECONNLOST" too (after at most its heartbeat
 * liveness), one without the job lifecycle with "ENOTSUPPORTED". With CURVE, dead
 * letters and changes of group limits need an admin key ("EDENIED"). A request the
 * manager finds malformed: PROLETARIAT_EINVAL, "EBADFIELD". Refused
 * (PROLETARIAT_ESTATE) from a callback of the same client, whose thread receives the
 * answer. */

/* The newest dead letters first, at most `limit` (the manager caps it; 0: none, only
 * the total). The JSON is the DEADLETTERS reply: {"op": "list", "total": N, "letters":
 * [{"id", "job", "service", "key", "group", "priority", "client", "err": {"code",
 * "message"}, "attempts", "since", "raw", "bytes"}, ...]}; the payloads are empty here
 * (JSON null, or no bytes for a raw letter): use show. */
PROLETARIAT_API proletariat_status proletariat_client_dead_letters(proletariat_client* client, size_t limit,
                                                                   proletariat_admin_reply** reply);
/* The letters with the given ids (letter ids, "id" in the list; unknown ones are left
 * out), each with its payload: payload i belongs to "letters"[i]. count must be > 0. */
PROLETARIAT_API proletariat_status proletariat_client_dead_letters_show(proletariat_client* client, const uint64_t* ids,
                                                                        size_t count, proletariat_admin_reply** reply);
/* Sends the letters with the given ids (count 0: every letter) back as new jobs, with
 * new ids and no client (their results are only logged); their letters are removed.
 * The JSON has "requeued": [{"letter": id, "job": new id}, ...] and "total". */
PROLETARIAT_API proletariat_status proletariat_client_dead_letters_requeue(proletariat_client* client,
                                                                           const uint64_t* ids, size_t count,
                                                                           proletariat_admin_reply** reply);
/* Removes the letters with the given ids (count 0: every letter). The JSON has
 * "purged" (how many were removed) and "total". */
PROLETARIAT_API proletariat_status proletariat_client_dead_letters_purge(proletariat_client* client,
                                                                         const uint64_t* ids, size_t count,
                                                                         proletariat_admin_reply** reply);

/* The group limits: the GROUPLIMITS reply {"defaults": {"maxRunning", "rate"},
 * "groups": [{"group", "maxRunning", "rate", "running", "waiting", "started",
 * "custom"}, ...]} (null: no limit), the groups with the most waiting jobs first. */
PROLETARIAT_API proletariat_status proletariat_client_group_limits(proletariat_client* client,
                                                                   proletariat_admin_reply** reply);
/* Gives `group` (required) its own limits, replacing the defaults for it: at most
 * max_running of its jobs run at once (>= 0) and at most `rate` start a second (a
 * finite number >= 0); PROLETARIAT_NO_LIMIT: no limit; 0 pauses the group. Not kept
 * across a restart of the manager. The reply is as proletariat_client_group_limits'. */
PROLETARIAT_API proletariat_status proletariat_client_set_group_limits(proletariat_client* client, const char* group,
                                                                       int64_t max_running, double rate,
                                                                       proletariat_admin_reply** reply);
/* Returns `group` (required) to the default limits. */
PROLETARIAT_API proletariat_status proletariat_client_clear_group_limits(proletariat_client* client, const char* group,
                                                                         proletariat_admin_reply** reply);

/* The reply's JSON document, NUL-terminated (the NUL not counted in *len; len may be
 * NULL); "" for a NULL reply. */
PROLETARIAT_API const char* proletariat_admin_reply_json(const proletariat_admin_reply* reply, size_t* len);
/* The payloads (dead_letters_show: one per letter, in the order of "letters"; 0 for
 * the other calls but dead_letters, whose payloads are empty). */
PROLETARIAT_API size_t proletariat_admin_reply_payload_count(const proletariat_admin_reply* reply);
/* Payload `index`: JSON text ("null" for null) or bytes when *raw is set to 1;
 * NUL-terminated, the NUL not counted in *len. len and raw may be NULL. NULL when out
 * of range. */
PROLETARIAT_API const char* proletariat_admin_reply_payload(const proletariat_admin_reply* reply, size_t index,
                                                            size_t* len, int* raw);
/* Frees the reply; sets *reply NULL. NULL or *reply NULL: no-op. */
PROLETARIAT_API void proletariat_admin_reply_destroy(proletariat_admin_reply** reply);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PROLETARIAT_H */
