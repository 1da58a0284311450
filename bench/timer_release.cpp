#include "timer_release.hpp"

#include <malloc.h>

#include <chrono>

#include "scheduler/scheduler.hpp"

namespace proletariat::bench {
namespace {

using broker::Effects;
using broker::JobSpec;
using broker::Scheduler;
using broker::TimePoint;
using Clock = std::chrono::steady_clock;

std::size_t heap_in_use() { return mallinfo2().uordblks; }

struct Release {
  double bytes_per_job = 0;
  double submit_s = 0;
  double release_s = 0;
  std::size_t released = 0;  // queued or assigned by the releasing dispatch()
};

Release run(std::size_t total, std::size_t due, unsigned workers, unsigned slots) {
  Release out;
  const TimePoint start{};
  const TimePoint soon = start + std::chrono::seconds(1);
  const TimePoint later = start + std::chrono::hours(1);
  const std::size_t before = heap_in_use();
  {
    Scheduler scheduler(broker::SchedulerOptions{});
    for (unsigned w = 0; w < workers; ++w) scheduler.add_worker(broker::Offer{slots, {}, {}});
    Effects effects;
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < total; ++i) {
      JobSpec spec;
      spec.id = i + 1;
      // Every total/due-th job falls due first, so that they are spread over the heap.
      spec.not_before = (i % (total / due) == 0 && i / (total / due) < due) ? soon : later;
      scheduler.submit(std::move(spec), start, effects);
    }
    out.submit_s = std::chrono::duration<double>(Clock::now() - t0).count();
    out.bytes_per_job = static_cast<double>(heap_in_use() - before) / static_cast<double>(total);
    const auto t1 = Clock::now();
    scheduler.dispatch(soon, effects);
    out.release_s = std::chrono::duration<double>(Clock::now() - t1).count();
    const auto stats = scheduler.stats();
    out.released = stats.queued + stats.running;
  }
  return out;
}

nlohmann::ordered_json json_of(const Release& r) {
  return {{"bytes_per_delayed_job", r.bytes_per_job},
          {"submit_s", r.submit_s},
          {"released", r.released},
          {"release_s", r.release_s},
          {"release_us_per_job", r.released > 0 ? r.release_s * 1e6 / static_cast<double>(r.released) : 0.0}};
}

}  // namespace

nlohmann::ordered_json scheduler_release_figures(std::size_t total, std::size_t due) {
  nlohmann::ordered_json out;
  out["total"] = total;
  out["due_at_once"] = due;
  out["to_queues"] = json_of(run(total, due, 0, 1));
  // 100 workers with room for every due job: the release and the assignments.
  out["to_workers"] = json_of(run(total, due, 100, static_cast<unsigned>((due + 99) / 100)));
  return out;
}

}  // namespace proletariat::bench
