/* Added to every executable of a -DPROLETARIAT_SANITIZE=thread build (see
 * ProletariatUtils.cmake); empty otherwise. C, so that the C API's programs take it too.
 *
 * libzmq is not built with ThreadSanitizer: it hands message buffers between its
 * threads through lock-free pipes whose atomics TSan cannot see, so every message
 * looks like a race inside libzmq's intercepted malloc/memcpy/recv, or between
 * libzmq's write of a frame and our read of it. Ignore accesses made from libzmq;
 * races in our own code are still reported. libstdc++ is not instrumented either: the
 * reference count of an exception_ptr (a promise's stored exception, rethrown by
 * future::get) is invisible to TSan, so its release looks like a race with the reader
 * of the exception. tests/package/check.sh passes the same list through TSAN_OPTIONS. */
#if defined(__SANITIZE_THREAD__)
const char* __tsan_default_suppressions(void);
const char* __tsan_default_suppressions(void) {
  return "called_from_lib:libzmq.so\n"
         "race:libzmq.so\n"
         "race:std::__exception_ptr::exception_ptr::_M_release\n";
}
#endif
