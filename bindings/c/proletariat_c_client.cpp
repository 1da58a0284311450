// The C API: client, requests and results.
//
// Who owns what:
//  - proletariat_client shares a ClientLink with its requests. The link holds the C++
//    Client under a shared mutex, so a request can abort through it and learns, by
//    finding it empty, that its client is gone. Destroy empties the link under the lock
//    and deletes the Client outside it (the Client's destructor runs callbacks, which
//    may call back into this API).
//  - proletariat_request shares a RequestState with the C++ callbacks, so results
//    arrive whether or not the handle still exists. Every push goes through
//    Client::work_individual: `each` fills the results by position, `done` builds the C
//    views, calls the C done callback, then marks the state done, so a waiter wakes
//    only after that callback returned.
//  - proletariat_admin_reply owns copies of an administrative reply (its JSON text and
//    NUL-terminated payloads); the calls that make one block on the C++ future outside
//    the link's lock.
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <cstdio>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "proletariat_c_internal.hpp"

using namespace proletariat::c_api;  // NOLINT(google-build-using-namespace): this file implements it

struct proletariat_results {
  std::vector<proletariat::Result> results;
  std::vector<proletariat_result> views;  // point into `results`; rebuilt by build_views

  void build_views() noexcept {  // views has capacity for every result: no allocation
    views.clear();
    for (const auto& r : results) views.push_back(result_view(r));
  }
};

namespace {

// proletariat_client_options as version 1 had it: every member up to name. Later
// members (system_messages, identity) are read only when the caller's `size` covers
// them.
constexpr std::size_t kClientOptionsV1 = offsetof(proletariat_client_options, system_messages);

// proletariat_work_options as version 1 had it: every member up to priority. The
// lifecycle members (delay_ms, at_ms, group, retry) are read only when `size` covers
// them.
constexpr std::size_t kWorkOptionsV1 = offsetof(proletariat_work_options, delay_ms);
static_assert(kWorkOptionsV1 == offsetof(proletariat_work_options, priority) + sizeof(double),
              "delay_ms must directly follow the last member of version 1");

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
  proletariat_progress_fn progress = nullptr;
  void* user_data = nullptr;
};

// The identity of a client whose options name none (PROTOCOL §12). Chosen here, not
// left to the C++ Client, so that proletariat_client_identity can tell it.
std::string random_identity() {
  std::random_device device;
  std::uniform_int_distribution<unsigned long long> bits;  // NOLINT(google-runtime-int): %llx
  char text[40];
  std::snprintf(text, sizeof text, "c-%016llx%016llx", bits(device), bits(device));
  return text;
}

}  // namespace

struct proletariat_client {
  std::shared_ptr<ClientLink> link = std::make_shared<ClientLink>();
  std::string identity;  // fixed at creation: read without the link's lock
};

struct proletariat_admin_reply {
  std::string json;
  std::vector<proletariat::Payload> payloads;  // from c_payload: NUL-terminated
};

struct proletariat_request {
  std::shared_ptr<RequestState> state;
  std::shared_ptr<ClientLink> link;
  std::uint64_t id = 0;
  std::size_t size = 0;
};

// --- client ----------------------------------------------------------------------------------

