// The scheduler, one behaviour per test: ordering, services, requeues, attempts,
// worker loss, hold-similar-work, deadlines, throttling, selectors, weighted choice
// and introspection. Pure: a fake clock, no sockets.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <zmq.hpp>

#include "scheduler/scheduler.hpp"

namespace proletariat::broker {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0{};  // the fake clock starts at the epoch

Offer offer(unsigned slots, std::map<double, unsigned> priority_slots = {}, std::vector<std::string> services = {}) {
  return Offer{slots, std::move(priority_slots), std::move(services)};
}

// Effects are move-only (Failed carries the job's cargo): the tests look at copies of
// what they assert on.
template <class T>
T copy_of(const T& effect) {
  return effect;
}
Failed copy_of(const Failed& effect) { return Failed{effect.job, effect.client, effect.reason, effect.facts, {}}; }

template <class T>
std::vector<T> only(const Effects& effects) {
  std::vector<T> out;
  for (const Effect& effect : effects) {
    if (const T* e = std::get_if<T>(&effect)) out.push_back(copy_of(*e));
  }
  return out;
}

// A scheduler with a fake clock and helpers that return what happened.
struct Harness {
  explicit Harness(SchedulerOptions options = {}) : s(options) {}

  Scheduler s;
  TimePoint now = kT0;

  void submit(JobId id, double priority = 0, ClientSlot client = 0, std::string key = "", std::string service = "",
              std::optional<TimePoint> deadline = std::nullopt) {
    Effects fx;
    s.submit(JobSpec{id, client, priority, std::move(key), std::move(service), deadline, {}}, now, fx);
    EXPECT_TRUE(fx.empty());
  }
  std::vector<Assigned> dispatch() {
    Effects fx;
    s.dispatch(now, fx);
    reserved = only<Reserved>(fx);
    EXPECT_EQ(only<Assigned>(fx).size() + reserved.size(), fx.size()) << "dispatch only assigns and reserves";
    return only<Assigned>(fx);
  }
  std::vector<Reserved> reserved;  // by the latest dispatch()
  // Ids dispatch assigned, in order.
  std::vector<JobId> dispatch_ids() {
    std::vector<JobId> ids;
    for (const Assigned& a : dispatch()) ids.push_back(a.job);
    return ids;
  }
  Effects complete(const Assigned& a, Completion how = Completion::result) {
    Effects fx;
    EXPECT_TRUE(s.complete(a.job, a.worker, a.attempt, how, fx)) << "job " << a.job;
    return fx;
  }
  Effects expire() {
    Effects fx;
    s.expire(now, fx);
    return fx;
  }
  Effects remove(WorkerSlot worker, WorkerLoss loss) {
    Effects fx;
    s.remove_worker(worker, loss, fx);
    return fx;
  }
  Effects abort(JobId job) {
    Effects fx;
    EXPECT_TRUE(s.abort(job, fx));
    return fx;
  }
  // Running jobs of a worker as Assigned records, for complete().
  Assigned running(JobId job) {
    for (WorkerSlot w = 0; w < 64; ++w) {
      for (const auto& [id, attempt] : s.running_on(w)) {
        if (id == job) return Assigned{id, w, attempt};
      }
    }
    ADD_FAILURE() << "job " << job << " is not running";
    return Assigned{job, 0, 0};
  }
};

// ------------------------------------------------------------------ ordering

TEST(Scheduler, EqualPrioritiesAreServedInSubmissionOrder) {
  Harness h;
  h.s.add_worker(offer(1));
  for (JobId id = 1; id <= 4; ++id) h.submit(id);
  for (JobId id = 1; id <= 4; ++id) {
    const auto assigned = h.dispatch();
    ASSERT_EQ(assigned.size(), 1U);
    EXPECT_EQ(assigned[0].job, id);
    EXPECT_EQ(assigned[0].attempt, 1U);
    h.complete(assigned[0]);
  }
  EXPECT_TRUE(h.dispatch().empty());
}

TEST(Scheduler, HigherPriorityIsServedFirst) {
  Harness h;
  h.s.add_worker(offer(1));
  h.submit(1, 0);
  h.submit(2, 5);
  h.submit(3, 1);
  h.submit(4, 0.25);
  h.submit(5, 0.5);
  std::vector<JobId> order;
  for (int i = 0; i < 5; ++i) {
    const auto assigned = h.dispatch();
    ASSERT_EQ(assigned.size(), 1U);
    order.push_back(assigned[0].job);
    h.complete(assigned[0]);
  }
  EXPECT_EQ(order, (std::vector<JobId>{2, 3, 5, 4, 1}));
}

TEST(Scheduler, OneRoundAssignsEveryJobThatFits) {
  Harness h;
  h.s.add_worker(offer(3));
  for (JobId id = 1; id <= 5; ++id) h.submit(id, static_cast<double>(id % 2));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 3, 5}));
  EXPECT_EQ(h.s.stats().queued, 2U);
  EXPECT_EQ(h.s.stats().running, 3U);
  EXPECT_EQ(h.s.why_waiting(2), WaitReason::no_free_slot);
}

TEST(Scheduler, EqualPriorityAcrossServicesFollowsSubmissionOrder) {
  Harness h;
  h.s.add_worker(offer(1, {}, {"a", "b"}));
  h.submit(1, 0, 0, "", "b");
  h.submit(2, 0, 0, "", "a");
  h.submit(3, 0, 0, "", "b");
  h.submit(4, 0, 0, "", "a");
  std::vector<JobId> order;
  for (int i = 0; i < 4; ++i) {
    const auto assigned = h.dispatch();
    ASSERT_EQ(assigned.size(), 1U);
    order.push_back(assigned[0].job);
    h.complete(assigned[0]);
  }
  EXPECT_EQ(order, (std::vector<JobId>{1, 2, 3, 4}));
}

// ------------------------------------------------------------------ services

TEST(Scheduler, JobsGoOnlyToWorkersOfferingTheirService) {
  Harness h;
  const WorkerSlot plain = h.s.add_worker(offer(10));
  const WorkerSlot named = h.s.add_worker(offer(10, {}, {"resize"}));
  for (JobId id = 1; id <= 6; ++id) h.submit(id, 0, 0, "", id % 2 == 0 ? "resize" : "");
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 6U);
  for (const Assigned& a : assigned) EXPECT_EQ(a.worker, a.job % 2 == 0 ? named : plain) << "job " << a.job;
}

TEST(Scheduler, WorkerWithSeveralServicesTakesJobsOfEach) {
  Harness h;
  const WorkerSlot w = h.s.add_worker(offer(10, {}, {"a", "b", "c"}));
  h.submit(1, 0, 0, "", "a");
  h.submit(2, 0, 0, "", "b");
  h.submit(3, 0, 0, "", "c");
  h.submit(4, 0, 0, "", "");  // no service: this worker names services, so not here
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 3U);
  for (const Assigned& a : assigned) EXPECT_EQ(a.worker, w);
  EXPECT_EQ(h.s.state_of(4), JobState::queued);
  EXPECT_EQ(h.s.why_waiting(4), WaitReason::no_worker);
  const auto stats = h.s.worker_stats(w);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->services, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(stats->running, 3U);
}

TEST(Scheduler, JobWithNoCapableWorkerWaitsThenExpiresWithAssignTimeout) {
  Harness h;
  h.s.add_worker(offer(10));
  h.submit(1, 0, 7, "", "ocr", kT0 + 50ms);
  EXPECT_TRUE(h.dispatch().empty());
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::no_worker_for_service);
  EXPECT_EQ(h.s.next_deadline(), kT0 + 50ms);
  h.now = kT0 + 49ms;
  EXPECT_TRUE(h.expire().empty());
  h.now = kT0 + 50ms;
  const auto fx = h.expire();
  ASSERT_EQ(fx.size(), 1U);
  const auto failed = only<Failed>(fx);
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_EQ(failed[0].job, 1U);
  EXPECT_EQ(failed[0].client, 7U);
  EXPECT_EQ(failed[0].reason, FailReason::assign_timeout);
  EXPECT_EQ(h.s.state_of(1), JobState::unknown);
  EXPECT_FALSE(h.s.next_deadline().has_value());
}

TEST(Scheduler, StuckServiceDoesNotBlockOtherQueues) {
  Harness h;
  h.s.add_worker(offer(2));
  h.submit(1, 9, 0, "", "nobody");
  h.submit(2, 9, 0, "", "nobody");
  h.submit(3, 0);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3}));
}

TEST(Scheduler, StuckServiceDoesNotBlockOtherServicesAtTheSamePriority) {
  Harness h;
  h.s.add_worker(offer(1, {}, {"busy"}));
  h.s.add_worker(offer(2, {}, {"idle"}));
  h.submit(1, 0, 0, "", "busy");
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  h.submit(2, 0, 0, "", "busy");  // first in order, but its only worker is full
  h.submit(3, 0, 0, "", "idle");
  h.submit(4, 0, 0, "", "idle");
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3, 4}));
}

