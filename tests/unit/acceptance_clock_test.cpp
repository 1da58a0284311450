// The acceptance clock (monitor/acceptance_clock.hpp): when each job was accepted, from
// a bounded list of (first id, time) samples.
#include "monitor/acceptance_clock.hpp"

#include <gtest/gtest.h>

namespace proletariat::monitor {
namespace {

using namespace std::chrono_literals;
using TimePoint = AcceptanceClock::TimePoint;

const TimePoint kStart = TimePoint{} + 1h;

TEST(AcceptanceClock, AJobIsAcceptedAtTheLastSampleAtOrBeforeItsId) {
  AcceptanceClock clock;
  clock.accepted(1, kStart);
  clock.accepted(10, kStart + 5ms);
  clock.accepted(20, kStart + 9ms);
  clock.accepted(25, kStart + 9ms + 100us);  // within the spacing: no sample
  EXPECT_EQ(clock.accepted_at(1, {}), kStart);
  EXPECT_EQ(clock.accepted_at(9, {}), kStart);
  EXPECT_EQ(clock.accepted_at(10, {}), kStart + 5ms);
  EXPECT_EQ(clock.accepted_at(27, {}), kStart + 9ms);
  EXPECT_EQ(clock.samples(), 3U);
}

TEST(AcceptanceClock, ThinningNeverMakesAJobLaterAndKeepsAnIsolatedSample) {
  AcceptanceClock clock;
  // A dense burst, then one sample an hour later, then more burst: thinning must keep
  // the lone sample (its jobs would otherwise look an hour older).
  std::uint64_t id = 1;
  TimePoint t = kStart;
  for (std::size_t i = 0; i < AcceptanceClock::kMaxSamples - 1; ++i, id += 3, t += 1ms) clock.accepted(id, t);
  const std::uint64_t lone_id = id;
  const TimePoint lone_time = t + 1h;
  clock.accepted(lone_id, lone_time);
  for (std::size_t i = 0; i < 1000; ++i) clock.accepted(id + 3 + 3 * i, lone_time + 1s + i * 1ms);
  EXPECT_LE(clock.samples(), AcceptanceClock::kMaxSamples);
  EXPECT_EQ(clock.accepted_at(lone_id, {}), lone_time);
  // A job of the burst: never later than its acceptance, earlier by less than twice
  // the spacing (each thinning moves it back by less than the spacing of its round).
  const std::uint64_t burst_id = 1 + 3 * 40000;
  const TimePoint real = kStart + 40000ms;
  EXPECT_LE(clock.accepted_at(burst_id, {}), real);
  EXPECT_GT(clock.accepted_at(burst_id, {}), real - 2 * clock.spacing());
  EXPECT_GT(clock.spacing(), 1ms);
}

TEST(AcceptanceClock, ForgettingOldSamplesRestoresTheResolution) {
  AcceptanceClock clock;
  TimePoint t = kStart;
  for (std::uint64_t id = 1; id <= 2 * AcceptanceClock::kMaxSamples; ++id, t += 1ms) clock.accepted(id, t);
  ASSERT_GT(clock.spacing(), 1ms);
  clock.forget_before(2 * AcceptanceClock::kMaxSamples);
  EXPECT_LE(clock.samples(), 2U) << "only the sample the newest job needs stays";
  EXPECT_EQ(clock.spacing(), 1ms);
  clock.accepted(2 * AcceptanceClock::kMaxSamples + 1, t + 1ms);
  clock.accepted(2 * AcceptanceClock::kMaxSamples + 2, t + 2ms);
  EXPECT_EQ(clock.accepted_at(2 * AcceptanceClock::kMaxSamples + 2, {}), t + 2ms);
}

TEST(AcceptanceClock, AJobOlderThanEverySampleIsAcceptedAtTheFirst) {
  AcceptanceClock clock;
  EXPECT_EQ(clock.accepted_at(5, kStart), kStart) << "nothing sampled: the fallback";
  clock.accepted(100, kStart + 1s);
  EXPECT_EQ(clock.accepted_at(5, kStart), kStart + 1s);
}

}  // namespace
}  // namespace proletariat::monitor
