// The public log-level switch: known names apply to the library's logger, others are refused.
#include <gtest/gtest.h>

#include <proletariat/error.hpp>
#include <proletariat/logging.hpp>

#include "log.hpp"

namespace proletariat {
namespace {

TEST(Logging, SetLogLevelAppliesToTheLibraryLogger) {
  set_log_level("warn");
  EXPECT_EQ(detail::log().level(), spdlog::level::warn);
  set_log_level("off");
  EXPECT_EQ(detail::log().level(), spdlog::level::off);
  set_log_level("info");
  EXPECT_EQ(detail::log().level(), spdlog::level::info);
}

TEST(Logging, UnknownLevelIsRefusedWithACode) {
  try {
    set_log_level("loud");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::kBadField);
  }
  EXPECT_EQ(detail::log().level(), spdlog::level::info);  // unchanged
}

}  // namespace
}  // namespace proletariat