TEST(Scheduler, FullRangeDoesNotBlockHigherRangeJobs) {
  Harness h;
  h.s.add_worker(offer(10, {{5, 4}}));
  for (JobId id = 1; id <= 8; ++id) h.submit(id, 0);
  h.submit(9, 5);
  // Range 0 may use 6 slots; the range-5 job is submitted after but still gets in.
  const auto ids = h.dispatch_ids();
  EXPECT_EQ(ids, (std::vector<JobId>{9, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(h.s.why_waiting(7), WaitReason::no_free_slot);
  h.submit(10, 6);
  h.submit(11, 7);
  h.submit(12, 8);
  h.submit(13, 9);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{13, 12, 11}));
}

// ------------------------------------------------------------------ sacred mode

TEST(Scheduler, SacredModeKeepsGuaranteedSlotsForEachRange) {
  SchedulerOptions options;
  options.sacred_guarantees = true;
  Harness h(options);
  h.s.add_worker(offer(100, {{1, 30}, {2, 20}}));
  for (JobId id = 1; id <= 100; ++id) h.submit(id, 2);
  EXPECT_EQ(h.dispatch().size(), 70U);
  for (JobId id = 101; id <= 140; ++id) h.submit(id, 1);
  EXPECT_EQ(h.dispatch().size(), 30U);
  for (JobId id = 141; id <= 150; ++id) h.submit(id, 0);
  EXPECT_TRUE(h.dispatch().empty());
  EXPECT_EQ(h.s.stats().running, 100U);
}

// ------------------------------------------------------------------ requeue, attempts

TEST(Scheduler, RejectedJobGoesBackToTheFrontOfItsQueue) {
  Harness h;
  const WorkerSlot w = h.s.add_worker(offer(1));
  for (JobId id = 1; id <= 3; ++id) h.submit(id);
  const auto first = h.dispatch();
  ASSERT_EQ(first.size(), 1U);
  EXPECT_EQ(first[0].job, 1U);
  EXPECT_TRUE(h.s.reject(1, w, first[0].attempt));
  EXPECT_EQ(h.s.state_of(1), JobState::queued);
  const auto again = h.dispatch();
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].job, 1U);
  EXPECT_EQ(again[0].attempt, 2U);
}

TEST(Scheduler, StaleOrForeignAnswersAreDroppedAndChangeNothing) {
  Harness h;
  const WorkerSlot a = h.s.add_worker(offer(1));
  const WorkerSlot b = h.s.add_worker(offer(1, {}, {"other"}));
  h.submit(1);
  const auto first = h.dispatch();
  ASSERT_EQ(first.size(), 1U);
  EXPECT_TRUE(h.s.reject(1, a, 1));
  const auto second = h.dispatch();
  ASSERT_EQ(second.size(), 1U);
  EXPECT_EQ(second[0].attempt, 2U);

  Effects fx;
  EXPECT_FALSE(h.s.complete(1, a, 1, Completion::result, fx)) << "old attempt";
  EXPECT_FALSE(h.s.complete(1, b, 2, Completion::result, fx)) << "wrong worker";
  EXPECT_FALSE(h.s.reject(1, a, 1));
  EXPECT_FALSE(h.s.complete(99, a, 1, Completion::result, fx)) << "unknown job";
  EXPECT_TRUE(fx.empty());
  EXPECT_EQ(h.s.state_of(1), JobState::running);

  EXPECT_TRUE(h.s.complete(1, a, 2, Completion::result, fx));
  EXPECT_FALSE(h.s.complete(1, a, 2, Completion::result, fx)) << "second answer";
  ASSERT_EQ(only<Finished>(fx).size(), 1U);
}

TEST(Scheduler, DeadWorkerGivesUpItsJobsToTheFrontOfTheQueue) {
  Harness h;
  const WorkerSlot w = h.s.add_worker(offer(2));
  for (JobId id = 1; id <= 4; ++id) h.submit(id);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 2}));
  const auto fx = h.remove(w, WorkerLoss::died);
  const auto gave_up = only<GaveUp>(fx);
  ASSERT_EQ(gave_up.size(), 2U);
  EXPECT_EQ(gave_up[0].job, 1U);
  EXPECT_EQ(gave_up[1].job, 2U);
  EXPECT_EQ(gave_up[0].worker, w);
  EXPECT_TRUE(only<Failed>(fx).empty());
  EXPECT_FALSE(h.s.worker_stats(w).has_value());

  h.s.add_worker(offer(1));
  const auto again = h.dispatch();
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].job, 1U) << "requeued jobs keep their order at the front";
  EXPECT_EQ(again[0].attempt, 2U);
  h.complete(again[0]);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
}

// ------------------------------------------------------------------ poison jobs (SPEC 5)
//
// Issue 10, defect 5b: blame was a plain attempt count, so random kill -9s of workers
// failed innocent jobs with EWORKERLOST. A job is now suspect after suspect_after
// deaths of workers running it, then runs alone; only a death while it runs alone
// makes it poison.

SchedulerOptions suspect_after(unsigned n) {
  SchedulerOptions options;
  options.suspect_after = n;
  return options;
}

TEST(Scheduler, WorkerThatLeftNeverCountsAgainstAJob) {
  Harness h(suspect_after(1));
  h.submit(1);
  for (int round = 0; round < 5; ++round) {
    const WorkerSlot w = h.s.add_worker(offer(1));
    ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
    const auto fx = h.remove(w, WorkerLoss::left);
    EXPECT_EQ(fx.size(), 1U);
    EXPECT_EQ(only<GaveUp>(fx).size(), 1U);
    EXPECT_EQ(h.s.state_of(1), JobState::queued);
  }
  EXPECT_EQ(h.s.stats().suspects, 0U) << "BYE is no death";
  h.s.add_worker(offer(2));
  h.submit(2);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 2})) << "not suspect: shares its worker";
}

TEST(Scheduler, JobKilledWithOthersSuspectAfterTimesBecomesSuspectThenRunsAlone) {
  Harness h(suspect_after(2));
  h.submit(1);
  h.submit(2);
  for (int death = 1; death <= 2; ++death) {
    const WorkerSlot w = h.s.add_worker(offer(2));
    ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 2}));
    const auto fx = h.remove(w, WorkerLoss::died);
    EXPECT_EQ(only<GaveUp>(fx).size(), 2U);
    EXPECT_TRUE(only<Failed>(fx).empty()) << "a death shared with another job fails no job";
    EXPECT_EQ(h.s.stats().suspects, death == 2 ? 2U : 0U);
  }
  // No worker at all: that is the reason to give first.
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::no_worker);
  const WorkerSlot a = h.s.add_worker(offer(4));
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::needs_idle_worker);
  const WorkerSlot b = h.s.add_worker(offer(4));
  h.submit(3);
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 2U);
  EXPECT_EQ(assigned[0].job, 1U);
  EXPECT_EQ(assigned[1].job, 2U);
  EXPECT_EQ(assigned[0].attempt, 3U);
  EXPECT_NE(assigned[0].worker, assigned[1].worker) << "each suspect runs alone";
  EXPECT_TRUE(h.reserved.empty());
  EXPECT_EQ(h.s.running_on(a).size(), 1U);
  EXPECT_EQ(h.s.running_on(b).size(), 1U);
  EXPECT_TRUE(h.s.worker_stats(a)->reserved);
  EXPECT_TRUE(h.s.worker_stats(b)->reserved);
  EXPECT_EQ(h.s.state_of(3), JobState::queued) << "a worker running a suspect takes no other job";
  EXPECT_EQ(h.s.why_waiting(3), WaitReason::no_free_slot);
  EXPECT_EQ(h.s.stats().suspects, 2U);
}

TEST(Scheduler, SuspectThatCompletesIsFineAndItsWorkerTakesJobsAgain) {
  Harness h(suspect_after(1));
  const WorkerSlot d = h.s.add_worker(offer(1));
  h.submit(1, 0, 3);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  EXPECT_TRUE(only<Failed>(h.remove(d, WorkerLoss::died)).empty());
  const WorkerSlot w = h.s.add_worker(offer(3));
  h.submit(2);
  h.submit(3);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  const auto fx = h.complete(h.running(1));
  ASSERT_EQ(fx.size(), 1U);
  EXPECT_EQ(std::get<Finished>(fx[0]).job, 1U);
  EXPECT_EQ(std::get<Finished>(fx[0]).client, 3U);
  EXPECT_EQ(h.s.stats().suspects, 0U);
  EXPECT_EQ(h.s.stats().poisoned, 0U);
  EXPECT_FALSE(h.s.worker_stats(w)->reserved);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2, 3}));
}

