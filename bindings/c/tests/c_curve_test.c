/* Tests of CURVE in the C API (docs/PROTOCOL.md §13), in plain C99: key pairs and key
 * files, a manager in this process with CURVE and allow-lists in a temporary
 * directory, an authorized worker and client exchanging a job, an unlisted key and a
 * peer without CURVE never connecting, and malformed or partial key options refused.
 * A failed check prints file:line, the test and the thread's last error, and exits 1.
 *
 *   c_curve_test [test-name]
 */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "c_check.h"

/* A call refused for a bad key option: EINVAL, "EBADFIELD", a word of the message. */
#define CHECK_REFUSED(call, word)                            \
  do {                                                       \
    CHECK_STATUS(call, PROLETARIAT_EINVAL);                  \
    CHECK_LAST_ERROR(PROLETARIAT_EINVAL, "EBADFIELD", word); \
  } while (0)

/* ---------------------------------------------------------------- files */

static char dir[64];

static void path_of(char* out, size_t size, const char* name) {
  snprintf(out, size, "%s/%s", dir, name);
}

static void write_file(const char* name, const char* text) {
  char path[256];
  FILE* f;
  path_of(path, sizeof path, name);
  f = fopen(path, "w");
  CHECK(f != NULL);
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
}

static void write_public_key(const char* name, const char* key) {
  char text[128];
  snprintf(text, sizeof text, "# a comment\n%s\n", key);
  write_file(name, text);
}

static const char* const files[] = {"workers/worker.pub",
                                    "clients/client.pub",
                                    "peer.pub",
                                    "peer.key",
                                    "bad.pub",
                                    "bad.key",
                                    "workers",
                                    "clients",
                                    "admins"};

