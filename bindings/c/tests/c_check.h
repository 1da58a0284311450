/* What the C API's test programs share, in plain C99: check macros (a failed check
 * prints file:line, the test, the expression and the calling thread's last error, and
 * exits 1) and a main that runs every test or the one named on the command line.
 * Include once, from the test program's only source file. */
#ifndef PROLETARIAT_C_CHECK_H
#define PROLETARIAT_C_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <proletariat.h>

static const char* current_test = "";

static void fail_check(const char* file, int line, const char* what) {
  fprintf(stderr, "%s:%d: [%s] check failed: %s\n  last error on this thread: %s %s: %s\n", file, line, current_test,
          what, proletariat_status_string(proletariat_last_error_status()), proletariat_last_error_code(),
          proletariat_last_error_message());
  exit(1);
}

#define CHECK(cond)                                     \
  do {                                                  \
    if (!(cond)) fail_check(__FILE__, __LINE__, #cond); \
  } while (0)

#define CHECK_STATUS(call, expected)                                                                        \
  do {                                                                                                      \
    proletariat_status got_ = (call);                                                                       \
    if (got_ != (expected)) {                                                                               \
      fprintf(stderr, "%s:%d: [%s] %s returned %s, expected %s\n", __FILE__, __LINE__, current_test, #call, \
              proletariat_status_string(got_), proletariat_status_string(expected));                        \
      fail_check(__FILE__, __LINE__, #call);                                                                \
    }                                                                                                       \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, PROLETARIAT_OK)

#define CHECK_STR(actual, expected)                                                                             \
  do {                                                                                                          \
    const char* a_ = (actual);                                                                                  \
    const char* e_ = (expected);                                                                                \
    if (a_ == NULL || strcmp(a_, e_) != 0) {                                                                    \
      fprintf(stderr, "%s:%d: [%s] %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, current_test, #actual, \
              a_ != NULL ? a_ : "(null)", e_);                                                                  \
      fail_check(__FILE__, __LINE__, #actual " == " #expected);                                                 \
    }                                                                                                           \
  } while (0)

/* The last error after a failing call: its status, code, and a word of its message. */
#define CHECK_LAST_ERROR(status, code, word)                       \
  do {                                                             \
    CHECK(proletariat_last_error_status() == (status));            \
    CHECK_STR(proletariat_last_error_code(), code);                \
    CHECK(strstr(proletariat_last_error_message(), word) != NULL); \
  } while (0)

typedef struct test_case {
  const char* name;
  void (*run)(void);
} test_case;

/* Runs every test, or only the one named by argv[1]; the process's exit status. */
static int run_tests(const test_case* tests, size_t count, int argc, char** argv) {
  size_t i;
  int ran = 0;
  for (i = 0; i < count; ++i) {
    if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) continue;
    current_test = tests[i].name;
    printf("[ RUN  ] %s\n", current_test);
    fflush(stdout);
    tests[i].run();
    printf("[  OK  ] %s\n", current_test);
    fflush(stdout);
    ++ran;
  }
  if (ran == 0) {
    fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "(none)");
    return 1;
  }
  printf("%d tests passed\n", ran);
  return 0;
}

#endif /* PROLETARIAT_C_CHECK_H */