TEST(Scheduler, SuspectWhoseWorkerDiesWhileRunningItAloneIsPoison) {
  Harness h(suspect_after(2));
  h.submit(1, 0, 7);
  for (int death = 1; death <= 2; ++death) {
    // Running by itself is not running alone: it was not suspect when assigned.
    const WorkerSlot w = h.s.add_worker(offer(1));
    ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
    const auto fx = h.remove(w, WorkerLoss::died);
    ASSERT_EQ(fx.size(), 1U);
    EXPECT_TRUE(std::holds_alternative<GaveUp>(fx[0]));
    EXPECT_EQ(h.s.state_of(1), JobState::queued);
  }
  const WorkerSlot w = h.s.add_worker(offer(1));
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  const auto fx = h.remove(w, WorkerLoss::died);
  ASSERT_EQ(fx.size(), 2U);
  ASSERT_TRUE(std::holds_alternative<GaveUp>(fx[0]));
  ASSERT_TRUE(std::holds_alternative<Failed>(fx[1])) << "Failed follows GaveUp";
  EXPECT_EQ(std::get<Failed>(fx[1]).reason, FailReason::poison);
  EXPECT_EQ(std::get<Failed>(fx[1]).client, 7U);
  EXPECT_EQ(h.s.state_of(1), JobState::unknown);
  EXPECT_EQ(h.s.stats().poisoned, 1U);
  EXPECT_EQ(h.s.stats().suspects, 0U);
}

TEST(Scheduler, SuspectWhoseWorkerLeavesIsRequeuedStillSuspect) {
  Harness h(suspect_after(1));
  const WorkerSlot d = h.s.add_worker(offer(1));
  h.submit(1);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  h.remove(d, WorkerLoss::died);
  const WorkerSlot w = h.s.add_worker(offer(2));
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  const auto fx = h.remove(w, WorkerLoss::left);
  ASSERT_EQ(fx.size(), 1U);
  EXPECT_TRUE(std::holds_alternative<GaveUp>(fx[0]));
  EXPECT_EQ(h.s.state_of(1), JobState::queued);
  EXPECT_EQ(h.s.stats().suspects, 1U);
  EXPECT_EQ(h.s.stats().poisoned, 0U);
}

TEST(Scheduler, RejectedSuspectGoesBackToTheFrontStillSuspect) {
  Harness h(suspect_after(1));
  const WorkerSlot d = h.s.add_worker(offer(1));
  h.submit(1);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  h.remove(d, WorkerLoss::died);
  const WorkerSlot w = h.s.add_worker(offer(2));
  const auto first = h.dispatch();
  ASSERT_EQ(first.size(), 1U);
  EXPECT_TRUE(h.s.reject(first[0].job, first[0].worker, first[0].attempt));
  EXPECT_FALSE(h.s.worker_stats(w)->reserved) << "idle again, and the suspect is queued";
  h.submit(2);
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::needs_idle_worker);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1})) << "the suspect first, alone; job 2 waits";
  EXPECT_EQ(h.s.state_of(2), JobState::queued);
}

TEST(Scheduler, SuspectReservesTheLeastLoadedWorkerWhichTakesNoNewJobUntilIdle) {
  Harness h(suspect_after(1));
  const WorkerSlot d = h.s.add_worker(offer(1));
  h.submit(1);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));  // d is full
  const WorkerSlot a = h.s.add_worker(offer(4));
  for (JobId id = 2; id <= 4; ++id) h.submit(id);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{2, 3, 4}));  // all on a
  const WorkerSlot b = h.s.add_worker(offer(4, {}, {"", "s"}));
  h.submit(5, 0, 0, "", "s");  // only b offers "s"
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{5}));
  // a runs 3 of 4, b 1 of 4; job 1's worker dies: it is suspect.
  h.remove(d, WorkerLoss::died);
  EXPECT_TRUE(h.dispatch().empty()) << "no idle worker";
  ASSERT_EQ(h.reserved.size(), 1U);
  EXPECT_EQ(h.reserved[0].job, 1U);
  EXPECT_EQ(h.reserved[0].worker, b) << "the worker with the fewest running jobs";
  EXPECT_TRUE(h.s.worker_stats(b)->reserved);
  EXPECT_FALSE(h.s.worker_stats(a)->reserved);
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::needs_idle_worker);

  h.submit(6);
  h.submit(7);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{6})) << "a's last slot; b keeps its 3 free slots empty";
  EXPECT_TRUE(h.reserved.empty()) << "one reservation per suspect";
  EXPECT_EQ(h.running(6).worker, a);
  EXPECT_EQ(h.s.why_waiting(7), WaitReason::no_free_slot);

  h.complete(h.running(5));  // b is idle: the suspect runs there, alone
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 1U);
  EXPECT_EQ(assigned[0].job, 1U);
  EXPECT_EQ(assigned[0].worker, b);
  EXPECT_TRUE(h.s.worker_stats(b)->reserved) << "runs the suspect alone";
  EXPECT_EQ(h.s.state_of(7), JobState::queued);

  h.complete(h.running(1));
  EXPECT_FALSE(h.s.worker_stats(b)->reserved);
  const auto after = h.dispatch();
  ASSERT_EQ(after.size(), 1U);
  EXPECT_EQ(after[0].job, 7U);
  EXPECT_EQ(after[0].worker, b);
}

TEST(Scheduler, SuspectDoesNotBlockTheJobsBehindIt) {
  Harness h(suspect_after(1));
  const WorkerSlot d = h.s.add_worker(offer(1));
  h.submit(1);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  const WorkerSlot a = h.s.add_worker(offer(2));
  h.submit(2);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));  // on a
  const WorkerSlot b = h.s.add_worker(offer(2, {}, {"", "s"}));
  h.submit(5, 0, 0, "", "s");
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{5}));  // on b
  h.remove(d, WorkerLoss::died);  // job 1: suspect, at the front of the queue
  h.submit(3);
  h.submit(4);
  // 1 finds no idle worker and reserves a (a and b run one job each: the lower slot);
  // 3 and 4 go on behind it, in order: 3 takes b's free slot, 4 waits.
  ASSERT_LT(a, b);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3}));
  ASSERT_EQ(h.reserved.size(), 1U);
  EXPECT_EQ(h.reserved[0].worker, a);
  EXPECT_EQ(h.running(3).worker, b);
  EXPECT_EQ(h.s.state_of(4), JobState::queued);
  EXPECT_EQ(h.s.why_waiting(4), WaitReason::no_free_slot);
  // A slot frees on b: 4, not the suspect (which waits for a).
  h.complete(h.running(5));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{4}));
  EXPECT_EQ(h.running(4).worker, b);
}

TEST(Scheduler, ReservationEndsWithTheSuspectOrTheWorker) {
  Harness h(suspect_after(1));
  const WorkerSlot d = h.s.add_worker(offer(1));
  h.submit(1);
  h.submit(2);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  const WorkerSlot a = h.s.add_worker(offer(2));
  const WorkerSlot b = h.s.add_worker(offer(2));
  h.submit(3);
  h.submit(4);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2, 3, 4}));
  const WorkerSlot busiest = h.s.running_on(a).size() >= h.s.running_on(b).size() ? a : b;
  const WorkerSlot other = busiest == a ? b : a;
  ASSERT_EQ(h.s.running_on(busiest).size(), 2U);
  ASSERT_EQ(h.s.running_on(other).size(), 1U);
  h.remove(d, WorkerLoss::died);
  EXPECT_TRUE(h.dispatch().empty());
  ASSERT_EQ(h.reserved.size(), 1U);
  EXPECT_EQ(h.reserved[0].worker, other);

  // The reserved worker leaves: its job goes back to the front (ahead of the
  // suspect) and takes the slot freed on the other worker, which the suspect then
  // reserves.
  h.complete(h.running(h.s.running_on(busiest)[0].first));
  const JobId moved = h.s.running_on(other)[0].first;
  h.remove(other, WorkerLoss::left);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{moved}));
  ASSERT_EQ(h.reserved.size(), 1U);
  EXPECT_EQ(h.reserved[0].job, 1U);
  EXPECT_EQ(h.reserved[0].worker, busiest);
  EXPECT_TRUE(h.s.worker_stats(busiest)->reserved);

  // The suspect is aborted: the worker takes jobs again.
  EXPECT_TRUE(h.abort(1).empty());
  EXPECT_FALSE(h.s.worker_stats(busiest)->reserved);
  EXPECT_EQ(h.s.stats().suspects, 0U);
  h.submit(5);
  h.complete(h.running(h.s.running_on(busiest)[0].first));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{5}));
}

TEST(Scheduler, ReservationEndsWhenTheSuspectExpires) {
  Harness h(suspect_after(1));
  const WorkerSlot d = h.s.add_worker(offer(1));
  h.submit(1, 0, 0, "", "", kT0 + 10ms);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  const WorkerSlot a = h.s.add_worker(offer(2));
  h.submit(2);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
  h.remove(d, WorkerLoss::died);
  h.dispatch();
  ASSERT_EQ(h.reserved.size(), 1U);
  h.submit(3);
  EXPECT_TRUE(h.dispatch().empty()) << "a is reserved";
  h.now = kT0 + 10ms;
  const auto fx = h.expire();
  ASSERT_EQ(fx.size(), 1U);
  EXPECT_EQ(std::get<Failed>(fx[0]).reason, FailReason::assign_timeout);
  EXPECT_FALSE(h.s.worker_stats(a)->reserved);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3}));
}

