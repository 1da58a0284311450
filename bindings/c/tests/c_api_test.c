/* Tests of the C API, in plain C99: each test starts a manager on tcp://127.0.0.1:*,
 * a worker and a client, drives them through proletariat.h only, and checks results,
 * error codes and messages. A failed check prints file:line, the test, the expression
 * and the calling thread's last error, and exits 1.
 *
 * The worker's handler acts on the job's JSON arguments:
 *   a number n      reply n * 2
 *   "fail"          fail with EMYFAIL
 *   "noanswer"      return without answering (the library fails it with EHANDLER)
 *   "hang"          retain the job and never answer (for timeouts and aborts)
 *   "later"         retain, answer from another thread, try a second answer
 *   "key"           reply with the job's key as a JSON string
 *   "badreply"      try to reply with invalid JSON (refused), then reply "fixed"
 *   "stamp"         note when it started (job_started_ms), reply "stamped"
 *   "flaky"         fail with EBUSY the first two times it runs (flaky_calls), then
 *                   reply the number of runs
 *   "deadly"        always fail with EBUSY (deadly_calls counts the runs)
 *   "progress"      report progress {"step":1}, {"step":2}, null and raw "r\0w", then
 *                   reply "progressed" (progress_after_answer: a report after it)
 *   raw bytes       reply the same bytes, raw; bytes starting "dead" fail with EBUSY
 *
 *   c_api_test [test-name]
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "c_check.h"

/* ---------------------------------------------------------------- shared state */

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
#define MAX_HANGING 64
static proletariat_job* hanging[MAX_HANGING]; /* retained references */
static int hanging_count;
static int aborts_seen;
static char last_abort_reason[32];
static int later_second_answer = -1; /* status of the second answer of a "later" job */
static int release_borrowed = -1;    /* status of releasing the borrowed handle */
static long job_started_ms = -1;     /* monotonic ms when a "stamp" job started */
static int flaky_calls;
static int deadly_calls;
static int progress_after_answer = -1; /* status of a progress report after the answer */

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static int64_t wall_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec t;
  t.tv_sec = ms / 1000;
  t.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&t, NULL);
}

static long read_long(const long* value) {
  long v;
  pthread_mutex_lock(&mutex);
  v = *value;
  pthread_mutex_unlock(&mutex);
  return v;
}

static int read_int(const int* value) {
  int v;
  pthread_mutex_lock(&mutex);
  v = *value;
  pthread_mutex_unlock(&mutex);
  return v;
}

/* Waits up to 10 s for *value >= at_least. */
static int wait_for_count(const int* value, int at_least) {
  int waited = 0;
  while (read_int(value) < at_least) {
    if (waited >= 10000) return 0;
    sleep_ms(5);
    waited += 5;
  }
  return 1;
}

static void reset_state(void) {
  pthread_mutex_lock(&mutex);
  hanging_count = 0;
  aborts_seen = 0;
  last_abort_reason[0] = '\0';
  later_second_answer = -1;
  release_borrowed = -1;
  job_started_ms = -1;
  flaky_calls = 0;
  deadly_calls = 0;
  progress_after_answer = -1;
  pthread_mutex_unlock(&mutex);
}

static void release_hanging(void) {
  int i;
  pthread_mutex_lock(&mutex);
  for (i = 0; i < hanging_count; ++i) {
    if (hanging[i] != NULL) CHECK_OK(proletariat_job_release(&hanging[i]));
    CHECK(hanging[i] == NULL);
  }
  hanging_count = 0;
  pthread_mutex_unlock(&mutex);
}

/* ---------------------------------------------------------------- the worker */

static void* answer_later(void* arg) {
  proletariat_job* job = (proletariat_job*)arg;
  sleep_ms(20);
  CHECK_OK(proletariat_job_reply(job, "\"done later\"", 0));
  pthread_mutex_lock(&mutex);
  later_second_answer = (int)proletariat_job_reply(job, "1", 1);
  pthread_mutex_unlock(&mutex);
  CHECK_OK(proletariat_job_release(&job));
  CHECK(job == NULL);
  return NULL;
}

static void handler(proletariat_job* job, void* user_data) {
  size_t len = 0;
  const char* args = proletariat_job_args(job, &len);
  long n = 0;
  char text[64];
  CHECK(user_data == (void*)&hanging);
  CHECK(args[len] == '\0');

  if (proletariat_job_args_raw(job)) {
    if (len >= 4 && memcmp(args, "dead", 4) == 0) {
      CHECK_OK(proletariat_job_fail(job, "EBUSY", "raw and busy"));
    } else {
      CHECK_OK(proletariat_job_reply_raw(job, args, len));
    }
  } else if (strcmp(args, "\"stamp\"") == 0) {
    pthread_mutex_lock(&mutex);
    job_started_ms = now_ms();
    pthread_mutex_unlock(&mutex);
    CHECK_OK(proletariat_job_reply(job, "\"stamped\"", 0));
  } else if (strcmp(args, "\"flaky\"") == 0) {
    int calls;
    pthread_mutex_lock(&mutex);
    calls = ++flaky_calls;
    pthread_mutex_unlock(&mutex);
    if (calls <= 2) {
      CHECK_OK(proletariat_job_fail(job, "EBUSY", "busy, try again"));
    } else {
      snprintf(text, sizeof text, "%d", calls);
      CHECK_OK(proletariat_job_reply(job, text, 0));
    }
  } else if (strcmp(args, "\"deadly\"") == 0) {
    pthread_mutex_lock(&mutex);
    ++deadly_calls;
    pthread_mutex_unlock(&mutex);
    CHECK_OK(proletariat_job_fail(job, "EBUSY", "always busy"));
  } else if (strcmp(args, "\"progress\"") == 0) {
    int after;
    CHECK_OK(proletariat_job_progress(job, "{\"step\":1}", 0));
    CHECK_OK(proletariat_job_progress(job, "{\"step\":2}", 10));
    CHECK_STATUS(proletariat_job_progress(job, "{\"step\":", 0), PROLETARIAT_EINVAL);
    CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADJSON", "not valid JSON");
    CHECK_OK(proletariat_job_progress(job, NULL, 0));
    CHECK_OK(proletariat_job_progress_raw(job, "r\0w", 3));
    CHECK_OK(proletariat_job_reply(job, "\"progressed\"", 0));
    after = (int)proletariat_job_progress(job, "3", 0);
    pthread_mutex_lock(&mutex);
    progress_after_answer = after;
    pthread_mutex_unlock(&mutex);
  } else if (strcmp(args, "\"fail\"") == 0) {
    CHECK_OK(proletariat_job_fail(job, "EMYFAIL", "it failed on purpose"));
  } else if (strcmp(args, "\"noanswer\"") == 0) {
    /* nothing */
  } else if (strcmp(args, "\"hang\"") == 0) {
    proletariat_job* ref = NULL;
    CHECK_OK(proletariat_job_retain(job, &ref));
    CHECK(ref != NULL && proletariat_job_id(ref) == proletariat_job_id(job));
    pthread_mutex_lock(&mutex);
    CHECK(hanging_count < MAX_HANGING);
    hanging[hanging_count++] = ref;
    pthread_mutex_unlock(&mutex);
  } else if (strcmp(args, "\"later\"") == 0) {
    proletariat_job* ref = NULL;
    pthread_t thread;
    CHECK_OK(proletariat_job_retain(job, &ref));
    pthread_mutex_lock(&mutex);
    release_borrowed = (int)proletariat_job_release(&job);
    pthread_mutex_unlock(&mutex);
    CHECK(job != NULL); /* a refused release leaves the handle alone */
    CHECK(pthread_create(&thread, NULL, answer_later, ref) == 0);
    CHECK(pthread_detach(thread) == 0);
  } else if (strcmp(args, "\"badreply\"") == 0) {
    CHECK_STATUS(proletariat_job_reply(job, "{\"unclosed\": ", 0), PROLETARIAT_EINVAL);
    CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADJSON", "not valid JSON");
    CHECK_OK(proletariat_job_reply(job, "\"fixed\"", 0)); /* the refused reply did not answer the job */
  } else if (strcmp(args, "\"key\"") == 0) {
    snprintf(text, sizeof text, "\"%s\"", proletariat_job_key(job));
    CHECK_OK(proletariat_job_reply(job, text, strlen(text)));
  } else if (sscanf(args, "%ld", &n) == 1) {
    snprintf(text, sizeof text, "%ld", n * 2);
    CHECK_OK(proletariat_job_reply(job, text, 0));
  } else {
    CHECK_OK(proletariat_job_fail(job, NULL, "unknown job"));
  }
}

static void abort_handler(proletariat_job* job, const char* reason, void* user_data) {
  (void)user_data;
  CHECK(proletariat_job_cancelled(job));
  pthread_mutex_lock(&mutex);
  ++aborts_seen;
  snprintf(last_abort_reason, sizeof last_abort_reason, "%s", reason);
  pthread_mutex_unlock(&mutex);
}

/* ---------------------------------------------------------------- the cluster */

typedef struct cluster {
  proletariat_manager* manager;
  proletariat_worker* worker;
  proletariat_client* client;
} cluster;

/* A started worker with the test handler, registered with the manager at `endpoint`. */
static proletariat_worker* start_worker(const char* endpoint, int64_t drain_timeout_ms) {
  proletariat_worker_options wo;
  proletariat_worker* worker = NULL;
  proletariat_worker_options_init(&wo);
  CHECK(wo.drain_timeout_ms == 30000);
  wo.endpoint = endpoint;
  wo.slots = 16;
  wo.handler_threads = 2;
  wo.name = "c-test-worker";
  wo.handler = handler;
  wo.handler_data = &hanging;
  wo.abort_handler = abort_handler;
  wo.drain_timeout_ms = drain_timeout_ms;
  CHECK_OK(proletariat_worker_new(&wo, &worker));
  CHECK_OK(proletariat_worker_start(worker));
  CHECK_OK(proletariat_worker_wait_ready(worker, 10000));
  return worker;
}

