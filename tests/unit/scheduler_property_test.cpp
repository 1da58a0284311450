// Property tests of the scheduler: seeded random sequences of every call the
// dispatcher can make, checked after every step against an independent model.
//
// The model keeps its own workers (offers, running jobs in assignment order), jobs,
// queues (sorted by (order, seq), see scheduler.cpp), hold lists and clients, and
// decides admission by brute force (Hall's condition over every set of ranges), not
// with SlotPools. It predicts the exact effects of complete/abort/abort_client/
// remove_worker and validates each effect of dispatch/expire as it is replayed:
//  - no worker ever runs more than its pools allow, and the scheduler's counters,
//    states, running lists and next deadline agree with the model;
//  - every assigned job was the head of its queue (FIFO, requeue to front, promoted
//    jobs by submission order) and its attempt is the previous one + 1;
//  - no job starts while a job of higher priority (or equal priority and earlier in
//    order) that could have taken the same worker's slot is queued;
//  - after dispatch with throttling off, no queued job fits on any worker offering
//    its service; after expire, no queued job is past its deadline;
//  - every job ends exactly once (Finished, Failed or abort), held jobs with their
//    leader as source;
//  - poison jobs (SPEC 5): the model counts each job's worker deaths, makes it suspect
//    at suspect_after, and predicts every GaveUp and Failed{poison} exactly; a job
//    fails because of a death only if it was running alone (a suspect); a worker
//    running a suspect runs exactly one job; a suspect goes only to an idle worker no
//    other suspect reserved, or to the one it reserved; each Reserved effect names
//    the live capable worker with the fewest running jobs (ties: lowest slot) that
//    is neither reserved nor running a suspect, and only when no capable worker is
//    idle; reserved and alone workers take no other job (the scheduler's `reserved`
//    flag and the "nothing placeable" check agree with that); the jobs behind a
//    waiting suspect go on, and a suspect that waits really had nowhere to go.
//
// The job lifecycle (PROTOCOL §14), in every configuration:
//  - groups (0-6 a run, some jobs without one) with random default and per-group
//    limits (max_running 0..4 or none, rate 0, 0.5..50/s or none), set and cleared at
//    random points while the fake clock moves on in random steps. The model keeps each
//    group's token bucket itself (max(1, rate) tokens, 0 for rate 0, full when the
//    group's rate changes, refilled continuously, one per start). Every Assigned of a
//    group job finds fewer than max_running of the group running and a whole token
//    (up to 1e-6); lowering a limit may leave more running, which is allowed;
//  - a job is parked (state_of) only by a dispatch() that leaves its group without
//    budget, and unparked only by a dispatch() that began with budget; a parked job
//    says group_running_limit when its group runs max_running, group_rate_limit
//    otherwise; a job passed in its queue or by priority is excused by its group only
//    if the group had no budget then (or it was parked before the round);
//  - after dispatch() (unthrottled, no selector), no queued *or parked* job fits on a
//    worker that takes jobs while its group has budget (min(max_running - running,
//    whole tokens)): the "nothing placeable" check with the group as the only new
//    excuse (behind a queued job its group holds now, a suspect need not have reserved:
//    the round may have stopped at that job while the group still had budget); a
//    group left with parked jobs for want of a token alone has next_deadline() at or
//    before its next token;
//  - a round that parks a suspect ends its reservation (no effect says so): while its
//    effects are replayed, a worker reserved by a suspect whose group has no budget
//    may or may not take jobs, and one that does must have had its suspect parked; a
//    suspect whose reserved worker is idle runs there by the end of the round (or is
//    parked), also past jobs ahead of it in its queue, which may not take that worker;
//  - delayed jobs (not_before in the future) are `delayed` (why_waiting delayed),
//    never assigned before their time, queued (or held) by the first dispatch() at or
//    after it, at the back of their queue, in (due, submission) order; due_soonest()
//    lists delayed jobs and retries soonest first; abort drops them;
//  - retries replace some completions (retry(job, worker, attempt, now + backoff)):
//    the slot is freed, the job waits (why_waiting retry_backoff) and queues at the
//    back once due, keeps leading its held jobs (which then get its final result),
//    and no longer has an assign deadline; stale retries are refused;
//  - stats() delayed/retrying/parked/retried and group_stats() agree with the model.
//
// A failure names the configuration, seed and step. To reproduce or soak:
//   PROLETARIAT_PROPERTY_SEED=<seed> PROLETARIAT_PROPERTY_STEPS=<n>
//   PROLETARIAT_PROPERTY_SEEDS=<seeds per configuration>
//   PROLETARIAT_PROPERTY_TRACE=1 (every step, its effects and the model's jobs, on stderr)
//   unit_tests --gtest_filter='SchedulerProperty.*'
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "scheduler/scheduler.hpp"

namespace proletariat::broker {
namespace {

using namespace std::chrono_literals;

const char* reason_name(FailReason reason) {
  switch (reason) {
    case FailReason::assign_timeout:
      return "assign_timeout";
    case FailReason::poison:
      return "poison";
  }
  return "?";
}

std::string describe(const JobFacts& facts) {
  std::ostringstream out;
  out << "{c" << facts.client << ",p" << facts.priority << ",k'" << facts.key << "',s'" << facts.service << "',g'"
      << facts.group << "',#" << facts.attempt << "}";
  return out.str();
}

std::string describe(const Effect& effect) {
  std::ostringstream out;
  if (const auto* a = std::get_if<Assigned>(&effect)) {
    out << "Assigned{" << a->job << ",w" << a->worker << ",#" << a->attempt << "}";
  } else if (const auto* f = std::get_if<Finished>(&effect)) {
    out << "Finished{" << f->job << ",c" << f->client << ",src" << f->source << describe(f->facts) << "}";
  } else if (const auto* x = std::get_if<Failed>(&effect)) {
    out << "Failed{" << x->job << ",c" << x->client << "," << reason_name(x->reason) << describe(x->facts) << "}";
  } else if (const auto* b = std::get_if<AbortOnWorker>(&effect)) {
    out << "AbortOnWorker{" << b->job << ",w" << b->worker << ",#" << b->attempt << describe(b->facts) << "}";
  } else if (const auto* g = std::get_if<GaveUp>(&effect)) {
    out << "GaveUp{" << g->job << ",w" << g->worker << describe(g->facts) << "}";
  } else if (const auto* r = std::get_if<Reserved>(&effect)) {
    out << "Reserved{" << r->job << ",w" << r->worker << "}";
  }
  return out.str();
}

std::vector<std::string> describe(const Effects& effects) {
  std::vector<std::string> out;
  for (const Effect& effect : effects) out.push_back(describe(effect));
  return out;
}

std::string describe(const GroupLimits& limits) {
  std::ostringstream out;
  out << "{max_running ";
  if (limits.max_running) out << *limits.max_running; else out << "none";
  out << ", rate ";
  if (limits.rate) out << *limits.rate; else out << "none";
  out << "}";
  return out.str();
}

const char* wait_name(WaitReason reason) {
  switch (reason) {
    case WaitReason::none: return "none";
    case WaitReason::no_worker: return "no_worker";
    case WaitReason::no_worker_for_service: return "no_worker_for_service";
    case WaitReason::no_free_slot: return "no_free_slot";
    case WaitReason::held_behind_key: return "held_behind_key";
    case WaitReason::throttled: return "throttled";
    case WaitReason::needs_idle_worker: return "needs_idle_worker";
    case WaitReason::delayed: return "delayed";
    case WaitReason::retry_backoff: return "retry_backoff";
    case WaitReason::group_running_limit: return "group_running_limit";
    case WaitReason::group_rate_limit: return "group_rate_limit";
  }
  return "?";
}

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::strtoull(value, nullptr, 10) : fallback;
}

struct Config {
  const char* name;
  bool sacred = false;
  bool hold = false;
  bool throttle = false;  // AVAIL_THRESHOLD and DISTRIB_RANDMAX on
  bool selector = false;  // a random custom selector that sometimes declines
  unsigned suspect_after = 2;  // low, so that runs make suspects and poison often
};

// Token arithmetic of the model and the scheduler differ by rounding: a start needs
// tokens >= 1 - kTokenSlack, and a group counts as out of tokens (an excuse to wait)
// below 1 + kTokenSlack.
constexpr double kTokenSlack = 1e-6;

class PropertyRun {
 public:
  PropertyRun(const Config& config, std::uint64_t seed) : config_(config), rng_(seed), picker_(seed ^ 0x5eedU) {
    SchedulerOptions options;
    options.sacred_guarantees = config.sacred;
    options.hold_similar_work = config.hold;
    options.suspect_after = config.suspect_after;
    options.seed = seed * 31 + 7;
    if (config.throttle) {
      options.avail_threshold = 4;
      options.distrib_randmax = 3ms;
    }
    s_ = Scheduler(options);
    if (config.selector) {
      s_.set_selector([this](const JobView& job, std::span<const Candidate> candidates) {
        return select(job, candidates);
      });
    }
    // The lifecycle of this run: its groups, their default limits, how often jobs are
    // delayed and attempts retried.
    const auto group_count = std::uniform_int_distribution<int>(0, 6)(rng_);
    for (int g = 0; g < group_count; ++g) group_names_.push_back("g" + std::to_string(g));
    if (chance(0.6)) {
      defaults_ = random_limits();
      s_.set_group_defaults(defaults_);
    }
    delay_share_ = std::uniform_real_distribution<double>(0.05, 0.3)(rng_);
  }

  // Runs `steps` random steps; stops at the first failure.
  void run(std::uint64_t steps) {
    for (step_ = 0; step_ < steps; ++step_) {
      one_step();
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "failed in config " << config_.name << " at step " << step_ << " (" << op_ << ")";
        return;
      }
    }
    drain();
  }

