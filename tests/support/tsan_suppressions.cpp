// Linked into every test program; empty unless built with -fsanitize=thread.
#if defined(__SANITIZE_THREAD__)
// libzmq is not built with ThreadSanitizer: it hands message buffers between its
// threads through lock-free pipes whose atomics TSan cannot see, so every message
// looks like a race inside libzmq's intercepted malloc/memcpy/recv. Ignore accesses
// made from libzmq; races in our own code are still reported.
extern "C" const char* __tsan_default_suppressions() {  // NOLINT: sanitizer hook
  return "called_from_lib:libzmq.so\nrace:libzmq.so\n";
}
#endif