static void make_dir(void) {
  char path[256];
  strcpy(dir, "/tmp/prlt-c-curve-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  path_of(path, sizeof path, "workers");
  CHECK(mkdir(path, 0700) == 0);
  path_of(path, sizeof path, "clients");
  CHECK(mkdir(path, 0700) == 0);
  path_of(path, sizeof path, "admins");
  CHECK(mkdir(path, 0700) == 0);
}

static void remove_dir(void) {
  char path[256];
  size_t i;
  for (i = 0; i < sizeof files / sizeof files[0]; ++i) {
    path_of(path, sizeof path, files[i]);
    if (remove(path) != 0) { /* absent: fine */
    }
  }
  CHECK(rmdir(dir) == 0);
}

/* ---------------------------------------------------------------- peers */

static void echo(proletariat_job* job, void* user_data) {
  const char* args = proletariat_job_args(job, NULL);
  (void)user_data;
  proletariat_job_reply(job, args, 0);
}

typedef struct key_pair {
  char public_key[PROLETARIAT_CURVE_KEY_SIZE];
  char secret_key[PROLETARIAT_CURVE_KEY_SIZE];
} key_pair;

static key_pair new_keys(void) {
  key_pair k;
  CHECK_OK(proletariat_curve_keypair(k.public_key, k.secret_key));
  return k;
}

static proletariat_status new_worker(const char* endpoint, const char* server_key, const key_pair* keys,
                                     proletariat_worker** worker) {
  proletariat_worker_options wo;
  proletariat_worker_options_init(&wo);
  wo.endpoint = endpoint;
  wo.slots = 2;
  wo.handler = echo;
  wo.con_retry_time_ms = 100;
  wo.drain_timeout_ms = 0;
  if (keys != NULL) {
    wo.curve_server_key = server_key;
    wo.curve_public_key = keys->public_key;
    wo.curve_secret_key = keys->secret_key;
  }
  return proletariat_worker_new(&wo, worker);
}

static proletariat_status new_client(const char* endpoint, const char* server_key, const key_pair* keys,
                                     proletariat_client** client) {
  proletariat_client_options co;
  proletariat_client_options_init(&co);
  co.endpoint = endpoint;
  co.con_retry_time_ms = 100;
  if (keys != NULL) {
    co.curve_server_key = server_key;
    co.curve_public_key = keys->public_key;
    co.curve_secret_key = keys->secret_key;
  }
  return proletariat_client_new(&co, client);
}

/* ---------------------------------------------------------------- tests */

static void test_key_pairs_and_key_files(void) {
  key_pair k = new_keys();
  key_pair other = new_keys();
  char pub[PROLETARIAT_CURVE_KEY_SIZE];
  char sec[PROLETARIAT_CURVE_KEY_SIZE];
  char path[256];
  char text[256];
  CHECK(strlen(k.public_key) == 40 && strlen(k.secret_key) == 40);
  CHECK(strcmp(k.public_key, other.public_key) != 0);
  CHECK(proletariat_is_curve_key(k.public_key) == 1);
  CHECK(proletariat_is_curve_key("not a key") == 0);
  CHECK(proletariat_is_curve_key(NULL) == 0);

  make_dir();
  write_public_key("peer.pub", k.public_key);
  snprintf(text, sizeof text, "# proletariat CURVE secret key\npublic = %s\nsecret = %s\n", k.public_key, k.secret_key);
  write_file("peer.key", text);
  path_of(path, sizeof path, "peer.pub");
  CHECK_OK(proletariat_read_public_key_file(path, pub));
  CHECK(strcmp(pub, k.public_key) == 0);
  path_of(path, sizeof path, "peer.key");
  CHECK_OK(proletariat_read_secret_key_file(path, pub, sec));
  CHECK(strcmp(pub, k.public_key) == 0 && strcmp(sec, k.secret_key) == 0);

  write_file("bad.pub", "short\n");
  path_of(path, sizeof path, "bad.pub");
  CHECK_REFUSED(proletariat_read_public_key_file(path, pub), "bad.pub");
  write_file("bad.key", "public = nonsense\n");
  path_of(path, sizeof path, "bad.key");
  CHECK_REFUSED(proletariat_read_secret_key_file(path, pub, sec), "bad.key");
  path_of(path, sizeof path, "absent.pub");
  CHECK_REFUSED(proletariat_read_public_key_file(path, pub), "absent.pub");
  CHECK_STATUS(proletariat_read_public_key_file(NULL, pub), PROLETARIAT_EINVAL);
  CHECK_STATUS(proletariat_curve_keypair(NULL, sec), PROLETARIAT_EINVAL);
  remove_dir();
}

static void test_malformed_or_partial_keys_are_refused(void) {
  key_pair server = new_keys();
  key_pair k = new_keys();
  key_pair bad = k;
  proletariat_worker* worker = NULL;
  proletariat_client* client = NULL;
  proletariat_client_options co;
  proletariat_worker_options wo;
  proletariat_manager_options mo;
  proletariat_manager* manager = NULL;
  const char* endpoint = "tcp://127.0.0.1:1";

  bad.secret_key[39] = '\0'; /* 39 characters */
  CHECK_REFUSED(new_worker(endpoint, server.public_key, &bad, &worker), "curve_secret_key");
  CHECK_REFUSED(new_client(endpoint, server.public_key, &bad, &client), "curve_secret_key");
  CHECK_REFUSED(new_client(endpoint, "0123456789012345678901234567890123456789x", &k, &client), "curve_server_key");
  CHECK(worker == NULL && client == NULL);

  proletariat_client_options_init(&co);
  co.endpoint = endpoint;
  co.curve_server_key = server.public_key; /* without the client's own pair */
  CHECK_REFUSED(proletariat_client_new(&co, &client), "all three");
  proletariat_worker_options_init(&wo);
  wo.endpoint = endpoint;
  wo.handler = echo;
  wo.curve_public_key = k.public_key;
  wo.curve_secret_key = k.secret_key;
  CHECK_REFUSED(proletariat_worker_new(&wo, &worker), "all three");

  /* A caller built before API 1.2 has a smaller `size`: the curve members, garbage
   * here, are not read. */
  memset(&co, 0x5a, sizeof co);
  proletariat_client_options_init_sized(&co, offsetof(proletariat_client_options, curve_server_key));
  co.endpoint = endpoint;
  co.curve_server_key = "garbage";
  CHECK(co.size == offsetof(proletariat_client_options, curve_server_key));
  CHECK_OK(proletariat_client_new(&co, &client));
  proletariat_client_destroy(&client);

  proletariat_manager_options_init(&mo);
  CHECK(mo.curve_public_key == NULL && mo.curve_secret_key == NULL && mo.curve_keys_dir == NULL);
  CHECK(mo.allow_insecure_remote == 0);
  mo.endpoint = "tcp://127.0.0.1:*";
  mo.pub_endpoint = "tcp://127.0.0.1:*";
  mo.curve_public_key = server.public_key;
  mo.curve_secret_key = server.secret_key;
  CHECK_REFUSED(proletariat_manager_new(&mo, &manager), "all three");
  mo.curve_keys_dir = "/tmp";
  mo.curve_secret_key = bad.secret_key;
  CHECK_REFUSED(proletariat_manager_new(&mo, &manager), "Z85");
  CHECK(manager == NULL);
}

static void test_authorized_peers_work_and_strangers_never_connect(void) {
  key_pair server = new_keys();
  key_pair worker_keys = new_keys();
  key_pair client_keys = new_keys();
  key_pair stranger_keys = new_keys();
  proletariat_manager_options mo;
  proletariat_manager* manager = NULL;
  proletariat_worker* worker = NULL;
  proletariat_client* client = NULL;
  proletariat_client* stranger = NULL;
  proletariat_client* plain = NULL;
  proletariat_request* request = NULL;
  const proletariat_results* results = NULL;
  const proletariat_result* r;
  const char* endpoint;

  make_dir();
  write_public_key("workers/worker.pub", worker_keys.public_key);
  write_public_key("clients/client.pub", client_keys.public_key);

  proletariat_manager_options_init(&mo);
  mo.endpoint = "tcp://127.0.0.1:*";
  mo.pub_endpoint = "tcp://127.0.0.1:*";
  mo.curve_public_key = server.public_key;
  mo.curve_secret_key = server.secret_key;
  mo.curve_keys_dir = dir;
  CHECK_OK(proletariat_manager_new(&mo, &manager));
  CHECK_OK(proletariat_manager_start(manager));
  endpoint = proletariat_manager_endpoint(manager);
  CHECK(endpoint != NULL);

  CHECK_OK(new_worker(endpoint, server.public_key, &worker_keys, &worker));
  CHECK_OK(proletariat_worker_start(worker));
  CHECK_OK(proletariat_worker_wait_ready(worker, 10000));
  CHECK_OK(new_client(endpoint, server.public_key, &client_keys, &client));
  CHECK_OK(proletariat_client_wait_connected(client, 10000));

  CHECK_OK(proletariat_client_push_one(client, "{\"n\":1}", 0, NULL, &request));
  CHECK_OK(proletariat_request_wait(request, 10000, &results));
  r = proletariat_results_at(results, 0);
  CHECK(r != NULL && r->error_code == NULL);
  CHECK(strcmp(r->data, "{\"n\":1}") == 0);
  proletariat_request_destroy(&request);

  /* A key in no list is refused at the handshake; so is a peer without CURVE. */
  CHECK_OK(new_client(endpoint, server.public_key, &stranger_keys, &stranger));
  CHECK_OK(new_client(endpoint, NULL, NULL, &plain));
  CHECK_STATUS(proletariat_client_wait_connected(stranger, 1500), PROLETARIAT_ETIMEDOUT);
  CHECK_STATUS(proletariat_client_wait_connected(plain, 300), PROLETARIAT_ETIMEDOUT);
  proletariat_client_destroy(&stranger);
  proletariat_client_destroy(&plain);

  proletariat_client_destroy(&client);
  proletariat_worker_destroy(&worker);
  proletariat_manager_destroy(&manager);
  remove_dir();
}

/* ---------------------------------------------------------------- main */

static const test_case tests[] = {
    {"key_pairs_and_key_files", test_key_pairs_and_key_files},
    {"malformed_or_partial_keys_are_refused", test_malformed_or_partial_keys_are_refused},
    {"authorized_peers_work_and_strangers_never_connect", test_authorized_peers_work_and_strangers_never_connect},
};

int main(int argc, char** argv) {
  return run_tests(tests, sizeof tests / sizeof tests[0], argc, argv);
}