  // How often the interesting paths were taken, to make sure the run covers them.
  std::map<std::string, int> counts;

 private:
  static constexpr std::size_t kMaxWorkers = 6;
  static constexpr std::size_t kMaxLiveJobs = 80;

  // queued: in its queue, or parked there by its group's limits (MJob::parked, read
  // from the scheduler: which jobs a round parks is the scheduler's to decide, the
  // model checks that it may). delayed: a delay or a retry's backoff.
  enum class St { queued, held, running, delayed };

  struct MJob {
    JobId id = 0;
    ClientSlot client = 0;
    double priority = 0;
    std::string key;
    std::string service;
    std::string group;
    std::optional<TimePoint> deadline;
    std::uint64_t seq = 0;
    std::int64_t order = 0;
    St st = St::queued;
    unsigned attempt = 0;
    unsigned lost = 0;
    WorkerSlot worker = 0;
    bool leads = false;
    bool suspect = false;                 // lost >= suspect_after: runs alone
    std::optional<WorkerSlot> reserves;   // when a queued suspect: the worker it reserved
    bool parked = false;                  // when queued: parked by its group
    TimePoint due{};                      // when delayed
    bool retrying = false;                // when delayed: a retry's backoff
    bool retried = false;                 // was retried at least once
  };

  // What an effect reporting this job's end (or loss) must carry.
  static JobFacts facts_of(const MJob& job) {
    return JobFacts{job.client, job.priority, job.key, job.service, job.attempt, 0, job.group};
  }

  struct MWorker {
    bool live = false;
    std::vector<double> starts;  // starts[0] == 0
    std::vector<unsigned> pool;  // pool sizes, same index
    std::vector<std::string> services;
    std::vector<JobId> running;  // assignment order
    std::optional<JobId> reserved_by;  // the queued suspect waiting for it to empty
  };

  // A group's own limits and the model's token bucket.
  struct MGroup {
    std::optional<GroupLimits> own;
    double tokens = 0;
    TimePoint refilled{};
  };

  using QueueKey = std::pair<double, std::string>;

  // ------------------------------------------------------------ brute-force model

  static bool offers(const MWorker& worker, const std::string& service) {
    if (worker.services.empty()) return service.empty();
    return std::find(worker.services.begin(), worker.services.end(), service) != worker.services.end();
  }

  static std::size_t range_on(const MWorker& worker, double priority) {
    std::size_t range = 0;
    for (std::size_t i = 0; i < worker.starts.size(); ++i) {
      if (worker.starts[i] <= priority) range = i;
    }
    return range;
  }

  std::vector<unsigned> used_on(const MWorker& worker) const {
    std::vector<unsigned> used(worker.starts.size(), 0);
    for (const JobId id : worker.running) ++used[range_on(worker, jobs_.at(id).priority)];
    return used;
  }

  // Hall's condition: every set of ranges needs no more slots than the pools it may use.
  bool feasible(const MWorker& worker, const std::vector<unsigned>& used) const {
    const std::size_t n = worker.pool.size();
    for (std::uint32_t subset = 1; subset < (1U << n); ++subset) {
      std::uint64_t need = 0;
      std::uint32_t reach = 0;
      for (std::size_t k = 0; k < n; ++k) {
        if ((subset & (1U << k)) == 0) continue;
        need += used[k];
        reach |= config_.sacred ? (1U | (1U << k)) : ((1U << (k + 1)) - 1);
      }
      std::uint64_t have = 0;
      for (std::size_t p = 0; p < n; ++p) {
        if ((reach & (1U << p)) != 0) have += worker.pool[p];
      }
      if (need > have) return false;
    }
    return true;
  }

  bool fits(const MWorker& worker, double priority) const {
    std::vector<unsigned> used = used_on(worker);
    ++used[range_on(worker, priority)];
    return feasible(worker, used);
  }

  // Free slots for `priority`, counting also `extra` jobs assigned to the worker that
  // the model has not replayed yet (earlier in the same dispatch round).
  unsigned free_on(const MWorker& worker, double priority, const std::vector<JobId>& extra = {}) const {
    std::vector<unsigned> used = used_on(worker);
    for (const JobId id : extra) ++used[range_on(worker, jobs_.at(id).priority)];
    const std::size_t range = range_on(worker, priority);
    unsigned n = 0;
    for (;;) {
      ++used[range];
      if (!feasible(worker, used)) return n;
      ++n;
    }
  }

  // Free slots for `priority` on the worker when it runs nothing.
  unsigned most_on(const MWorker& worker, double priority) const {
    std::vector<unsigned> used(worker.starts.size(), 0);
    const std::size_t range = range_on(worker, priority);
    unsigned n = 0;
    for (;;) {
      ++used[range];
      if (!feasible(worker, used)) return n;
      ++n;
    }
  }

  // Runs a suspect (then alone: its only job).
  bool alone(const MWorker& worker) const {
    return !worker.running.empty() && jobs_.at(worker.running.front()).suspect;
  }
  // Takes no new job: reserved by a suspect, or running one.
  bool blocked(const MWorker& worker) const { return worker.reserved_by.has_value() || alone(worker); }

  // During a dispatch round, a suspect whose group has no budget may have been parked
  // by the round (which ends its reservation, with no effect to say so): until the
  // round's end shows whether it was, its reserved worker may or may not take jobs.
  bool uncertain(const MWorker& worker) const {
    return in_round_ && worker.reserved_by && spent(jobs_.at(*worker.reserved_by).group);
  }
  // A job went where only the end of such a reservation allows: the round must have
  // parked the suspect (checked when the round is over).
  void end_uncertain_reservation(MWorker& worker) {
    if (!uncertain(worker)) return;
    const JobId suspect = *worker.reserved_by;
    jobs_.at(suspect).reserves.reset();
    worker.reserved_by.reset();
    must_be_parked_.insert(suspect);
    ++counts["reservation ended by parking"];
  }

  // The suspect could start on this worker now (an idle one nobody reserved).
  bool idle_for(const MWorker& worker, const MJob& suspect) const {
    return worker.live && offers(worker, suspect.service) && worker.running.empty() && !worker.reserved_by &&
           most_on(worker, suspect.priority) > 0;
  }
  // The suspect could reserve this worker now.
  bool reservable_for(const MWorker& worker, const MJob& suspect) const {
    return worker.live && offers(worker, suspect.service) && !worker.reserved_by && !alone(worker) &&
           most_on(worker, suspect.priority) > 0;
  }

  static bool before(const MJob& a, const MJob& b) {
    return a.order != b.order ? a.order < b.order : a.seq < b.seq;
  }
  // `a` comes before `b` in a dispatch round.
  static bool ahead(const MJob& a, const MJob& b) {
    return a.priority > b.priority || (a.priority == b.priority && before(a, b));
  }

  std::vector<JobId>& queue_of(const MJob& job) { return queues_[QueueKey{job.priority, job.service}]; }

  // renewed: behind every job queued so far, as if submitted now (a delayed job or a
  // retry that is due).
  enum class Place { back, front, by_sequence, renewed };

  void enqueue(MJob& job, Place place) {
    std::vector<JobId>& queue = queue_of(job);
    job.st = St::queued;
    job.parked = false;
    job.reserves.reset();
    switch (place) {
      case Place::back:
        job.order = static_cast<std::int64_t>(job.seq);
        queue.push_back(job.id);
        break;
      case Place::renewed:
        job.order = static_cast<std::int64_t>(next_seq_++);
        queue.push_back(job.id);
        break;
      case Place::front:
        // Ahead of every job of the queue, parked ones included.
        job.order = --next_front_;
        queue.insert(queue.begin(), job.id);
        break;
      case Place::by_sequence: {
        job.order = static_cast<std::int64_t>(job.seq);
        const auto at = std::find_if(queue.begin(), queue.end(), [&](JobId other) { return before(job, jobs_.at(other)); });
        queue.insert(at, job.id);
        break;
      }
    }
  }

  // A job that enters the queues for the first time (submitted, or a delay ended):
  // held behind its key's leader, or leads it and queues.
  void hold_or_queue(MJob& job, Place place) {
    if (config_.hold && !job.key.empty()) {
      if (leader_.contains(job.key)) {
        job.st = St::held;
        held_[job.key].push_back(job.id);
        ++counts["held"];
        return;
      }
      job.leads = true;
      leader_[job.key] = job.id;
    }
    enqueue(job, place);
  }

  void unqueue(const MJob& job) {
    std::vector<JobId>& queue = queue_of(job);
    queue.erase(std::find(queue.begin(), queue.end(), job.id));
    if (queue.empty()) queues_.erase(QueueKey{job.priority, job.service});
  }

  // The leader of `key` ended without a result to share.
  void hand_over(const std::string& key) {
    std::deque<JobId>& list = held_[key];
    if (list.empty()) {
      leader_.erase(key);
      held_.erase(key);
      return;
    }
    const JobId next = list.front();
    list.pop_front();
    MJob& job = jobs_.at(next);
    job.leads = true;
    leader_[key] = next;
    enqueue(job, Place::by_sequence);
    ++counts["promoted"];
  }

