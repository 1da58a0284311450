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
// A failure names the configuration, seed and step. To reproduce or soak:
//   PROLETARIAT_PROPERTY_SEED=<seed> PROLETARIAT_PROPERTY_STEPS=<n>
//   unit_tests --gtest_filter='SchedulerProperty.*'
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
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
  out << "{c" << facts.client << ",p" << facts.priority << ",k'" << facts.key << "',s'" << facts.service << "',#"
      << facts.attempt << "}";
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

  enum class St { queued, held, running };

  struct MJob {
    JobId id = 0;
    ClientSlot client = 0;
    double priority = 0;
    std::string key;
    std::string service;
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
  };

  // What an effect reporting this job's end (or loss) must carry.
  static JobFacts facts_of(const MJob& job) {
    return JobFacts{job.client, job.priority, job.key, job.service, job.attempt};
  }

  struct MWorker {
    bool live = false;
    std::vector<double> starts;  // starts[0] == 0
    std::vector<unsigned> pool;  // pool sizes, same index
    std::vector<std::string> services;
    std::vector<JobId> running;  // assignment order
    std::optional<JobId> reserved_by;  // the queued suspect waiting for it to empty
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

  enum class Place { back, front, by_sequence };

  void enqueue(MJob& job, Place place) {
    std::vector<JobId>& queue = queue_of(job);
    job.st = St::queued;
    job.reserves.reset();
    switch (place) {
      case Place::back:
        job.order = static_cast<std::int64_t>(job.seq);
        queue.push_back(job.id);
        break;
      case Place::front:
        job.order = queue.empty() ? static_cast<std::int64_t>(job.seq) : jobs_.at(queue.front()).order - 1;
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
    // effects of the round so far (not replayed into the model yet).
    const auto found = jobs_.find(view.id);
    EXPECT_NE(found, jobs_.end()) << "selector asked about unknown job " << view.id;
    if (found == jobs_.end()) return std::nullopt;
    const MJob& job = found->second;
    EXPECT_FALSE(candidates.empty());
    std::map<WorkerSlot, std::vector<JobId>> earlier;
    std::set<WorkerSlot> blocked_now;
    for (const Effect& effect : *round_) {
      if (const auto* a = std::get_if<Assigned>(&effect)) {
        earlier[a->worker].push_back(a->job);
        if (jobs_.at(a->job).suspect) blocked_now.insert(a->worker);
      } else if (const auto* r = std::get_if<Reserved>(&effect)) {
        EXPECT_NE(r->job, job.id) << "a job that reserved in this round is not placed in it";
        blocked_now.insert(r->worker);
      }
    }
    std::set<std::pair<WorkerSlot, unsigned>> expected;
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      const MWorker& worker = workers_[w];
      if (!worker.live || !offers(worker, job.service)) continue;
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
    for (const Candidate& c : candidates) offered.emplace(c.worker, c.free_slots);
    EXPECT_EQ(offered, expected) << "candidates for job " << job.id << (job.suspect ? " (suspect)" : "");
    if (job.suspect) ++counts["selector asked for a suspect"];
    if (std::bernoulli_distribution(0.2)(picker_)) return std::nullopt;
    return std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(picker_);
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
    } else if (roll < 37) {
      op_ = "submit";
      submit();
    } else if (roll < 50) {
      op_ = "complete";
      complete(Completion::result);
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
    } else if (roll < 72) {
      op_ = "expire";
      expire();
    } else if (roll < 99) {
      op_ = "dispatch";
      dispatch();
    } else {
      op_ = "compact";
      s_.compact();
    }
    check_invariants();
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
          expected.emplace_back(Failed{id, job.client, FailReason::poison, facts_of(job)});
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
    if (chance(0.3)) job.deadline = now_ + std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(rng_));

    Effects fx;
    s_.submit(JobSpec{job.id, job.client, job.priority, job.key, job.service, job.deadline, {}}, now_, fx);
    EXPECT_TRUE(fx.empty());

    const JobId id = job.id;
    auto& stored = jobs_.emplace(id, std::move(job)).first->second;
    if (config_.hold && !stored.key.empty()) {
      if (leader_.contains(stored.key)) {
        stored.st = St::held;
        held_[stored.key].push_back(id);
        ++counts["held"];
        return;
      }
      stored.leads = true;
      leader_[stored.key] = id;
    }
    enqueue(stored, Place::back);
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
    }
    EXPECT_FALSE(s_.complete(job.id, job.worker, job.attempt + 1, Completion::result, fx));
    if (other != job.worker) {
      EXPECT_FALSE(s_.complete(job.id, other, job.attempt, Completion::timed_out, fx));
      EXPECT_FALSE(s_.reject(job.id, other, job.attempt));
    }
    EXPECT_FALSE(s_.complete(next_id_ + 1000, job.worker, 1, Completion::result, fx));
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
    ++counts[job.st == St::held ? "aborted held" : job.st == St::running ? "aborted running" : "aborted queued"];
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
      EXPECT_EQ(job.st, St::queued) << "only queued jobs expire: " << failed->job;
      EXPECT_EQ(failed->client, job.client);
      EXPECT_EQ(describe(failed->facts), describe(facts_of(job)));
      ASSERT_TRUE(job.deadline.has_value());
      EXPECT_LE(*job.deadline, now_);
      ++counts["assign timeouts"];
      end(job.id);
    }
    for (const auto& [id, job] : jobs_) {
      if (job.st == St::queued && job.deadline) {
        EXPECT_GT(*job.deadline, now_) << "job " << id << " should have expired";
      }
    }
  }

  void dispatch() {
    Effects fx;
    round_ = &fx;
    s_.dispatch(now_, fx);
    for (const Effect& effect : fx) {
      if (const auto* r = std::get_if<Reserved>(&effect)) {
        replay_reserved(*r);
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
      EXPECT_TRUE(offers(worker, job.service)) << "job " << a->job << " service '" << job.service << "' on w" << a->worker;
      EXPECT_EQ(a->attempt, job.attempt + 1);
      check_only_suspects_ahead_in_queue(job);
      EXPECT_TRUE(fits(worker, job.priority)) << "job " << a->job << " over the limits of w" << a->worker;
      check_jobs_ahead(job, a->worker);
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
      job.st = St::running;
      unqueue(job);
      job.worker = a->worker;
      job.attempt = a->attempt;
      worker.running.push_back(job.id);
      ++counts["assigned"];
    }
    if (!config_.throttle && !config_.selector) check_nothing_placeable();
  }

  void replay_reserved(const Reserved& r) {
    const auto it = jobs_.find(r.job);
    ASSERT_NE(it, jobs_.end()) << "unknown or ended job " << r.job << " reserved";
    MJob& job = it->second;
    ASSERT_EQ(job.st, St::queued) << "job " << r.job << " reserved while not queued";
    ASSERT_TRUE(job.suspect) << "job " << r.job << " reserved while not suspect";
    ASSERT_FALSE(job.reserves) << "job " << r.job << " reserved twice";
    check_only_suspects_ahead_in_queue(job);
    check_jobs_ahead(job, std::nullopt);
    std::optional<WorkerSlot> want;
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      const MWorker& worker = workers_[w];
      EXPECT_FALSE(idle_for(worker, job)) << "suspect " << r.job << " reserved while w" << w << " is idle";
      if (!reservable_for(worker, job)) continue;
      if (!want || worker.running.size() < workers_[*want].running.size()) want = w;
    }
    EXPECT_EQ(std::optional<WorkerSlot>(r.worker), want) << "suspect " << r.job << " reserved w" << r.worker;
    ASSERT_TRUE(r.worker < workers_.size() && workers_[r.worker].live) << "reserved dead worker w" << r.worker;
    ASSERT_FALSE(workers_[r.worker].reserved_by) << "w" << r.worker << " reserved twice";
    job.reserves = r.worker;
    workers_[r.worker].reserved_by = job.id;
    ++counts["reserved"];
  }

  // Within its queue, a job leaves only past suspects that wait (FIFO otherwise).
  void check_only_suspects_ahead_in_queue(const MJob& job) {
    for (const JobId id : queue_of(job)) {
      if (id == job.id) return;
      EXPECT_TRUE(jobs_.at(id).suspect) << "job " << job.id << " jumped its queue past job " << id;
      ++counts["passed a waiting suspect"];
    }
  }

  // A suspect the round passed really had to wait: its reserved worker is busy, or
  // (without a selector, which may decline) no capable worker was idle and, if
  // `reservations_made` (the round reached it), none could be reserved either.
  void check_waiting_suspect(const MJob& suspect, bool reservations_made) {
    if (suspect.reserves) {
      EXPECT_FALSE(workers_[*suspect.reserves].running.empty())
          << "suspect " << suspect.id << " waits while its reserved w" << *suspect.reserves << " is idle";
      return;
    }
    if (config_.selector) return;
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      EXPECT_FALSE(idle_for(workers_[w], suspect)) << "suspect " << suspect.id << " waits while w" << w << " is idle";
      if (reservations_made) {
        EXPECT_FALSE(reservable_for(workers_[w], suspect))
            << "suspect " << suspect.id << " waits without reserving w" << w;
      }
    }
  }

  // Every job the round visited before `job` (higher priority, or equal priority and
  // earlier in order) waits for a reason: a suspect as above; the first job after a
  // queue's waiting suspects could not have taken `worker` (if given). A queue's
  // jobs share service and priority, so its first non-suspect suffices.
  void check_jobs_ahead(const MJob& job, std::optional<WorkerSlot> worker) {
    for (const auto& [key, queue] : queues_) {
      for (const JobId id : queue) {
        const MJob& other = jobs_.at(id);
        if (id == job.id || !ahead(other, job)) break;
        if (other.suspect) {
          check_waiting_suspect(other, true);
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
  // slot is free anywhere; then no suspect had to reserve.
  void check_nothing_placeable() {
    std::uint64_t free_total = 0;
    for (const MWorker& worker : workers_) {
      if (!worker.live) continue;
      std::uint64_t slots = 0;
      for (const unsigned n : worker.pool) slots += n;
      free_total += slots - worker.running.size();
    }
    for (const auto& [key, queue] : queues_) {
      for (const JobId id : queue) {
        const MJob& job = jobs_.at(id);
        if (job.suspect) {
          ++counts["waiting suspect checked"];
          check_waiting_suspect(job, free_total > 0);
          continue;
        }
        for (WorkerSlot w = 0; w < workers_.size(); ++w) {
          const MWorker& worker = workers_[w];
          if (!worker.live || !offers(worker, job.service) || blocked(worker)) continue;
          ++counts["full worker checked"];
          EXPECT_FALSE(fits(worker, job.priority))
              << "after dispatch job " << job.id << " (priority " << job.priority << ", service '" << job.service
              << "') still fits on w" << w;
        }
        break;
      }
    }
  }

  // ------------------------------------------------------------ invariants

  void check_invariants() {
    const SchedulerStats stats = s_.stats();
    EXPECT_EQ(stats.queued, count_state(St::queued));
    EXPECT_EQ(stats.held, count_state(St::held));
    EXPECT_EQ(stats.running, count_state(St::running));
    EXPECT_EQ(stats.workers, live_workers().size());
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
        EXPECT_TRUE(job != jobs_.end() && job->second.st == St::queued && job->second.suspect &&
                    job->second.reserves == std::optional<WorkerSlot>(w))
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
    for (const auto& [id, job] : jobs_) {
      const JobState want = job.st == St::queued ? JobState::queued : job.st == St::held ? JobState::held : JobState::running;
      EXPECT_EQ(s_.state_of(id), want) << "job " << id;
      if (job.st == St::held) {
        EXPECT_EQ(s_.why_waiting(id), WaitReason::held_behind_key) << "job " << id;
      }
      if (job.st == St::queued) {
        const std::string& service = job.service;
        const bool anyone = std::any_of(workers_.begin(), workers_.end(),
                                        [&](const MWorker& w) { return w.live && offers(w, service); });
        if (!anyone) {
          const auto reason = service.empty() ? WaitReason::no_worker : WaitReason::no_worker_for_service;
          EXPECT_EQ(s_.why_waiting(id), reason) << "job " << id;
        } else if (job.suspect) {
          EXPECT_EQ(s_.why_waiting(id), WaitReason::needs_idle_worker) << "job " << id;
        } else {
          EXPECT_NE(s_.why_waiting(id), WaitReason::needs_idle_worker) << "job " << id;
        }
        if (job.deadline && (!earliest || *job.deadline < *earliest)) earliest = job.deadline;
      }
    }
    const auto next = s_.next_deadline();
    if (config_.throttle) {
      if (earliest) {
        EXPECT_TRUE(next && *next <= *earliest);
      }
    } else {
      EXPECT_EQ(next, earliest);
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
    EXPECT_EQ(stats.queued + stats.held + stats.running, 0U);
    s_.compact();
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      if (workers_[w].live) {
        EXPECT_TRUE(s_.running_on(w).empty());
      }
    }
  }

  Config config_;
  std::mt19937_64 rng_;
  std::mt19937_64 picker_;  // the selector's own randomness
  Scheduler s_{SchedulerOptions{}};
  TimePoint now_{};
  std::uint64_t step_ = 0;
  const char* op_ = "";
  const Effects* round_ = nullptr;  // effects of the dispatch round in progress

  std::map<JobId, MJob> jobs_;
  std::set<JobId> ended_;
  std::vector<JobId> ended_now_;
  JobId next_id_ = 1;
  std::uint64_t next_seq_ = 1;
  std::uint64_t poisoned_ = 0;
  std::map<QueueKey, std::vector<JobId>> queues_;  // each sorted by (order, seq)
  std::map<std::string, JobId> leader_;
  std::map<std::string, std::deque<JobId>> held_;
  std::vector<MWorker> workers_;
};

// Several seeds per configuration, 3000 steps each: >= 12,000 steps per mode.
constexpr std::uint64_t kSeeds = 4;
constexpr std::uint64_t kStepsPerSeed = 3000;

std::map<std::string, int> run_config(const Config& config, std::uint64_t base_seed) {
  const std::uint64_t only_seed = env_or("PROLETARIAT_PROPERTY_SEED", 0);
  const std::uint64_t steps = env_or("PROLETARIAT_PROPERTY_STEPS", kStepsPerSeed);
  std::map<std::string, int> total;
  for (std::uint64_t i = 0; i < kSeeds; ++i) {
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
  for (const char* name : {"assigned", "assign timeouts", "requeued by worker loss", "rejected", "aborted running",
                           "aborted queued", "timed out", "client aborts", "workers added", "suspects", "ran alone",
                           "reserved", "poison", "passed a waiting suspect"}) {
    EXPECT_GT(counts.count(name) ? counts.at(name) : 0, 0) << name;
  }
  if (hold) {
    for (const char* name : {"held", "shared results", "promoted", "aborted held"}) {
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