/* Starts a manager (with `options`, endpoints set here; NULL: the defaults), a worker and
 * a client, both registered. */
static void cluster_start_with(cluster* c, const proletariat_manager_options* options) {
  proletariat_manager_options mo;
  proletariat_client_options co;
  const char* endpoint;
  reset_state();
  memset(c, 0, sizeof *c);

  if (options != NULL) {
    mo = *options;
  } else {
    proletariat_manager_options_init(&mo);
  }
  mo.endpoint = "tcp://127.0.0.1:*";
  mo.pub_endpoint = "tcp://127.0.0.1:*";
  CHECK_OK(proletariat_manager_new(&mo, &c->manager));
  CHECK_OK(proletariat_manager_start(c->manager));
  endpoint = proletariat_manager_endpoint(c->manager);
  CHECK(endpoint != NULL && strncmp(endpoint, "tcp://127.0.0.1:", 16) == 0 && strcmp(endpoint + 16, "*") != 0);

  c->worker = start_worker(endpoint, 30000);

  proletariat_client_options_init(&co);
  co.endpoint = endpoint;
  CHECK_OK(proletariat_client_new(&co, &c->client));
  CHECK_OK(proletariat_client_wait_connected(c->client, 10000));
}

static void cluster_start(cluster* c) {
  cluster_start_with(c, NULL);
}

static void cluster_stop(cluster* c) {
  proletariat_client_destroy(&c->client);
  proletariat_worker_destroy(&c->worker);
  proletariat_manager_destroy(&c->manager);
  CHECK(c->client == NULL && c->worker == NULL && c->manager == NULL);
  release_hanging();
}

static proletariat_job_spec json_job(const char* json) {
  proletariat_job_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.args = json;
  return spec;
}

/* Pushes one JSON job with the given options and waits for its result (10 s). */
static const proletariat_result* run_one(cluster* c, const char* json, const proletariat_work_options* options,
                                         proletariat_request** request) {
  const proletariat_results* results = NULL;
  CHECK_OK(proletariat_client_push_one(c->client, json, 0, options, request));
  CHECK_OK(proletariat_request_wait(*request, 10000, &results));
  CHECK(proletariat_results_count(results) == 1);
  return proletariat_results_at(results, 0);
}

/* ---------------------------------------------------------------- tests */

static void* check_other_thread_has_no_error(void* arg) {
  (void)arg;
  CHECK(proletariat_last_error_status() == PROLETARIAT_OK);
  CHECK_STR(proletariat_last_error_code(), "");
  return NULL;
}

