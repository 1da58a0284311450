// The C API (proletariat.h) over the C++ library.
//
// Rules this file keeps:
//  - No exception crosses extern "C": every entry point runs its body in guard(),
//    which turns proletariat::Error into a status plus the per-thread last error, and
//    anything else into PROLETARIAT_ENOMEM or PROLETARIAT_EINTERNAL. Lambdas handed to
//    the C++ library (which it calls on its threads) catch everything too.
//  - The last error lives in fixed thread-local buffers, so recording it cannot fail.
//  - Callbacks into C run inside a CallbackScope naming the object they belong to, so
//    that destroying or stopping that object from its own callback (which would join
//    the calling thread) and waiting on a client's own I/O thread are refused instead of
//    deadlocking.
//
// Who owns what:
//  - proletariat_manager / proletariat_worker: own their C++ object.
//  - proletariat_client: shares a ClientLink with its requests. The link holds the C++
//    Client under a shared mutex, so a request can abort through it and learns, by
//    finding it empty, that its client is gone. Destroy empties the link under the lock
//    and deletes the Client outside it (the Client's destructor runs callbacks).
//  - proletariat_request: shares a RequestState with the C++ callbacks, so results
//    arrive whether or not the handle still exists.
//  - proletariat_job: a JobState (the C++ job plus "answered" and "retained" flags)
//    shared by the borrowed handle a handler gets and every retained reference.
#include "proletariat.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <proletariat/proletariat.hpp>

