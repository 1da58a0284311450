// The event loop's side of the HTTP endpoint (monitor/http_server.hpp): who may read
// it, and the timing of journal commits that its metrics show.
#include <proletariat/curve.hpp>
#include <proletariat/error.hpp>

#include "broker/event_loop.hpp"
#include "log.hpp"

namespace proletariat::broker {
namespace {

bool loopback_host(const std::string& address) { return monitor::is_loopback_name(address.substr(0, address.rfind(':'))); }

}  // namespace

void EventLoop::start_http() {
  if (options_.http.empty()) return;
  if (!options_.http_token_file.empty()) http_token_ = read_http_token_file(options_.http_token_file);
  const bool curve = !options_.curve_keys.secret_key.empty();
  if (!curve && http_token_.empty() && !loopback_host(options_.http) && !options_.allow_insecure_remote) {
    throw Error(std::string(errc::kBadField),
                "refusing to serve HTTP on " + options_.http +
                    " to anyone: give a token file (--http-token-file), CURVE keys (admin keys' tokens), a loopback "
                    "address, or --allow-insecure-remote");
  }
  http_ = std::make_unique<monitor::HttpServer>(options_.http);
  dispatcher_.set_run_timing(true);
  update_http_access();
  detail::log().info("HTTP endpoint on http://{}/ (/metrics, /status, the dashboard); {}", http_->address(),
                     curve ? "admin keys' tokens" + std::string(http_token_.empty() ? "" : " and the token file's")
                           : (http_token_.empty() ? "open to whoever reaches it" : "the token file's token"));
}

void EventLoop::update_http_access() {
  if (!http_) return;
  std::vector<std::string> tokens;
  if (!http_token_.empty()) tokens.push_back(http_token_);
  if (keys_) {
    for (const auto& admin : keys_->admins()) tokens.push_back(http_token(options_.curve_keys.secret_key, admin));
  }
  // Without CURVE and without a token the operator chose an open endpoint (loopback,
  // or --allow-insecure-remote); with CURVE it is never open, even with no admin key.
  http_->set_access(!keys_ && http_token_.empty(), std::move(tokens));
}

void EventLoop::commit_journal() {
  if (!http_) {
    dispatcher_.commit_journal(std::chrono::steady_clock::now());
    return;
  }
  const auto syncs = dispatcher_.journal_syncs();
  const auto start = std::chrono::steady_clock::now();
  dispatcher_.commit_journal(start);
  if (dispatcher_.journal_syncs() != syncs) {
    dispatcher_.journal_synced(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

}  // namespace proletariat::broker