static void test_misuse_gives_codes_and_messages(void) {
  proletariat_manager_options mo;
  proletariat_worker_options wo;
  proletariat_priority_slots too_many[2] = {{1, 8}, {2, 5}};
  proletariat_priority_slots twice[2] = {{1, 2}, {1, 3}};
  proletariat_manager* manager = NULL;
  proletariat_worker* worker = NULL;
  proletariat_client* client = NULL;
  proletariat_request* request = NULL;
  proletariat_job* job = NULL;
  proletariat_job_spec spec = json_job("1");
  pthread_t thread;
  char id[8] = "x";

  proletariat_clear_error();
  CHECK(proletariat_last_error_status() == PROLETARIAT_OK);
  CHECK_STR(proletariat_last_error_code(), "");
  CHECK_STR(proletariat_last_error_message(), "");

  /* NULL handles and out pointers. */
  CHECK_STATUS(proletariat_client_push(NULL, &spec, 1, NULL, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "client is NULL");
  CHECK(request == NULL);
  CHECK_STATUS(proletariat_manager_new(NULL, NULL), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "out pointer");
  CHECK_STATUS(proletariat_manager_start(NULL), PROLETARIAT_EINVAL);
  CHECK_STATUS(proletariat_worker_start(NULL), PROLETARIAT_EINVAL);
  CHECK_STATUS(proletariat_request_wait(NULL, 0, NULL), PROLETARIAT_EINVAL);
  CHECK_STATUS(proletariat_request_abort(NULL), PROLETARIAT_EINVAL);
  CHECK_STATUS(proletariat_job_reply(NULL, "1", 1), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "job is NULL");
  CHECK_STATUS(proletariat_job_fail(NULL, "E", "m"), PROLETARIAT_EINVAL);
  CHECK_STATUS(proletariat_job_release(&job), PROLETARIAT_EINVAL);
  CHECK(proletariat_worker_id(NULL, id, sizeof id) == 0 && id[0] == '\0');
  CHECK(proletariat_client_pending(NULL) == 0);
  CHECK(proletariat_results_count(NULL) == 0 && proletariat_results_at(NULL, 0) == NULL);
  proletariat_manager_destroy(NULL);
  proletariat_manager_destroy(&manager);
  proletariat_worker_destroy(&worker);
  proletariat_client_destroy(&client);
  proletariat_request_destroy(&request);

  /* The last error belongs to the thread that failed. */
  CHECK(pthread_create(&thread, NULL, check_other_thread_has_no_error, NULL) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  CHECK(proletariat_last_error_status() == PROLETARIAT_EINVAL);

  /* Options that were never initialised. */
  memset(&mo, 0, sizeof mo);
  CHECK_STATUS(proletariat_manager_new(&mo, &manager), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "proletariat_manager_options_init");
  CHECK(manager == NULL);

  /* suspect_after came after version 1 of the struct: its default, and options from a
   * program built before it (a smaller size) still accepted, with that default. */
  proletariat_manager_options_init(&mo);
  CHECK(mo.suspect_after == 2);
  CHECK(mo.max_attempts == 3);
  memset(&mo, 0xff, sizeof mo);
  proletariat_manager_options_init_sized(&mo, offsetof(proletariat_manager_options, suspect_after));
  CHECK(mo.suspect_after == 0xffffffffu); /* beyond the caller's size: untouched */
  mo.endpoint = "tcp://127.0.0.1:*";
  mo.pub_endpoint = "tcp://127.0.0.1:*";
  CHECK_OK(proletariat_manager_new(&mo, &manager));
  proletariat_manager_destroy(&manager);
  CHECK(manager == NULL);

  /* system_messages came after version 1 of the worker and client options: default
   * 1, and options from a program built before it still accepted. */
  {
    proletariat_client_options co;
    proletariat_client_options_init(&co);
    CHECK(co.system_messages == 1);
    proletariat_worker_options_init(&wo);
    CHECK(wo.system_messages == 1);
    memset(&co, 0xff, sizeof co);
    proletariat_client_options_init_sized(&co, offsetof(proletariat_client_options, system_messages));
    CHECK(co.system_messages == -1); /* beyond the caller's size: untouched */
    co.endpoint = "tcp://127.0.0.1:1";
    co.name = NULL;
    CHECK_OK(proletariat_client_new(&co, &client));
    proletariat_client_destroy(&client);
    proletariat_client_options_init(&co);
    co.endpoint = "tcp://127.0.0.1:1";
    co.system_messages = 0;
    CHECK_OK(proletariat_client_new(&co, &client));
    proletariat_client_destroy(&client);
    CHECK(client == NULL);
  }

  /* A manager not started has no endpoint; events go in before start only. */
  proletariat_manager_options_init(&mo);
  mo.endpoint = "tcp://127.0.0.1:*";
  mo.pub_endpoint = "tcp://127.0.0.1:*";
  CHECK_OK(proletariat_manager_new(&mo, &manager));
  CHECK(proletariat_manager_endpoint(manager) == NULL);
  CHECK_LAST_ERROR(PROLETARIAT_ESTATE, "ESTATE", "not started");
  CHECK_OK(proletariat_manager_start(manager));
  CHECK_STATUS(proletariat_manager_start(manager), PROLETARIAT_ESTATE);
  CHECK_LAST_ERROR(PROLETARIAT_ESTATE, "ESTATE", "started before");
  CHECK_STATUS(proletariat_manager_on_receive(manager, NULL, NULL), PROLETARIAT_ESTATE);

  /* A second manager on the same port cannot bind. */
  {
    proletariat_manager* second = NULL;
    proletariat_manager_options o2;
    proletariat_manager_options_init(&o2);
    o2.endpoint = proletariat_manager_endpoint(manager);
    o2.pub_endpoint = "tcp://127.0.0.1:*";
    CHECK_OK(proletariat_manager_new(&o2, &second));
    CHECK_STATUS(proletariat_manager_start(second), PROLETARIAT_EFAILED);
    CHECK_LAST_ERROR(PROLETARIAT_EFAILED, "EINTERNAL", "cannot bind");
    proletariat_manager_destroy(&second);
  }

  /* A worker needs a handler. */
  proletariat_worker_options_init(&wo);
  wo.endpoint = proletariat_manager_endpoint(manager);
  CHECK_STATUS(proletariat_worker_new(&wo, &worker), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "handler");

  /* A bad offer: guarantees (8 + 5) above the slots (10). */
  wo.handler = handler;
  wo.slots = 10;
  wo.priority_slots = too_many;
  wo.priority_slots_count = 2;
  CHECK_OK(proletariat_worker_new(&wo, &worker));
  CHECK_STATUS(proletariat_worker_start(worker), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADOFFER", "13");
  CHECK_STR(proletariat_error_class(proletariat_last_error_code()), "request");
  proletariat_worker_destroy(&worker);
  CHECK(worker == NULL);

  /* The same range start twice. */
  wo.priority_slots = twice;
  CHECK_OK(proletariat_worker_new(&wo, &worker));
  CHECK_STATUS(proletariat_worker_start(worker), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADOFFER", "twice");
  proletariat_worker_destroy(&worker);

  /* A range start that is not a finite number >= 0. */
  {
    proletariat_priority_slots negative[1] = {{-1, 2}};
    wo.priority_slots = negative;
    wo.priority_slots_count = 1;
    CHECK_OK(proletariat_worker_new(&wo, &worker));
    CHECK_STATUS(proletariat_worker_start(worker), PROLETARIAT_EINVAL);
    CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADOFFER", "finite");
    proletariat_worker_destroy(&worker);
  }

  /* No slots at all; a negative duration. */
  wo.priority_slots = NULL;
  wo.priority_slots_count = 0;
  wo.slots = 0;
  CHECK_OK(proletariat_worker_new(&wo, &worker));
  CHECK_STATUS(proletariat_worker_start(worker), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADOFFER", "slots");
  proletariat_worker_destroy(&worker);
  wo.slots = 1;
  wo.con_retry_time_ms = -5;
  CHECK_STATUS(proletariat_worker_new(&wo, &worker), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "con_retry_time_ms");
  CHECK(worker == NULL);

  proletariat_manager_destroy(&manager);
  CHECK(manager == NULL);

  /* Constant strings. */
  CHECK_STR(proletariat_status_string(PROLETARIAT_ETIMEDOUT), "PROLETARIAT_ETIMEDOUT");
  CHECK_STR(proletariat_error_class("ETO"), "retry");
  CHECK_STR(proletariat_error_class("EBADJSON"), "request");
  CHECK_STR(proletariat_error_class("EMYOWNCODE"), "fault");
  CHECK_STR(proletariat_error_class(NULL), "fault");
  CHECK(strlen(proletariat_version()) > 0);
}

static void test_bad_pushes_are_refused(void) {
  cluster c;
  proletariat_request* request = NULL;
  proletariat_work_options wo;
  proletariat_job_spec specs[2];
  cluster_start(&c);

  specs[0] = json_job("1");
  specs[1] = json_job("{not json");
  CHECK_STATUS(proletariat_client_push(c.client, specs, 2, NULL, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADJSON", "job 1");
  CHECK(request == NULL);

  proletariat_work_options_init(&wo);
  wo.priority = -1;
  CHECK_STATUS(proletariat_client_push(c.client, specs, 1, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "priority");

  proletariat_work_options_init(&wo);
  wo.run_timeout_ms = -7;
  CHECK_STATUS(proletariat_client_push(c.client, specs, 1, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "run_timeout_ms");

  memset(&wo, 0, sizeof wo);
  CHECK_STATUS(proletariat_client_push(c.client, specs, 1, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "proletariat_work_options_init");

  CHECK_STATUS(proletariat_client_push(c.client, NULL, 3, NULL, &request), PROLETARIAT_EINVAL);
  CHECK_STATUS(proletariat_client_push(c.client, specs, 1, NULL, NULL), PROLETARIAT_EINVAL);
  CHECK_STATUS(proletariat_client_push_one(c.client, "", 0, NULL, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADJSON", "not valid JSON");

  /* The client still works after all that. */
  {
    const proletariat_result* r = run_one(&c, "21", NULL, &request);
    CHECK(r->error_code == NULL);
    CHECK_STR(r->data, "42");
    proletariat_request_destroy(&request);
  }
  cluster_stop(&c);
}

static void test_group_results_in_order_by_blocking_wait(void) {
  enum { N = 50 };
  cluster c;
  proletariat_job_spec specs[N];
  char args[N][16];
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  proletariat_work_options wo;
  size_t i;
  cluster_start(&c);

  for (i = 0; i < N; ++i) {
    snprintf(args[i], sizeof args[i], "%u", (unsigned)i);
    specs[i] = json_job(args[i]);
  }
  proletariat_work_options_init(&wo);
  wo.timeout_ms = 20000;
  wo.priority = 2.5;
  CHECK_OK(proletariat_client_push(c.client, specs, N, &wo, &request));
  CHECK(proletariat_request_size(request) == N);
  CHECK(proletariat_request_id(request) >= 1);
  CHECK_OK(proletariat_request_wait(request, 20000, &results));
  CHECK(proletariat_results_count(results) == N);
  for (i = 0; i < N; ++i) {
    const proletariat_result* r = proletariat_results_at(results, i);
    char expected[16];
    CHECK(r != NULL && r->error_code == NULL && r->error_message == NULL && r->raw == 0);
    snprintf(expected, sizeof expected, "%u", 2 * (unsigned)i);
    CHECK_STR(r->data, expected);
    CHECK(r->data_len == strlen(expected));
  }
  CHECK(proletariat_results_at(results, N) == NULL);
  /* A finished request can be waited again, and aborting it changes nothing. */
  CHECK_OK(proletariat_request_abort(request));
  CHECK_OK(proletariat_request_wait(request, 0, &results));
  CHECK_STR(proletariat_results_at(results, 0)->data, "0");
  proletariat_request_destroy(&request);
  CHECK(request == NULL);

  /* An empty group finishes at once. */
  CHECK_OK(proletariat_client_push(c.client, NULL, 0, NULL, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  CHECK(proletariat_results_count(results) == 0);
  proletariat_request_destroy(&request);
  cluster_stop(&c);
}

/* Callback bookkeeping. */
typedef struct callback_record {
  int each_calls;
  int seen[32];
  int done_calls;
  int done_ok; /* results complete and in order when done fired */
  int wait_in_callback;
  int destroy_in_callback_refused;
  proletariat_request* other; /* a request of the same client, waited on from the callback */
  proletariat_client* client;
} callback_record;

static void on_each(size_t index, const proletariat_result* result, void* user_data) {
  callback_record* record = (callback_record*)user_data;
  long value = -1;
  CHECK(index < 32);
  CHECK(result->error_code == NULL);
  sscanf(result->data, "%ld", &value);
  CHECK(value == 2 * (long)(index + 100));
  pthread_mutex_lock(&mutex);
  ++record->each_calls;
  ++record->seen[index];
  pthread_mutex_unlock(&mutex);
}

static void on_done(const proletariat_results* results, void* user_data) {
  callback_record* record = (callback_record*)user_data;
  size_t i;
  int ok = 1;
  for (i = 0; i < proletariat_results_count(results); ++i) {
    long value = -1;
    sscanf(proletariat_results_at(results, i)->data, "%ld", &value);
    if (value != 2 * (long)(i + 100)) ok = 0;
  }
  if (record->other != NULL) {
    /* Waiting here would block the thread that delivers results: refused. */
    record->wait_in_callback = (int)proletariat_request_wait(record->other, 1000, NULL);
  }
  if (record->client != NULL) {
    proletariat_client* copy = record->client;
    proletariat_client_destroy(&copy);
    record->destroy_in_callback_refused = copy != NULL && proletariat_last_error_status() == PROLETARIAT_ESTATE;
  }
  pthread_mutex_lock(&mutex);
  record->done_ok = ok && proletariat_results_count(results) == 20;
  ++record->done_calls;
  pthread_mutex_unlock(&mutex);
}

static void test_callbacks_each_then_done(void) {
  enum { N = 20 };
  cluster c;
  proletariat_job_spec specs[N];
  char args[N][16];
  proletariat_request* request = NULL;
  proletariat_request* other = NULL;
  callback_record record;
  callback_record fire_and_forget;
  size_t i;
  cluster_start(&c);
  memset(&record, 0, sizeof record);
  memset(&fire_and_forget, 0, sizeof fire_and_forget);

  for (i = 0; i < N; ++i) {
    snprintf(args[i], sizeof args[i], "%u", (unsigned)(i + 100));
    specs[i] = json_job(args[i]);
  }
  CHECK_OK(proletariat_client_push_one(c.client, "1", 0, NULL, &other));
  CHECK_OK(proletariat_request_wait(other, 10000, NULL));
  record.other = other;
  record.client = c.client;
  CHECK_OK(proletariat_client_push_cb(c.client, specs, N, NULL, on_each, on_done, &record, &request));
  /* wait returns after the done callback has returned. */
  CHECK_OK(proletariat_request_wait(request, 20000, NULL));
  CHECK(read_int(&record.done_calls) == 1);
  CHECK(read_int(&record.each_calls) == N);
  for (i = 0; i < N; ++i) CHECK(record.seen[i] == 1);
  CHECK(record.done_ok);
  CHECK(record.wait_in_callback == PROLETARIAT_ESTATE);
  CHECK(record.destroy_in_callback_refused);
  proletariat_request_destroy(&request);
  proletariat_request_destroy(&other);

  /* Fire and forget: no request handle, the callbacks still fire. */
  CHECK_OK(proletariat_client_push_cb(c.client, specs, N, NULL, NULL, on_done, &fire_and_forget, NULL));
  CHECK(wait_for_count(&fire_and_forget.done_calls, 1));
  CHECK(fire_and_forget.done_ok);
  cluster_stop(&c);
}

static void test_failing_jobs_carry_codes(void) {
  cluster c;
  proletariat_job_spec specs[5];
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  const proletariat_result* r;
  cluster_start(&c);

  specs[0] = json_job("3");
  specs[1] = json_job("\"fail\"");
  specs[2] = json_job("\"noanswer\"");
  specs[3] = json_job("[\"unknown\"]");
  specs[4] = json_job("\"badreply\"");
  CHECK_OK(proletariat_client_push(c.client, specs, 5, NULL, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  CHECK(proletariat_results_count(results) == 5);

  r = proletariat_results_at(results, 0);
  CHECK(r->error_code == NULL);
  CHECK_STR(r->data, "6");

  r = proletariat_results_at(results, 1);
  CHECK_STR(r->error_code, "EMYFAIL");
  CHECK_STR(r->error_message, "it failed on purpose");
  CHECK_STR(r->data, "null");
  CHECK_STR(proletariat_error_class(r->error_code), "fault");

  r = proletariat_results_at(results, 2);
  CHECK_STR(r->error_code, "EHANDLER");
  CHECK(strstr(r->error_message, "without answering") != NULL);

  r = proletariat_results_at(results, 3);
  CHECK_STR(r->error_code, "EHANDLER"); /* proletariat_job_fail with a NULL code */
  CHECK_STR(r->error_message, "unknown job");

  r = proletariat_results_at(results, 4);
  CHECK(r->error_code == NULL);
  CHECK_STR(r->data, "\"fixed\"");
  proletariat_request_destroy(&request);
  cluster_stop(&c);
}

static void test_run_timeout_gives_eto(void) {
  cluster c;
  proletariat_work_options wo;
  proletariat_request* request = NULL;
  const proletariat_result* r;
  cluster_start(&c);

  proletariat_work_options_init(&wo);
  wo.run_timeout_ms = 150;
  r = run_one(&c, "\"hang\"", &wo, &request);
  CHECK_STR(r->error_code, "ETO");
  CHECK(strstr(r->error_message, "150") != NULL);
  CHECK_STR(proletariat_error_class(r->error_code), "retry");
  proletariat_request_destroy(&request);

  /* The handler's reference sees the cancellation; a late answer is dropped quietly. */
  CHECK(wait_for_count(&aborts_seen, 1));
  pthread_mutex_lock(&mutex);
  CHECK_STR(last_abort_reason, "ETO");
  CHECK(hanging_count == 1);
  CHECK(proletariat_job_cancelled(hanging[0]));
  CHECK_OK(proletariat_job_reply(hanging[0], "1", 1));
  CHECK_STATUS(proletariat_job_reply(hanging[0], "1", 1), PROLETARIAT_ESTATE);
  CHECK_LAST_ERROR(PROLETARIAT_ESTATE, "ESTATE", "already answered");
  pthread_mutex_unlock(&mutex);
  CHECK(proletariat_worker_running(c.worker) == 0);
  cluster_stop(&c);
}

static void test_abort_request_and_single_jobs(void) {
  cluster c;
  proletariat_job_spec specs[3];
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  size_t second = 1;
  size_t i;
  cluster_start(&c);

  /* Abort a whole request of running jobs. */
  specs[0] = json_job("\"hang\"");
  specs[1] = json_job("\"hang\"");
  specs[2] = json_job("\"hang\"");
  CHECK_OK(proletariat_client_push(c.client, specs, 3, NULL, &request));
  CHECK(wait_for_count(&hanging_count, 3));
  CHECK_STATUS(proletariat_request_wait(request, 50, &results), PROLETARIAT_ETIMEDOUT);
  CHECK_LAST_ERROR(PROLETARIAT_ETIMEDOUT, "ETIMEDOUT", "50 ms");
  CHECK(results == NULL);
  CHECK(proletariat_client_pending(c.client) == 3);
  CHECK_OK(proletariat_request_abort(request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  for (i = 0; i < 3; ++i) CHECK_STR(proletariat_results_at(results, i)->error_code, "EABORTED");
  proletariat_request_destroy(&request);
  /* The workers hear of it too: their jobs are cancelled and the slots freed. */
  CHECK(wait_for_count(&aborts_seen, 3));
  pthread_mutex_lock(&mutex);
  CHECK_STR(last_abort_reason, "abort");
  for (i = 0; i < 3; ++i) CHECK(proletariat_job_cancelled(hanging[i]));
  pthread_mutex_unlock(&mutex);
  release_hanging();
  reset_state();

  /* Abort one job of a group; the others go on. */
  specs[0] = json_job("\"hang\"");
  specs[1] = json_job("\"hang\"");
  specs[2] = json_job("5");
  CHECK_OK(proletariat_client_push(c.client, specs, 3, NULL, &request));
  CHECK(wait_for_count(&hanging_count, 2));
  CHECK_OK(proletariat_request_abort_jobs(request, &second, 1));
  CHECK(wait_for_count(&aborts_seen, 1));
  CHECK_STATUS(proletariat_request_wait(request, 100, NULL), PROLETARIAT_ETIMEDOUT); /* job 0 still hangs */
  CHECK_OK(proletariat_request_abort(request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  CHECK_STR(proletariat_results_at(results, 0)->error_code, "EABORTED");
  CHECK_STR(proletariat_results_at(results, 1)->error_code, "EABORTED");
  CHECK(proletariat_results_at(results, 2)->error_code == NULL);
  CHECK_STR(proletariat_results_at(results, 2)->data, "10");
  proletariat_request_destroy(&request);
  cluster_stop(&c);
}

static void test_client_timeout_and_destroy_finish_requests(void) {
  cluster c;
  proletariat_work_options wo;
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  const proletariat_result* r;
  cluster_start(&c);

  proletariat_work_options_init(&wo);
  wo.timeout_ms = 150;
  r = run_one(&c, "\"hang\"", &wo, &request);
  CHECK_STR(r->error_code, "ECSTO");
  proletariat_request_destroy(&request);

  /* Destroying the client finishes what it still waits for with EABORTED; the request
   * handle outlives it. */
  CHECK_OK(proletariat_client_push_one(c.client, "\"hang\"", 0, NULL, &request));
  CHECK(wait_for_count(&hanging_count, 2));
  proletariat_client_destroy(&c.client);
  CHECK(c.client == NULL);
  CHECK_OK(proletariat_request_wait(request, 0, &results));
  CHECK_STR(proletariat_results_at(results, 0)->error_code, "EABORTED");
  CHECK_OK(proletariat_request_abort(request));
  proletariat_request_destroy(&request);
  cluster_stop(&c);
}

static void test_reply_later_raw_bytes_and_key(void) {
  cluster c;
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  const proletariat_result* r;
  proletariat_job_spec spec;
  const char bytes[5] = {'a', '\0', 'b', (char)0xff, '\n'};
  cluster_start(&c);

  /* Answered from another thread through a retained reference. */
  r = run_one(&c, "\"later\"", NULL, &request);
  CHECK(r->error_code == NULL);
  CHECK_STR(r->data, "\"done later\"");
  proletariat_request_destroy(&request);
  CHECK(read_int(&release_borrowed) == PROLETARIAT_ESTATE);
  CHECK(wait_for_count(&later_second_answer, 0));
  CHECK(read_int(&later_second_answer) == PROLETARIAT_ESTATE);

  /* Raw bytes both ways, NULs and all. */
  memset(&spec, 0, sizeof spec);
  spec.args = bytes;
  spec.args_len = sizeof bytes;
  spec.raw = 1;
  CHECK_OK(proletariat_client_push(c.client, &spec, 1, NULL, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  r = proletariat_results_at(results, 0);
  CHECK(r->error_code == NULL);
  CHECK(r->raw == 1 && r->data_len == sizeof bytes && memcmp(r->data, bytes, sizeof bytes) == 0);
  proletariat_request_destroy(&request);

  /* The key travels with the job. */
  spec = json_job("\"key\"");
  spec.key = "my-key";
  CHECK_OK(proletariat_client_push(c.client, &spec, 1, NULL, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  CHECK_STR(proletariat_results_at(results, 0)->data, "\"my-key\"");
  proletariat_request_destroy(&request);
  cluster_stop(&c);
}

/* Manager events. */
static int received;
static int finished;
static int finished_failed;
static int assign_timeouts;

static void on_assigntimeout(const proletariat_job_info* job, void* user_data) {
  (void)user_data;
  CHECK_STR(job->service, "nobody-offers-this");
  CHECK_STR(job->key, "k");
  CHECK(job->attempt == 0);
  pthread_mutex_lock(&mutex);
  ++assign_timeouts;
  pthread_mutex_unlock(&mutex);
}

static void on_receive(const proletariat_job_info* job, void* user_data) {
  CHECK(user_data == (void*)&received);
  CHECK(job->id > 0 && job->client != NULL && strlen(job->client) > 0);
  pthread_mutex_lock(&mutex);
  ++received;
  pthread_mutex_unlock(&mutex);
}

static void on_finish(const proletariat_job_info* job, const proletariat_result* result, void* user_data) {
  (void)user_data;
  CHECK(job->id > 0);
  pthread_mutex_lock(&mutex);
  ++finished;
  if (result->error_code != NULL) ++finished_failed;
  pthread_mutex_unlock(&mutex);
}

static void test_manager_events(void) {
  proletariat_manager_options mo;
  proletariat_worker_options wo;
  proletariat_manager* manager = NULL;
  proletariat_worker* worker = NULL;
  proletariat_client* client = NULL;
  proletariat_request* request = NULL;
  proletariat_job_spec specs[5];
  proletariat_client_options co;
  char id[64];
  int i;
  reset_state();
  received = finished = finished_failed = assign_timeouts = 0;

  proletariat_manager_options_init(&mo);
  mo.endpoint = "tcp://127.0.0.1:*";
  mo.pub_endpoint = "tcp://127.0.0.1:*";
  CHECK_OK(proletariat_manager_new(&mo, &manager));
  CHECK_OK(proletariat_manager_on_receive(manager, on_receive, &received));
  CHECK_OK(proletariat_manager_on_finish(manager, on_finish, NULL));
  CHECK_OK(proletariat_manager_on_assigntimeout(manager, on_assigntimeout, NULL));
  CHECK_OK(proletariat_manager_start(manager));
  CHECK(strncmp(proletariat_manager_pub_endpoint(manager), "tcp://127.0.0.1:", 16) == 0);

  proletariat_worker_options_init(&wo);
  wo.endpoint = proletariat_manager_endpoint(manager);
  wo.handler = handler;
  wo.handler_data = &hanging;
  CHECK_OK(proletariat_worker_new(&wo, &worker));
  CHECK_OK(proletariat_worker_start(worker));
  CHECK_STATUS(proletariat_worker_start(worker), PROLETARIAT_ESTATE);
  CHECK_OK(proletariat_worker_wait_ready(worker, 10000));
  CHECK(proletariat_worker_id(worker, id, sizeof id) > 0 && strlen(id) > 0);
  CHECK(proletariat_worker_id(worker, id, 2) > 1 && strlen(id) == 1); /* truncated, length still told */

  proletariat_client_options_init(&co);
  co.endpoint = proletariat_manager_endpoint(manager);
  co.name = "c-test-client";
  CHECK_OK(proletariat_client_new(&co, &client));
  for (i = 0; i < 4; ++i) specs[i] = json_job("7");
  specs[4] = json_job("\"fail\"");
  CHECK_OK(proletariat_client_push(client, specs, 5, NULL, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, NULL));
  CHECK(proletariat_client_id(client, id, sizeof id) > 0);
  proletariat_request_destroy(&request);
  CHECK(wait_for_count(&finished, 5));
  CHECK(read_int(&received) == 5);
  CHECK(read_int(&finished_failed) == 1);

  /* A job for a service nobody offers: EATO to the client, an event on the manager. */
  {
    proletariat_work_options work;
    const proletariat_results* results = NULL;
    proletariat_job_spec spec = json_job("1");
    spec.service = "nobody-offers-this";
    spec.key = "k";
    proletariat_work_options_init(&work);
    work.assign_timeout_ms = 100;
    CHECK_OK(proletariat_client_push(client, &spec, 1, &work, &request));
    CHECK_OK(proletariat_request_wait(request, 10000, &results));
    CHECK_STR(proletariat_results_at(results, 0)->error_code, "EATO");
    proletariat_request_destroy(&request);
    CHECK(wait_for_count(&assign_timeouts, 1));
  }

  proletariat_client_destroy(&client);
  CHECK_OK(proletariat_worker_stop(worker));
  CHECK_OK(proletariat_worker_stop(worker)); /* idempotent */
  proletariat_worker_destroy(&worker);
  CHECK_OK(proletariat_manager_stop(manager));
  CHECK(proletariat_manager_endpoint(manager) != NULL); /* still valid until destroy */
  proletariat_manager_destroy(&manager);
}

static void test_client_identity(void) {
  char id[160], again[160], small[4], longest[130];
  proletariat_client *named = NULL, *other = NULL;
  proletariat_client_options co;
  proletariat_request* request = NULL;
  const proletariat_result* r;
  cluster c;
  cluster_start(&c);

  /* None in the options: the library chooses one, fixed for the client's life. */
  CHECK(proletariat_client_identity(c.client, id, sizeof id) == strlen(id));
  CHECK(strlen(id) > 2 && strncmp(id, "c-", 2) == 0);
  CHECK(proletariat_client_identity(c.client, again, sizeof again) == strlen(id));
  CHECK_STR(again, id);

  /* Given: told back as it is (truncated to the buffer, its full length returned),
   * and the client registers and works as any other. */
  proletariat_client_options_init(&co);
  CHECK(co.identity == NULL);
  co.endpoint = proletariat_manager_endpoint(c.manager);
  co.identity = "c-api-test-identity";
  CHECK_OK(proletariat_client_new(&co, &named));
  CHECK(proletariat_client_identity(named, id, sizeof id) == 19);
  CHECK_STR(id, "c-api-test-identity");
  CHECK(proletariat_client_identity(named, small, sizeof small) == 19);
  CHECK_STR(small, "c-a");
  CHECK(proletariat_client_identity(named, NULL, 0) == 19);
  CHECK_OK(proletariat_client_wait_connected(named, 10000));
  CHECK_OK(proletariat_client_push_one(named, "21", 0, NULL, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, NULL));
  proletariat_request_destroy(&request);
  proletariat_client_destroy(&named);

  /* "" is none, as NULL is: another random identity, not the first client's. */
  co.identity = "";
  CHECK_OK(proletariat_client_new(&co, &other));
  CHECK(proletariat_client_identity(other, again, sizeof again) > 2);
  CHECK(strncmp(again, "c-", 2) == 0);
  CHECK(proletariat_client_identity(c.client, id, sizeof id) > 0 && strcmp(id, again) != 0);
  proletariat_client_destroy(&other);

  /* 1 to 128 bytes of UTF-8 (PROTOCOL §4 HELLO); anything else is refused. */
  memset(longest, 'x', sizeof longest);
  longest[128] = '\0';
  co.identity = longest;
  CHECK_OK(proletariat_client_new(&co, &other));
  CHECK(proletariat_client_identity(other, id, sizeof id) == 128);
  proletariat_client_destroy(&other);
  longest[128] = 'x';
  longest[129] = '\0';
  CHECK_STATUS(proletariat_client_new(&co, &other), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "identity");
  CHECK(other == NULL);
  co.identity = "bad \xff\xfe utf-8";
  CHECK_STATUS(proletariat_client_new(&co, &other), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "UTF-8");
  CHECK(other == NULL);

  /* A caller built before the member existed: its smaller struct is read without it. */
  proletariat_client_options_init_sized(&co, offsetof(proletariat_client_options, identity));
  co.endpoint = proletariat_manager_endpoint(c.manager);
  co.identity = longest; /* beyond the caller's size: never read */
  CHECK_OK(proletariat_client_new(&co, &other));
  CHECK(proletariat_client_identity(other, id, sizeof id) > 2 && strncmp(id, "c-", 2) == 0);
  proletariat_client_destroy(&other);

  proletariat_clear_error();
  CHECK(proletariat_client_identity(NULL, id, sizeof id) == 0);
  CHECK_STR(id, "");
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "NULL");

  r = run_one(&c, "4", NULL, &request);
  CHECK(r->error_code == NULL);
  CHECK_STR(r->data, "8");
  proletariat_request_destroy(&request);
  cluster_stop(&c);
}

typedef struct stopper {
  proletariat_worker* worker;
  int64_t drain_timeout_ms; /* -1: proletariat_worker_stop */
  proletariat_status status;
  int returned;
} stopper;

static void* stop_worker(void* arg) {
  stopper* s = (stopper*)arg;
  proletariat_status status = s->drain_timeout_ms < 0 ? proletariat_worker_stop(s->worker)
                                                      : proletariat_worker_stop_drain(s->worker, s->drain_timeout_ms);
  pthread_mutex_lock(&mutex);
  s->status = status;
  s->returned = 1;
  pthread_mutex_unlock(&mutex);
  return NULL;
}

static void test_worker_stop_drains_or_stops_at_once(void) {
  cluster c;
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  proletariat_worker* second = NULL;
  proletariat_worker_options wo;
  pthread_t thread;
  stopper s;
  cluster_start(&c);

  /* Graceful: the stop waits for the running job, whose result reaches the client. */
  CHECK_OK(proletariat_client_push_one(c.client, "\"hang\"", 0, NULL, &request));
  CHECK(wait_for_count(&hanging_count, 1));
  s.worker = c.worker;
  s.drain_timeout_ms = -1;
  s.returned = 0;
  CHECK(pthread_create(&thread, NULL, stop_worker, &s) == 0);
  /* Draining: the worker no longer calls itself ready, and the stop waits. */
  while (proletariat_worker_wait_ready(c.worker, 0) == PROLETARIAT_OK) sleep_ms(1);
  CHECK_LAST_ERROR(PROLETARIAT_ETIMEDOUT, "ETIMEDOUT", "registration");
  CHECK(read_int(&s.returned) == 0);
  pthread_mutex_lock(&mutex);
  CHECK_OK(proletariat_job_reply(hanging[0], "\"finished while draining\"", 0));
  pthread_mutex_unlock(&mutex);
  CHECK(pthread_join(thread, NULL) == 0);
  CHECK(s.returned == 1 && s.status == PROLETARIAT_OK);
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  CHECK(proletariat_results_at(results, 0)->error_code == NULL);
  CHECK_STR(proletariat_results_at(results, 0)->data, "\"finished while draining\"");
  CHECK(read_int(&aborts_seen) == 0);
  proletariat_request_destroy(&request);
  CHECK_OK(proletariat_worker_stop_drain(c.worker, 0)); /* stopped stays stopped */

  /* Hard (0 ms): the running job is cancelled with reason "stop" at once, and the
   * manager gives it to the next worker. */
  second = start_worker(proletariat_manager_endpoint(c.manager), 30000);
  CHECK_OK(proletariat_client_push_one(c.client, "\"hang\"", 0, NULL, &request));
  CHECK(wait_for_count(&hanging_count, 2));
  CHECK_STATUS(proletariat_worker_stop_drain(second, -1), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "drain_timeout_ms");
  CHECK_OK(proletariat_worker_stop_drain(second, 0));
  CHECK(read_int(&aborts_seen) == 1);
  pthread_mutex_lock(&mutex);
  CHECK_STR(last_abort_reason, "stop");
  pthread_mutex_unlock(&mutex);
  proletariat_worker_destroy(&second);
  second = start_worker(proletariat_manager_endpoint(c.manager), 0);
  CHECK(wait_for_count(&hanging_count, 3));
  pthread_mutex_lock(&mutex);
  CHECK_OK(proletariat_job_reply(hanging[2], "\"second time\"", 0));
  pthread_mutex_unlock(&mutex);
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  CHECK_STR(proletariat_results_at(results, 0)->data, "\"second time\"");
  proletariat_request_destroy(&request);
  proletariat_worker_destroy(&second);

  /* A negative drain timeout is refused when the worker is made. */
  proletariat_worker_options_init(&wo);
  wo.handler = handler;
  wo.drain_timeout_ms = -5;
  CHECK_STATUS(proletariat_worker_new(&wo, &second), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "drain_timeout_ms");
  CHECK(second == NULL);
  cluster_stop(&c);
}

/* ---------------------------------------------------------------- the job lifecycle */

/* Where the value of the nth (from 0) "key": of a JSON text starts; NULL if none. */
static const char* json_value(const char* json, const char* key, int nth) {
  char pattern[64];
  const char* at = json;
  int i;
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  for (i = 0;; ++i) {
    at = strstr(at, pattern);
    if (at == NULL) return NULL;
    at += strlen(pattern);
    if (i == nth) return at;
  }
}

/* The non-negative integer value of the nth "key":; -1 if none. */
static long long json_number(const char* json, const char* key, int nth) {
  const char* at = json_value(json, key, nth);
  if (at == NULL || *at < '0' || *at > '9') return -1;
  return strtoll(at, NULL, 10);
}

/* Copies the (flat) object of the reply's "groups" whose "group" is `group` into buf;
 * 0 when the reply lists no such group. */
static int group_entry(const char* json, const char* group, char* buf, size_t size) {
  char pattern[96];
  const char* at;
  const char* begin;
  const char* end;
  snprintf(pattern, sizeof pattern, "\"group\":\"%s\"", group);
  at = strstr(json, pattern);
  if (at == NULL) return 0;
  for (begin = at; begin > json && *begin != '{'; --begin) {
  }
  end = strchr(at, '}');
  CHECK(*begin == '{' && end != NULL && (size_t)(end - begin) + 1 < size);
  memcpy(buf, begin, (size_t)(end - begin) + 1);
  buf[end - begin + 1] = '\0';
  return 1;
}

static void test_lifecycle_options_travel(void) {
  cluster c;
  proletariat_work_options wo;
  proletariat_retry_options retry;
  proletariat_request* request = NULL;
  const proletariat_result* r;
  const char* busy[1] = {"EBUSY"};
  char long_group[300]; /* above max_group_bytes (256) */
  long pushed;
  cluster_start(&c);

  /* The defaults: none of the lifecycle. */
  proletariat_work_options_init(&wo);
  CHECK(wo.delay_ms == PROLETARIAT_NO_TIMEOUT && wo.at_ms == PROLETARIAT_NO_TIMEOUT);
  CHECK(wo.group == NULL && wo.retry == NULL);
  proletariat_retry_options_init(&retry);
  CHECK(retry.max == 0 && retry.codes == NULL && retry.codes_count == 0);
  CHECK(retry.initial_ms == 1000 && retry.factor == 2 && retry.max_delay_ms == 300000 && retry.jitter == 0.2);

  /* A delayed job starts only once its delay has passed (ms clocks truncate: 1 ms of
   * slack on each end). */
  wo.delay_ms = 300;
  wo.timeout_ms = 10000;
  pushed = now_ms();
  r = run_one(&c, "\"stamp\"", &wo, &request);
  CHECK(r->error_code == NULL);
  CHECK_STR(r->data, "\"stamped\"");
  CHECK(r->attempts == 0);
  CHECK(read_long(&job_started_ms) - pushed >= 298);
  proletariat_request_destroy(&request);

  /* ... and so does one due at a time of the (manager's) wall clock. */
  proletariat_work_options_init(&wo);
  pushed = now_ms();
  wo.at_ms = wall_ms() + 300;
  r = run_one(&c, "\"stamp\"", &wo, &request);
  CHECK(r->error_code == NULL);
  CHECK(read_long(&job_started_ms) - pushed >= 295);
  proletariat_request_destroy(&request);

  /* An `at` in the past queues at once. */
  wo.at_ms = 1;
  r = run_one(&c, "5", &wo, &request);
  CHECK(r->error_code == NULL);
  CHECK_STR(r->data, "10");
  proletariat_request_destroy(&request);

  /* At most one of delay and at; no negative times. */
  wo.delay_ms = 10;
  wo.at_ms = wall_ms();
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "exclude");
  CHECK(request == NULL);
  wo.delay_ms = -5;
  wo.at_ms = PROLETARIAT_NO_TIMEOUT;
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "delay_ms");
  wo.delay_ms = PROLETARIAT_NO_TIMEOUT;
  wo.at_ms = -7;
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "at_ms");

  /* Retried twice on EBUSY, the job succeeds on its third attempt; it runs in a group. */
  proletariat_work_options_init(&wo);
  retry.max = 3;
  retry.codes = busy;
  retry.codes_count = 1;
  retry.initial_ms = 5;
  retry.factor = 1;
  retry.jitter = 0;
  wo.retry = &retry;
  wo.group = "tenant-x";
  r = run_one(&c, "\"flaky\"", &wo, &request);
  CHECK(r->error_code == NULL);
  CHECK_STR(r->data, "3");
  CHECK(r->attempts == 3);
  CHECK(read_int(&flaky_calls) == 3);
  proletariat_request_destroy(&request);

  /* A code the policy does not name is not retried. */
  r = run_one(&c, "\"fail\"", &wo, &request);
  CHECK_STR(r->error_code, "EMYFAIL");
  CHECK(r->attempts == 1);
  proletariat_request_destroy(&request);

  /* Without a policy, attempts are not counted. */
  r = run_one(&c, "21", NULL, &request);
  CHECK(r->error_code == NULL && r->attempts == 0);
  proletariat_request_destroy(&request);

  /* Bad policies and groups fail the push. */
  retry.factor = 0.5;
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "factor");
  retry.factor = 1;
  retry.jitter = 2;
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "jitter");
  retry.jitter = 0;
  retry.max = 101;
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "retry.max");
  retry.max = 3;
  retry.initial_ms = -1;
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "initial_ms");
  retry.initial_ms = 5;
  retry.codes = NULL;
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "codes");
  memset(&retry, 0, sizeof retry);
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "proletariat_retry_options_init");
  wo.retry = NULL;
  memset(long_group, 'g', sizeof long_group);
  long_group[sizeof long_group - 1] = '\0';
  wo.group = long_group;
  CHECK_STATUS(proletariat_client_push_one(c.client, "1", 0, &wo, &request), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "group");
  CHECK(request == NULL);

  /* A caller built before the lifecycle members: they are never read (here they hold
   * pointers that would crash). */
  memset(&wo, 0xff, sizeof wo);
  proletariat_work_options_init_sized(&wo, offsetof(proletariat_work_options, delay_ms));
  r = run_one(&c, "4", &wo, &request);
  CHECK(r->error_code == NULL);
  CHECK_STR(r->data, "8");
  proletariat_request_destroy(&request);
  cluster_stop(&c);
}

typedef struct progress_record {
  int reports;
  char seen[8][32];
  size_t seen_len[8];
  int seen_raw[8];
  size_t seen_index[8];
  int terminated;      /* every report was NUL-terminated */
  int reports_at_each; /* reports seen when the progressing job's `each` fired */
  int each_calls;
  int admin_status; /* of an administrative call from the callback */
  proletariat_client* client;
} progress_record;

static void on_progress(size_t index, const char* data, size_t data_len, int raw, void* user_data) {
  progress_record* record = (progress_record*)user_data;
  proletariat_admin_reply* reply = NULL;
  pthread_mutex_lock(&mutex);
  if (record->reports < 8) {
    const int n = record->reports;
    const size_t copied = data_len < sizeof record->seen[n] - 1 ? data_len : sizeof record->seen[n] - 1;
    memcpy(record->seen[n], data, copied);
    record->seen[n][copied] = '\0';
    record->seen_len[n] = data_len;
    record->seen_raw[n] = raw;
    record->seen_index[n] = index;
  }
  if (data[data_len] != '\0') record->terminated = 0;
  ++record->reports;
  pthread_mutex_unlock(&mutex);
  if (record->client != NULL) {
    /* It would wait for this very thread: refused. */
    record->admin_status = (int)proletariat_client_group_limits(record->client, &reply);
    CHECK(reply == NULL);
    record->client = NULL;
  }
}

static void on_progress_each(size_t index, const proletariat_result* result, void* user_data) {
  progress_record* record = (progress_record*)user_data;
  CHECK(result->error_code == NULL);
  pthread_mutex_lock(&mutex);
  if (index == 0) record->reports_at_each = record->reports;
  ++record->each_calls;
  pthread_mutex_unlock(&mutex);
}

static void test_progress_reaches_callback_before_result(void) {
  cluster c;
  proletariat_job_spec specs[2];
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  progress_record record;
  int i;
  cluster_start(&c);

  memset(&record, 0, sizeof record);
  record.terminated = 1;
  record.reports_at_each = -1;
  record.admin_status = -1;
  record.client = c.client;
  specs[0] = json_job("\"progress\"");
  specs[1] = json_job("21");
  CHECK_OK(proletariat_client_push_progress(c.client, specs, 2, NULL, on_progress_each, NULL, on_progress, &record,
                                            &request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  CHECK_STR(proletariat_results_at(results, 0)->data, "\"progressed\"");
  CHECK_STR(proletariat_results_at(results, 1)->data, "42");

  /* Every report arrived, in order, before the job's result (the refused bad JSON
   * report never went out). */
  CHECK(record.each_calls == 2);
  CHECK(record.reports == 4);
  CHECK(record.reports_at_each == 4);
  CHECK(record.terminated);
  for (i = 0; i < 4; ++i) CHECK(record.seen_index[i] == 0);
  CHECK_STR(record.seen[0], "{\"step\":1}");
  CHECK_STR(record.seen[1], "{\"step\":2}");
  CHECK_STR(record.seen[2], "null");
  CHECK(record.seen_raw[0] == 0 && record.seen_raw[2] == 0);
  CHECK(record.seen_raw[3] == 1 && record.seen_len[3] == 3 && memcmp(record.seen[3], "r\0w", 3) == 0);
  CHECK(record.admin_status == PROLETARIAT_ESTATE);
  /* A report after the answer is refused. */
  CHECK(wait_for_count(&progress_after_answer, 0));
  CHECK(read_int(&progress_after_answer) == PROLETARIAT_ESTATE);
  proletariat_request_destroy(&request);

  /* Without a progress callback the reports are dropped and the result still comes. */
  CHECK_OK(proletariat_client_push_progress(c.client, specs, 1, NULL, NULL, NULL, NULL, NULL, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  CHECK_STR(proletariat_results_at(results, 0)->data, "\"progressed\"");
  proletariat_request_destroy(&request);

  CHECK_STATUS(proletariat_job_progress(NULL, "1", 0), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "job is NULL");
  CHECK_STATUS(proletariat_job_progress_raw(NULL, "x", 1), PROLETARIAT_EINVAL);
  cluster_stop(&c);
}

/* The letters of a dead-letter reply, told apart by their "raw" (the letters' keys
 * are in order, so the nth "id" and the nth "raw" belong to the same letter). */
static void find_letters(const char* json, long long* json_letter, long long* raw_letter) {
  int i;
  *json_letter = *raw_letter = -1;
  for (i = 0; json_value(json, "id", i) != NULL; ++i) {
    const char* raw = json_value(json, "raw", i);
    CHECK(raw != NULL);
    if (strncmp(raw, "true", 4) == 0) {
      *raw_letter = json_number(json, "id", i);
    } else {
      *json_letter = json_number(json, "id", i);
    }
  }
}

static void test_dead_letters_list_show_requeue_purge(void) {
  cluster c;
  proletariat_work_options wo;
  proletariat_retry_options retry;
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  proletariat_admin_reply* reply = NULL;
  proletariat_job_spec specs[2];
  const char dead_bytes[6] = {'d', 'e', 'a', 'd', '\0', (char)0xfe};
  const char* busy[1] = {"EBUSY"};
  const char* json;
  const char* payload;
  size_t len = 99;
  int raw = -1;
  long long json_letter, raw_letter, again_letter, other;
  uint64_t ids[2];
  int waited, i;
  cluster_start(&c);

  /* None yet. */
  CHECK_OK(proletariat_client_dead_letters(c.client, 100, &reply));
  json = proletariat_admin_reply_json(reply, &len);
  CHECK(len == strlen(json));
  CHECK(json_number(json, "total", 0) == 0);
  CHECK(strstr(json, "\"letters\":[]") != NULL);
  CHECK(proletariat_admin_reply_payload_count(reply) == 0);
  CHECK(proletariat_admin_reply_payload(reply, 0, &len, &raw) == NULL && len == 0 && raw == 0);
  proletariat_admin_reply_destroy(&reply);
  CHECK(reply == NULL);
  proletariat_admin_reply_destroy(&reply); /* no-op */

  /* Two jobs exhaust their one retry: two dead letters, one of them raw. */
  proletariat_retry_options_init(&retry);
  retry.max = 1;
  retry.codes = busy;
  retry.codes_count = 1;
  retry.initial_ms = 1;
  retry.jitter = 0;
  proletariat_work_options_init(&wo);
  wo.retry = &retry;
  specs[0] = json_job("\"deadly\"");
  memset(&specs[1], 0, sizeof specs[1]);
  specs[1].args = dead_bytes;
  specs[1].args_len = sizeof dead_bytes;
  specs[1].raw = 1;
  CHECK_OK(proletariat_client_push(c.client, specs, 2, &wo, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  for (i = 0; i < 2; ++i) {
    CHECK_STR(proletariat_results_at(results, (size_t)i)->error_code, "EBUSY");
    CHECK(proletariat_results_at(results, (size_t)i)->attempts == 2);
  }
  CHECK(read_int(&deadly_calls) == 2);
  proletariat_request_destroy(&request);

  /* list: both, their payloads left out. */
  CHECK_OK(proletariat_client_dead_letters(c.client, 100, &reply));
  json = proletariat_admin_reply_json(reply, NULL);
  CHECK(strstr(json, "\"op\":\"list\"") != NULL);
  CHECK(json_number(json, "total", 0) == 2);
  find_letters(json, &json_letter, &raw_letter);
  CHECK(json_letter >= 0 && raw_letter >= 0 && json_letter != raw_letter);
  CHECK(json_number(json, "attempts", 0) == 2 && json_number(json, "attempts", 1) == 2);
  CHECK(strstr(json, "\"code\":\"EBUSY\"") != NULL);
  CHECK(proletariat_admin_reply_payload_count(reply) == 2);
  for (i = 0; i < 2; ++i) {
    payload = proletariat_admin_reply_payload(reply, (size_t)i, &len, &raw);
    CHECK(payload != NULL && payload[len] == '\0');
    CHECK((raw == 1 && len == 0) || (raw == 0 && strcmp(payload, "null") == 0));
  }
  proletariat_admin_reply_destroy(&reply);

  /* list with a limit: one letter, the total still 2. */
  CHECK_OK(proletariat_client_dead_letters(c.client, 1, &reply));
  json = proletariat_admin_reply_json(reply, NULL);
  CHECK(json_number(json, "total", 0) == 2);
  CHECK(json_value(json, "id", 0) != NULL && json_value(json, "id", 1) == NULL);
  proletariat_admin_reply_destroy(&reply);

  /* show: the letter with its payload, JSON or raw. */
  ids[0] = (uint64_t)json_letter;
  CHECK_OK(proletariat_client_dead_letters_show(c.client, ids, 1, &reply));
  json = proletariat_admin_reply_json(reply, NULL);
  CHECK(json_number(json, "id", 0) == json_letter && json_value(json, "id", 1) == NULL);
  CHECK(proletariat_admin_reply_payload_count(reply) == 1);
  payload = proletariat_admin_reply_payload(reply, 0, &len, &raw);
  CHECK_STR(payload, "\"deadly\"");
  CHECK(len == 8 && raw == 0);
  CHECK(proletariat_admin_reply_payload(reply, 1, NULL, NULL) == NULL);
  proletariat_admin_reply_destroy(&reply);
  ids[0] = (uint64_t)raw_letter;
  ids[1] = 987654321; /* unknown: left out */
  CHECK_OK(proletariat_client_dead_letters_show(c.client, ids, 2, &reply));
  CHECK(proletariat_admin_reply_payload_count(reply) == 1);
  payload = proletariat_admin_reply_payload(reply, 0, &len, &raw);
  CHECK(payload != NULL && raw == 1 && len == sizeof dead_bytes && memcmp(payload, dead_bytes, len) == 0);
  CHECK(payload[len] == '\0');
  proletariat_admin_reply_destroy(&reply);

  /* requeue: the letter goes back as a new job, which dies again (its retry policy
   * came along: two more runs) as a new letter. */
  ids[0] = (uint64_t)json_letter;
  CHECK_OK(proletariat_client_dead_letters_requeue(c.client, ids, 1, &reply));
  json = proletariat_admin_reply_json(reply, NULL);
  CHECK(json_number(json, "letter", 0) == json_letter);
  CHECK(json_number(json, "job", 0) > 0);
  CHECK(json_number(json, "total", 0) == 1);
  proletariat_admin_reply_destroy(&reply);
  CHECK(wait_for_count(&deadly_calls, 4));
  again_letter = -1;
  for (waited = 0; again_letter < 0; waited += 5) {
    CHECK(waited < 10000);
    CHECK_OK(proletariat_client_dead_letters(c.client, 100, &reply));
    json = proletariat_admin_reply_json(reply, NULL);
    if (json_number(json, "total", 0) == 2) find_letters(json, &again_letter, &other);
    proletariat_admin_reply_destroy(&reply);
    if (again_letter < 0) sleep_ms(5);
  }
  CHECK(again_letter != json_letter && again_letter != raw_letter && other == raw_letter);
  CHECK(read_int(&deadly_calls) == 4);
  ids[0] = (uint64_t)again_letter;
  CHECK_OK(proletariat_client_dead_letters_show(c.client, ids, 1, &reply));
  CHECK_STR(proletariat_admin_reply_payload(reply, 0, NULL, NULL), "\"deadly\"");
  CHECK(strstr(proletariat_admin_reply_json(reply, NULL), "\"client\"") == NULL); /* a requeued job has none */
  proletariat_admin_reply_destroy(&reply);

  /* purge one, then every letter. */
  ids[0] = (uint64_t)raw_letter;
  CHECK_OK(proletariat_client_dead_letters_purge(c.client, ids, 1, &reply));
  json = proletariat_admin_reply_json(reply, NULL);
  CHECK(json_number(json, "purged", 0) == 1 && json_number(json, "total", 0) == 1);
  proletariat_admin_reply_destroy(&reply);
  CHECK_OK(proletariat_client_dead_letters_purge(c.client, NULL, 0, &reply));
  json = proletariat_admin_reply_json(reply, NULL);
  CHECK(json_number(json, "purged", 0) == 1 && json_number(json, "total", 0) == 0);
  proletariat_admin_reply_destroy(&reply);
  CHECK_OK(proletariat_client_dead_letters(c.client, 100, &reply));
  CHECK(json_number(proletariat_admin_reply_json(reply, NULL), "total", 0) == 0);
  proletariat_admin_reply_destroy(&reply);

  /* Misuse. */
  CHECK_STATUS(proletariat_client_dead_letters_show(c.client, ids, 0, &reply), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "no ids");
  CHECK(reply == NULL);
  CHECK_STATUS(proletariat_client_dead_letters_requeue(c.client, NULL, 2, &reply), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "NULL with a count");
  CHECK_STATUS(proletariat_client_dead_letters(NULL, 1, &reply), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "client is NULL");
  CHECK_STATUS(proletariat_client_dead_letters(c.client, 1, NULL), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "out pointer");
  CHECK_STR(proletariat_admin_reply_json(NULL, &len), "");
  CHECK(len == 0 && proletariat_admin_reply_payload_count(NULL) == 0);
  cluster_stop(&c);
}

/* Asks for the group limits until the entry of `group` holds both `a` and `b`; 10 s. */
static void wait_group_entry(proletariat_client* client, const char* group, const char* a, const char* b) {
  proletariat_admin_reply* reply = NULL;
  char entry[512];
  int waited, found = 0;
  for (waited = 0; !found; waited += 5) {
    CHECK(waited < 10000);
    CHECK_OK(proletariat_client_group_limits(client, &reply));
    found = group_entry(proletariat_admin_reply_json(reply, NULL), group, entry, sizeof entry) &&
            strstr(entry, a) != NULL && strstr(entry, b) != NULL;
    proletariat_admin_reply_destroy(&reply);
    if (!found) sleep_ms(5);
  }
}

static void test_group_limits_set_list_clear(void) {
  cluster c;
  proletariat_admin_reply* reply = NULL;
  proletariat_work_options wo;
  proletariat_request* first = NULL;
  proletariat_request* second = NULL;
  const proletariat_results* results = NULL;
  const char* json;
  char entry[512];
  cluster_start(&c);

  CHECK_OK(proletariat_client_group_limits(c.client, &reply));
  json = proletariat_admin_reply_json(reply, NULL);
  CHECK(strstr(json, "\"defaults\":{\"maxRunning\":null,\"rate\":null}") != NULL);
  CHECK(!group_entry(json, "tenant-a", entry, sizeof entry));
  CHECK(proletariat_admin_reply_payload_count(reply) == 0);
  proletariat_admin_reply_destroy(&reply);

  /* set: the reply lists the group with its own limits. */
  CHECK_OK(proletariat_client_set_group_limits(c.client, "tenant-a", 1, 2.5, &reply));
  CHECK(group_entry(proletariat_admin_reply_json(reply, NULL), "tenant-a", entry, sizeof entry));
  CHECK(strstr(entry, "\"maxRunning\":1") != NULL && strstr(entry, "\"rate\":2.5") != NULL);
  CHECK(strstr(entry, "\"custom\":true") != NULL);
  proletariat_admin_reply_destroy(&reply);
  CHECK_OK(proletariat_client_group_limits(c.client, &reply));
  CHECK(group_entry(proletariat_admin_reply_json(reply, NULL), "tenant-a", entry, sizeof entry));
  CHECK(strstr(entry, "\"maxRunning\":1") != NULL && strstr(entry, "\"rate\":2.5") != NULL);
  proletariat_admin_reply_destroy(&reply);

  /* The limit holds: of two jobs of the group, one runs and one waits, until the
   * first is answered. */
  proletariat_work_options_init(&wo);
  wo.group = "tenant-a";
  CHECK_OK(proletariat_client_push_one(c.client, "\"hang\"", 0, &wo, &first));
  CHECK_OK(proletariat_client_push_one(c.client, "\"hang\"", 0, &wo, &second));
  CHECK(wait_for_count(&hanging_count, 1));
  wait_group_entry(c.client, "tenant-a", "\"running\":1", "\"waiting\":1");
  CHECK(read_int(&hanging_count) == 1);
  pthread_mutex_lock(&mutex);
  CHECK_OK(proletariat_job_reply(hanging[0], "\"first\"", 0));
  pthread_mutex_unlock(&mutex);
  CHECK_OK(proletariat_request_wait(first, 10000, &results));
  CHECK_STR(proletariat_results_at(results, 0)->data, "\"first\"");
  CHECK(wait_for_count(&hanging_count, 2));
  pthread_mutex_lock(&mutex);
  CHECK_OK(proletariat_job_reply(hanging[1], "\"second\"", 0));
  pthread_mutex_unlock(&mutex);
  CHECK_OK(proletariat_request_wait(second, 10000, &results));
  CHECK_STR(proletariat_results_at(results, 0)->data, "\"second\"");
  proletariat_request_destroy(&first);
  proletariat_request_destroy(&second);

  /* No limits of its own, but still its own; then back to the defaults. */
  CHECK_OK(
      proletariat_client_set_group_limits(c.client, "tenant-a", PROLETARIAT_NO_LIMIT, PROLETARIAT_NO_LIMIT, &reply));
  CHECK(group_entry(proletariat_admin_reply_json(reply, NULL), "tenant-a", entry, sizeof entry));
  CHECK(strstr(entry, "\"maxRunning\":null") != NULL && strstr(entry, "\"rate\":null") != NULL);
  CHECK(strstr(entry, "\"custom\":true") != NULL);
  proletariat_admin_reply_destroy(&reply);
  CHECK_OK(proletariat_client_clear_group_limits(c.client, "tenant-a", &reply));
  CHECK(!group_entry(proletariat_admin_reply_json(reply, NULL), "tenant-a", entry, sizeof entry) ||
        strstr(entry, "\"custom\":false") != NULL);
  proletariat_admin_reply_destroy(&reply);

  /* Misuse. */
  CHECK_STATUS(proletariat_client_set_group_limits(c.client, "tenant-a", -2, 1, &reply), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "max_running");
  CHECK_STATUS(proletariat_client_set_group_limits(c.client, "tenant-a", 1, -0.5, &reply), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "rate");
  CHECK_STATUS(proletariat_client_set_group_limits(c.client, "tenant-a", 1, NAN, &reply), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "rate");
  CHECK_STATUS(proletariat_client_set_group_limits(c.client, "", 1, 1, &reply), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "group");
  CHECK_STATUS(proletariat_client_clear_group_limits(c.client, NULL, &reply), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "group");
  CHECK(reply == NULL);
  cluster_stop(&c);
}

static void test_manager_lifecycle_options(void) {
  proletariat_manager_options mo;
  proletariat_manager* manager = NULL;
  proletariat_work_options wo;
  proletariat_retry_options retry;
  proletariat_request* request = NULL;
  proletariat_admin_reply* reply = NULL;
  proletariat_job_spec specs[2];
  const char* json;
  cluster c;

  proletariat_manager_options_init(&mo);
  CHECK(mo.group_max_running == PROLETARIAT_NO_LIMIT && mo.group_rate == PROLETARIAT_NO_LIMIT);
  CHECK(mo.max_dead_letters == 10000 && mo.dead_letter_max_age_ms == 7LL * 24 * 3600 * 1000);
  mo.endpoint = "tcp://127.0.0.1:*";
  mo.pub_endpoint = "tcp://127.0.0.1:*";
  mo.dead_letter_max_age_ms = 0;
  CHECK_STATUS(proletariat_manager_new(&mo, &manager), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "dead_letter_max_age_ms");
  mo.dead_letter_max_age_ms = 60000;
  mo.group_rate = -3;
  CHECK_STATUS(proletariat_manager_new(&mo, &manager), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "group_rate");
  mo.group_rate = PROLETARIAT_NO_LIMIT;
  mo.group_max_running = -4;
  CHECK_STATUS(proletariat_manager_new(&mo, &manager), PROLETARIAT_EINVAL);
  CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", "group_max_running");
  CHECK(manager == NULL);

  /* The defaults of every group, and a dead-letter list that keeps one letter. */
  mo.group_max_running = 2;
  mo.group_rate = 4;
  mo.max_dead_letters = 1;
  cluster_start_with(&c, &mo);
  CHECK_OK(proletariat_client_group_limits(c.client, &reply));
  json = proletariat_admin_reply_json(reply, NULL);
  CHECK(strstr(json, "\"defaults\":{\"maxRunning\":2,\"rate\":4") != NULL);
  proletariat_admin_reply_destroy(&reply);

  proletariat_retry_options_init(&retry);
  retry.initial_ms = 0; /* max 0: the first EBUSY is the last attempt */
  proletariat_work_options_init(&wo);
  wo.retry = &retry;
  specs[0] = json_job("\"deadly\"");
  specs[1] = json_job("\"deadly\"");
  CHECK_OK(proletariat_client_push(c.client, specs, 2, &wo, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, NULL));
  proletariat_request_destroy(&request);
  CHECK_OK(proletariat_client_dead_letters(c.client, 100, &reply));
  json = proletariat_admin_reply_json(reply, NULL);
  CHECK(json_number(json, "total", 0) == 1);
  CHECK(json_number(json, "attempts", 0) == 1);
  proletariat_admin_reply_destroy(&reply);
  cluster_stop(&c);
}

/* ---------------------------------------------------------------- main */

static const test_case tests[] = {
    {"misuse_gives_codes_and_messages", test_misuse_gives_codes_and_messages},
    {"bad_pushes_are_refused", test_bad_pushes_are_refused},
    {"group_results_in_order_by_blocking_wait", test_group_results_in_order_by_blocking_wait},
    {"callbacks_each_then_done", test_callbacks_each_then_done},
    {"failing_jobs_carry_codes", test_failing_jobs_carry_codes},
    {"run_timeout_gives_eto", test_run_timeout_gives_eto},
    {"abort_request_and_single_jobs", test_abort_request_and_single_jobs},
    {"client_timeout_and_destroy_finish_requests", test_client_timeout_and_destroy_finish_requests},
    {"reply_later_raw_bytes_and_key", test_reply_later_raw_bytes_and_key},
    {"manager_events", test_manager_events},
    {"client_identity", test_client_identity},
    {"worker_stop_drains_or_stops_at_once", test_worker_stop_drains_or_stops_at_once},
    {"lifecycle_options_travel", test_lifecycle_options_travel},
    {"progress_reaches_callback_before_result", test_progress_reaches_callback_before_result},
    {"dead_letters_list_show_requeue_purge", test_dead_letters_list_show_requeue_purge},
    {"group_limits_set_list_clear", test_group_limits_set_list_clear},
    {"manager_lifecycle_options", test_manager_lifecycle_options},
};

int main(int argc, char** argv) { return run_tests(tests, sizeof tests / sizeof tests[0], argc, argv); }
