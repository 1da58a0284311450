/* The C API in one program: an embedded manager on a free port, a worker that adds two
 * numbers, and a client that pushes a group of jobs (blocking wait), then another group
 * with a callback, then a single job. Prints every result; exits 0 when all are right.
 *
 *   proletariat_c_example
 */
#include <stdio.h>
#include <string.h>

#include <proletariat.h>

#define JOBS 10

/* Jobs are JSON arrays [a, b]; the answer is a + b. */
static void add_handler(proletariat_job* job, void* user_data) {
  long a = 0;
  long b = 0;
  char answer[32];
  const char* args = proletariat_job_args(job, NULL);
  (void)user_data;
  if (sscanf(args, " [ %ld , %ld ]", &a, &b) != 2) {
    proletariat_job_fail(job, "EBADARGS", "expected [a, b]");
    return;
  }
  snprintf(answer, sizeof answer, "%ld", a + b);
  proletariat_job_reply(job, answer, strlen(answer));
}

static int report(const char* what) {
  fprintf(stderr, "example: %s failed: %s %s\n", what, proletariat_last_error_code(), proletariat_last_error_message());
  return 1;
}

/* Prints the results of a group of jobs [i, 2i] and counts the wrong ones. */
static int check_results(const char* label, const proletariat_results* results) {
  size_t i;
  int wrong = 0;
  for (i = 0; i < proletariat_results_count(results); ++i) {
    const proletariat_result* r = proletariat_results_at(results, i);
    long value = -1;
    if (r->error_code != NULL) {
      printf("%s job %u: error %s: %s\n", label, (unsigned)i, r->error_code, r->error_message);
      ++wrong;
      continue;
    }
    sscanf(r->data, "%ld", &value);
    printf("%s job %u: %u + %u = %s\n", label, (unsigned)i, (unsigned)i, 2 * (unsigned)i, r->data);
    if (value != 3 * (long)i) ++wrong;
  }
  return wrong;
}

static int callback_wrong = -1;

static void on_done(const proletariat_results* results, void* user_data) {
  (void)user_data;
  callback_wrong = check_results("callback", results);
}

int main(void) {
  proletariat_manager_options manager_options;
  proletariat_worker_options worker_options;
  proletariat_client_options client_options;
  proletariat_work_options work_options;
  proletariat_manager* manager = NULL;
  proletariat_worker* worker = NULL;
  proletariat_client* client = NULL;
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  proletariat_job_spec jobs[JOBS];
  char args[JOBS][32];
  int wrong = 0;
  int i;

  proletariat_manager_options_init(&manager_options);
  manager_options.endpoint = "tcp://127.0.0.1:*";
  manager_options.pub_endpoint = "tcp://127.0.0.1:*";
  if (proletariat_manager_new(&manager_options, &manager) != PROLETARIAT_OK) return report("manager_new");
  if (proletariat_manager_start(manager) != PROLETARIAT_OK) return report("manager_start");
  printf("manager on %s\n", proletariat_manager_endpoint(manager));

  proletariat_worker_options_init(&worker_options);
  worker_options.endpoint = proletariat_manager_endpoint(manager);
  worker_options.slots = 4;
  worker_options.handler = add_handler;
  if (proletariat_worker_new(&worker_options, &worker) != PROLETARIAT_OK) return report("worker_new");
  if (proletariat_worker_start(worker) != PROLETARIAT_OK) return report("worker_start");
  if (proletariat_worker_wait_ready(worker, 10000) != PROLETARIAT_OK) return report("worker_wait_ready");

  proletariat_client_options_init(&client_options);
  client_options.endpoint = proletariat_manager_endpoint(manager);
  if (proletariat_client_new(&client_options, &client) != PROLETARIAT_OK) return report("client_new");

  memset(jobs, 0, sizeof jobs);
  for (i = 0; i < JOBS; ++i) {
    snprintf(args[i], sizeof args[i], "[%d, %d]", i, 2 * i);
    jobs[i].args = args[i]; /* args_len 0: NUL-terminated JSON */
  }
  proletariat_work_options_init(&work_options);
  work_options.timeout_ms = 10000;

  /* 1. A group, blocking wait: results come in the order the jobs were given. */
  if (proletariat_client_push(client, jobs, JOBS, &work_options, &request) != PROLETARIAT_OK) return report("push");
  if (proletariat_request_wait(request, PROLETARIAT_NO_TIMEOUT, &results) != PROLETARIAT_OK) return report("wait");
  wrong += check_results("blocking", results);
  proletariat_request_destroy(&request);

  /* 2. The same group with a done callback (it runs on the client's thread; waiting on
   * the request returns after it has returned). */
  if (proletariat_client_push_cb(client, jobs, JOBS, &work_options, NULL, on_done, NULL, &request) != PROLETARIAT_OK) {
    return report("push_cb");
  }
  if (proletariat_request_wait(request, PROLETARIAT_NO_TIMEOUT, NULL) != PROLETARIAT_OK) return report("wait");
  wrong += callback_wrong < 0 ? 1 : callback_wrong;
  proletariat_request_destroy(&request);

  /* 3. A single job. */
  if (proletariat_client_push_one(client, "[20, 22]", 0, &work_options, &request) != PROLETARIAT_OK) {
    return report("push_one");
  }
  if (proletariat_request_wait(request, PROLETARIAT_NO_TIMEOUT, &results) != PROLETARIAT_OK) return report("wait");
  printf("single job: 20 + 22 = %s\n", proletariat_results_at(results, 0)->data);
  if (strcmp(proletariat_results_at(results, 0)->data, "42") != 0) ++wrong;
  proletariat_request_destroy(&request);

  proletariat_client_destroy(&client);
  proletariat_worker_destroy(&worker);
  proletariat_manager_destroy(&manager);
  printf("%s\n", wrong == 0 ? "all results correct" : "some results were wrong");
  return wrong == 0 ? 0 : 1;
}
