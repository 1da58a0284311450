// `--log-format json`: each log line one JSON object, for log pipelines that parse
// lines (journald, Loki, Elasticsearch) rather than read them.
//
//   {"time":"2026-12-04T05:21:07.123Z","level":"warn","msg":"peer 3@3f9a0c: PUSH ELIMIT: …"}
//
// Times are UTC with milliseconds; `msg` is the text the plain format prints (a refusal
// names its code there, as in every format). Bytes that are not UTF-8 become U+FFFD.
#pragma once

#include <memory>

#include <spdlog/formatter.h>

namespace proletariat::daemon {

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace proletariat::daemon