  // Takes the job out of the model; a leader hands over (unless its held jobs were
  // already finished with its result).
  void end(JobId id) {
    MJob& job = jobs_.at(id);
    switch (job.st) {
      case St::queued:
        unqueue(job);
        if (job.reserves) {
          EXPECT_EQ(workers_[*job.reserves].reserved_by, std::optional<JobId>(id));
          workers_[*job.reserves].reserved_by.reset();
          ++counts["reservation ended by the suspect"];
        }
        break;
      case St::held: {
        std::deque<JobId>& list = held_[job.key];
        list.erase(std::find(list.begin(), list.end(), id));
        break;
      }
      case St::running: {
        std::vector<JobId>& running = workers_[job.worker].running;
        const auto it = std::find(running.begin(), running.end(), id);
        if (it != running.end()) running.erase(it);
        break;
      }
      case St::delayed:
        break;
    }
    const bool leads = job.leads;
    const std::string key = job.key;
    jobs_.erase(id);
    EXPECT_TRUE(ended_.insert(id).second) << "job " << id << " ended twice";
    if (leads) hand_over(key);
  }

  std::size_t count_state(St st) const {
    return static_cast<std::size_t>(
        std::count_if(jobs_.begin(), jobs_.end(), [&](const auto& entry) { return entry.second.st == st; }));
  }

  // ------------------------------------------------------------ groups

  MGroup& group(const std::string& name) {
    auto [it, inserted] = groups_.try_emplace(name);
    if (inserted) reset_bucket(it->second, limits_of(name));
    return it->second;
  }

  const GroupLimits& limits_of(const std::string& name) const {
    const auto it = groups_.find(name);
    return it != groups_.end() && it->second.own ? *it->second.own : defaults_;
  }

  static double capacity(double rate) { return rate > 0 ? std::max(1.0, rate) : 0.0; }

  // A rate that is new to the group starts with a full bucket.
  void reset_bucket(MGroup& g, const GroupLimits& limits) {
    g.tokens = limits.rate ? capacity(*limits.rate) : 0;
    g.refilled = now_;
  }

  // The group's tokens now (nullopt: no rate limit).
  std::optional<double> tokens(const std::string& name) const {
    const GroupLimits& limits = limits_of(name);
    if (!limits.rate) return std::nullopt;
    const auto it = groups_.find(name);
    if (it == groups_.end()) return capacity(*limits.rate);
    const MGroup& g = it->second;
    const double seconds = std::chrono::duration<double>(now_ - g.refilled).count();
    return std::min(capacity(*limits.rate), g.tokens + std::max(0.0, seconds) * *limits.rate);
  }

  std::size_t running_of(const std::string& name) const {
    return static_cast<std::size_t>(std::count_if(jobs_.begin(), jobs_.end(), [&](const auto& entry) {
      return entry.second.st == St::running && entry.second.group == name;
    }));
  }

  bool at_max_running(const std::string& name) const {
    const GroupLimits& limits = limits_of(name);
    return limits.max_running && running_of(name) >= *limits.max_running;
  }

  // The group may have no budget now (an excuse for its jobs to wait): it runs
  // max_running, or (about) no whole token is left.
  // `more` starts of the group not replayed yet (earlier in the round) count too.
  bool spent(const std::string& name, std::size_t more = 0) const {
    if (name.empty()) return false;
    const GroupLimits& limits = limits_of(name);
    if (limits.max_running && running_of(name) + more >= *limits.max_running) return true;
    const auto t = tokens(name);
    return t && *t - static_cast<double>(more) < 1 + kTokenSlack;
  }

  // The group certainly lets one more job start now (its limits' side of a start).
  bool startable(const std::string& name) const {
    if (name.empty()) return true;
    if (at_max_running(name)) return false;
    const auto t = tokens(name);
    return !t || *t >= 1 - kTokenSlack;
  }

  // A job of the group starts now: within its limits, and it takes a token.
  void start_in_group(const MJob& job) {
    if (job.group.empty()) return;
    const GroupLimits& limits = limits_of(job.group);
    MGroup& g = group(job.group);
    if (limits.max_running) {
      const std::size_t running = running_of(job.group);
      EXPECT_LT(running, *limits.max_running)
          << "job " << job.id << " of group " << job.group << " started with " << running << " running, limits "
          << describe(limits);
      ++counts["group start under max_running"];
    }
    if (limits.rate) {
      const double have = *tokens(job.group);
      EXPECT_GE(have, 1 - kTokenSlack) << "job " << job.id << " of group " << job.group << " started with " << have
                                       << " tokens, limits " << describe(limits);
      g.tokens = have - 1;
      g.refilled = now_;
      ++counts["group start with a token"];
    }
  }

  // Changes a group's limits (or the defaults) as the scheduler is told to: a group
  // whose rate in force changes starts with a full bucket.
  void change_limits(const std::function<void()>& apply) {
    std::map<std::string, GroupLimits> before_change;
    for (const auto& [name, g] : groups_) before_change[name] = limits_of(name);
    for (auto& [name, g] : groups_) g.tokens = tokens(name).value_or(0), g.refilled = now_;
    apply();
    for (auto& [name, g] : groups_) {
      if (limits_of(name).rate != before_change[name].rate) reset_bucket(g, limits_of(name));
    }
  }

  GroupLimits random_limits() {
    GroupLimits limits;
    if (chance(0.5)) limits.max_running = std::uniform_int_distribution<std::uint64_t>(0, 4)(rng_);
    if (chance(0.5)) {
      // 0 pauses the group; otherwise log-uniform over 0.5 .. 50 starts a second.
      limits.rate = chance(0.06) ? 0.0 : std::exp(std::uniform_real_distribution<double>(std::log(0.5), std::log(50.0))(rng_));
    }
    return limits;
  }

  // ------------------------------------------------------------ random choices

  template <class T>
  const T& pick(const std::vector<T>& items) {
    return items[std::uniform_int_distribution<std::size_t>(0, items.size() - 1)(rng_)];
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  std::vector<WorkerSlot> live_workers() const {
    std::vector<WorkerSlot> out;
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      if (workers_[w].live) out.push_back(w);
    }
    return out;
  }

  std::vector<JobId> jobs_in(St st) const {
    std::vector<JobId> out;
    for (const auto& [id, job] : jobs_) {
      if (job.st == st) out.push_back(id);
    }
    return out;
  }

