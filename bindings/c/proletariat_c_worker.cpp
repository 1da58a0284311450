// The C API: worker and jobs.
//
// A job handle (proletariat_job) is a JobState shared by the borrowed handle a handler
// gets and every reference made by proletariat_job_retain. JobState tracks whether the
// job was answered through any handle (a second answer is refused) and whether it was
// retained (a handler that returns having done neither fails the job with EHANDLER).
// The C++ job it holds keeps the worker's mailbox alive, so a reference may outlive
// its worker; answers through it are then dropped.
#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "proletariat_c_internal.hpp"

using namespace proletariat::c_api;  // NOLINT(google-build-using-namespace): this file implements it

namespace {

// proletariat_worker_options as version 1 had it: every member up to abort_data.
// Later members (system_messages, drain_timeout_ms) are read only when the caller's
// `size` covers them.
constexpr std::size_t kWorkerOptionsV1 = offsetof(proletariat_worker_options, system_messages);

struct JobState {
  explicit JobState(proletariat::JobPtr j) : job(std::move(j)), args(c_payload(job->args())) {}
  const proletariat::JobPtr job;
  const proletariat::Payload args;  // NUL-terminated copy for proletariat_job_args
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
  o.system_messages = 1;
  o.drain_timeout_ms = d.drain_timeout.count();
  init_sized(options, size, o);
}

proletariat_status proletariat_worker_new(const proletariat_worker_options* options, proletariat_worker** worker) {
  if (worker == nullptr) return invalid("proletariat_worker_new: worker (the out pointer) is NULL");
  *worker = nullptr;
  if (options == nullptr) return invalid("proletariat_worker_new: options is NULL (a worker needs a handler)");
  if (!initialised(options, kWorkerOptionsV1)) {
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
      if (!std::isfinite(range.start) || range.start < 0) {
        // Kept out of the map (a NaN key would break its ordering); start() reports it.
        if (handle->deferred_offer_error.empty()) {
          handle->deferred_offer_error = "priority_slots[" + std::to_string(i) + "].start must be a finite number >= 0";
        }
        continue;
      }
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
    if (covers(options, offsetof(proletariat_worker_options, system_messages), sizeof options->system_messages)) {
      w.system_messages = options->system_messages != 0;
    }
    if (covers(options, offsetof(proletariat_worker_options, drain_timeout_ms), sizeof options->drain_timeout_ms)) {
      w.drain_timeout = required_ms(options->drain_timeout_ms, "drain_timeout_ms");
    }
    if (covers(options, offsetof(proletariat_worker_options, curve_secret_key), sizeof options->curve_secret_key)) {
      w.curve = curve_options(options->curve_server_key, options->curve_public_key, options->curve_secret_key,
                              "proletariat_worker_new");
    }

    handle->worker = std::make_unique<proletariat::Worker>(std::move(w));
    const proletariat_worker* owner = handle.get();
    handle->worker->on_work(
        [owner, fn = options->handler, data = options->handler_data](const proletariat::JobPtr& job) {
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
        // The C++ job drops answers once taken away: one through this handle returns
        // PROLETARIAT_OK and goes nowhere, as through any other.
        auto state = std::make_shared<JobState>(job);
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

// From the worker's own handler or abort handler, the C++ Worker stops in the
// background (it does not join the calling thread).
proletariat_status proletariat_worker_stop(proletariat_worker* worker) {
  if (worker == nullptr) return invalid("proletariat_worker_stop: worker is NULL");
  return guard([&] {
    worker->worker->stop();
    return PROLETARIAT_OK;
  });
}

proletariat_status proletariat_worker_stop_drain(proletariat_worker* worker, int64_t drain_timeout_ms) {
  if (worker == nullptr) return invalid("proletariat_worker_stop_drain: worker is NULL");
  return guard([&] {
    worker->worker->stop(required_ms(drain_timeout_ms, "drain_timeout_ms"));
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

uint64_t proletariat_job_id(const proletariat_job* job) {
  return job != nullptr ? job->state->job->id() : 0;
}
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
  if (job != nullptr) payload_view(job->state->args, &data, &size, &raw);
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
    return bad_state(std::string(name) + ": job " + std::to_string(job->state->job->id()) + " was already answered");
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

namespace {

proletariat_status report_progress(proletariat_job* job, const char* name, proletariat::Payload payload) {
  if (job == nullptr) return invalid(std::string(name) + ": job is NULL");
  if (job->state->answered.load()) {
    return bad_state(std::string(name) + ": job " + std::to_string(job->state->job->id()) +
                     " was already answered; progress goes before the answer");
  }
  job->state->job->progress(std::move(payload));  // dropped by the library once cancelled
  return PROLETARIAT_OK;
}

}  // namespace

proletariat_status proletariat_job_progress(proletariat_job* job, const char* json, size_t len) {
  return guard([&] {
    return report_progress(job, "proletariat_job_progress", json_payload(json, len, "proletariat_job_progress: json"));
  });
}

proletariat_status proletariat_job_progress_raw(proletariat_job* job, const void* bytes, size_t len) {
  return guard([&] {
    return report_progress(job, "proletariat_job_progress_raw",
                           raw_payload(bytes, len, "proletariat_job_progress_raw: bytes"));
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