void proletariat_client_options_init_sized(proletariat_client_options* options, size_t size) {
  const proletariat::ClientOptions d;
  proletariat_client_options o{};
  o.endpoint = "tcp://127.0.0.1:1917";
  o.keep_state = d.keep_state ? 1 : 0;
  o.con_retry_time_ms = d.con_retry_time.count();
  o.system_messages = 1;
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
    } else if (!initialised(options, kClientOptionsV1)) {
      return invalid("proletariat_client_new: options not initialised with proletariat_client_options_init");
    }
    if (options->endpoint == nullptr) return invalid("proletariat_client_new: options.endpoint is NULL");
    proletariat::ClientOptions c;
    c.endpoint = options->endpoint;
    c.keep_state = options->keep_state != 0;
    c.con_retry_time = required_ms(options->con_retry_time_ms, "con_retry_time_ms");
    c.name = copy_string(options->name);
    if (covers(options, offsetof(proletariat_client_options, system_messages), sizeof options->system_messages)) {
      c.system_messages = options->system_messages != 0;
    }
    if (covers(options, offsetof(proletariat_client_options, identity), sizeof options->identity)) {
      c.identity = copy_string(options->identity);
    }
    if (covers(options, offsetof(proletariat_client_options, curve_secret_key), sizeof options->curve_secret_key)) {
      c.curve = curve_options(options->curve_server_key, options->curve_public_key, options->curve_secret_key,
                              "proletariat_client_new");
    }
    if (c.identity.empty()) c.identity = random_identity();
    auto handle = std::make_unique<proletariat_client>();
    handle->identity = c.identity;  // checked by the Client (1 to 128 bytes of UTF-8)
    handle->link->client = std::make_unique<proletariat::Client>(std::move(c));
    *client = handle.release();
    return PROLETARIAT_OK;
  });
}

