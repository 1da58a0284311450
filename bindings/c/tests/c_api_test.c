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
 *   raw bytes       reply the same bytes, raw
 *
 *   c_api_test [test-name]
 */
#define _POSIX_C_SOURCE 200809L

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

static void sleep_ms(long ms) {
  struct timespec t;
  t.tv_sec = ms / 1000;
  t.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&t, NULL);
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
    CHECK_OK(proletariat_job_reply_raw(job, args, len));
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

static void cluster_start(cluster* c) {
  proletariat_manager_options mo;
  proletariat_client_options co;
  const char* endpoint;
  reset_state();
  memset(c, 0, sizeof *c);

  proletariat_manager_options_init(&mo);
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
};

int main(int argc, char** argv) { return run_tests(tests, sizeof tests / sizeof tests[0], argc, argv); }