  std::optional<std::size_t> select(const JobView& view, std::span<const Candidate> candidates) {
    // Check what the scheduler offers the selector against the model: exactly the
    // capable workers that may take the job now, with their free slots, counting the
    // effects of the round so far (not replayed into the model yet). A worker whose
    // reservation the round may have ended by parking its suspect may be offered or not.
    const auto found = jobs_.find(view.id);
    EXPECT_NE(found, jobs_.end()) << "selector asked about unknown job " << view.id;
    if (found == jobs_.end()) return std::nullopt;
    const MJob& job = found->second;
    EXPECT_EQ(view.group, job.group);
    EXPECT_FALSE(candidates.empty());
    // The round's starts so far, per group (the selector runs before the model replays them).
    std::map<std::string, std::size_t> started_now;
    for (const Effect& effect : *round_) {
      if (const auto* a = std::get_if<Assigned>(&effect)) ++started_now[jobs_.at(a->job).group];
    }
    std::map<WorkerSlot, std::vector<JobId>> earlier;
    std::set<WorkerSlot> blocked_now;
    std::set<WorkerSlot> maybe;
    for (const Effect& effect : *round_) {
      if (const auto* a = std::get_if<Assigned>(&effect)) {
        earlier[a->worker].push_back(a->job);
        if (jobs_.at(a->job).suspect) blocked_now.insert(a->worker);
      } else if (const auto* r = std::get_if<Reserved>(&effect)) {
        EXPECT_NE(r->job, job.id) << "a job that reserved in this round is not placed in it";
        const std::string& group = jobs_.at(r->job).group;
        (spent(group, started_now[group]) ? maybe : blocked_now).insert(r->worker);
      }
    }
    for (const WorkerSlot w : blocked_now) maybe.erase(w);
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      const MWorker& worker = workers_[w];
      if (!worker.reserved_by || blocked_now.contains(w)) continue;
      const std::string& group = jobs_.at(*worker.reserved_by).group;
      if (spent(group, started_now[group])) maybe.insert(w);
    }
    std::set<std::pair<WorkerSlot, unsigned>> expected;
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      const MWorker& worker = workers_[w];
      if (!worker.live || !offers(worker, job.service) || maybe.contains(w)) continue;
      if (job.suspect) {
        EXPECT_FALSE(job.reserves) << "a suspect with a reservation goes there without the selector";
        if (idle_for(worker, job) && earlier[w].empty() && !blocked_now.contains(w)) {
          expected.emplace(w, most_on(worker, job.priority));
        }
      } else {
        if (blocked(worker) || blocked_now.contains(w)) continue;
        const unsigned free_slots = free_on(worker, job.priority, earlier[w]);
        if (free_slots > 0) expected.emplace(w, free_slots);
      }
    }
    std::set<std::pair<WorkerSlot, unsigned>> offered;
    for (const Candidate& c : candidates) {
      if (!maybe.contains(c.worker)) offered.emplace(c.worker, c.free_slots);
    }
    EXPECT_EQ(offered, expected) << "candidates for job " << job.id << (job.suspect ? " (suspect)" : "");
    if (job.suspect) ++counts["selector asked for a suspect"];
    if (std::bernoulli_distribution(0.2)(picker_)) return std::nullopt;
    const auto pick_at = std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(picker_);
    if (maybe.contains(candidates[pick_at].worker)) return std::nullopt;  // keep the model certain
    return pick_at;
  }

  // ------------------------------------------------------------ steps

  void one_step() {
    // Weights (out of 100) keep the workers saturated much of the time, so that the
    // pool limits and the priority order decide most assignments.
    const int roll = std::uniform_int_distribution<int>(0, 99)(rng_);
    if (roll < 4) {
      op_ = "add_worker";
      add_worker();
    } else if (roll < 7) {
      op_ = "remove_worker";
      remove_worker();
    } else if (roll < 36) {
      op_ = "submit";
      submit();
    } else if (roll < 46) {
      op_ = "complete";
      complete(Completion::result);
    } else if (roll < 50) {
      op_ = "retry";
      retry();
    } else if (roll < 53) {
      op_ = "complete timed_out";
      complete(Completion::timed_out);
    } else if (roll < 55) {
      op_ = "stale answer";
      stale_answer();
    } else if (roll < 59) {
      op_ = "reject";
      reject();
    } else if (roll < 63) {
      op_ = "abort";
      abort();
    } else if (roll < 64) {
      op_ = "abort_client";
      abort_client();
    } else if (roll < 70) {
      op_ = "expire";
      expire();
    } else if (roll < 73) {
      op_ = "tick";
      tick();
    } else if (roll < 75) {
      op_ = "group limits";
      change_group_limits();
    } else if (roll < 99) {
      op_ = "dispatch";
      dispatch();
    } else {
      op_ = "compact";
      s_.compact();
    }
    if (trace_) trace_step();
    check_invariants();
  }

  // PROLETARIAT_PROPERTY_TRACE=1: every step and the model's waiting jobs, to debug a seed.
  void trace_step() {
    std::ostringstream out;
    out << "step " << step_ << " " << op_ << " now=" << now_.time_since_epoch().count() / 1000 << "us";
    for (const std::string& e : trace_effects_) out << " " << e;
    trace_effects_.clear();
    out << "\n  jobs:";
    for (const auto& [id, job] : jobs_) {
      static const char* kSt[] = {"q", "h", "r", "d"};
      out << " " << id << kSt[static_cast<int>(job.st)] << (job.parked ? "P" : "") << "(p" << job.priority << ",s'"
          << job.service << "',g'" << job.group << "',o" << job.order << (job.suspect ? ",S" : "");
      if (job.st == St::running) out << ",w" << job.worker;
      out << ")";
    }
    out << "\n  groups:";
    for (const auto& [name, g] : groups_) {
      out << " " << name << describe(limits_of(name)) << "run" << running_of(name);
      if (const auto t = tokens(name)) out << ",tok" << *t;
    }
    std::fprintf(stderr, "%s\n", out.str().c_str());
  }

  void add_worker() {
    if (live_workers().size() >= kMaxWorkers) return;
    Offer offer;
    offer.slots = std::uniform_int_distribution<unsigned>(1, 8)(rng_);
    unsigned left = offer.slots;
    for (const double start : {0.5, 1.0, 2.0, 3.5}) {
      if (!chance(0.3)) continue;
      const unsigned g = std::uniform_int_distribution<unsigned>(0, left)(rng_);
      offer.priority_slots[start] = g;
      left -= g;
    }
    static const std::vector<std::vector<std::string>> kServiceSets{{}, {}, {"a"}, {"b"}, {"a", "b"}, {"", "a"}};
    offer.services = pick(kServiceSets);
    const WorkerSlot w = s_.add_worker(offer);
    if (w >= workers_.size()) workers_.resize(w + 1);
    MWorker& worker = workers_[w];
    ASSERT_FALSE(worker.live) << "slot w" << w << " handed out while in use";
    worker = MWorker{};
    worker.live = true;
    worker.services = offer.services;
    worker.starts.push_back(0);
    worker.pool.push_back(left);
    for (const auto& [start, n] : offer.priority_slots) {
      worker.starts.push_back(start);
      worker.pool.push_back(n);
    }
    ++counts["workers added"];
  }

  void remove_worker() {
    const auto live = live_workers();
    if (live.empty()) return;
    // A poison job kills the worker that runs it: often the victim is one running a
    // suspect alone, otherwise any worker (an operator's kill -9, a crash).
    std::vector<WorkerSlot> running_alone;
    for (const WorkerSlot w : live) {
      if (alone(workers_[w])) running_alone.push_back(w);
    }
    const WorkerSlot w = !running_alone.empty() && chance(0.3) ? pick(running_alone) : pick(live);
    const WorkerLoss loss = chance(0.6) ? WorkerLoss::died : WorkerLoss::left;
    MWorker& worker = workers_[w];
    const std::vector<JobId> running = worker.running;
    const bool ran_alone = alone(worker);
    if (ran_alone) {
      EXPECT_EQ(running.size(), 1U) << "w" << w << " runs a suspect and more";
    }
    if (worker.reserved_by) {
      jobs_.at(*worker.reserved_by).reserves.reset();
      worker.reserved_by.reset();
      ++counts["reservation ended by the worker"];
    }
    worker.running.clear();
    worker.live = false;

    Effects expected;
    std::vector<JobId> survivors;
    std::set<JobId> poison;
    for (const JobId id : running) {
      MJob& job = jobs_.at(id);
      expected.emplace_back(GaveUp{id, w, facts_of(job)});
      if (loss == WorkerLoss::died) {
        ++job.lost;
        if (job.suspect) {
          expected.emplace_back(Failed{id, job.client, FailReason::poison, facts_of(job), {}});
          poison.insert(id);
          ++poisoned_;
          ++counts["poison"];
          end(id);
          continue;
        }
        if (job.lost >= std::max(1U, config_.suspect_after)) {
          job.suspect = true;
          ++counts["suspects"];
        }
      }
      if (job.suspect && loss == WorkerLoss::left) ++counts["suspect requeued by BYE"];
      survivors.push_back(id);
    }
    for (auto it = survivors.rbegin(); it != survivors.rend(); ++it) enqueue(jobs_.at(*it), Place::front);
    if (!running.empty()) ++counts["requeued by worker loss"];

    Effects fx;
    s_.remove_worker(w, loss, fx);
    // Blame is exact: a death fails a job only as poison, only if the job ran alone.
    for (const Effect& effect : fx) {
      if (const auto* failed = std::get_if<Failed>(&effect)) {
        EXPECT_EQ(failed->reason, FailReason::poison) << describe(effect);
        EXPECT_EQ(loss, WorkerLoss::died) << "a worker that left failed job " << failed->job;
        EXPECT_TRUE(ran_alone && running.size() == 1 && poison.contains(failed->job))
            << "job " << failed->job << " failed without running alone";
      }
    }
    EXPECT_EQ(describe(fx), describe(expected));
  }

  void submit() {
    if (jobs_.size() >= kMaxLiveJobs) return;
    static const std::vector<double> kPriorities{0, 0, 0, 0.25, 0.5, 1, 1, 1.5, 2, 3, 3.5, 7};
    static const std::vector<std::string> kKeys{"", "", "", "k1", "k2", "k3"};
    static const std::vector<std::string> kServices{"", "", "", "", "a", "a", "b", "c"};
    MJob job;
    job.id = next_id_++;
    job.seq = next_seq_++;
    job.client = std::uniform_int_distribution<ClientSlot>(0, 3)(rng_);
    job.priority = pick(kPriorities);
    job.key = pick(kKeys);
    job.service = pick(kServices);
    if (!group_names_.empty() && chance(0.75)) job.group = pick(group_names_);
    std::optional<TimePoint> not_before;
    if (chance(delay_share_)) {
      // Mostly in the future; sometimes now or past, which queues at once.
      const int us = std::uniform_int_distribution<int>(-5000, 60000)(rng_);
      not_before = now_ + std::chrono::microseconds(chance(0.1) ? 0 : us);
    }
    if (chance(0.3)) {
      // As the dispatcher does, an assign deadline counts from when the job queues.
      const TimePoint from = not_before ? std::max(now_, *not_before) : now_;
      job.deadline = from + std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(rng_));
    }

    JobSpec spec;
    spec.id = job.id;
    spec.client = job.client;
    spec.priority = job.priority;
    spec.key = job.key;
    spec.service = job.service;
    spec.assign_deadline = job.deadline;
    spec.not_before = not_before;
    spec.group = job.group;
    Effects fx;
    s_.submit(std::move(spec), now_, fx);
    EXPECT_TRUE(fx.empty());

    const JobId id = job.id;
    auto& stored = jobs_.emplace(id, std::move(job)).first->second;
    if (!stored.group.empty()) group(stored.group);
    if (not_before && *not_before > now_) {
      stored.st = St::delayed;
      stored.due = *not_before;
      ++counts["delayed"];
      return;
    }
    if (not_before) ++counts["delay already due"];
    hold_or_queue(stored, Place::back);
  }

  void complete(Completion how) {
    const auto running = jobs_in(St::running);
    if (running.empty()) return;
    const JobId id = pick(running);
    const MJob& job = jobs_.at(id);
    Effects expected;
    expected.emplace_back(Finished{id, job.client, id, facts_of(job)});
    std::vector<JobId> shared;
    if (how == Completion::result && job.leads) {
      for (const JobId h : held_[job.key]) {
        expected.emplace_back(Finished{h, jobs_.at(h).client, id, facts_of(jobs_.at(h))});
        shared.push_back(h);
      }
    }
    Effects fx;
    EXPECT_TRUE(s_.complete(id, job.worker, job.attempt, how, fx));
    EXPECT_EQ(describe(fx), describe(expected));

    if (!shared.empty()) {
      ++counts["shared results"];
      if (job.retried) ++counts["shared results after a retry"];
      const std::string key = job.key;
      for (const JobId h : shared) end(h);
      jobs_.at(id).leads = false;  // its key is free: nothing to hand over
      leader_.erase(key);
      held_.erase(key);
    } else if (how == Completion::result && jobs_.at(id).leads) {
      // A leader with nothing held: the key is free either way.
    }
    if (how == Completion::timed_out) ++counts["timed out"];
    end(id);
  }

  // The attempt failed and is retried after a backoff (sometimes one already over).
  void retry() {
    const auto running = jobs_in(St::running);
    if (running.empty()) return;
    const JobId id = pick(running);
    MJob& job = jobs_.at(id);
    const TimePoint due = now_ + std::chrono::microseconds(std::uniform_int_distribution<int>(-2000, 40000)(rng_));
    EXPECT_TRUE(s_.retry(id, job.worker, job.attempt, due));
    std::vector<JobId>& list = workers_[job.worker].running;
    list.erase(std::find(list.begin(), list.end(), id));
    job.st = St::delayed;
    job.due = due;
    job.retrying = true;
    job.retried = true;
    job.deadline.reset();  // an assign deadline applies only before the first assignment
    ++retried_;
    ++counts["retried"];
    if (job.leads && !held_[job.key].empty()) ++counts["retried leader kept its followers"];
  }

  void stale_answer() {
    const auto running = jobs_in(St::running);
    if (running.empty()) return;
    const MJob& job = jobs_.at(pick(running));
    Effects fx;
    const auto live = live_workers();
    WorkerSlot other = pick(live);
    if (other == job.worker && live.size() > 1) {
      const auto at = static_cast<std::size_t>(std::find(live.begin(), live.end(), other) - live.begin());
      other = live[(at + 1) % live.size()];
    }
    if (job.attempt > 1) {
      EXPECT_FALSE(s_.complete(job.id, job.worker, job.attempt - 1, Completion::result, fx));
      EXPECT_FALSE(s_.reject(job.id, job.worker, job.attempt - 1));
      EXPECT_FALSE(s_.retry(job.id, job.worker, job.attempt - 1, now_));
    }
    EXPECT_FALSE(s_.complete(job.id, job.worker, job.attempt + 1, Completion::result, fx));
    EXPECT_FALSE(s_.retry(job.id, job.worker, job.attempt + 1, now_));
    if (other != job.worker) {
      EXPECT_FALSE(s_.complete(job.id, other, job.attempt, Completion::timed_out, fx));
      EXPECT_FALSE(s_.reject(job.id, other, job.attempt));
      EXPECT_FALSE(s_.retry(job.id, other, job.attempt, now_));
    }
    EXPECT_FALSE(s_.complete(next_id_ + 1000, job.worker, 1, Completion::result, fx));
    EXPECT_FALSE(s_.retry(next_id_ + 1000, job.worker, 1, now_));
    // A job that is not running (waiting out a delay or a backoff, queued) cannot be retried.
    for (const auto& [id, other_job] : jobs_) {
      if (other_job.st == St::delayed || other_job.st == St::queued) {
        EXPECT_FALSE(s_.retry(id, other_job.worker, other_job.attempt, now_)) << "job " << id;
        break;
      }
    }
    EXPECT_TRUE(fx.empty());
  }

  void reject() {
    const auto running = jobs_in(St::running);
    if (running.empty()) return;
    const JobId id = pick(running);
    MJob& job = jobs_.at(id);
    EXPECT_TRUE(s_.reject(id, job.worker, job.attempt));
    std::vector<JobId>& list = workers_[job.worker].running;
    list.erase(std::find(list.begin(), list.end(), id));
    enqueue(job, Place::front);
    ++counts["rejected"];
  }

  void abort() {
    Effects fx;
    if (jobs_.empty() || chance(0.1)) {
      EXPECT_FALSE(s_.abort(next_id_ + 5000, fx));
      EXPECT_TRUE(fx.empty());
      return;
    }
    auto it = jobs_.begin();
    std::advance(it, std::uniform_int_distribution<std::size_t>(0, jobs_.size() - 1)(rng_));
    const MJob& job = it->second;
    Effects expected;
    if (job.st == St::running) expected.emplace_back(AbortOnWorker{job.id, job.worker, job.attempt, facts_of(job)});
    EXPECT_TRUE(s_.abort(job.id, fx));
    EXPECT_EQ(describe(fx), describe(expected));
    const char* what = "aborted queued";
    switch (job.st) {
      case St::held: what = "aborted held"; break;
      case St::running: what = "aborted running"; break;
      case St::delayed: what = job.retrying ? "aborted in backoff" : "aborted delayed"; break;
      case St::queued: what = job.parked ? "aborted parked" : "aborted queued"; break;
    }
    ++counts[what];
    end(job.id);
  }

  void abort_client_model(ClientSlot client, Effects& expected) {
    std::vector<JobId> mine;
    for (const auto& [id, job] : jobs_) {
      if (job.client == client) mine.push_back(id);  // ids rise with submission order
    }
    for (const JobId id : mine) {
      if (jobs_.at(id).st == St::held) end(id);
    }
    for (const JobId id : mine) {
      const auto it = jobs_.find(id);
      if (it == jobs_.end()) continue;
      if (it->second.st == St::running) {
        expected.emplace_back(AbortOnWorker{id, it->second.worker, it->second.attempt, facts_of(it->second)});
      }
      end(id);
    }
  }

  void abort_client() {
    const auto client = std::uniform_int_distribution<ClientSlot>(0, 4)(rng_);
    Effects expected;
    abort_client_model(client, expected);
    Effects fx;
    s_.abort_client(client, fx);
    EXPECT_EQ(describe(fx), describe(expected));
    ++counts["client aborts"];
  }

  // The clock moves on: token buckets refill, delays and backoffs run out.
  void tick() {
    const int us = chance(0.1) ? std::uniform_int_distribution<int>(0, 1500000)(rng_)
                               : std::uniform_int_distribution<int>(0, 30000)(rng_);
    now_ += std::chrono::microseconds(us);
  }

  void change_group_limits() {
    if (chance(0.25)) {
      const GroupLimits limits = chance(0.8) ? random_limits() : GroupLimits{};
      change_limits([&] { defaults_ = limits; });
      s_.set_group_defaults(limits);
      EXPECT_EQ(s_.group_defaults(), limits);
      ++counts["group defaults changed"];
      return;
    }
    if (group_names_.empty()) return;
    const std::string name = pick(group_names_);
    std::optional<GroupLimits> limits;
    if (chance(0.7)) limits = random_limits();
    group(name);
    change_limits([&] { groups_.at(name).own = limits; });
    s_.set_group_limits(name, limits);
    ++counts[limits ? "group limits set" : "group limits cleared"];
  }

  void expire() {
    now_ += std::chrono::microseconds(std::uniform_int_distribution<int>(0, 10000)(rng_));
    Effects fx;
    s_.expire(now_, fx);
    for (const Effect& effect : fx) {
      const auto* failed = std::get_if<Failed>(&effect);
      ASSERT_NE(failed, nullptr) << "expire only fails jobs: " << describe(effect);
      EXPECT_EQ(failed->reason, FailReason::assign_timeout);
      const auto it = jobs_.find(failed->job);
      ASSERT_NE(it, jobs_.end()) << "unknown or ended job " << failed->job;
      const MJob& job = it->second;
      EXPECT_EQ(job.st, St::queued) << "only queued (or parked) jobs expire: " << failed->job;
      EXPECT_EQ(failed->client, job.client);
      EXPECT_EQ(describe(failed->facts), describe(facts_of(job)));
      ASSERT_TRUE(job.deadline.has_value()) << "job " << failed->job << " has no assign deadline";
      EXPECT_LE(*job.deadline, now_);
      ++counts["assign timeouts"];
      if (job.parked) ++counts["parked job timed out"];
      end(job.id);
    }
    for (const auto& [id, job] : jobs_) {
      if (job.st == St::queued && job.deadline) {
        EXPECT_GT(*job.deadline, now_) << "job " << id << " should have expired";
      }
    }
  }

  // Delayed jobs and retries that are due queue, soonest first (ties: submission).
  void release_due() {
    std::vector<JobId> due;
    for (const auto& [id, job] : jobs_) {
      if (job.st == St::delayed && job.due <= now_) due.push_back(id);
    }
    std::sort(due.begin(), due.end(), [&](JobId a, JobId b) {
      const MJob& x = jobs_.at(a);
      const MJob& y = jobs_.at(b);
      return x.due != y.due ? x.due < y.due : x.seq < y.seq;
    });
    for (const JobId id : due) {
      MJob& job = jobs_.at(id);
      if (job.retrying) {
        job.retrying = false;
        enqueue(job, Place::renewed);  // a leader in backoff still leads its key
        ++counts["retry released"];
      } else {
        hold_or_queue(job, Place::renewed);
        ++counts["delayed released"];
      }
    }
  }

  void dispatch() {
    release_due();
    // What the groups allowed when the round began: a job comes back from parking only
    // if its group had budget then.
    std::map<std::string, bool> could_start;
    for (const std::string& name : group_names_) could_start[name] = startable(name);
    std::map<JobId, bool> parked_before;
    for (const auto& [id, job] : jobs_) {
      if (job.st == St::queued) parked_before[id] = job.parked;
    }
    parked_before_ = &parked_before;
    must_be_parked_.clear();
    idle_reservation_.clear();

    Effects fx;
    round_ = &fx;
    in_round_ = true;
    s_.dispatch(now_, fx);
    for (const Effect& effect : fx) {
      if (const auto* r = std::get_if<Reserved>(&effect)) {
        replay_reserved(*r);
        if (::testing::Test::HasFatalFailure()) break;
        continue;
      }
      const auto* a = std::get_if<Assigned>(&effect);
      ASSERT_NE(a, nullptr) << "dispatch only assigns and reserves: " << describe(effect);
      const auto it = jobs_.find(a->job);
      ASSERT_NE(it, jobs_.end()) << "unknown or ended job " << a->job;
      MJob& job = it->second;
      ASSERT_EQ(job.st, St::queued) << "job " << a->job << " assigned while not queued";
      ASSERT_TRUE(a->worker < workers_.size() && workers_[a->worker].live) << "dead worker w" << a->worker;
      MWorker& worker = workers_[a->worker];
      if (worker.reserved_by != std::optional<JobId>(a->job)) end_uncertain_reservation(worker);
      EXPECT_TRUE(offers(worker, job.service)) << "job " << a->job << " service '" << job.service << "' on w" << a->worker;
      EXPECT_EQ(a->attempt, job.attempt + 1);
      if (job.suspect && job.reserves == std::optional<WorkerSlot>(a->worker)) {
        // To its reserved worker, which no other job may take: it may pass the jobs
        // ahead of it in its queue.
        if (queue_of(job).front() != job.id) ++counts["suspect passed its queue to its reserved worker"];
      } else {
        check_only_suspects_ahead_in_queue(job);
      }
      EXPECT_TRUE(fits(worker, job.priority)) << "job " << a->job << " over the limits of w" << a->worker;
      check_jobs_ahead(job, a->worker);
      start_in_group(job);
      if (job.suspect) {
        EXPECT_TRUE(worker.running.empty()) << "suspect " << a->job << " started on busy w" << a->worker;
        if (job.reserves) {
          EXPECT_EQ(a->worker, *job.reserves) << "suspect " << a->job << " went elsewhere than its reservation";
          workers_[*job.reserves].reserved_by.reset();
          job.reserves.reset();
          ++counts["ran alone on its reservation"];
        } else {
          EXPECT_FALSE(worker.reserved_by) << "suspect " << a->job << " took w" << a->worker << " reserved by job "
                                           << *worker.reserved_by;
        }
        ++counts["ran alone"];
      } else {
        EXPECT_FALSE(blocked(worker)) << "job " << a->job << " started on w" << a->worker
                                      << ", which is reserved or runs a suspect";
      }
      if (job.parked) ++counts["assigned after parking"];
      job.st = St::running;
      job.parked = false;
      unqueue(job);
      job.worker = a->worker;
      job.attempt = a->attempt;
      worker.running.push_back(job.id);
      ++counts["assigned"];
      if (!job.group.empty()) ++counts["assigned in a group"];
    }
    in_round_ = false;
    round_ = nullptr;
    if (trace_) {
      trace_effects_ = describe(fx);
    }
    parked_before_ = nullptr;
    if (::testing::Test::HasFatalFailure()) return;
    sync_parked(could_start);
    for (const JobId id : idle_reservation_) {
      const MJob& job = jobs_.at(id);
      EXPECT_TRUE(job.st == St::running || job.parked)
          << "suspect " << id << " still waits after the round, its reserved worker idle";
    }
    if (!config_.throttle && !config_.selector) check_nothing_placeable();
    // No busy loop: what is left to do now is an expiry (expire() runs separately).
    if (!config_.throttle) {
      const auto next = s_.next_deadline();
      if (next && *next <= now_) {
        bool expiry_due = false;
        for (const auto& [id, job] : jobs_) expiry_due |= job.st == St::queued && job.deadline && *job.deadline <= now_;
        EXPECT_TRUE(expiry_due) << "after dispatch, next_deadline() is not in the future and no expiry is due";
      }
    }
  }

  // The round decided which waiting jobs its groups park: read it, and check that each
  // change was the group's to make.
  void sync_parked(const std::map<std::string, bool>& could_start) {
    for (auto& [id, job] : jobs_) {
      if (job.st != St::queued) continue;
      const JobState state = s_.state_of(id);
      if (state != JobState::queued && state != JobState::parked) {
        ADD_FAILURE() << "waiting job " << id << " is in state " << static_cast<int>(state);
        continue;
      }
      const bool parked = state == JobState::parked;
      if (must_be_parked_.contains(id)) {
        EXPECT_TRUE(parked) << "suspect " << id << " kept its reservation, yet its worker took another job";
      }
      if (parked == job.parked) continue;
      if (parked) {
        EXPECT_FALSE(job.group.empty()) << "job " << id << " without a group parked";
        EXPECT_TRUE(spent(job.group)) << "job " << id << " parked while group " << job.group << " has budget, limits "
                                      << describe(limits_of(job.group)) << ", running " << running_of(job.group);
        if (job.reserves) {
          workers_[*job.reserves].reserved_by.reset();
          job.reserves.reset();
          ++counts["reservation ended by parking"];
        }
        ++counts["parked"];
        ++counts[at_max_running(job.group) ? "parked at max_running" : "parked for want of a token"];
      } else {
        const auto can = could_start.find(job.group);
        EXPECT_TRUE(can != could_start.end() && can->second)
            << "job " << id << " unparked while group " << job.group << " had no budget";
        ++counts["unparked"];
      }
      job.parked = parked;
    }
  }

  void replay_reserved(const Reserved& r) {
    const auto it = jobs_.find(r.job);
    ASSERT_NE(it, jobs_.end()) << "unknown or ended job " << r.job << " reserved";
    MJob& job = it->second;
    ASSERT_EQ(job.st, St::queued) << "job " << r.job << " reserved while not queued";
    ASSERT_TRUE(job.suspect) << "job " << r.job << " reserved while not suspect";
    ASSERT_FALSE(job.reserves) << "job " << r.job << " reserved twice";
    ASSERT_TRUE(r.worker < workers_.size() && workers_[r.worker].live) << "reserved dead worker w" << r.worker;
    end_uncertain_reservation(workers_[r.worker]);
    EXPECT_TRUE(startable(job.group)) << "suspect " << r.job << " reserved without group budget";
    check_only_suspects_ahead_in_queue(job);
    check_jobs_ahead(job, std::nullopt);
    std::optional<WorkerSlot> want;
    bool any_uncertain = false;
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      const MWorker& worker = workers_[w];
      if (uncertain(worker)) {
        any_uncertain = true;
        continue;
      }
      EXPECT_FALSE(idle_for(worker, job)) << "suspect " << r.job << " reserved while w" << w << " is idle";
      if (!reservable_for(worker, job)) continue;
      if (!want || worker.running.size() < workers_[*want].running.size()) want = w;
    }
    if (any_uncertain) {
      // A worker the round may have freed by parking its suspect may be the one.
      EXPECT_TRUE(reservable_for(workers_[r.worker], job)) << "suspect " << r.job << " reserved w" << r.worker;
      if (want) {
        EXPECT_LE(workers_[r.worker].running.size(), workers_[*want].running.size());
      }
    } else {
      EXPECT_EQ(std::optional<WorkerSlot>(r.worker), want) << "suspect " << r.job << " reserved w" << r.worker;
    }
    ASSERT_FALSE(workers_[r.worker].reserved_by) << "w" << r.worker << " reserved twice";
    if (job.parked) ++counts["reserved after parking"];
    job.parked = false;  // it reserves from its queue (a later pass may park it again)
    job.reserves = r.worker;
    workers_[r.worker].reserved_by = job.id;
    ++counts["reserved"];
  }

  // A waiting job that a round may pass because of its group: the group has no budget
  // now, or the job was parked before this round (its group's budget went to the jobs
  // the round unparked; the end of the round shows that it had no slot either, see
  // check_nothing_placeable).
  bool excused_by_group(const MJob& job) {
    if (job.group.empty()) return false;
    if (spent(job.group)) {
      ++counts["passed a job its group holds"];
      return true;
    }
    if (parked_before_ != nullptr) {
      const auto it = parked_before_->find(job.id);
      if (it != parked_before_->end() && it->second) {
        ++counts["passed a job parked before the round"];
        return true;
      }
    }
    return false;
  }

  // Within its queue, a job leaves only past suspects that wait, or jobs their group
  // holds (FIFO otherwise).
  void check_only_suspects_ahead_in_queue(const MJob& job) {
    for (const JobId id : queue_of(job)) {
      if (id == job.id) return;
      const MJob& other = jobs_.at(id);
      if (excused_by_group(other)) continue;
      EXPECT_TRUE(other.suspect) << "job " << job.id << " jumped its queue past job " << id;
      ++counts["passed a waiting suspect"];
    }
  }

  // A suspect the round passed really had to wait: its reserved worker is busy, or
  // (without a selector, which may decline) no capable worker was idle and, if
  // `reservations_made` (the round reached it), none could be reserved either.
  void check_waiting_suspect(const MJob& suspect, bool reservations_made) {
    if (suspect.reserves) {
      if (in_round_ && workers_[*suspect.reserves].running.empty()) {
        // The round may reach it after this, or start it there at its end (it may pass
        // its queue to its reserved worker): checked when the round is over.
        idle_reservation_.insert(suspect.id);
        return;
      }
      EXPECT_FALSE(workers_[*suspect.reserves].running.empty())
          << "suspect " << suspect.id << " waits while its reserved w" << *suspect.reserves << " is idle";
      return;
    }
    if (config_.selector) return;
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      if (uncertain(workers_[w])) continue;
      EXPECT_FALSE(idle_for(workers_[w], suspect)) << "suspect " << suspect.id << " waits while w" << w << " is idle";
      if (reservations_made) {
        EXPECT_FALSE(reservable_for(workers_[w], suspect))
            << "suspect " << suspect.id << " waits without reserving w" << w;
      }
    }
  }

  // Every job the round visited before `job` (higher priority, or equal priority and
  // earlier in order) waits for a reason: a suspect as above, or its group; the first
  // other job after a queue's waiting suspects could not have taken `worker` (if
  // given). A queue's jobs share service and priority, so its first such job suffices.
  void check_jobs_ahead(const MJob& job, std::optional<WorkerSlot> worker) {
    for (const auto& [key, queue] : queues_) {
      // See check_nothing_placeable; here `parked` says what it was before the round,
      // which may have brought the job back into its queue.
      bool reached = true;
      for (const JobId id : queue) {
        const MJob& other = jobs_.at(id);
        if (id == job.id || !ahead(other, job)) break;
        if (excused_by_group(other)) {
          reached = false;
          continue;
        }
        if (other.suspect) {
          check_waiting_suspect(other, reached);
          continue;
        }
        if (worker && !config_.selector) {
          const MWorker& w = workers_[*worker];
          if (offers(w, other.service) && !blocked(w)) {
            ++counts["higher-priority waiter checked"];
            EXPECT_FALSE(fits(w, other.priority))
                << "job " << job.id << " (priority " << job.priority << ") started while job " << other.id
                << " (priority " << other.priority << ") could have had the slot on w" << *worker;
          }
        }
        break;
      }
    }
  }

  // After a full round: a queue's leading suspects wait for a reason and its first
  // other job fits on no worker that takes jobs. The round stops early only when no
  // slot is free anywhere; then no suspect had to reserve. Jobs whose group has no
  // budget are excused; a parked job whose group has budget is not (its group's limits
  // are not what holds it, so it must have no slot either).
  void check_nothing_placeable() {
    std::uint64_t free_total = 0;
    for (const MWorker& worker : workers_) {
      if (!worker.live) continue;
      std::uint64_t slots = 0;
      for (const unsigned n : worker.pool) slots += n;
      free_total += slots - worker.running.size();
    }
    for (const auto& [key, queue] : queues_) {
      // A queued job whose group has no budget now may have had some when the round
      // reached it, found no slot and ended the round's walk of its queue: the suspects
      // behind it were not reached, so they need not have reserved (that no worker was
      // idle for them holds all the same: the job would have fitted there). Parked
      // jobs are not in the queue the round walks.
      bool reached = true;
      for (const JobId id : queue) {
        const MJob& job = jobs_.at(id);
        if (spent(job.group)) {
          ++counts["waiting for its group checked"];
          if (!job.parked) reached = false;
          continue;
        }
        if (job.parked) ++counts["parked job with group budget checked"];
        if (job.suspect) {
          ++counts["waiting suspect checked"];
          check_waiting_suspect(job, free_total > 0 && !job.parked && reached);
          continue;
        }
        for (WorkerSlot w = 0; w < workers_.size(); ++w) {
          const MWorker& worker = workers_[w];
          if (!worker.live || !offers(worker, job.service) || blocked(worker)) continue;
          ++counts["full worker checked"];
          EXPECT_FALSE(fits(worker, job.priority))
              << "after dispatch job " << job.id << " (priority " << job.priority << ", service '" << job.service
              << "', group '" << job.group << "'" << (job.parked ? ", parked" : "") << ") still fits on w" << w;
        }
        break;
      }
    }
  }

  // ------------------------------------------------------------ invariants

  void check_invariants() {
    const SchedulerStats stats = s_.stats();
    std::size_t parked = 0;
    std::size_t delayed = 0;
    std::size_t retrying = 0;
    for (const auto& [id, job] : jobs_) {
      parked += job.st == St::queued && job.parked;
      delayed += job.st == St::delayed && !job.retrying;
      retrying += job.st == St::delayed && job.retrying;
    }
    EXPECT_EQ(stats.queued, count_state(St::queued) - parked);
    EXPECT_EQ(stats.parked, parked);
    EXPECT_EQ(stats.held, count_state(St::held));
    EXPECT_EQ(stats.running, count_state(St::running));
    EXPECT_EQ(stats.delayed, delayed);
    EXPECT_EQ(stats.retrying, retrying);
    EXPECT_EQ(stats.retried, retried_);
    EXPECT_EQ(stats.workers, live_workers().size());
    EXPECT_EQ(s_.job_count(), jobs_.size());
    std::size_t by_priority = 0;
    for (const auto& [priority, n] : stats.queued_by_priority) by_priority += n;
    EXPECT_EQ(by_priority, stats.queued);

    std::uint64_t total = 0;
    std::uint64_t running = 0;
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      const MWorker& worker = workers_[w];
      if (!worker.live) {
        EXPECT_FALSE(s_.worker_stats(w).has_value());
        continue;
      }
      const std::vector<unsigned> used = used_on(worker);
      EXPECT_TRUE(feasible(worker, used)) << "w" << w << " runs more than its pools allow";
      const auto ws = s_.worker_stats(w);
      if (!ws) {
        ADD_FAILURE() << "no stats for live w" << w;
        continue;
      }
      EXPECT_EQ(ws->running, worker.running.size());
      if (ws->pools.size() == used.size()) {
        for (std::size_t k = 0; k < used.size(); ++k) {
          EXPECT_EQ(ws->pools[k].start, worker.starts[k]);
          EXPECT_EQ(ws->pools[k].slots, worker.pool[k]);
          EXPECT_EQ(ws->pools[k].used, used[k]) << "w" << w << " range " << k;
        }
      } else {
        ADD_FAILURE() << "w" << w << " has " << ws->pools.size() << " pools, model " << used.size();
      }
      std::vector<std::pair<JobId, unsigned>> expected;
      for (const JobId id : worker.running) expected.emplace_back(id, jobs_.at(id).attempt);
      EXPECT_EQ(s_.running_on(w), expected) << "w" << w;
      EXPECT_EQ(ws->reserved, blocked(worker)) << "w" << w << " reserved flag";
      if (alone(worker)) {
        EXPECT_EQ(worker.running.size(), 1U) << "w" << w << " runs a suspect and more";
        EXPECT_FALSE(worker.reserved_by) << "w" << w << " runs a suspect and is reserved";
      }
      if (worker.reserved_by) {
        const auto job = jobs_.find(*worker.reserved_by);
        EXPECT_TRUE(job != jobs_.end() && job->second.st == St::queued && !job->second.parked &&
                    job->second.suspect && job->second.reserves == std::optional<WorkerSlot>(w))
            << "w" << w << " reserved by job " << *worker.reserved_by;
      }
      total += ws->slots;
      running += worker.running.size();
    }
    EXPECT_EQ(stats.total_slots, total);
    EXPECT_EQ(stats.free_slots, total - running);
    EXPECT_EQ(stats.suspects, static_cast<std::size_t>(std::count_if(
                                  jobs_.begin(), jobs_.end(), [](const auto& entry) { return entry.second.suspect; })));
    EXPECT_EQ(stats.poisoned, poisoned_);

    std::optional<TimePoint> earliest;
    const auto sooner = [&](TimePoint t) {
      if (!earliest || t < *earliest) earliest = t;
    };
    for (const auto& [id, job] : jobs_) {
      JobState want = JobState::running;
      switch (job.st) {
        case St::queued: want = job.parked ? JobState::parked : JobState::queued; break;
        case St::held: want = JobState::held; break;
        case St::running: want = JobState::running; break;
        case St::delayed: want = JobState::delayed; break;
      }
      EXPECT_EQ(s_.state_of(id), want) << "job " << id;
      const WaitReason why = s_.why_waiting(id);
      if (job.st == St::held) {
        EXPECT_EQ(why, WaitReason::held_behind_key) << "job " << id;
      }
      if (job.st == St::delayed) {
        EXPECT_EQ(why, job.retrying ? WaitReason::retry_backoff : WaitReason::delayed) << "job " << id;
        sooner(job.due);
      }
      if (job.st == St::queued && job.parked) {
        const WaitReason reason = at_max_running(job.group) ? WaitReason::group_running_limit : WaitReason::group_rate_limit;
        EXPECT_EQ(wait_name(why), std::string(wait_name(reason)))
            << "parked job " << id << " of group " << job.group << ", limits " << describe(limits_of(job.group))
            << ", running " << running_of(job.group);
        ++counts[reason == WaitReason::group_running_limit ? "why group_running_limit" : "why group_rate_limit"];
      }
      if (job.st == St::queued && !job.parked) {
        const std::string& service = job.service;
        const bool anyone = std::any_of(workers_.begin(), workers_.end(),
                                        [&](const MWorker& w) { return w.live && offers(w, service); });
        if (!anyone) {
          const auto reason = service.empty() ? WaitReason::no_worker : WaitReason::no_worker_for_service;
          EXPECT_EQ(why, reason) << "job " << id;
        } else if (job.suspect) {
          EXPECT_EQ(why, WaitReason::needs_idle_worker) << "job " << id;
        } else {
          EXPECT_NE(why, WaitReason::needs_idle_worker) << "job " << id;
        }
      }
      if (job.st == St::queued && job.deadline) sooner(*job.deadline);
    }
    check_due_soonest();
    check_group_stats();

    const auto next = s_.next_deadline();
    if (config_.throttle || !group_names_.empty()) {
      // Throttling and group timers (token buckets, wake-ups) may come first.
      if (earliest) {
        EXPECT_TRUE(next && *next <= *earliest) << "next_deadline() is after a due time or an assign deadline";
      }
    } else {
      EXPECT_EQ(next, earliest);
    }
    // A group that parks jobs for want of a token gets its dispatch when the next
    // token is there (no event would trigger one).
    for (const std::string& name : group_names_) {
      const GroupLimits& limits = limits_of(name);
      if (!limits.rate || *limits.rate <= 0 || at_max_running(name)) continue;
      const bool has_parked = std::any_of(jobs_.begin(), jobs_.end(), [&](const auto& entry) {
        return entry.second.st == St::queued && entry.second.parked && entry.second.group == name;
      });
      const double have = *tokens(name);
      if (!has_parked || have >= 1 - kTokenSlack) continue;
      const auto refill = std::chrono::duration_cast<TimePoint::duration>(
          std::chrono::duration<double>((1 - have) / *limits.rate));
      EXPECT_TRUE(next && *next <= now_ + refill + 50us)
          << "group " << name << " parks jobs for want of a token, next token in "
          << std::chrono::duration<double>(refill).count() << " s, but no dispatch is due by then";
      ++counts["token timer checked"];
    }
  }

  void check_due_soonest() {
    std::vector<const MJob*> due;
    for (const auto& [id, job] : jobs_) {
      if (job.st == St::delayed) due.push_back(&job);
    }
    std::sort(due.begin(), due.end(), [](const MJob* a, const MJob* b) {
      return a->due != b->due ? a->due < b->due : a->seq < b->seq;
    });
    const std::size_t limit = std::uniform_int_distribution<std::size_t>(0, 8)(picker_);
    const std::vector<DueJob> got = s_.due_soonest(limit);
    std::ostringstream want_text;
    std::ostringstream got_text;
    for (std::size_t i = 0; i < std::min(limit, due.size()); ++i) {
      want_text << due[i]->id << "@" << due[i]->due.time_since_epoch().count() << (due[i]->retrying ? "r " : " ");
    }
    for (const DueJob& d : got) got_text << d.id << "@" << d.due.time_since_epoch().count() << (d.retrying ? "r " : " ");
    EXPECT_EQ(got_text.str(), want_text.str()) << "due_soonest(" << limit << ")";
  }

  void check_group_stats() {
    std::map<std::string, GroupStats> want;
    for (const auto& [name, g] : groups_) {
      GroupStats stats{name, limits_of(name), g.own.has_value(), 0, 0, 0};
      std::size_t jobs = 0;
      for (const auto& [id, job] : jobs_) {
        if (job.group != name) continue;
        ++jobs;
        stats.running += job.st == St::running;
        stats.waiting += job.st == St::queued;
      }
      if (jobs > 0 || g.own) want.emplace(name, stats);
    }
    const std::vector<GroupStats> got = s_.group_stats(100);
    EXPECT_EQ(got.size(), want.size());
    for (const GroupStats& stats : got) {
      const auto it = want.find(stats.name);
      if (it == want.end()) {
        ADD_FAILURE() << "group_stats lists group " << stats.name;
        continue;
      }
      EXPECT_EQ(stats.limits, it->second.limits) << stats.name << ": " << describe(stats.limits);
      EXPECT_EQ(stats.custom, it->second.custom) << stats.name;
      EXPECT_EQ(stats.running, it->second.running) << stats.name;
      EXPECT_EQ(stats.waiting, it->second.waiting) << stats.name;
    }
    for (std::size_t i = 1; i < got.size(); ++i) {
      EXPECT_GE(got[i - 1].waiting, got[i].waiting) << "group_stats: the most waiting first";
    }
  }

  // Abort everything left; every job must then have ended exactly once.
  void drain() {
    for (ClientSlot client = 0; client <= 4; ++client) {
      op_ = "drain";
      Effects expected;
      abort_client_model(client, expected);
      Effects fx;
      s_.abort_client(client, fx);
      EXPECT_EQ(describe(fx), describe(expected));
    }
    EXPECT_TRUE(jobs_.empty());
    EXPECT_EQ(ended_.size(), next_id_ - 1) << "every submitted job ended";
    const SchedulerStats stats = s_.stats();
    EXPECT_EQ(stats.queued + stats.held + stats.running + stats.delayed + stats.retrying + stats.parked, 0U);
    EXPECT_TRUE(s_.due_soonest(10).empty());
    s_.compact();
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      if (workers_[w].live) {
        EXPECT_TRUE(s_.running_on(w).empty());
      }
    }
  }

  Config config_;
  std::mt19937_64 rng_;
  std::mt19937_64 picker_;  // the selector's own randomness (and due_soonest's limit)
  Scheduler s_{SchedulerOptions{}};
  TimePoint now_{};
  std::uint64_t step_ = 0;
  const char* op_ = "";
  const Effects* round_ = nullptr;  // effects of the dispatch round in progress
  bool in_round_ = false;           // replaying a dispatch's effects
  bool trace_ = env_or("PROLETARIAT_PROPERTY_TRACE", 0) != 0;
  std::vector<std::string> trace_effects_;  // of the latest dispatch
  const std::map<JobId, bool>* parked_before_ = nullptr;  // during replay: parked when the round began
  std::set<JobId> must_be_parked_;  // suspects whose reservation the round must have ended by parking them
  std::set<JobId> idle_reservation_;  // suspects seen waiting in the round with their reserved worker idle

  std::map<JobId, MJob> jobs_;
  std::set<JobId> ended_;
  JobId next_id_ = 1;
  std::uint64_t next_seq_ = 1;
  std::int64_t next_front_ = 0;  // orders of requeued jobs: below every other
  std::uint64_t poisoned_ = 0;
  std::uint64_t retried_ = 0;
  std::map<QueueKey, std::vector<JobId>> queues_;  // each sorted by (order, seq); parked jobs included
  std::map<std::string, JobId> leader_;
  std::map<std::string, std::deque<JobId>> held_;
  std::vector<MWorker> workers_;

  std::vector<std::string> group_names_;
  std::map<std::string, MGroup> groups_;
  GroupLimits defaults_;
  double delay_share_ = 0;
};