// A job requeued to the front lands ahead of a suspect that reserved the only worker:
// the job cannot start there (reserved), and the suspect was reached only in queue
// order, behind it. Once the worker is idle the suspect runs there all the same.
TEST(Scheduler, SuspectTakesItsIdleReservedWorkerPastAJobThatCannotStart) {
  Harness h(suspect_after(1));
  const WorkerSlot a = h.s.add_worker(offer(3));
  h.submit(1);
  h.submit(2);
  h.submit(4);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 2, 4}));  // a is full
  const WorkerSlot d = h.s.add_worker(offer(1));
  h.submit(3);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{3}));  // on d
  h.complete(h.running(4));       // a has a slot free, so the round reaches 3
  h.remove(d, WorkerLoss::died);  // 3: suspect
  EXPECT_TRUE(h.dispatch().empty());
  ASSERT_EQ(h.reserved.size(), 1U);
  EXPECT_EQ(h.reserved[0].worker, a);
  EXPECT_TRUE(h.s.reject(1, a, 1));  // 1 goes back to the front, ahead of 3
  h.complete(h.running(2));          // a is idle, and reserved by 3
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3}));
  EXPECT_EQ(h.running(3).worker, a);
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::no_free_slot);
  h.complete(h.running(3));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
}

TEST(Scheduler, WorkerSlotsAreReusedAfterRemoval) {
  Harness h;
  const WorkerSlot a = h.s.add_worker(offer(1));
  const WorkerSlot b = h.s.add_worker(offer(1));
  EXPECT_NE(a, b);
  h.remove(a, WorkerLoss::left);
  EXPECT_EQ(h.s.add_worker(offer(3)), a);
  EXPECT_EQ(h.s.worker_stats(a)->slots, 3U);
  EXPECT_EQ(h.s.stats().workers, 2U);
  EXPECT_EQ(h.s.stats().total_slots, 4U);
}

// ------------------------------------------------------------------ hold similar work

SchedulerOptions holding() {
  SchedulerOptions options;
  options.hold_similar_work = true;
  return options;
}

TEST(Scheduler, HeldJobsGetTheLeadersResult) {
  Harness h(holding());
  h.s.add_worker(offer(10));
  h.submit(1, 0, 1, "k");
  h.submit(2, 0, 2, "k");
  h.submit(3, 0, 3, "k");
  h.submit(4, 0, 1, "other");
  EXPECT_EQ(h.s.state_of(2), JobState::held);
  EXPECT_EQ(h.s.why_waiting(2), WaitReason::held_behind_key);
  EXPECT_EQ(h.s.stats().held, 2U);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 4}));
  h.submit(5, 0, 5, "k");  // the leader is running: held as well
  EXPECT_EQ(h.s.state_of(5), JobState::held);

  const auto fx = h.complete(h.running(1));
  const auto finished = only<Finished>(fx);
  ASSERT_EQ(fx.size(), 4U);
  EXPECT_EQ(finished[0].job, 1U);
  EXPECT_EQ(finished[0].source, 1U);
  EXPECT_EQ(finished[1].job, 2U);
  EXPECT_EQ(finished[1].client, 2U);
  EXPECT_EQ(finished[1].source, 1U);
  EXPECT_EQ(finished[2].job, 3U);
  EXPECT_EQ(finished[3].job, 5U);
  EXPECT_EQ(finished[3].source, 1U);
  EXPECT_EQ(h.s.stats().held, 0U);
  EXPECT_EQ(h.s.stats().finished, 4U);

  h.submit(6, 0, 0, "k");  // the key is free again: leads
  EXPECT_EQ(h.s.state_of(6), JobState::queued);
}

TEST(Scheduler, AbortedLeaderPassesTheLeadToTheNextHeldJob) {
  Harness h(holding());
  h.s.add_worker(offer(10));
  h.submit(1, 0, 0, "k");
  h.submit(2, 0, 0, "k");
  h.submit(3, 0, 0, "k");
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  const auto fx = h.abort(1);
  ASSERT_EQ(fx.size(), 1U);
  const auto& abort = std::get<AbortOnWorker>(fx[0]);
  EXPECT_EQ(abort.job, 1U);
  EXPECT_EQ(abort.attempt, 1U);
  EXPECT_EQ(h.s.state_of(2), JobState::queued);
  EXPECT_EQ(h.s.state_of(3), JobState::held);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
  const auto done = only<Finished>(h.complete(h.running(2)));
  ASSERT_EQ(done.size(), 2U);
  EXPECT_EQ(done[1].job, 3U);
  EXPECT_EQ(done[1].source, 2U);
}

TEST(Scheduler, QueuedLeaderAbortedPassesTheLead) {
  Harness h(holding());
  h.submit(1, 0, 0, "k");
  h.submit(2, 0, 0, "k");
  EXPECT_TRUE(h.abort(1).empty());
  EXPECT_EQ(h.s.state_of(2), JobState::queued);
  EXPECT_EQ(h.s.stats().queued, 1U);
  EXPECT_EQ(h.s.stats().held, 0U);
}

TEST(Scheduler, TimedOutLeaderPassesTheLeadToTheNextHeldJob) {
  Harness h(holding());
  h.s.add_worker(offer(10));
  h.submit(1, 0, 0, "k");
  h.submit(2, 0, 0, "k");
  h.submit(3, 0, 0, "k");
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  const auto fx = h.complete(h.running(1), Completion::timed_out);
  const auto finished = only<Finished>(fx);
  ASSERT_EQ(fx.size(), 1U) << "only the leader gets its ETO";
  EXPECT_EQ(finished[0].job, 1U);
  EXPECT_EQ(h.s.state_of(2), JobState::queued);
  EXPECT_EQ(h.s.state_of(3), JobState::held);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
}

TEST(Scheduler, LeaderLostWithItsWorkerPassesTheLead) {
  SchedulerOptions options = holding();
  options.suspect_after = 1;
  Harness h(options);
  const WorkerSlot w = h.s.add_worker(offer(10));
  h.submit(1, 0, 0, "k");
  h.submit(2, 0, 0, "k");
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  EXPECT_TRUE(only<Failed>(h.remove(w, WorkerLoss::died)).empty()) << "suspect, requeued, still leading";
  EXPECT_EQ(h.s.state_of(2), JobState::held);
  const WorkerSlot alone = h.s.add_worker(offer(10));
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  const auto fx = h.remove(alone, WorkerLoss::died);
  ASSERT_EQ(only<Failed>(fx).size(), 1U);
  EXPECT_EQ(only<Failed>(fx)[0].reason, FailReason::poison);
  EXPECT_EQ(h.s.state_of(2), JobState::queued) << "the held job leads now, not suspect";
  h.s.add_worker(offer(10));
  h.submit(3);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2, 3}));
}

TEST(Scheduler, LeaderThatExpiresPassesTheLeadAndALateSuccessorFailsToo) {
  Harness h(holding());
  h.submit(1, 0, 0, "k", "", kT0 + 10ms);
  h.submit(2, 0, 0, "k", "", kT0 + 20ms);
  h.submit(3, 0, 0, "k", "", kT0 + 100ms);
  EXPECT_EQ(h.s.next_deadline(), kT0 + 10ms) << "held jobs' deadlines are not armed";
  h.now = kT0 + 30ms;
  // Held jobs do not expire while held; job 2 is promoted when 1 fails, its deadline
  // has passed, so it fails in the same expire(); job 3 then leads with time left.
  const auto failed = only<Failed>(h.expire());
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_EQ(failed[0].job, 1U);
  EXPECT_EQ(failed[1].job, 2U);
  EXPECT_EQ(h.s.state_of(3), JobState::queued);
  EXPECT_EQ(h.s.next_deadline(), kT0 + 100ms);
}

TEST(Scheduler, HeldJobDoesNotExpireWhileItsLeaderRuns) {
  Harness h(holding());
  h.s.add_worker(offer(1));
  h.submit(1, 0, 0, "k");
  h.submit(2, 0, 0, "k", "", kT0 + 5ms);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  h.now = kT0 + 1s;
  EXPECT_TRUE(h.expire().empty());
  const auto finished = only<Finished>(h.complete(h.running(1)));
  ASSERT_EQ(finished.size(), 2U);
  EXPECT_EQ(finished[1].job, 2U);
}

TEST(Scheduler, PromotedJobIsQueuedInSubmissionOrder) {
  Harness h(holding());
  const WorkerSlot w = h.s.add_worker(offer(1));
  h.submit(9);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{9}));  // occupies the only slot
  h.submit(1, 0, 0, "k");
  h.submit(2, 0, 0, "k");
  h.submit(3);
  h.submit(4);
  h.abort(1);  // 2 leads now and goes before 3 and 4, submitted after it
  h.complete(h.running(9));
  std::vector<JobId> order;
  for (int i = 0; i < 3; ++i) {
    const auto assigned = h.dispatch();
    ASSERT_EQ(assigned.size(), 1U);
    order.push_back(assigned[0].job);
    h.complete(assigned[0]);
  }
  EXPECT_EQ(order, (std::vector<JobId>{2, 3, 4}));
  (void)w;
}