namespace {

using std::chrono::milliseconds;
namespace errc = proletariat::errc;

// --- the per-thread last error --------------------------------------------------------

// Codes are short (the longest wire code is 11 characters); messages are truncated
// here rather than allocated, so that recording an error never fails.
constexpr std::size_t kCodeBytes = 32;
constexpr std::size_t kMessageBytes = 1024;

struct LastError {
  proletariat_status status = PROLETARIAT_OK;
  char code[kCodeBytes] = {};
  char message[kMessageBytes] = {};
};
thread_local LastError tl_error;

void copy_truncated(char* dst, std::size_t size, std::string_view src) noexcept {
  const std::size_t n = std::min(src.size(), size - 1);
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

proletariat_status set_error(proletariat_status status, std::string_view code, std::string_view message) noexcept {
  tl_error.status = status;
  copy_truncated(tl_error.code, kCodeBytes, code);
  copy_truncated(tl_error.message, kMessageBytes, message);
  return status;
}

proletariat_status invalid(std::string_view message) noexcept {
  return set_error(PROLETARIAT_EINVAL, errc::kBadField, message);
}

proletariat_status bad_state(std::string_view message) noexcept {
  return set_error(PROLETARIAT_ESTATE, errc::kState, message);
}

constexpr std::string_view kTimedOut = "ETIMEDOUT";  // C API only, never on the wire
constexpr std::string_view kNoMemory = "ENOMEM";     // C API only, never on the wire

proletariat_status status_of(std::string_view code) noexcept {
  if (code == errc::kBadField || code == errc::kBadJson || code == errc::kBadOffer || code == errc::kTooBig) {
    return PROLETARIAT_EINVAL;
  }
  if (code == errc::kState) return PROLETARIAT_ESTATE;
  return PROLETARIAT_EFAILED;
}

// proletariat::Error's what() is "CODE: message"; the message alone is wanted here.
std::string_view message_of(const proletariat::Error& e) noexcept {
  std::string_view what = e.what();
  if (what.size() >= e.code().size() + 2 && what.substr(0, e.code().size()) == e.code() &&
      what.substr(e.code().size(), 2) == ": ") {
    what.remove_prefix(e.code().size() + 2);
  }
  return what;
}

// Runs an entry point's body; no exception gets out.
template <typename F>
proletariat_status guard(F&& body) noexcept {
  try {
    return body();
  } catch (const proletariat::Error& e) {
    return set_error(status_of(e.code()), e.code(), message_of(e));
  } catch (const std::bad_alloc&) {
    return set_error(PROLETARIAT_ENOMEM, kNoMemory, "out of memory");
  } catch (const std::exception& e) {
    return set_error(PROLETARIAT_EINTERNAL, errc::kInternal, e.what());
  } catch (...) {
    return set_error(PROLETARIAT_EINTERNAL, errc::kInternal, "unknown exception");
  }
}

// --- callback scopes ---------------------------------------------------------------------

// The object whose C callback the current thread is running, if any.
thread_local const void* tl_callback_owner = nullptr;

class CallbackScope {
 public:
  explicit CallbackScope(const void* owner) noexcept : previous_(tl_callback_owner) { tl_callback_owner = owner; }
  ~CallbackScope() { tl_callback_owner = previous_; }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

 private:
  const void* previous_;
};

bool in_callback_of(const void* owner) noexcept { return owner != nullptr && tl_callback_owner == owner; }

// --- conversions ---------------------------------------------------------------------------

// Options structs: `size` records sizeof as the caller was compiled. Version 1 of each
// struct is its current size; a member added later must be read only when
// options->size covers it (offsetof(member) + sizeof(member) <= size).
template <typename T>
void init_sized(T* options, std::size_t size, const T& defaults) noexcept {
  if (options == nullptr || size < sizeof(std::size_t)) return;
  std::memset(static_cast<void*>(options), 0, size);
  std::memcpy(static_cast<void*>(options), &defaults, std::min(size, sizeof(T)));
  options->size = size;
}

template <typename T>
bool initialised(const T* options) noexcept {
  return options->size >= sizeof(T);
}

std::string copy_string(const char* s) { return s != nullptr ? std::string(s) : std::string(); }

// A duration option: -1 means none; other negative values are refused.
std::optional<milliseconds> optional_ms(std::int64_t ms, const char* name) {
  if (ms == PROLETARIAT_NO_TIMEOUT) return std::nullopt;
  if (ms < 0) {
    throw proletariat::Error(std::string(errc::kBadField),
                             std::string(name) + " must be >= 0 or PROLETARIAT_NO_TIMEOUT, not " + std::to_string(ms));
  }
  return milliseconds{ms};
}

milliseconds required_ms(std::int64_t ms, const char* name) {
  if (ms < 0) {
    throw proletariat::Error(std::string(errc::kBadField),
                             std::string(name) + " must be >= 0, not " + std::to_string(ms));
  }
  return milliseconds{ms};
}

proletariat::Payload json_payload(const char* json, std::size_t len, const char* what) {
  if (json == nullptr) {
    if (len != 0) throw proletariat::Error(std::string(errc::kBadField), std::string(what) + " is NULL with a length");
    return proletariat::Payload{};
  }
  if (len == 0) len = std::strlen(json);
  if (!nlohmann::json::accept(json, json + len)) {
    throw proletariat::Error(std::string(errc::kBadJson), std::string(what) + " is not valid JSON");
  }
  return proletariat::Payload::json_text(std::string(json, len));
}

proletariat::Payload raw_payload(const void* bytes, std::size_t len, const char* what) {
  if (bytes == nullptr && len != 0) {
    throw proletariat::Error(std::string(errc::kBadField), std::string(what) + " is NULL with a length");
  }
  const auto* p = static_cast<const char*>(bytes);
  return proletariat::Payload::raw(len == 0 ? std::string() : std::string(p, len));
}

constexpr const char* kJsonNull = "null";

void payload_view(const proletariat::Payload& payload, const char** data, std::size_t* len, int* raw) noexcept {
  if (payload.is_raw()) {
    *data = payload.bytes().c_str();
    *len = payload.bytes().size();
    *raw = 1;
  } else if (payload.bytes().empty()) {
    *data = kJsonNull;
    *len = 4;
    *raw = 0;
  } else {
    *data = payload.bytes().c_str();
    *len = payload.bytes().size();
    *raw = 0;
  }
}

proletariat_result result_view(const proletariat::Result& result) noexcept {
  proletariat_result view{};
  if (result.err) {
    view.error_code = result.err->code.c_str();
    view.error_message = result.err->message.c_str();
  }
  payload_view(result.data, &view.data, &view.data_len, &view.raw);
  return view;
}

proletariat_job_info info_view(const proletariat::JobInfo& job) noexcept {
  proletariat_job_info view{};
  view.id = job.id;
  view.client = job.client.c_str();
  view.priority = job.priority;
  view.key = job.key.c_str();
  view.service = job.service.c_str();
  view.attempt = job.attempt;
  return view;
}

// Waits on a condition with a C timeout (PROLETARIAT_NO_TIMEOUT: forever).
// `wait_for(ms)` returns whether the condition holds.
template <typename WaitFor>
bool wait_with_timeout(std::int64_t timeout_ms, WaitFor&& wait_for) {
  if (timeout_ms >= 0) return wait_for(milliseconds{timeout_ms});
  constexpr milliseconds kSlice{3600 * 1000};  // an hour: keeps clock arithmetic far from overflow
  while (!wait_for(kSlice)) {
  }
  return true;
}

proletariat_status check_timeout_arg(std::int64_t timeout_ms) noexcept {
  if (timeout_ms < PROLETARIAT_NO_TIMEOUT) {
    return invalid("timeout_ms must be >= 0 or PROLETARIAT_NO_TIMEOUT, not " + std::to_string(timeout_ms));
  }
  return PROLETARIAT_OK;
}

proletariat_status timed_out(std::string_view what, std::int64_t timeout_ms) noexcept {
  try {
    return set_error(PROLETARIAT_ETIMEDOUT, kTimedOut,
                     std::string(what) + " did not happen within " + std::to_string(timeout_ms) + " ms");
  } catch (...) {
    return set_error(PROLETARIAT_ETIMEDOUT, kTimedOut, what);
  }
}

std::size_t copy_id(const std::string& id, char* buf, std::size_t buf_size) noexcept {
  if (buf != nullptr && buf_size > 0) copy_truncated(buf, buf_size, id);
  return id.size();
}

}  // namespace

// --- object layouts ------------------------------------------------------------------------

struct proletariat_results {
  std::vector<proletariat::Result> results;
  std::vector<proletariat_result> views;  // point into `results`; rebuilt by build_views

  void build_views() noexcept {  // views has capacity for every result: no allocation
    views.clear();
    for (const auto& r : results) views.push_back(result_view(r));
  }
};

struct proletariat_manager {
  proletariat::Manager manager;
  mutable std::mutex mutex;  // started, endpoints
  bool started = false;
  std::string endpoint;
  std::string pub_endpoint;

