/* The C snippets of bindings/c/README.md, in a program that compiles as C99 (issue 10:
 * README snippets are built, tests/docs/check_snippets.py checks they are here line for
 * line). Built, not run: the snippets name the default endpoint, which a test must not
 * use. The lines between the snippets only give them a scope. */
#include <stdio.h>

#include "proletariat.h"

/* worker: answers [a, b] with a + b */
static void add(proletariat_job* job, void* user) {
  long a = 0, b = 0; char out[32];
  (void)user;
  sscanf(proletariat_job_args(job, NULL), " [ %ld , %ld ]", &a, &b);
  snprintf(out, sizeof out, "%ld", a + b);
  proletariat_job_reply(job, out, 0);                 /* len 0: NUL-terminated */
}

static void readme_worker(void) {
  proletariat_worker_options wo; proletariat_worker* w;
  proletariat_worker_options_init(&wo);
  wo.endpoint = "tcp://127.0.0.1:1917"; wo.handler = add;
  proletariat_worker_new(&wo, &w); proletariat_worker_start(w);
  proletariat_worker_destroy(&w);
}

static void readme_client(void) {
  /* client: one group, blocking wait, results in the order given */
  proletariat_client* c; proletariat_request* r; const proletariat_results* res;
  proletariat_job_spec jobs[2] = {{.args = "[1, 2]"}, {.args = "[3, 4]"}};
  proletariat_client_new(NULL, &c);                     /* NULL: tcp://127.0.0.1:1917 */
  proletariat_client_push(c, jobs, 2, NULL, &r);
  if (proletariat_request_wait(r, 10000, &res) == PROLETARIAT_OK)
    for (size_t i = 0; i < proletariat_results_count(res); ++i)
      printf("%s\n", proletariat_results_at(res, i)->data);   /* 3, 7 */
  proletariat_request_destroy(&r); proletariat_client_destroy(&c);
}

static void readme_curve(void) {
  proletariat_client_options co; proletariat_client* client = NULL;
  proletariat_client_options_init(&co);
  char server[41], pub[41], sec[41];
  proletariat_read_public_key_file("manager.pub", server);   /* the manager's key */
  proletariat_read_secret_key_file("me.key", pub, sec);      /* proletariat-ctl keygen me */
  co.curve_server_key = server; co.curve_public_key = pub; co.curve_secret_key = sec;
  proletariat_client_new(&co, &client);
  proletariat_client_destroy(&client);
}

static void readme_worker_progress(proletariat_job* job) {
  /* worker: report progress any number of times before the answer */
  proletariat_job_progress(job, "{\"percent\": 50}", 0);
  proletariat_job_reply(job, "\"done\"", 0);
}

/* client: retries with backoff, a delay, a group; progress by callback */
static void on_step(size_t index, const char* data, size_t len, int raw, void* user) {
  (void)raw; (void)user;
  printf("job %u: %.*s\n", (unsigned)index, (int)len, data);
}

static void readme_lifecycle(void) {
  proletariat_client* c = NULL; proletariat_request* r = NULL; const proletariat_results* res;
  proletariat_job_spec jobs[2] = {{.args = "[1, 2]"}, {.args = "[3, 4]"}};
  proletariat_client_new(NULL, &c);
  proletariat_retry_options retry; proletariat_work_options wo;
  const char* codes[1] = {"EBUSY"};
  proletariat_retry_options_init(&retry);                     /* backoff 1 s, 2 s, 4 s ... */
  retry.max = 3; retry.codes = codes; retry.codes_count = 1;  /* no codes: all but ETO */
  proletariat_work_options_init(&wo);
  wo.retry = &retry; wo.delay_ms = 5000; wo.group = "tenant-7";
  proletariat_client_push_progress(c, jobs, 2, &wo, NULL, NULL, on_step, NULL, &r);
  if (proletariat_request_wait(r, PROLETARIAT_NO_TIMEOUT, &res) == PROLETARIAT_OK)
    printf("%u attempts\n", proletariat_results_at(res, 0)->attempts);
  proletariat_request_destroy(&r);

  /* admin: dead letters and group limits; each reply is JSON, freed by its destroy */
  proletariat_admin_reply* reply;
  if (proletariat_client_dead_letters(c, 10, &reply) == PROLETARIAT_OK) {
    printf("%s\n", proletariat_admin_reply_json(reply, NULL));  /* {"letters":[...],"total":N} */
    proletariat_admin_reply_destroy(&reply);
  }
  uint64_t ids[1] = {4};                                      /* letter ids, "id" in the list */
  proletariat_client_dead_letters_requeue(c, ids, 1, &reply); /* count 0: every letter */
  proletariat_admin_reply_destroy(&reply);
  proletariat_client_set_group_limits(c, "tenant-7", 10, 2.5, &reply); /* or PROLETARIAT_NO_LIMIT */
  proletariat_admin_reply_destroy(&reply);
  proletariat_client_destroy(&c);
}

int main(int argc, char** argv) {
  (void)argv;
  if (argc > 1) {
    readme_worker();
    readme_client();
    readme_curve();
    readme_lifecycle();
    readme_worker_progress(NULL);
  }
  return 0;
}