TEST(Scheduler, AbortingAHeldJobJustRemovesIt) {
  Harness h(holding());
  h.s.add_worker(offer(1));
  h.submit(1, 0, 0, "k");
  h.submit(2, 0, 0, "k");
  h.submit(3, 0, 0, "k");
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  EXPECT_TRUE(h.abort(2).empty());
  EXPECT_EQ(h.s.state_of(2), JobState::unknown);
  const auto finished = only<Finished>(h.complete(h.running(1)));
  ASSERT_EQ(finished.size(), 2U);
  EXPECT_EQ(finished[1].job, 3U);
  Effects fx;
  EXPECT_FALSE(h.s.abort(2, fx)) << "already gone";
}

TEST(Scheduler, KeysMeanNothingWithoutHoldSimilarWork) {
  Harness h;
  h.s.add_worker(offer(10));
  h.submit(1, 0, 0, "k");
  h.submit(2, 0, 0, "k");
  EXPECT_EQ(h.s.state_of(2), JobState::queued);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 2}));
  EXPECT_EQ(only<Finished>(h.complete(h.running(1))).size(), 1U);
}

// ------------------------------------------------------------------ throttling

TEST(Scheduler, AvailThresholdWaitsForFreedSlotsAfterTheSystemWasFull) {
  SchedulerOptions options;
  options.avail_threshold = 3;
  Harness h(options);
  h.s.add_worker(offer(10));
  for (JobId id = 1; id <= 15; ++id) h.submit(id);
  ASSERT_EQ(h.dispatch().size(), 10U);
  EXPECT_TRUE(h.s.stats().throttled);
  // Issue 10, defect 8: with every slot busy a job waits for a slot, not for the throttle.
  EXPECT_EQ(h.s.why_waiting(11), WaitReason::no_free_slot);
  h.complete(h.running(1));
  h.complete(h.running(2));
  EXPECT_TRUE(h.dispatch().empty()) << "2 free < threshold 3";
  EXPECT_EQ(h.s.why_waiting(11), WaitReason::throttled) << "slots are free, the threshold holds the job";
  h.complete(h.running(3));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{11, 12, 13}));
}

// Issue 10, defect 5 (SPEC 4): capacity that arrives ends the throttle at once, so a
// worker that joins a full system gets work immediately.
TEST(Scheduler, NewOfferEndsTheAvailThresholdThrottle) {
  SchedulerOptions options;
  options.avail_threshold = 50;
  Harness h(options);
  h.s.add_worker(offer(100));
  for (JobId id = 1; id <= 110; ++id) h.submit(id);
  ASSERT_EQ(h.dispatch().size(), 100U);
  ASSERT_TRUE(h.s.stats().throttled);
  const WorkerSlot joined = h.s.add_worker(offer(4));
  EXPECT_FALSE(h.s.stats().throttled);
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 4U) << "the new worker's 4 slots are used although 4 < 50";
  for (const Assigned& a : assigned) EXPECT_EQ(a.worker, joined);
}

// Jobs that name no service, with no worker taking such jobs, wait for "no_worker"
// (PROTOCOL §8.3), not for a service nobody offers.
TEST(Scheduler, JobWithoutServiceAndNoPlainWorkerWaitsForNoWorker) {
  Harness h;
  h.submit(1);
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::no_worker);
  h.s.add_worker(offer(4, {}, {"ocr"}));
  EXPECT_TRUE(h.dispatch().empty());
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::no_worker) << "a worker listing services takes no service-less job";
  h.submit(2, 0, 0, "", "resize");
  EXPECT_EQ(h.s.why_waiting(2), WaitReason::no_worker_for_service);
}

TEST(Scheduler, AvailThresholdNeverStallsWhenCapacityIsBelowIt) {
  SchedulerOptions options;
  options.avail_threshold = 50;
  Harness h(options);
  h.s.add_worker(offer(4));
  for (JobId id = 1; id <= 6; ++id) h.submit(id);
  ASSERT_EQ(h.dispatch().size(), 4U);
  for (JobId id = 1; id <= 3; ++id) h.complete(h.running(id));
  EXPECT_TRUE(h.dispatch().empty()) << "3 free < capacity 4";
  h.complete(h.running(4));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{5, 6})) << "the threshold is capped at the capacity";
  EXPECT_FALSE(h.s.stats().throttled);
}

TEST(Scheduler, AvailThresholdIsLeftWhenTheQueueEmpties) {
  SchedulerOptions options;
  options.avail_threshold = 5;
  Harness h(options);
  h.s.add_worker(offer(10));
  for (JobId id = 1; id <= 11; ++id) h.submit(id);
  ASSERT_EQ(h.dispatch().size(), 10U);
  h.abort(11);
  EXPECT_TRUE(h.dispatch().empty());
  EXPECT_FALSE(h.s.stats().throttled);
  h.complete(h.running(1));
  h.submit(12);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{12})) << "1 free slot is enough: not full any more";
}

TEST(Scheduler, DistribRandmaxDelaysARoundAndReportsItsDeadline) {
  SchedulerOptions options;
  options.distrib_randmax = 100ms;
  options.seed = 7;
  Harness h(options);
  h.s.add_worker(offer(10));
  h.submit(1);
  EXPECT_TRUE(h.dispatch().empty());
  const auto at = h.s.next_deadline();
  ASSERT_TRUE(at.has_value());
  EXPECT_GT(*at, kT0);
  EXPECT_LE(*at, kT0 + 100ms);
  EXPECT_TRUE(h.s.stats().throttled);
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::throttled);
  h.submit(2);  // more work while armed does not re-arm
  EXPECT_EQ(h.s.next_deadline(), at);
  h.now = *at - 1us;
  EXPECT_TRUE(h.dispatch().empty());
  h.now = *at;
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 2}));
  EXPECT_FALSE(h.s.next_deadline().has_value());
  EXPECT_FALSE(h.s.stats().throttled);
}

TEST(Scheduler, DistribRandmaxDelaysSpreadOverTheWholeInterval) {
  SchedulerOptions options;
  options.distrib_randmax = 10ms;
  Harness h(options);
  h.s.add_worker(offer(1));
  std::chrono::microseconds longest{0};
  std::chrono::microseconds shortest{10ms};
  for (JobId id = 1; id <= 200; ++id) {
    h.submit(id);
    const TimePoint start = h.now;
    auto assigned = h.dispatch();
    if (assigned.empty()) {
      const auto at = h.s.next_deadline();
      ASSERT_TRUE(at.has_value());
      h.now = *at;
      assigned = h.dispatch();
    }
    ASSERT_EQ(assigned.size(), 1U);
    const auto delay = std::chrono::duration_cast<std::chrono::microseconds>(h.now - start);
    longest = std::max(longest, delay);
    shortest = std::min(shortest, delay);
    h.complete(assigned[0]);
    h.now += 1ms;
  }
  EXPECT_LE(longest, 10ms);
  EXPECT_GT(longest, 8ms);
  EXPECT_LT(shortest, 2ms);
}

TEST(Scheduler, WithoutDistribRandmaxThereIsNoDelay) {
  Harness h;
  h.s.add_worker(offer(1));
  h.submit(1);
  EXPECT_FALSE(h.s.next_deadline().has_value());
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
}

// ------------------------------------------------------------------ deadlines

TEST(Scheduler, NextDeadlineIsTheEarliestQueuedAssignDeadline) {
  Harness h;
  EXPECT_FALSE(h.s.next_deadline().has_value());
  h.submit(1, 0, 0, "", "x", kT0 + 30ms);
  h.submit(2, 0, 0, "", "x", kT0 + 10ms);
  h.submit(3, 0, 0, "", "x", kT0 + 20ms);
  h.submit(4, 0, 0, "", "x");
  EXPECT_EQ(h.s.next_deadline(), kT0 + 10ms);
  h.abort(2);
  EXPECT_EQ(h.s.next_deadline(), kT0 + 20ms) << "an aborted job's deadline is forgotten";
  h.now = kT0 + 30ms;
  const auto failed = only<Failed>(h.expire());
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_EQ(failed[0].job, 3U);
  EXPECT_EQ(failed[1].job, 1U);
  EXPECT_EQ(h.s.state_of(4), JobState::queued);
}

TEST(Scheduler, AssignedJobDoesNotExpire) {
  Harness h;
  h.s.add_worker(offer(1));
  h.submit(1, 0, 0, "", "", kT0 + 10ms);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  EXPECT_FALSE(h.s.next_deadline().has_value());
  h.now = kT0 + 1s;
  EXPECT_TRUE(h.expire().empty());
  EXPECT_EQ(h.s.state_of(1), JobState::running);
}

