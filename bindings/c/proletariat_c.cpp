// The C API (proletariat.h) over the C++ library: errors, versions and the manager.
// The worker and jobs are in proletariat_c_worker.cpp, the client and requests in
// proletariat_c_client.cpp; the rules all three keep are in proletariat_c_internal.hpp.
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>

#include "proletariat_c_internal.hpp"

using namespace proletariat::c_api;  // NOLINT(google-build-using-namespace): this file implements it

// Owns its C++ Manager. The endpoints are read once, at start, and never change after,
// so the pointers proletariat_manager_endpoint hands out stay valid until destroy.
struct proletariat_manager {
  proletariat::Manager manager;
  mutable std::mutex mutex;  // started, endpoints
  bool started = false;
  std::string endpoint;
  std::string pub_endpoint;

  explicit proletariat_manager(proletariat::ManagerOptions options) : manager(std::move(options)) {}
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

proletariat_status proletariat_last_error_status(void) {
  return tl_error.status;
}
const char* proletariat_last_error_code(void) {
  return tl_error.code;
}
const char* proletariat_last_error_message(void) {
  return tl_error.message;
}
void proletariat_clear_error(void) {
  tl_error.status = PROLETARIAT_OK;
  tl_error.code[0] = '\0';
  tl_error.message[0] = '\0';
}

const char* proletariat_error_class(const char* code) {
  // to_string gives views of string literals: NUL-terminated.
  return proletariat::to_string(proletariat::error_class(code != nullptr ? code : "")).data();
}

const char* proletariat_version(void) {
  return PROLETARIAT_VERSION_STRING;
}

// --- CURVE keys ------------------------------------------------------------------------------

namespace {
// Copies a 40-character Z85 key and its NUL.
void copy_key(char* out, const std::string& key) noexcept { copy_truncated(out, PROLETARIAT_CURVE_KEY_SIZE, key); }
}  // namespace

proletariat_status proletariat_curve_keypair(char public_key[PROLETARIAT_CURVE_KEY_SIZE],
                                             char secret_key[PROLETARIAT_CURVE_KEY_SIZE]) {
  if (public_key == nullptr || secret_key == nullptr) return invalid("proletariat_curve_keypair: a buffer is NULL");
  return guard([&] {
    const auto keys = proletariat::generate_curve_key_pair();
    copy_key(public_key, keys.public_key);
    copy_key(secret_key, keys.secret_key);
    return PROLETARIAT_OK;
  });
}

proletariat_status proletariat_read_public_key_file(const char* path, char public_key[PROLETARIAT_CURVE_KEY_SIZE]) {
  if (path == nullptr || public_key == nullptr) {
    return invalid("proletariat_read_public_key_file: path or buffer is NULL");
  }
  return guard([&] {
    copy_key(public_key, proletariat::read_public_key_file(path));
    return PROLETARIAT_OK;
  });
}

proletariat_status proletariat_read_secret_key_file(const char* path, char public_key[PROLETARIAT_CURVE_KEY_SIZE],
                                                    char secret_key[PROLETARIAT_CURVE_KEY_SIZE]) {
  if (path == nullptr || public_key == nullptr || secret_key == nullptr) {
    return invalid("proletariat_read_secret_key_file: path or a buffer is NULL");
  }
  return guard([&] {
    const auto keys = proletariat::read_secret_key_file(path);
    copy_key(public_key, keys.public_key);
    copy_key(secret_key, keys.secret_key);
    return PROLETARIAT_OK;
  });
}

int proletariat_is_curve_key(const char* text) {
  if (text == nullptr) return 0;
  try {
    return proletariat::is_z85_key(text) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

// --- manager ---------------------------------------------------------------------------------

namespace {
// proletariat_manager_options as version 1 had it: every member up to `seed`. Later
// members (suspect_after) are read only when the caller's `size` covers them.
constexpr std::size_t kManagerOptionsV1 = offsetof(proletariat_manager_options, suspect_after);
static_assert(kManagerOptionsV1 == offsetof(proletariat_manager_options, seed) + sizeof(std::uint64_t),
              "suspect_after must directly follow the last member of version 1");
}  // namespace

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
  o.suspect_after = d.suspect_after;
  o.group_max_running = PROLETARIAT_NO_LIMIT;
  o.group_rate = PROLETARIAT_NO_LIMIT;
  o.max_dead_letters = d.max_dead_letters;
  o.dead_letter_max_age_ms = d.dead_letter_max_age.count();
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
    } else if (!initialised(options, kManagerOptionsV1)) {
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
    if (covers(options, offsetof(proletariat_manager_options, suspect_after), sizeof options->suspect_after)) {
      m.suspect_after = options->suspect_after;
    }
    if (covers(options, offsetof(proletariat_manager_options, allow_insecure_remote),
               sizeof options->allow_insecure_remote)) {
      const int given = (options->curve_public_key != nullptr) + (options->curve_secret_key != nullptr) +
                        (options->curve_keys_dir != nullptr);
      if (given != 0) {
        if (given != 3 || options->curve_keys_dir[0] == '\0') {
          return invalid(
              "proletariat_manager_new: curve_public_key, curve_secret_key and curve_keys_dir go together (all three "
              "or none)");
        }
        if (!proletariat::is_z85_key(options->curve_public_key) || !proletariat::is_z85_key(options->curve_secret_key)) {
          return invalid("proletariat_manager_new: curve_public_key and curve_secret_key must be Z85 CURVE keys (40 "
                         "characters)");
        }
        m.curve_keys = {options->curve_public_key, options->curve_secret_key};
        m.curve_keys_dir = options->curve_keys_dir;
      }
      m.allow_insecure_remote = options->allow_insecure_remote != 0;
    }
    if (covers(options, offsetof(proletariat_manager_options, dead_letter_max_age_ms),
               sizeof options->dead_letter_max_age_ms)) {
      m.group_max_running = optional_limit(options->group_max_running, "group_max_running");
      m.group_rate = optional_rate(options->group_rate, "group_rate");
      m.max_dead_letters = static_cast<std::size_t>(options->max_dead_letters);
      if (options->dead_letter_max_age_ms <= 0) {
        return invalid("proletariat_manager_new: dead_letter_max_age_ms must be > 0, not " +
                       std::to_string(options->dead_letter_max_age_ms));
      }
      m.dead_letter_max_age = milliseconds{options->dead_letter_max_age_ms};
    }
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
          const auto owned = c_result(result);
          const auto view = result_view(owned);
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