// Several seeds per configuration, 3000 steps each: 30,000 steps per mode, about a
// second for all six (PROLETARIAT_PROPERTY_SEEDS=100 soaks in about ten).
constexpr std::uint64_t kSeeds = 10;
constexpr std::uint64_t kStepsPerSeed = 3000;

std::map<std::string, int> run_config(const Config& config, std::uint64_t base_seed) {
  const std::uint64_t only_seed = env_or("PROLETARIAT_PROPERTY_SEED", 0);
  const std::uint64_t steps = env_or("PROLETARIAT_PROPERTY_STEPS", kStepsPerSeed);
  const std::uint64_t seeds = env_or("PROLETARIAT_PROPERTY_SEEDS", kSeeds);
  std::map<std::string, int> total;
  for (std::uint64_t i = 0; i < seeds; ++i) {
    const std::uint64_t seed = only_seed != 0 ? only_seed : base_seed + i;
    SCOPED_TRACE(std::string("config ") + config.name + ", seed " + std::to_string(seed) +
                 " (rerun with PROLETARIAT_PROPERTY_SEED=" + std::to_string(seed) + ")");
    PropertyRun run(config, seed);
    run.run(steps);
    for (const auto& [name, n] : run.counts) total[name] += n;
    if (::testing::Test::HasFailure() || only_seed != 0) break;
  }
  return total;
}