TEST(Scheduler, RequeuedJobIsStillBoundByItsAssignDeadline) {
  Harness h;
  const WorkerSlot w = h.s.add_worker(offer(1));
  h.submit(1, 0, 0, "", "", kT0 + 10ms);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  h.now = kT0 + 20ms;
  h.expire();
  h.remove(w, WorkerLoss::left);
  EXPECT_EQ(h.s.next_deadline(), kT0 + 10ms);
  const auto failed = only<Failed>(h.expire());
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_EQ(failed[0].reason, FailReason::assign_timeout);
}

// ------------------------------------------------------------------ abort

TEST(Scheduler, AbortClientDropsEveryJobOfThatClientOnly) {
  Harness h(holding());
  const WorkerSlot w = h.s.add_worker(offer(2));
  h.submit(1, 0, 1);
  h.submit(2, 0, 2, "k");
  h.submit(3, 0, 1, "k");  // held behind client 2's job
  h.submit(4, 0, 1);
  h.submit(5, 0, 2);
  h.submit(6, 0, 1, "j");
  h.submit(7, 0, 2, "j");  // held behind client 1's job 6
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 2}));
  Effects fx;
  h.s.abort_client(1, fx);
  ASSERT_EQ(fx.size(), 1U);
  EXPECT_EQ(std::get<AbortOnWorker>(fx[0]).job, 1U);
  EXPECT_EQ(std::get<AbortOnWorker>(fx[0]).worker, w);
  for (const JobId id : std::vector<JobId>{1, 3, 4, 6}) EXPECT_EQ(h.s.state_of(id), JobState::unknown) << id;
  EXPECT_EQ(h.s.state_of(2), JobState::running);
  EXPECT_EQ(h.s.state_of(5), JobState::queued);
  EXPECT_EQ(h.s.state_of(7), JobState::queued) << "leads once 6 is gone";
  EXPECT_EQ(h.s.stats().held, 0U);
  Effects none;
  h.s.abort_client(1, none);
  h.s.abort_client(42, none);
  EXPECT_TRUE(none.empty());
}

TEST(Scheduler, AbortingARunningJobFreesItsSlot) {
  Harness h;
  h.s.add_worker(offer(1));
  h.submit(1);
  h.submit(2);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  h.abort(1);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
  Effects fx;
  EXPECT_FALSE(h.s.abort(1, fx));
}

// ------------------------------------------------------------------ selector

TEST(Scheduler, CustomSelectorChoosesAmongCapableWorkersWithFreeSlots) {
  Harness h;
  const WorkerSlot a = h.s.add_worker(offer(2));
  const WorkerSlot b = h.s.add_worker(offer(5));
  h.s.add_worker(offer(5, {}, {"elsewhere"}));
  std::vector<std::vector<Candidate>> seen;
  h.s.set_selector([&](const JobView& job, std::span<const Candidate> candidates) -> std::optional<std::size_t> {
    EXPECT_EQ(job.attempt, 0U);
    seen.emplace_back(candidates.begin(), candidates.end());
    // The worker with the fewest free slots (pack tightly).
    const auto best = std::min_element(candidates.begin(), candidates.end(),
                                       [](const Candidate& x, const Candidate& y) { return x.free_slots < y.free_slots; });
    return static_cast<std::size_t>(best - candidates.begin());
  });
  for (JobId id = 1; id <= 3; ++id) h.submit(id);
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 3U);
  EXPECT_EQ(assigned[0].worker, a);
  EXPECT_EQ(assigned[1].worker, a);
  EXPECT_EQ(assigned[2].worker, b);
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0].size(), 2U) << "only workers offering the service";
  ASSERT_EQ(seen[2].size(), 1U) << "only workers with free slots";
  EXPECT_EQ(seen[2][0].worker, b);
  EXPECT_EQ(seen[2][0].free_slots, 5U);
}

TEST(Scheduler, SelectorDecliningLeavesTheQueueAndMovesOn) {
  Harness h;
  h.s.add_worker(offer(10, {}, {"a", "b"}));
  int calls = 0;
  h.s.set_selector([&](const JobView& job, std::span<const Candidate>) -> std::optional<std::size_t> {
    ++calls;
    if (job.service == "a") return std::nullopt;
    return 0;
  });
  h.submit(1, 5, 0, "", "a");
  h.submit(2, 5, 0, "", "a");
  h.submit(3, 1, 0, "", "b");
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3}));
  EXPECT_EQ(calls, 2) << "one refusal skips the whole queue for the round";
  h.s.set_selector(nullptr);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 2}));
}

// ------------------------------------------------------------------ weighted choice

// Three workers with 10, 20 and 70 free slots; each cycle assigns one job and
// completes it, so the free slots are the same for every draw. The counts must follow
// 10:20:70 (Pearson chi-square with 2 degrees of freedom below 13.8, p = 0.001; the
// seed is fixed, so the test is deterministic).
TEST(Scheduler, WeightedChoiceFollowsFreeSlots) {
  SchedulerOptions options;
  options.seed = 12345;
  Harness h(options);
  const std::vector<unsigned> slots{10, 20, 70};
  std::vector<WorkerSlot> ids;
  ids.reserve(slots.size());
  for (const unsigned n : slots) ids.push_back(h.s.add_worker(offer(n)));
  std::map<WorkerSlot, int> count;
  constexpr JobId kCycles = 20000;
  for (JobId id = 1; id <= kCycles; ++id) {
    h.submit(id);
    const auto assigned = h.dispatch();
    ASSERT_EQ(assigned.size(), 1U);
    ++count[assigned[0].worker];
    h.complete(assigned[0]);
  }
  double chi2 = 0;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const double expected = static_cast<double>(kCycles) * slots[i] / 100.0;
    const double diff = count[ids[i]] - expected;
    chi2 += diff * diff / expected;
  }
  EXPECT_LT(chi2, 13.8) << count[ids[0]] << " / " << count[ids[1]] << " / " << count[ids[2]];
}

TEST(Scheduler, WeightedChoiceUsesFreeSlotsOfTheJobsRange) {
  SchedulerOptions options;
  options.seed = 99;
  Harness h(options);
  // For range 0, worker a has 1 slot and b has 9; for range 5, both have 10.
  const WorkerSlot a = h.s.add_worker(offer(10, {{5, 9}}));
  const WorkerSlot b = h.s.add_worker(offer(10, {{5, 1}}));
  std::map<WorkerSlot, int> low;
  for (JobId id = 1; id <= 2000; ++id) {
    h.submit(id, 0);
    const auto assigned = h.dispatch();
    ASSERT_EQ(assigned.size(), 1U);
    ++low[assigned[0].worker];
    h.complete(assigned[0]);
  }
  EXPECT_NEAR(low[a] / 2000.0, 0.1, 0.03);
  EXPECT_NEAR(low[b] / 2000.0, 0.9, 0.03);
}

TEST(Scheduler, BusyWorkerIsNeverChosen) {
  Harness h;
  const WorkerSlot a = h.s.add_worker(offer(3));
  const WorkerSlot b = h.s.add_worker(offer(3));
  for (JobId id = 1; id <= 6; ++id) h.submit(id);
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 6U);
  EXPECT_EQ(h.s.running_on(a).size(), 3U);
  EXPECT_EQ(h.s.running_on(b).size(), 3U);
}

// ------------------------------------------------------------------ introspection

TEST(Scheduler, StatsReportMergedRanges) {
  Harness h;
  h.s.add_worker(offer(100, {{1, 30}, {2, 20}}));
  h.s.add_worker(offer(10, {{1.5, 4}}));
  h.submit(1, 0);
  h.submit(2, 1.7);
  h.submit(3, 2);
  h.submit(4, 2, 0, "", "none");
  ASSERT_EQ(h.dispatch().size(), 3U);
  const SchedulerStats stats = h.s.stats();
  EXPECT_EQ(stats.workers, 2U);
  EXPECT_EQ(stats.total_slots, 110U);
  EXPECT_EQ(stats.free_slots, 107U);
  EXPECT_EQ(stats.running, 3U);
  EXPECT_EQ(stats.queued, 1U);
  EXPECT_EQ(stats.queued_by_priority, (std::map<double, std::size_t>{{2.0, 1}}));
  ASSERT_EQ(stats.ranges.size(), 4U);
  const std::vector<double> starts{0, 1, 1.5, 2};
  const std::vector<unsigned> limits{50 + 6, 80 + 6, 80 + 10, 100 + 10};
  const std::vector<unsigned> used{1, 0, 1, 1};
  for (std::size_t g = 0; g < 4; ++g) {
    EXPECT_EQ(stats.ranges[g].start, starts[g]);
    EXPECT_EQ(stats.ranges[g].limit, limits[g]) << g;
    EXPECT_EQ(stats.ranges[g].used, used[g]) << g;
    EXPECT_EQ(stats.ranges[g].workers, 2U);
  }
}

