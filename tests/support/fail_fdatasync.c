/* An LD_PRELOAD shim for the journal's fsync-failure test: once the file named by
 * PRLT_FAIL_FDATASYNC_WHEN exists, every fdatasync() fails with EIO, as a disk that
 * lost a write reports it. Before that, the real call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int fdatasync(int fd) {
  static int (*real)(int) = 0;
  if (real == 0) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  const char* when = getenv("PRLT_FAIL_FDATASYNC_WHEN");
  if (when != 0 && access(when, F_OK) == 0) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}
