/* The C API from the unpacked packages: header, libproletariat_c.so.0, its RUNPATH to
   libproletariat.so.0. Prints the library's version. */
#include <stdio.h>

#include <proletariat.h>

int main(void) {
  printf("%s\n", proletariat_version());
  return 0;
}