TEST(Scheduler, MergedRangesShrinkWhenTheirLastWorkerLeaves) {
  Harness h;
  const WorkerSlot a = h.s.add_worker(offer(10, {{3, 5}}));
  h.s.add_worker(offer(10));
  h.submit(1, 4);
  h.submit(2, 4);
  ASSERT_EQ(h.dispatch().size(), 2U);
  EXPECT_EQ(h.s.stats().ranges.size(), 2U);
  h.remove(a, WorkerLoss::left);
  const auto stats = h.s.stats();
  ASSERT_EQ(stats.ranges.size(), 1U);
  EXPECT_EQ(stats.ranges[0].limit, 10U);
  EXPECT_EQ(stats.ranges[0].used + stats.queued, 2U);
  h.dispatch();
  EXPECT_EQ(h.s.stats().ranges[0].used, 2U);
}

// A job that ends is gone from the scheduler at once; the effect that reports its
// end carries its data, so nothing has to look it up afterwards.
TEST(Scheduler, EffectsOfJobsThatEndCarryTheirData) {
  Harness h;
  h.s.add_worker(offer(2));
  Effects fx;
  JobSpec spec{1, 7, 2.5, "k", "", std::nullopt, {}};
  spec.cargo.payload = detail::OpaqueFrame(zmq::message_t(std::string_view("payload")));
  spec.cargo.set_run_timeout(500);
  h.s.submit(std::move(spec), h.now, fx);
  for (JobId id = 2; id <= 1000; ++id) h.submit(id, 0, 8);
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 2U);
  const auto live = h.s.view(1);
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(live->cargo.payload.share().to_string(), "payload") << "the cargo rides unread";
  EXPECT_EQ(live->cargo.run_timeout(), 500U);

  const Effects finished = h.complete(assigned[0]);
  const auto done = only<Finished>(finished);
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].facts.client, 7U);
  EXPECT_EQ(done[0].facts.priority, 2.5);
  EXPECT_EQ(done[0].facts.key, "k");
  EXPECT_EQ(done[0].facts.service, "");
  EXPECT_EQ(done[0].facts.attempt, 1U);
  EXPECT_FALSE(h.s.view(1).has_value()) << "an ended job is not readable through the scheduler";
  EXPECT_EQ(h.s.state_of(1), JobState::unknown);
  EXPECT_EQ(h.s.job_count(), 999U);

  // Ending many jobs at once: the running one's AbortOnWorker carries its data.
  Effects aborted;
  h.s.abort_client(8, aborted);
  const auto aborts = only<AbortOnWorker>(aborted);
  ASSERT_EQ(aborts.size(), 1U);
  EXPECT_EQ(aborts[0].job, assigned[1].job);
  EXPECT_EQ(aborts[0].facts.client, 8U);
  EXPECT_EQ(aborts[0].facts.attempt, 1U);
  EXPECT_FALSE(h.s.view(500).has_value());
  EXPECT_EQ(h.s.job_count(), 0U);
  EXPECT_TRUE(h.s.oldest_waiting(10).empty());
}

TEST(Scheduler, OldestWaitingListsQueuedAndHeldJobsBySmallestId) {
  Harness h(SchedulerOptions{.hold_similar_work = true});
  h.s.add_worker(offer(1));
  h.submit(9, 0, 0, "same");
  h.submit(4, 0, 0, "same");  // held behind 9
  h.submit(7);
  h.submit(2);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{9}));  // runs, so no longer waiting
  EXPECT_EQ(h.s.oldest_waiting(2), (std::vector<JobId>{2, 4}));
  EXPECT_EQ(h.s.oldest_waiting(10), (std::vector<JobId>{2, 4, 7}));
}

TEST(Scheduler, ViewRunningOnAndWorkerStatsDescribeTheState) {
  Harness h;
  const WorkerSlot w = h.s.add_worker(offer(4, {{1, 1}}, {"svc"}));
  h.submit(1, 1.5, 3, "key", "svc");
  const auto view = h.s.view(1);
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->id, 1U);
  EXPECT_EQ(view->client, 3U);
  EXPECT_EQ(view->priority, 1.5);
  EXPECT_EQ(view->key, "key");
  EXPECT_EQ(view->service, "svc");
  EXPECT_EQ(view->attempt, 0U);
  EXPECT_FALSE(h.s.view(2).has_value());
  ASSERT_EQ(h.dispatch().size(), 1U);
  EXPECT_EQ(h.s.view(1)->attempt, 1U);
  EXPECT_EQ(h.s.running_on(w), (std::vector<std::pair<JobId, unsigned>>{{1, 1}}));
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::none);
  const auto stats = h.s.worker_stats(w);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->slots, 4U);
  EXPECT_EQ(stats->running, 1U);
  ASSERT_EQ(stats->pools.size(), 2U);
  EXPECT_EQ(stats->pools[1].used, 1U);
  EXPECT_FALSE(h.s.worker_stats(w + 1).has_value());
  EXPECT_TRUE(h.s.running_on(w + 1).empty());
}

TEST(Scheduler, CompactKeepsEverythingWorking) {
  SchedulerOptions options = holding();
  Harness h(options);
  const WorkerSlot a = h.s.add_worker(offer(2, {}, {"s1"}));
  h.s.add_worker(offer(2));
  for (JobId id = 1; id <= 3000; ++id) h.submit(id, static_cast<double>(id % 7), 1, "", id % 2 ? "s1" : "");
  h.s.remove_worker(a, WorkerLoss::left, *std::make_unique<Effects>());
  Effects fx;
  h.s.abort_client(1, fx);
  h.submit(5000, 0, 2, "k", "", kT0 + 5ms);
  h.submit(5001, 0, 2, "k");
  h.s.compact();
  EXPECT_EQ(h.s.stats().queued, 1U);
  EXPECT_EQ(h.s.stats().held, 1U);
  EXPECT_EQ(h.s.next_deadline(), kT0 + 5ms);
  const WorkerSlot b = h.s.add_worker(offer(1, {}, {"s1"}));
  h.submit(5002, 0, 2, "", "s1");
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 2U);
  EXPECT_EQ(assigned[1].worker, b);
  EXPECT_EQ(only<Finished>(h.complete(assigned[0])).size(), 2U);
}

TEST(Scheduler, DuplicateJobIdIsRefused) {
  Harness h;
  h.submit(1);
  Effects fx;
  EXPECT_THROW(h.s.submit(JobSpec{1, 0, 0, "", "", std::nullopt, {}}, kT0, fx), std::invalid_argument);
  EXPECT_EQ(h.s.stats().queued, 1U);
}

TEST(Scheduler, MovedSchedulerKeepsItsState) {
  Harness h;
  h.s.add_worker(offer(1));
  h.submit(1);
  Scheduler moved = std::move(h.s);
  Effects fx;
  moved.dispatch(kT0, fx);
  EXPECT_EQ(only<Assigned>(fx).size(), 1U);
}

// ------------------------------------------------------------------ job lifecycle (issue 14)
//
// One test per defect the property tests found in the lifecycle (the seed each failed
// with is in the scheduler's comments).

JobSpec job_spec(JobId id, std::string group = "", std::string service = "", double priority = 0) {
  JobSpec spec;
  spec.id = id;
  spec.priority = priority;
  spec.service = std::move(service);
  spec.group = std::move(group);
  return spec;
}

void submit(Harness& h, JobSpec spec) {
  Effects fx;
  h.s.submit(std::move(spec), h.now, fx);
  EXPECT_TRUE(fx.empty());
}

GroupLimits limits(std::optional<std::uint64_t> max_running, std::optional<double> rate) {
  return GroupLimits{max_running, rate};
}

// A delayed job, or a retry, queues behind the jobs that queued while it waited, also
// across services (queues of equal priority are merged by order).
TEST(Scheduler, DueJobQueuesBehindTheJobsQueuedWhileItWaited) {
  Harness h;
  const WorkerSlot w = h.s.add_worker(offer(1, {}, {"", "a"}));
  JobSpec delayed = job_spec(1, "", "a");
  delayed.not_before = kT0 + 10ms;
  submit(h, std::move(delayed));
  EXPECT_EQ(h.s.state_of(1), JobState::delayed);
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::delayed);
  h.now = kT0 + 5ms;
  submit(h, job_spec(2));
  submit(h, job_spec(3));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
  h.now = kT0 + 10ms;
  h.complete(h.running(2));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3})) << "1 queued when due, behind 3";
  // A retry too: 3 fails its attempt, 4 queues during the backoff and goes first.
  EXPECT_TRUE(h.s.retry(3, w, 1, h.now + 5ms));
  EXPECT_EQ(h.s.why_waiting(3), WaitReason::retry_backoff);
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  submit(h, job_spec(4, "", "a"));
  h.now += 5ms;
  h.complete(h.running(1));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{4}));
  h.complete(h.running(4));
  const auto again = h.dispatch();
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].job, 3U);
  EXPECT_EQ(again[0].attempt, 2U);
}