// The paths that matter were actually taken.
// The counts go to the test's properties (--gtest_output=xml:FILE shows them).
void expect_coverage(const std::map<std::string, int>& counts, bool hold) {
  for (const auto& [name, n] : counts) ::testing::Test::RecordProperty(name, n);
  if (::testing::Test::HasFailure()) return;
  for (const char* name : {"assigned", "assign timeouts", "requeued by worker loss", "rejected", "aborted running",
                           "aborted queued", "timed out", "client aborts", "workers added", "suspects", "ran alone",
                           "reserved", "poison", "passed a waiting suspect",
                           // the job lifecycle
                           "delayed", "delayed released", "aborted delayed", "retried", "retry released",
                           "aborted in backoff", "assigned in a group", "group start under max_running",
                           "group start with a token", "parked", "parked at max_running", "parked for want of a token",
                           "unparked", "assigned after parking", "aborted parked", "why group_running_limit",
                           "why group_rate_limit", "passed a job its group holds", "group limits set",
                           "group limits cleared", "group defaults changed", "token timer checked",
                           "reservation ended by parking", "suspect passed its queue to its reserved worker"}) {
    EXPECT_GT(counts.count(name) ? counts.at(name) : 0, 0) << name;
  }
  if (hold) {
    for (const char* name : {"held", "shared results", "promoted", "aborted held", "retried leader kept its followers",
                             "shared results after a retry"}) {
      EXPECT_GT(counts.count(name) ? counts.at(name) : 0, 0) << name;
    }
  }
}