void proletariat_client_destroy(proletariat_client** client) {
  if (client == nullptr || *client == nullptr) return;
  if (in_callback_of((*client)->link.get())) {
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

[[noreturn]] void bad_field(const std::string& message) {
  throw proletariat::Error(std::string(errc::kBadField), message);
}

// Checked by the Client as the manager would (max, factor, jitter, codes); here only
// what C adds: initialisation, NULL pointers, negative durations.
proletariat::RetryPolicy retry_policy(const proletariat_retry_options& options) {
  if (!initialised(&options)) bad_field("retry options not initialised with proletariat_retry_options_init");
  if (options.codes == nullptr && options.codes_count != 0) bad_field("retry.codes is NULL with a count");
  proletariat::RetryPolicy policy;
  policy.max = options.max;
  policy.codes.reserve(options.codes_count);
  for (std::size_t i = 0; i < options.codes_count; ++i) {
    if (options.codes[i] == nullptr) bad_field("retry.codes[" + std::to_string(i) + "] is NULL");
    policy.codes.emplace_back(options.codes[i]);
  }
  policy.initial = required_ms(options.initial_ms, "retry.initial_ms");
  policy.factor = options.factor;
  policy.max_delay = required_ms(options.max_delay_ms, "retry.max_delay_ms");
  policy.jitter = options.jitter;
  return policy;
}

proletariat::WorkOptions work_options(const proletariat_work_options* options) {
  proletariat::WorkOptions w;
  if (options == nullptr) return w;
  if (!initialised(options, kWorkOptionsV1)) {
    bad_field("work options not initialised with proletariat_work_options_init");
  }
  w.timeout = optional_ms(options->timeout_ms, "timeout_ms");
  w.run_timeout = optional_ms(options->run_timeout_ms, "run_timeout_ms");
  w.assign_timeout = optional_ms(options->assign_timeout_ms, "assign_timeout_ms");
  w.priority = options->priority;  // checked by the Client (finite, >= 0)
  if (covers(options, offsetof(proletariat_work_options, retry), sizeof options->retry)) {
    w.delay = optional_ms(options->delay_ms, "delay_ms");  // with at: refused by the Client
    if (options->at_ms != PROLETARIAT_NO_TIMEOUT) {
      using std::chrono::system_clock;
      const auto latest = std::chrono::duration_cast<milliseconds>(system_clock::duration::max()).count();
      if (options->at_ms < 0 || options->at_ms > latest) {
        bad_field("at_ms must be ms since the Unix epoch (>= 0) or PROLETARIAT_NO_TIMEOUT, not " +
                  std::to_string(options->at_ms));
      }
      w.at = system_clock::time_point(std::chrono::duration_cast<system_clock::duration>(milliseconds{options->at_ms}));
    }
    w.group = copy_string(options->group);  // checked by the Client (UTF-8, length)
    if (options->retry != nullptr) w.retry = retry_policy(*options->retry);
  }
  return w;
}

proletariat_status push(proletariat_client* client, const char* name, const proletariat_job_spec* jobs,
                        std::size_t count, const proletariat_work_options* options, proletariat_each_fn each,
                        proletariat_done_fn done, proletariat_progress_fn progress, void* user_data,
                        proletariat_request** request, bool need_request) {
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
    state->progress = progress;
    state->user_data = user_data;
    state->results.results.resize(count);
    state->results.views.reserve(count);  // so that build_views never allocates
    std::unique_ptr<proletariat_request> handle;
    if (request != nullptr) {
      handle = std::make_unique<proletariat_request>();
      handle->state = state;
      handle->link = client->link;
      handle->size = count;
    }

    // Everything that can fail is done: from here the push happens.
    // Callbacks are tagged with the link, which requests share: unlike the client's
    // address, it cannot be reused by another client while a request can ask.
    const void* owner = client->link.get();
    proletariat::Client::ProgressCallback on_progress;  // empty: the Client drops the request's progress
    if (progress != nullptr) {
      on_progress = [state, owner](const proletariat::Payload& report, const proletariat::JobRef& ref) {
        proletariat::Payload owned;
        try {
          owned = c_payload(report);
        } catch (...) {
          return;  // out of memory copying a report: that one is lost, not the loop
        }
        const char* data = nullptr;
        std::size_t len = 0;
        int raw = 0;
        payload_view(owned, &data, &len, &raw);
        CallbackScope scope(owner);
        state->progress(ref.index, data, len, raw, state->user_data);
      };
    }
    const auto id = c.work_individual(
        std::move(specs), wo,
        [state, owner](const proletariat::Result& result, const proletariat::JobRef& ref) {
          if (ref.index >= state->results.results.size()) return;  // cannot happen: the Client keeps positions
          try {
            state->results.results[ref.index] = c_result(result);
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
        },
        std::move(on_progress));
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

size_t proletariat_client_identity(const proletariat_client* client, char* buf, size_t buf_size) {
  if (buf != nullptr && buf_size > 0) buf[0] = '\0';
  if (client == nullptr) {
    invalid("proletariat_client_identity: client is NULL");
    return 0;
  }
  return copy_id(client->identity, buf, buf_size);
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
  return push(client, "proletariat_client_push", jobs, count, options, nullptr, nullptr, nullptr, nullptr, request,
              true);
}

proletariat_status proletariat_client_push_cb(proletariat_client* client, const proletariat_job_spec* jobs,
                                              size_t count, const proletariat_work_options* options,
                                              proletariat_each_fn each, proletariat_done_fn done, void* user_data,
                                              proletariat_request** request) {
  return push(client, "proletariat_client_push_cb", jobs, count, options, each, done, nullptr, user_data, request,
              false);
}

proletariat_status proletariat_client_push_progress(proletariat_client* client, const proletariat_job_spec* jobs,
                                                    size_t count, const proletariat_work_options* options,
                                                    proletariat_each_fn each, proletariat_done_fn done,
                                                    proletariat_progress_fn progress, void* user_data,
                                                    proletariat_request** request) {
  return push(client, "proletariat_client_push_progress", jobs, count, options, each, done, progress, user_data,
              request, false);
}

proletariat_status proletariat_client_push_one(proletariat_client* client, const char* json, size_t len,
                                               const proletariat_work_options* options, proletariat_request** request) {
  if (json == nullptr && len != 0) return invalid("proletariat_client_push_one: json is NULL with a length");
  proletariat_job_spec spec{};
  spec.args = json;
  spec.args_len = len;
  return push(client, "proletariat_client_push_one", &spec, 1, options, nullptr, nullptr, nullptr, nullptr, request,
              true);
}

void proletariat_work_options_init_sized(proletariat_work_options* options, size_t size) {
  proletariat_work_options o{};
  o.timeout_ms = PROLETARIAT_NO_TIMEOUT;
  o.run_timeout_ms = PROLETARIAT_NO_TIMEOUT;
  o.assign_timeout_ms = PROLETARIAT_NO_TIMEOUT;
  o.priority = 0;
  o.delay_ms = PROLETARIAT_NO_TIMEOUT;
  o.at_ms = PROLETARIAT_NO_TIMEOUT;
  o.group = nullptr;
  o.retry = nullptr;
  init_sized(options, size, o);
}

void proletariat_retry_options_init_sized(proletariat_retry_options* options, size_t size) {
  const proletariat::RetryPolicy d;
  proletariat_retry_options o{};
  o.max = d.max;
  o.codes = nullptr;
  o.codes_count = 0;
  o.initial_ms = d.initial.count();
  o.factor = d.factor;
  o.max_delay_ms = d.max_delay.count();
  o.jitter = d.jitter;
  init_sized(options, size, o);
}

// --- requests and results --------------------------------------------------------------------

proletariat_status proletariat_request_wait(proletariat_request* request, int64_t timeout_ms,
                                            const proletariat_results** results) {
  if (results != nullptr) *results = nullptr;
  if (request == nullptr) return invalid("proletariat_request_wait: request is NULL");
  if (auto s = check_timeout_arg(timeout_ms); s != PROLETARIAT_OK) return s;
  if (timeout_ms != 0 && in_callback_of(request->link.get())) {
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
  if (count == 0)
    return request != nullptr ? PROLETARIAT_OK : invalid("proletariat_request_abort_jobs: request is NULL");
  try {
    return abort_request(request, "proletariat_request_abort_jobs", std::vector<std::size_t>(indices, indices + count));
  } catch (...) {
    return set_error(PROLETARIAT_ENOMEM, kNoMemory, "out of memory");
  }
}

uint64_t proletariat_request_id(const proletariat_request* request) {
  return request != nullptr ? request->id : 0;
}
size_t proletariat_request_size(const proletariat_request* request) {
  return request != nullptr ? request->size : 0;
}

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

// --- administration: dead letters and group limits -------------------------------------------

namespace {

void fill(proletariat_admin_reply& reply, proletariat::DeadLetterReply&& answer) {
  reply.json = answer.reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  reply.payloads.reserve(answer.payloads.size());
  for (const auto& payload : answer.payloads) reply.payloads.push_back(c_payload(payload));
}

void fill(proletariat_admin_reply& reply, nlohmann::json&& answer) {
  reply.json = answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Asks through the client (under the link's shared lock), then waits for the answer
// outside it: a client destroyed meanwhile fails the call rather than waiting for it.
template <typename Ask>
proletariat_status admin(proletariat_client* client, const char* name, proletariat_admin_reply** reply, Ask&& ask) {
  if (reply == nullptr) return invalid(std::string(name) + ": reply (the out pointer) is NULL");
  *reply = nullptr;
  if (client == nullptr) return invalid(std::string(name) + ": client is NULL");
  if (in_callback_of(client->link.get())) {
    return bad_state(std::string(name) +
                     ": called from a callback of the same client, whose thread receives the manager's answer");
  }
  return guard([&] {
    decltype(ask(std::declval<proletariat::Client&>())) future;
    {
      std::shared_lock lock(client->link->mutex);
      if (!client->link->client) return bad_state(std::string(name) + ": the client is being destroyed");
      future = ask(*client->link->client);
    }
    auto handle = std::make_unique<proletariat_admin_reply>();
    try {
      fill(*handle, future.get());
    } catch (const std::future_error&) {
      return set_error(PROLETARIAT_EFAILED, errc::kConnectionLost,
                       std::string(name) + ": the client was destroyed before the manager answered");
    }
    *reply = handle.release();
    return PROLETARIAT_OK;
  });
}

std::vector<std::uint64_t> id_list(const uint64_t* ids, std::size_t count) {
  return count == 0 ? std::vector<std::uint64_t>() : std::vector<std::uint64_t>(ids, ids + count);
}

}  // namespace

proletariat_status proletariat_client_dead_letters(proletariat_client* client, size_t limit,
                                                   proletariat_admin_reply** reply) {
  return admin(client, "proletariat_client_dead_letters", reply,
               [&](proletariat::Client& c) { return c.dead_letters(limit); });
}

proletariat_status proletariat_client_dead_letters_show(proletariat_client* client, const uint64_t* ids, size_t count,
                                                        proletariat_admin_reply** reply) {
  if (reply != nullptr) *reply = nullptr;
  if (ids == nullptr || count == 0) {
    return invalid("proletariat_client_dead_letters_show: no ids (NULL or a count of 0)");
  }
  return admin(client, "proletariat_client_dead_letters_show", reply,
               [&](proletariat::Client& c) { return c.dead_letters_show(id_list(ids, count)); });
}

proletariat_status proletariat_client_dead_letters_requeue(proletariat_client* client, const uint64_t* ids,
                                                           size_t count, proletariat_admin_reply** reply) {
  if (reply != nullptr) *reply = nullptr;
  if (ids == nullptr && count != 0) return invalid("proletariat_client_dead_letters_requeue: ids is NULL with a count");
  return admin(client, "proletariat_client_dead_letters_requeue", reply,
               [&](proletariat::Client& c) { return c.dead_letters_requeue(id_list(ids, count)); });
}

proletariat_status proletariat_client_dead_letters_purge(proletariat_client* client, const uint64_t* ids, size_t count,
                                                         proletariat_admin_reply** reply) {
  if (reply != nullptr) *reply = nullptr;
  if (ids == nullptr && count != 0) return invalid("proletariat_client_dead_letters_purge: ids is NULL with a count");
  return admin(client, "proletariat_client_dead_letters_purge", reply,
               [&](proletariat::Client& c) { return c.dead_letters_purge(id_list(ids, count)); });
}

proletariat_status proletariat_client_group_limits(proletariat_client* client, proletariat_admin_reply** reply) {
  return admin(client, "proletariat_client_group_limits", reply,
               [](proletariat::Client& c) { return c.group_limits(); });
}

proletariat_status proletariat_client_set_group_limits(proletariat_client* client, const char* group,
                                                       int64_t max_running, double rate,
                                                       proletariat_admin_reply** reply) {
  if (reply != nullptr) *reply = nullptr;
  if (group == nullptr || group[0] == '\0') {
    return invalid("proletariat_client_set_group_limits: group is NULL or empty");
  }
  return guard([&] {
    const auto limit = optional_limit(max_running, "max_running");
    const auto starts = optional_rate(rate, "rate");
    return admin(client, "proletariat_client_set_group_limits", reply,
                 [&](proletariat::Client& c) { return c.set_group_limits(group, limit, starts); });
  });
}

proletariat_status proletariat_client_clear_group_limits(proletariat_client* client, const char* group,
                                                         proletariat_admin_reply** reply) {
  if (reply != nullptr) *reply = nullptr;
  if (group == nullptr || group[0] == '\0') {
    return invalid("proletariat_client_clear_group_limits: group is NULL or empty");
  }
  return admin(client, "proletariat_client_clear_group_limits", reply,
               [&](proletariat::Client& c) { return c.clear_group_limits(group); });
}

const char* proletariat_admin_reply_json(const proletariat_admin_reply* reply, size_t* len) {
  if (reply == nullptr) {
    if (len != nullptr) *len = 0;
    return "";
  }
  if (len != nullptr) *len = reply->json.size();
  return reply->json.c_str();
}

size_t proletariat_admin_reply_payload_count(const proletariat_admin_reply* reply) {
  return reply != nullptr ? reply->payloads.size() : 0;
}

const char* proletariat_admin_reply_payload(const proletariat_admin_reply* reply, size_t index, size_t* len, int* raw) {
  if (len != nullptr) *len = 0;
  if (raw != nullptr) *raw = 0;
  if (reply == nullptr || index >= reply->payloads.size()) return nullptr;
  const char* data = nullptr;
  std::size_t size = 0;
  int is_raw = 0;
  payload_view(reply->payloads[index], &data, &size, &is_raw);
  if (len != nullptr) *len = size;
  if (raw != nullptr) *raw = is_raw;
  return data;
}

void proletariat_admin_reply_destroy(proletariat_admin_reply** reply) {
  if (reply == nullptr || *reply == nullptr) return;
  delete *reply;
  *reply = nullptr;
}