// An assign deadline bounds only the wait for a first worker: a retry that queues
// again after it does not fail with assign_timeout.
TEST(Scheduler, RetryEndsTheAssignDeadline) {
  Harness h;
  const WorkerSlot w = h.s.add_worker(offer(1));
  h.submit(1, 0, 0, "", "", kT0 + 10ms);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  h.submit(2);
  EXPECT_TRUE(h.s.retry(1, w, 1, kT0 + 1ms));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
  h.now = kT0 + 2ms;
  EXPECT_TRUE(h.dispatch().empty());
  EXPECT_EQ(h.s.state_of(1), JobState::queued);
  EXPECT_EQ(h.s.next_deadline(), std::nullopt);
  h.now = kT0 + 10ms;
  EXPECT_TRUE(h.expire().empty());
  EXPECT_EQ(h.s.state_of(1), JobState::queued);
}

// PROTOCOL §14.5: a rate of 0 pauses the group, not one job per limits change.
TEST(Scheduler, GroupRateZeroStartsNothing) {
  Harness h;
  h.s.add_worker(offer(2));
  h.s.set_group_limits("g", limits(std::nullopt, 0.0));
  submit(h, job_spec(1, "g"));
  EXPECT_TRUE(h.dispatch().empty());
  EXPECT_EQ(h.s.state_of(1), JobState::parked);
  EXPECT_EQ(h.s.why_waiting(1), WaitReason::group_rate_limit);
  EXPECT_EQ(h.s.next_deadline(), std::nullopt) << "no token ever comes";
  h.now = kT0 + 10s;
  EXPECT_TRUE(h.dispatch().empty());
  h.s.set_group_limits("g", limits(std::nullopt, 1.0));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
}

// A new rate starts with a full bucket, the same one set again does not.
TEST(Scheduler, SettingTheSameRateAgainKeepsTheBucket) {
  Harness h;
  h.s.add_worker(offer(8));
  h.s.set_group_defaults(limits(std::nullopt, 1.0));
  submit(h, job_spec(1, "g"));
  submit(h, job_spec(2, "g"));
  submit(h, job_spec(3, "h"));
  submit(h, job_spec(4, "h"));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 3}));  // one token each
  h.s.set_group_limits("g", limits(2, 1.0));                 // same rate, other max_running
  h.s.set_group_defaults(limits(std::nullopt, 1.0));         // the same defaults
  EXPECT_TRUE(h.dispatch().empty());
  h.s.set_group_defaults(limits(std::nullopt, 2.0));  // a new rate for h: a full bucket
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{4}));
  h.now = kT0 + 1s + 1ms;  // g's next token
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
}

// compact() keeps a group whose jobs all ended while its bucket refills: made again,
// it would start full, and its next jobs beyond its rate.
TEST(Scheduler, CompactKeepsTheBucketOfAGroupWithoutJobs) {
  Harness h;
  h.s.add_worker(offer(2));
  h.s.set_group_defaults(limits(std::nullopt, 1.0));
  submit(h, job_spec(1, "g"));
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  h.complete(h.running(1));
  h.now = kT0 + 100ms;
  h.s.compact();
  submit(h, job_spec(2, "g"));
  EXPECT_TRUE(h.dispatch().empty());
  EXPECT_EQ(h.s.why_waiting(2), WaitReason::group_rate_limit);
  h.now = kT0 + 1s + 1ms;  // the next token
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
  h.complete(h.running(2));
  h.now = kT0 + 3s;
  h.dispatch();
  h.s.compact();  // full again: it may go
  EXPECT_TRUE(h.s.group_stats(10).empty());
}

// Budget the group's queued jobs cannot use (no worker offers their service) goes to
// its parked jobs that have a slot: they no longer wait for those queued jobs.
TEST(Scheduler, QueuedJobsWithoutASlotDoNotHoldBackTheirGroupsParkedJobs) {
  Harness h;
  h.s.add_worker(offer(2));
  h.s.set_group_limits("g", limits(1, std::nullopt));
  submit(h, job_spec(1, "g"));
  submit(h, job_spec(2, "g"));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  EXPECT_EQ(h.s.state_of(2), JobState::parked);
  EXPECT_EQ(h.s.why_waiting(2), WaitReason::group_running_limit);
  submit(h, job_spec(3, "g", "nobody"));
  h.complete(h.running(1));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));
  EXPECT_EQ(h.s.why_waiting(3), WaitReason::group_running_limit) << "2 took the budget";
}

// A group parked at max_running whose running job ends with no token left gets a timer
// for its next token; a faster rate gets an earlier timer than the one armed before.
TEST(Scheduler, GroupOutOfTokensGetsATimerForItsNextToken) {
  Harness h;
  h.s.add_worker(offer(8));
  h.s.set_group_limits("g", limits(1, 1.0));
  submit(h, job_spec(1, "g"));
  submit(h, job_spec(2, "g"));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  EXPECT_EQ(h.s.next_deadline(), std::nullopt) << "at max_running: 1's end wakes the group";
  h.now = kT0 + 100ms;
  h.complete(h.running(1));
  EXPECT_TRUE(h.dispatch().empty());
  EXPECT_EQ(h.s.why_waiting(2), WaitReason::group_rate_limit);
  const auto next = h.s.next_deadline();
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(*next, h.now);
  EXPECT_LE(*next, kT0 + 1s + 1ms);
  h.now = *next;
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{2}));

  h.s.set_group_limits("h", limits(std::nullopt, 0.1));
  submit(h, job_spec(3, "h"));
  submit(h, job_spec(4, "h"));
  const TimePoint start = h.now;
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3}));  // 4 parked, a timer in 10 s
  h.s.set_group_limits("h", limits(std::nullopt, 2.0));  // a new rate: 2 tokens
  submit(h, job_spec(5, "h"));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{4, 5}));
  submit(h, job_spec(6, "h"));
  EXPECT_TRUE(h.dispatch().empty());
  const auto refill = h.s.next_deadline();
  ASSERT_TRUE(refill.has_value());
  EXPECT_LE(*refill, start + 500ms + 1ms) << "the next token at 2/s, not the 10 s timer";
  h.now = *refill;
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{6}));
}

// A job requeued to the front goes ahead of the parked jobs of its queue too.
TEST(Scheduler, RequeuedJobGoesAheadOfTheParkedJobsOfItsQueue) {
  Harness h;
  const WorkerSlot w = h.s.add_worker(offer(3));
  h.s.set_group_limits("g", limits(1, std::nullopt));
  submit(h, job_spec(1, "g"));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{1}));
  submit(h, job_spec(2, "g"));
  EXPECT_TRUE(h.dispatch().empty());
  EXPECT_EQ(h.s.state_of(2), JobState::parked);
  submit(h, job_spec(3));  // younger than 2
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3}));
  EXPECT_TRUE(h.s.reject(3, w, 1));
  h.complete(h.running(1));
  EXPECT_EQ(h.dispatch_ids(), (std::vector<JobId>{3, 2}));
}

// A suspect the round parks leaves the worker it reserved after the round: the worker
// goes to the job of highest priority that can take it, not to the first one the
// round reaches after the suspect.
TEST(Scheduler, WorkerOfASuspectParkedInARoundGoesByPriority) {
  Harness h(suspect_after(1));
  const WorkerSlot a = h.s.add_worker(offer(2));
  const WorkerSlot b = h.s.add_worker(offer(1, {}, {"y"}));
  h.s.set_group_limits("g", limits(1, std::nullopt));
  h.submit(1);
  h.submit(2);
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{1, 2}));  // on a
  const WorkerSlot d = h.s.add_worker(offer(1));
  submit(h, job_spec(3, "g"));
  ASSERT_EQ(h.dispatch_ids(), (std::vector<JobId>{3}));  // on d
  h.remove(d, WorkerLoss::died);                         // 3: suspect
  EXPECT_TRUE(h.dispatch().empty());
  ASSERT_EQ(h.reserved.size(), 1U);
  EXPECT_EQ(h.reserved[0].worker, a);
  h.complete(h.running(1));  // a has a free slot, reserved by 3
  submit(h, job_spec(4, "", "", 5));   // needs a
  submit(h, job_spec(5, "g", "y", 3)); // takes b and g's budget: 3 is parked
  submit(h, job_spec(6));              // behind 3 in its queue, also needs a
  const auto assigned = h.dispatch();
  ASSERT_EQ(assigned.size(), 2U);
  EXPECT_EQ(assigned[0].job, 5U);
  EXPECT_EQ(assigned[0].worker, b);
  EXPECT_EQ(assigned[1].job, 4U);
  EXPECT_EQ(assigned[1].worker, a);
  EXPECT_EQ(h.s.state_of(3), JobState::parked);
  EXPECT_EQ(h.s.why_waiting(3), WaitReason::group_running_limit);
  EXPECT_FALSE(h.s.worker_stats(a)->reserved);
  EXPECT_EQ(h.s.state_of(6), JobState::queued);
}

}  // namespace
}  // namespace proletariat::broker
