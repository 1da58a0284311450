// Names the calling thread (at most 15 characters, Linux's limit) so that `top -H`,
// perf and /proc/<pid>/task/*/comm tell a Worker's I/O thread from its handlers and
// from libzmq's own threads (ZMQbg/*).
#pragma once

#include <pthread.h>

namespace proletariat::detail {

inline void name_this_thread(const char* name) noexcept { (void)pthread_setname_np(pthread_self(), name); }

}  // namespace proletariat::detail