TEST(SchedulerProperty, DefaultModeHoldsInvariants) {
  expect_coverage(run_config(Config{"default", false, false, false, false, 1}, 1000), false);
}

TEST(SchedulerProperty, SacredModeHoldsInvariants) {
  expect_coverage(run_config(Config{"sacred", true, false, false, false, 2}, 2000), false);
}

TEST(SchedulerProperty, DefaultModeWithHoldSimilarWorkHoldsInvariants) {
  expect_coverage(run_config(Config{"default+hold", false, true, false, false, 1}, 3000), true);
}

TEST(SchedulerProperty, SacredModeWithHoldSimilarWorkHoldsInvariants) {
  expect_coverage(run_config(Config{"sacred+hold", true, true, false, false, 1}, 4000), true);
}

// Throttling defers rounds, so "nothing placeable after dispatch" is not checked;
// every other invariant is.
TEST(SchedulerProperty, ThrottledDispatchHoldsSafetyInvariants) {
  expect_coverage(run_config(Config{"throttled+hold", false, true, true, false, 1}, 5000), true);
}

// A selector that picks at random and sometimes declines: limits, FIFO, attempts and
// exactly-once still hold, and it is offered exactly the capable workers.
TEST(SchedulerProperty, CustomSelectorHoldsSafetyInvariants) {
  expect_coverage(run_config(Config{"selector+sacred", true, true, false, true, 1}, 6000), true);
}

}  // namespace
}  // namespace proletariat::broker