  explicit proletariat_manager(proletariat::ManagerOptions options) : manager(std::move(options)) {}
};

namespace {

struct JobState {
  explicit JobState(proletariat::JobPtr j) : job(std::move(j)) {}
  const proletariat::JobPtr job;
  std::atomic<bool> answered{false};
  std::atomic<bool> retained{false};
};

}  // namespace

struct proletariat_job {
  std::shared_ptr<JobState> state;
  bool owned = false;  // false: the borrowed handle of a callback
};

struct proletariat_worker {
  std::unique_ptr<proletariat::Worker> worker;
  std::string deferred_offer_error;  // found by new(), reported by start() as EBADOFFER
};

namespace {

struct ClientLink {
  std::shared_mutex mutex;
  std::unique_ptr<proletariat::Client> client;  // empty once the client is destroyed
};

struct RequestState {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;  // set after the done callback returned; results final
  proletariat_results results;
  proletariat_each_fn each = nullptr;
  proletariat_done_fn done_fn = nullptr;
  void* user_data = nullptr;
};

}  // namespace

struct proletariat_client {
  std::shared_ptr<ClientLink> link = std::make_shared<ClientLink>();
};

struct proletariat_request {
  std::shared_ptr<RequestState> state;
  std::shared_ptr<ClientLink> link;
  const proletariat_client* owner = nullptr;  // compared only, never dereferenced
  std::uint64_t id = 0;
  std::size_t size = 0;
};

// --- errors and versions -------------------------------------------------------------------
//
// The entry points below have C linkage from their declarations in proletariat.h.

const char* proletariat_status_string(proletariat_status status) {
  switch (status) {
    case PROLETARIAT_OK:
      return "PROLETARIAT_OK";
    case PROLETARIAT_EINVAL:
      return "PROLETARIAT_EINVAL";
    case PROLETARIAT_ESTATE:
      return "PROLETARIAT_ESTATE";
    case PROLETARIAT_ETIMEDOUT:
      return "PROLETARIAT_ETIMEDOUT";
    case PROLETARIAT_ENOMEM:
      return "PROLETARIAT_ENOMEM";
    case PROLETARIAT_EFAILED:
      return "PROLETARIAT_EFAILED";
    case PROLETARIAT_EINTERNAL:
      return "PROLETARIAT_EINTERNAL";
  }
  return "PROLETARIAT_UNKNOWN_STATUS";
}

proletariat_status proletariat_last_error_status(void) { return tl_error.status; }
const char* proletariat_last_error_code(void) { return tl_error.code; }
const char* proletariat_last_error_message(void) { return tl_error.message; }
void proletariat_clear_error(void) {
  tl_error.status = PROLETARIAT_OK;
  tl_error.code[0] = '\0';
  tl_error.message[0] = '\0';
}

const char* proletariat_error_class(const char* code) {
  // to_string gives views of string literals: NUL-terminated.
  return proletariat::to_string(proletariat::error_class(code != nullptr ? code : "")).data();
}

const char* proletariat_version(void) { return PROLETARIAT_VERSION_STRING; }

// --- manager ---------------------------------------------------------------------------------

void proletariat_manager_options_init_sized(proletariat_manager_options* options, size_t size) {
  const proletariat::ManagerOptions d;
  proletariat_manager_options o{};
  o.endpoint = "tcp://*:1917";
  o.pub_endpoint = "tcp://*:1918";
  o.avail_threshold = d.avail_threshold;
  o.cleanup_reqs = d.cleanup_reqs;
  o.cleanup_checkint_ms = d.cleanup_checkint.count();
  o.distrib_randmax_ms = d.distrib_randmax.count();
  o.debug = d.debug ? 1 : 0;
  o.sacred_guarantees = d.sacred_guarantees ? 1 : 0;
  o.hold_similar_work = d.hold_similar_work ? 1 : 0;
  o.heartbeat_interval_ms = d.heartbeat_interval.count();
  o.heartbeat_liveness = d.heartbeat_liveness;
  o.max_attempts = d.max_attempts;
  o.max_message_bytes = d.max_message_bytes;
  o.max_frames = d.max_frames;
  o.max_jobs_per_client = d.max_jobs_per_client;
  o.seed = d.seed;
  init_sized(options, size, o);
}

proletariat_status proletariat_manager_new(const proletariat_manager_options* options, proletariat_manager** manager) {
  if (manager == nullptr) return invalid("proletariat_manager_new: manager (the out pointer) is NULL");
  *manager = nullptr;
  return guard([&] {
    proletariat_manager_options o;
    if (options == nullptr) {
      proletariat_manager_options_init(&o);
      options = &o;
    } else if (!initialised(options)) {
      return invalid("proletariat_manager_new: options not initialised with proletariat_manager_options_init");
    }
    if (options->endpoint == nullptr || options->pub_endpoint == nullptr) {
      return invalid("proletariat_manager_new: endpoint and pub_endpoint must not be NULL");
    }
    proletariat::ManagerOptions m;
    m.endpoint = options->endpoint;
    m.pub_endpoint = options->pub_endpoint;
    m.avail_threshold = options->avail_threshold;
    m.cleanup_reqs = options->cleanup_reqs;
    m.cleanup_checkint = required_ms(options->cleanup_checkint_ms, "cleanup_checkint_ms");
    m.distrib_randmax = required_ms(options->distrib_randmax_ms, "distrib_randmax_ms");
    m.debug = options->debug != 0;
    m.sacred_guarantees = options->sacred_guarantees != 0;
    m.hold_similar_work = options->hold_similar_work != 0;
    m.heartbeat_interval = required_ms(options->heartbeat_interval_ms, "heartbeat_interval_ms");
    m.heartbeat_liveness = options->heartbeat_liveness;
    m.max_attempts = options->max_attempts;
    m.max_message_bytes = static_cast<std::size_t>(options->max_message_bytes);
    m.max_frames = static_cast<std::size_t>(options->max_frames);
    m.max_jobs_per_client = static_cast<std::size_t>(options->max_jobs_per_client);
    m.seed = options->seed;
    *manager = new proletariat_manager(std::move(m));
    return PROLETARIAT_OK;
  });
}

void proletariat_manager_destroy(proletariat_manager** manager) {
  if (manager == nullptr || *manager == nullptr) return;
  if (in_callback_of(*manager)) {
    bad_state("proletariat_manager_destroy: called from the manager's own event callback; not destroyed");
    return;
  }
  guard([&] {
    delete *manager;  // ~Manager stops it
    return PROLETARIAT_OK;
  });
  *manager = nullptr;
}

namespace {

// Installs an event callback (before start only).
template <typename Install>
proletariat_status set_event(proletariat_manager* manager, const char* name, Install&& install) {
  if (manager == nullptr) return invalid(std::string(name) + ": manager is NULL");
  return guard([&] {
    std::lock_guard lock(manager->mutex);
    if (manager->started) return bad_state(std::string(name) + ": events must be set before proletariat_manager_start");
    install();
    return PROLETARIAT_OK;
  });
}

}  // namespace

proletariat_status proletariat_manager_on_receive(proletariat_manager* manager, proletariat_manager_job_fn fn,
                                                  void* user_data) {
  return set_event(manager, "proletariat_manager_on_receive", [&] {
    if (fn == nullptr) return manager->manager.on_receive(nullptr);
    manager->manager.on_receive([manager, fn, user_data](const proletariat::JobInfo& job) {
      const auto info = info_view(job);
      CallbackScope scope(manager);
      fn(&info, user_data);
    });
  });
}

proletariat_status proletariat_manager_on_finish(proletariat_manager* manager, proletariat_manager_finish_fn fn,
                                                 void* user_data) {
  return set_event(manager, "proletariat_manager_on_finish", [&] {
    if (fn == nullptr) return manager->manager.on_finish(nullptr);
    manager->manager.on_finish(
        [manager, fn, user_data](const proletariat::JobInfo& job, const proletariat::Result& result) {
          const auto info = info_view(job);
          const auto view = result_view(result);
          CallbackScope scope(manager);
          fn(&info, &view, user_data);
        });
  });
}

proletariat_status proletariat_manager_on_giveup(proletariat_manager* manager, proletariat_manager_worker_fn fn,
                                                 void* user_data) {
  return set_event(manager, "proletariat_manager_on_giveup", [&] {
    if (fn == nullptr) return manager->manager.on_giveup(nullptr);
    manager->manager.on_giveup([manager, fn, user_data](const proletariat::JobInfo& job, const std::string& worker) {
      const auto info = info_view(job);
      CallbackScope scope(manager);
      fn(&info, worker.c_str(), user_data);
    });
  });
}

proletariat_status proletariat_manager_on_abort(proletariat_manager* manager, proletariat_manager_worker_fn fn,
                                                void* user_data) {
  return set_event(manager, "proletariat_manager_on_abort", [&] {
    if (fn == nullptr) return manager->manager.on_abort(nullptr);
    manager->manager.on_abort([manager, fn, user_data](const proletariat::JobInfo& job, const std::string& worker) {
      const auto info = info_view(job);
      CallbackScope scope(manager);
      fn(&info, worker.c_str(), user_data);
    });
  });
}

proletariat_status proletariat_manager_on_assigntimeout(proletariat_manager* manager, proletariat_manager_job_fn fn,
                                                        void* user_data) {
  return set_event(manager, "proletariat_manager_on_assigntimeout", [&] {
    if (fn == nullptr) return manager->manager.on_assigntimeout(nullptr);
    manager->manager.on_assigntimeout([manager, fn, user_data](const proletariat::JobInfo& job) {
      const auto info = info_view(job);
      CallbackScope scope(manager);
      fn(&info, user_data);
    });
  });
}

proletariat_status proletariat_manager_on_sysmsg(proletariat_manager* manager, proletariat_manager_sysmsg_fn fn,
                                                 void* user_data) {
  return set_event(manager, "proletariat_manager_on_sysmsg", [&] {
    if (fn == nullptr) return manager->manager.on_sysmsg(nullptr);
    manager->manager.on_sysmsg([manager, fn, user_data](const nlohmann::json& msg, const std::string& from) {
      std::string text;
      try {
        text = msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      } catch (...) {
        return;  // out of memory: the event is lost rather than the loop
      }
      CallbackScope scope(manager);
      fn(text.c_str(), text.size(), from.c_str(), user_data);
    });
  });
}

proletariat_status proletariat_manager_on_cleanup(proletariat_manager* manager, proletariat_manager_cleanup_fn fn,
                                                  void* user_data) {
  return set_event(manager, "proletariat_manager_on_cleanup", [&] {
    if (fn == nullptr) return manager->manager.on_cleanup(nullptr);
    manager->manager.on_cleanup([manager, fn, user_data] {
      CallbackScope scope(manager);
      fn(user_data);
    });
  });
}

proletariat_status proletariat_manager_start(proletariat_manager* manager) {
  if (manager == nullptr) return invalid("proletariat_manager_start: manager is NULL");
  return guard([&] {
    std::lock_guard lock(manager->mutex);
    if (manager->started) return bad_state("proletariat_manager_start: the manager was started before");
    manager->manager.start();
    manager->started = true;
    manager->endpoint = manager->manager.endpoint();
    manager->pub_endpoint = manager->manager.pub_endpoint();
    return PROLETARIAT_OK;
  });
}

proletariat_status proletariat_manager_stop(proletariat_manager* manager) {
  if (manager == nullptr) return invalid("proletariat_manager_stop: manager is NULL");
  if (in_callback_of(manager)) {
    return bad_state("proletariat_manager_stop: called from the manager's own event callback");
  }
  return guard([&] {
    manager->manager.stop();
    return PROLETARIAT_OK;
  });
}

namespace {
const char* manager_endpoint(const proletariat_manager* manager, const std::string proletariat_manager::*member,
                             const char* name) {
  if (manager == nullptr) {
    invalid(std::string(name) + ": manager is NULL");
    return nullptr;
  }
  std::lock_guard lock(manager->mutex);
  if (!manager->started) {
    bad_state(std::string(name) + ": the manager is not started");
    return nullptr;
  }
  return (manager->*member).c_str();  // never changes after start
}
}  // namespace

const char* proletariat_manager_endpoint(const proletariat_manager* manager) {
  try {
    return manager_endpoint(manager, &proletariat_manager::endpoint, "proletariat_manager_endpoint");
  } catch (...) {
    set_error(PROLETARIAT_EINTERNAL, errc::kInternal, "proletariat_manager_endpoint failed");
    return nullptr;
  }
}

const char* proletariat_manager_pub_endpoint(const proletariat_manager* manager) {
  try {
    return manager_endpoint(manager, &proletariat_manager::pub_endpoint, "proletariat_manager_pub_endpoint");
  } catch (...) {
    set_error(PROLETARIAT_EINTERNAL, errc::kInternal, "proletariat_manager_pub_endpoint failed");
    return nullptr;
  }
}

// --- worker ----------------------------------------------------------------------------------

void proletariat_worker_options_init_sized(proletariat_worker_options* options, size_t size) {
  const proletariat::WorkerOptions d;
  proletariat_worker_options o{};
  o.endpoint = "tcp://127.0.0.1:1917";
  o.slots = d.slots;
  o.answer_threshold = d.answer_threshold;
  o.answer_delay_max_ms = d.answer_delay_max.count();
  o.con_retry_time_ms = d.con_retry_time.count();
  o.handler_threads = d.handler_threads;
  init_sized(options, size, o);
}

proletariat_status proletariat_worker_new(const proletariat_worker_options* options, proletariat_worker** worker) {
  if (worker == nullptr) return invalid("proletariat_worker_new: worker (the out pointer) is NULL");
  *worker = nullptr;
  if (options == nullptr) return invalid("proletariat_worker_new: options is NULL (a worker needs a handler)");
  if (!initialised(options)) {
    return invalid("proletariat_worker_new: options not initialised with proletariat_worker_options_init");
  }
  if (options->handler == nullptr) return invalid("proletariat_worker_new: options.handler is NULL");
  if (options->endpoint == nullptr) return invalid("proletariat_worker_new: options.endpoint is NULL");
  if (options->priority_slots == nullptr && options->priority_slots_count != 0) {
    return invalid("proletariat_worker_new: options.priority_slots is NULL with a count");
  }
  if (options->services == nullptr && options->services_count != 0) {
    return invalid("proletariat_worker_new: options.services is NULL with a count");
  }
  return guard([&] {
    auto handle = std::make_unique<proletariat_worker>();
    proletariat::WorkerOptions w;
    w.endpoint = options->endpoint;
    w.slots = options->slots;
    for (std::size_t i = 0; i < options->priority_slots_count; ++i) {
      const auto& range = options->priority_slots[i];
      if (!w.priority_slots.emplace(range.start, range.slots).second && handle->deferred_offer_error.empty()) {
        handle->deferred_offer_error = "priority_slots names the range start " + std::to_string(range.start) + " twice";
      }
    }
    for (std::size_t i = 0; i < options->services_count; ++i) {
      if (options->services[i] == nullptr) {
        return invalid("proletariat_worker_new: options.services[" + std::to_string(i) + "] is NULL");
      }
      w.services.emplace_back(options->services[i]);
    }
    w.answer_threshold = options->answer_threshold;
    w.answer_delay_max = required_ms(options->answer_delay_max_ms, "answer_delay_max_ms");
    w.con_retry_time = required_ms(options->con_retry_time_ms, "con_retry_time_ms");
    w.handler_threads = options->handler_threads;
    w.name = copy_string(options->name);

    handle->worker = std::make_unique<proletariat::Worker>(std::move(w));
    const proletariat_worker* owner = handle.get();
    handle->worker->on_work([owner, fn = options->handler, data = options->handler_data](
                                const proletariat::JobPtr& job) {
      auto state = std::make_shared<JobState>(job);
      proletariat_job borrowed{state, false};
      {
        CallbackScope scope(owner);
        fn(&borrowed, data);
      }
      if (!state->answered.load() && !state->retained.load()) {
        state->answered.store(true);
        job->fail(std::string(errc::kHandler),
                  "the work handler returned without answering the job and without proletariat_job_retain");
      }
    });
    if (options->abort_handler != nullptr) {
      handle->worker->on_abort([owner, fn = options->abort_handler, data = options->abort_data](
                                   const proletariat::JobPtr& job, const std::string& reason) {
        auto state = std::make_shared<JobState>(job);
        state->answered.store(true);  // a taken-away job takes no answer
        proletariat_job borrowed{state, false};
        CallbackScope scope(owner);
        fn(&borrowed, reason.c_str(), data);
      });
    }
    *worker = handle.release();
    return PROLETARIAT_OK;
  });
}

void proletariat_worker_destroy(proletariat_worker** worker) {
  if (worker == nullptr || *worker == nullptr) return;
  if (in_callback_of(*worker)) {
    bad_state("proletariat_worker_destroy: called from the worker's own handler; not destroyed");
    return;
  }
  guard([&] {
    delete *worker;  // ~Worker stops it
    return PROLETARIAT_OK;
  });
  *worker = nullptr;
}

proletariat_status proletariat_worker_start(proletariat_worker* worker) {
  if (worker == nullptr) return invalid("proletariat_worker_start: worker is NULL");
  if (!worker->deferred_offer_error.empty()) {
    return set_error(PROLETARIAT_EINVAL, errc::kBadOffer, worker->deferred_offer_error);
  }
  return guard([&] {
    worker->worker->start();
    return PROLETARIAT_OK;
  });
}

proletariat_status proletariat_worker_stop(proletariat_worker* worker) {
  if (worker == nullptr) return invalid("proletariat_worker_stop: worker is NULL");
  if (in_callback_of(worker)) return bad_state("proletariat_worker_stop: called from the worker's own handler");
  return guard([&] {
    worker->worker->stop();
    return PROLETARIAT_OK;
  });
}

proletariat_status proletariat_worker_wait_ready(const proletariat_worker* worker, int64_t timeout_ms) {
  if (worker == nullptr) return invalid("proletariat_worker_wait_ready: worker is NULL");
  if (auto s = check_timeout_arg(timeout_ms); s != PROLETARIAT_OK) return s;
  return guard([&] {
    const bool ready = wait_with_timeout(timeout_ms, [&](milliseconds ms) { return worker->worker->wait_ready(ms); });
    return ready ? PROLETARIAT_OK : timed_out("the worker's registration", timeout_ms);
  });
}

size_t proletariat_worker_id(const proletariat_worker* worker, char* buf, size_t buf_size) {
  if (buf != nullptr && buf_size > 0) buf[0] = '\0';
  if (worker == nullptr) {
    invalid("proletariat_worker_id: worker is NULL");
    return 0;
  }
  try {
    return copy_id(worker->worker->id(), buf, buf_size);
  } catch (...) {
    set_error(PROLETARIAT_ENOMEM, kNoMemory, "out of memory");
    return 0;
  }
}

size_t proletariat_worker_running(const proletariat_worker* worker) {
  return worker != nullptr ? worker->worker->running() : 0;
}

// --- jobs ------------------------------------------------------------------------------------

uint64_t proletariat_job_id(const proletariat_job* job) { return job != nullptr ? job->state->job->id() : 0; }
unsigned proletariat_job_attempt(const proletariat_job* job) {
  return job != nullptr ? job->state->job->attempt() : 0;
}
double proletariat_job_priority(const proletariat_job* job) {
  return job != nullptr ? job->state->job->priority() : 0.0;
}
const char* proletariat_job_key(const proletariat_job* job) {
  return job != nullptr ? job->state->job->key().c_str() : "";
}
const char* proletariat_job_service(const proletariat_job* job) {
  return job != nullptr ? job->state->job->service().c_str() : "";
}

const char* proletariat_job_args(const proletariat_job* job, size_t* len) {
  const char* data = kJsonNull;
  std::size_t size = 4;
  int raw = 0;
  if (job != nullptr) payload_view(job->state->job->args(), &data, &size, &raw);
  if (len != nullptr) *len = size;
  return data;
}

int proletariat_job_args_raw(const proletariat_job* job) {
  return job != nullptr && job->state->job->args().is_raw() ? 1 : 0;
}

int proletariat_job_cancelled(const proletariat_job* job) {
  return job != nullptr && job->state->job->cancelled() ? 1 : 0;
}

namespace {

proletariat_status answer(proletariat_job* job, const char* name, const std::function<void(proletariat::Job&)>& give) {
  if (job == nullptr) return invalid(std::string(name) + ": job is NULL");
  if (job->state->answered.exchange(true)) {
    return bad_state(std::string(name) + ": job " + std::to_string(job->state->job->id()) +
                     " was already answered (or taken away by an abort handler)");
  }
  give(*job->state->job);
  return PROLETARIAT_OK;
}

}  // namespace

proletariat_status proletariat_job_reply(proletariat_job* job, const char* json, size_t len) {
  return guard([&] {
    auto payload = json_payload(json, len, "proletariat_job_reply: json");  // checked before the job is answered
    return answer(job, "proletariat_job_reply", [&](proletariat::Job& j) { j.reply(std::move(payload)); });
  });
}

proletariat_status proletariat_job_reply_raw(proletariat_job* job, const void* bytes, size_t len) {
  return guard([&] {
    auto payload = raw_payload(bytes, len, "proletariat_job_reply_raw: bytes");
    return answer(job, "proletariat_job_reply_raw", [&](proletariat::Job& j) { j.reply(std::move(payload)); });
  });
}

proletariat_status proletariat_job_fail(proletariat_job* job, const char* code, const char* message) {
  return guard([&] {
    std::string c = copy_string(code);
    std::string m = copy_string(message);
    if (c.empty()) c = std::string(errc::kHandler);
    return answer(job, "proletariat_job_fail", [&](proletariat::Job& j) { j.fail(std::move(c), std::move(m)); });
  });
}

proletariat_status proletariat_job_retain(proletariat_job* job, proletariat_job** ref) {
  if (ref == nullptr) return invalid("proletariat_job_retain: ref (the out pointer) is NULL");
  *ref = nullptr;
  if (job == nullptr) return invalid("proletariat_job_retain: job is NULL");
  return guard([&] {
    *ref = new proletariat_job{job->state, true};
    job->state->retained.store(true);
    return PROLETARIAT_OK;
  });
}

proletariat_status proletariat_job_release(proletariat_job** ref) {
  if (ref == nullptr || *ref == nullptr) return invalid("proletariat_job_release: job is NULL");
  if (!(*ref)->owned) {
    return bad_state("proletariat_job_release: this is the borrowed handle a callback got, not a retained reference");
  }
  delete *ref;
  *ref = nullptr;
  return PROLETARIAT_OK;
}

// --- client ----------------------------------------------------------------------------------

void proletariat_client_options_init_sized(proletariat_client_options* options, size_t size) {
  const proletariat::ClientOptions d;
  proletariat_client_options o{};
  o.endpoint = "tcp://127.0.0.1:1917";
  o.keep_state = d.keep_state ? 1 : 0;
  o.con_retry_time_ms = d.con_retry_time.count();
  init_sized(options, size, o);
}

proletariat_status proletariat_client_new(const proletariat_client_options* options, proletariat_client** client) {
  if (client == nullptr) return invalid("proletariat_client_new: client (the out pointer) is NULL");
  *client = nullptr;
  return guard([&] {
    proletariat_client_options o;
    if (options == nullptr) {
      proletariat_client_options_init(&o);
      options = &o;
    } else if (!initialised(options)) {
      return invalid("proletariat_client_new: options not initialised with proletariat_client_options_init");
    }
    if (options->endpoint == nullptr) return invalid("proletariat_client_new: options.endpoint is NULL");
    proletariat::ClientOptions c;
    c.endpoint = options->endpoint;
    c.keep_state = options->keep_state != 0;
    c.con_retry_time = required_ms(options->con_retry_time_ms, "con_retry_time_ms");
    c.name = copy_string(options->name);
    auto handle = std::make_unique<proletariat_client>();
    handle->link->client = std::make_unique<proletariat::Client>(std::move(c));
    *client = handle.release();
    return PROLETARIAT_OK;
  });
}

void proletariat_client_destroy(proletariat_client** client) {
  if (client == nullptr || *client == nullptr) return;
  if (in_callback_of(*client)) {
    bad_state("proletariat_client_destroy: called from one of the client's own callbacks; not destroyed");
    return;
  }
  guard([&] {
    std::unique_ptr<proletariat::Client> doomed;
    {
      std::unique_lock lock((*client)->link->mutex);
      doomed = std::move((*client)->link->client);
    }
    doomed.reset();  // fails unfinished jobs with EABORTED: their callbacks run now, unlocked
    delete *client;
    return PROLETARIAT_OK;
  });
  *client = nullptr;
}

namespace {

// Runs `body` with the client, under the link's shared lock.
template <typename F>
proletariat_status with_client(const proletariat_client* client, const char* name, F&& body) {
  if (client == nullptr) return invalid(std::string(name) + ": client is NULL");
  return guard([&] {
    std::shared_lock lock(client->link->mutex);
    if (!client->link->client) return bad_state(std::string(name) + ": the client is being destroyed");
    return body(*client->link->client);
  });
}

proletariat::JobSpec job_spec(const proletariat_job_spec& spec, std::size_t index) {
  const std::string what = "job " + std::to_string(index) + " args";
  proletariat::JobSpec job(spec.raw != 0 ? raw_payload(spec.args, spec.args_len, what.c_str())
                                         : json_payload(spec.args, spec.args_len, what.c_str()));
  job.key = copy_string(spec.key);
  job.service = copy_string(spec.service);
  return job;
}

proletariat::WorkOptions work_options(const proletariat_work_options* options) {
  proletariat::WorkOptions w;
  if (options == nullptr) return w;
  if (!initialised(options)) {
    throw proletariat::Error(std::string(errc::kBadField),
                             "work options not initialised with proletariat_work_options_init");
  }
  w.timeout = optional_ms(options->timeout_ms, "timeout_ms");
  w.run_timeout = optional_ms(options->run_timeout_ms, "run_timeout_ms");
  w.assign_timeout = optional_ms(options->assign_timeout_ms, "assign_timeout_ms");
  w.priority = options->priority;  // checked by the Client (finite, >= 0)
  return w;
}

proletariat_status push(proletariat_client* client, const char* name, const proletariat_job_spec* jobs,
                        std::size_t count, const proletariat_work_options* options, proletariat_each_fn each,
                        proletariat_done_fn done, void* user_data, proletariat_request** request, bool need_request) {
  if (request != nullptr) *request = nullptr;
  if (need_request && request == nullptr) return invalid(std::string(name) + ": request (the out pointer) is NULL");
  if (jobs == nullptr && count != 0) return invalid(std::string(name) + ": jobs is NULL with a count");
  return with_client(client, name, [&](proletariat::Client& c) {
    std::vector<proletariat::JobSpec> specs;
    specs.reserve(count);
    for (std::size_t i = 0; i < count; ++i) specs.push_back(job_spec(jobs[i], i));
    const auto wo = work_options(options);

    auto state = std::make_shared<RequestState>();
    state->each = each;
    state->done_fn = done;
    state->user_data = user_data;
    state->results.results.resize(count);
    state->results.views.reserve(count);  // so that build_views never allocates
    std::unique_ptr<proletariat_request> handle;
    if (request != nullptr) {
      handle = std::make_unique<proletariat_request>();
      handle->state = state;
      handle->link = client->link;
      handle->owner = client;
      handle->size = count;
    }

    // Everything that can fail is done: from here the push happens.
    const proletariat_client* owner = client;
    const auto id = c.work_individual(
        std::move(specs), wo,
        [state, owner](const proletariat::Result& result, const proletariat::JobRef& ref) {
          if (ref.index >= state->results.results.size()) return;  // cannot happen: the Client keeps positions
          try {
            state->results.results[ref.index] = result;
          } catch (...) {
            // Out of memory copying a result: it stays empty rather than lost with the loop.
          }
          if (state->each != nullptr) {
            const auto view = result_view(state->results.results[ref.index]);
            CallbackScope scope(owner);
            state->each(ref.index, &view, state->user_data);
          }
        },
        [state, owner] {
          state->results.build_views();
          if (state->done_fn != nullptr) {
            CallbackScope scope(owner);
            state->done_fn(&state->results, state->user_data);
          }
          {
            std::lock_guard lock(state->mutex);
            state->done = true;
          }
          state->cv.notify_all();
        });
    if (handle) {
      handle->id = id;
      *request = handle.release();
    }
    return PROLETARIAT_OK;
  });
}

}  // namespace

proletariat_status proletariat_client_wait_connected(const proletariat_client* client, int64_t timeout_ms) {
  if (auto s = check_timeout_arg(timeout_ms); s != PROLETARIAT_OK) return s;
  return with_client(client, "proletariat_client_wait_connected", [&](proletariat::Client& c) {
    const bool connected = wait_with_timeout(timeout_ms, [&](milliseconds ms) { return c.wait_connected(ms); });
    return connected ? PROLETARIAT_OK : timed_out("the client's registration", timeout_ms);
  });
}

size_t proletariat_client_id(const proletariat_client* client, char* buf, size_t buf_size) {
  if (buf != nullptr && buf_size > 0) buf[0] = '\0';
  std::size_t length = 0;
  with_client(client, "proletariat_client_id", [&](proletariat::Client& c) {
    length = copy_id(c.id(), buf, buf_size);
    return PROLETARIAT_OK;
  });
  return length;
}

size_t proletariat_client_pending(const proletariat_client* client) {
  std::size_t pending = 0;
  with_client(client, "proletariat_client_pending", [&](proletariat::Client& c) {
    pending = c.pending();
    return PROLETARIAT_OK;
  });
  return pending;
}

proletariat_status proletariat_client_push(proletariat_client* client, const proletariat_job_spec* jobs, size_t count,
                                           const proletariat_work_options* options, proletariat_request** request) {
  return push(client, "proletariat_client_push", jobs, count, options, nullptr, nullptr, nullptr, request, true);
}

proletariat_status proletariat_client_push_cb(proletariat_client* client, const proletariat_job_spec* jobs,
                                              size_t count, const proletariat_work_options* options,
                                              proletariat_each_fn each, proletariat_done_fn done, void* user_data,
                                              proletariat_request** request) {
  return push(client, "proletariat_client_push_cb", jobs, count, options, each, done, user_data, request, false);
}

proletariat_status proletariat_client_push_one(proletariat_client* client, const char* json, size_t len,
                                               const proletariat_work_options* options,
                                               proletariat_request** request) {
  if (json == nullptr && len != 0) return invalid("proletariat_client_push_one: json is NULL with a length");
  proletariat_job_spec spec{};
  spec.args = json;
  spec.args_len = len;
  return push(client, "proletariat_client_push_one", &spec, 1, options, nullptr, nullptr, nullptr, request, true);
}

void proletariat_work_options_init_sized(proletariat_work_options* options, size_t size) {
  proletariat_work_options o{};
  o.timeout_ms = PROLETARIAT_NO_TIMEOUT;
  o.run_timeout_ms = PROLETARIAT_NO_TIMEOUT;
  o.assign_timeout_ms = PROLETARIAT_NO_TIMEOUT;
  o.priority = 0;
  init_sized(options, size, o);
}

// --- requests and results --------------------------------------------------------------------

proletariat_status proletariat_request_wait(proletariat_request* request, int64_t timeout_ms,
                                            const proletariat_results** results) {
  if (results != nullptr) *results = nullptr;
  if (request == nullptr) return invalid("proletariat_request_wait: request is NULL");
  if (auto s = check_timeout_arg(timeout_ms); s != PROLETARIAT_OK) return s;
  if (timeout_ms != 0 && in_callback_of(request->owner)) {
    return bad_state(
        "proletariat_request_wait: called from a callback of the request's own client, whose thread delivers the "
        "results; only a timeout of 0 is allowed there");
  }
  return guard([&] {
    auto& state = *request->state;
    std::unique_lock lock(state.mutex);
    const bool done = wait_with_timeout(
        timeout_ms, [&](milliseconds ms) { return state.cv.wait_for(lock, ms, [&] { return state.done; }); });
    if (!done) return timed_out("the request's completion", timeout_ms);
    if (results != nullptr) *results = &state.results;
    return PROLETARIAT_OK;
  });
}

namespace {
proletariat_status abort_request(proletariat_request* request, const char* name,
                                 std::optional<std::vector<std::size_t>> indices) {
  if (request == nullptr) return invalid(std::string(name) + ": request is NULL");
  return guard([&] {
    std::shared_lock lock(request->link->mutex);
    // No client: it was destroyed, which finished every job of the request.
    if (!request->link->client) return PROLETARIAT_OK;
    if (indices) {
      request->link->client->abort(request->id, std::move(*indices));
    } else {
      request->link->client->abort(request->id);
    }
    return PROLETARIAT_OK;
  });
}
}  // namespace

proletariat_status proletariat_request_abort(proletariat_request* request) {
  return abort_request(request, "proletariat_request_abort", std::nullopt);
}

proletariat_status proletariat_request_abort_jobs(proletariat_request* request, const size_t* indices, size_t count) {
  if (indices == nullptr && count != 0) return invalid("proletariat_request_abort_jobs: indices is NULL with a count");
  if (count == 0) return request != nullptr ? PROLETARIAT_OK : invalid("proletariat_request_abort_jobs: request is NULL");
  try {
    return abort_request(request, "proletariat_request_abort_jobs", std::vector<std::size_t>(indices, indices + count));
  } catch (...) {
    return set_error(PROLETARIAT_ENOMEM, kNoMemory, "out of memory");
  }
}

uint64_t proletariat_request_id(const proletariat_request* request) { return request != nullptr ? request->id : 0; }
size_t proletariat_request_size(const proletariat_request* request) { return request != nullptr ? request->size : 0; }

void proletariat_request_destroy(proletariat_request** request) {
  if (request == nullptr || *request == nullptr) return;
  delete *request;
  *request = nullptr;
}

size_t proletariat_results_count(const proletariat_results* results) {
  return results != nullptr ? results->views.size() : 0;
}

const proletariat_result* proletariat_results_at(const proletariat_results* results, size_t index) {
  if (results == nullptr || index >= results->views.size()) return nullptr;
  return &results->views[index];
}
