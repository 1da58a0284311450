// The manager's HTTP endpoint (ManagerOptions::http, proletariatd --http): /metrics
// (Prometheus text), /status (the STATUS document) and the dashboard at /.
//
// cpp-httplib serves it on threads of its own. They never touch the manager's state:
// a request asks the loop thread for a fresh snapshot (a byte on a pipe the loop
// polls) and waits up to a second for it; the loop builds it between two passes and
// hands it over under a mutex. The loop never waits for an HTTP client; a loop that
// does not answer in time (a pass stuck on a slow disk) gets the previous snapshot
// served, marked stale.
//
// Access: unless the endpoint is open (loopback without CURVE or token), a request
// for data (/metrics, /status) carries one of the tokens the loop installs
// (Authorization: Bearer TOKEN, or ?token=TOKEN); anything else gets 401 and a log
// line. The dashboard's page, script and style sheet hold no data: served to anyone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "detail/mailbox.hpp"
#include "monitor/snapshot.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace proletariat::monitor {

// "localhost", "[::1]" or an IPv4 literal 127.x.x.x (not a name that starts so).
[[nodiscard]] bool is_loopback_name(std::string_view host);

class HttpServer {
 public:
  // Binds `address` ("HOST:PORT"; port 0 picks a free one) and starts serving.
  // Throws proletariat::Error (EINTERNAL) when it cannot bind.
  explicit HttpServer(const std::string& address);
  ~HttpServer();  // stops serving and joins the threads
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "HOST:PORT" as bound.
  [[nodiscard]] const std::string& address() const noexcept { return address_; }
  // Who may read: everybody (`open`), or whoever presents one of `tokens`.
  void set_access(bool open, std::vector<std::string> tokens);

  // Loop thread: the fd to poll, and whether a snapshot is wanted (clears the signal).
  [[nodiscard]] int request_fd() const noexcept { return requests_.fd(); }
  [[nodiscard]] bool take_request();
  void publish(Snapshot snapshot);

 private:
  // The snapshot a request shows: a fresh one, or the last one when the loop is slow.
  [[nodiscard]] std::shared_ptr<const Snapshot> fresh_snapshot(bool& stale);
  [[nodiscard]] bool authorized(const httplib::Request& request) const;
  [[nodiscard]] bool open_endpoint() const;
  void log_refusal(const httplib::Request& request);
  void serve(const httplib::Request& request, httplib::Response& response, int what);

  std::unique_ptr<httplib::Server> server_;
  std::string address_;
  std::thread thread_;
  detail::Mailbox<int> requests_;
  mutable std::mutex mutex_;
  std::condition_variable published_;
  std::shared_ptr<const Snapshot> latest_;
  std::chrono::steady_clock::time_point last_refusal_log_{};
  std::uint64_t refusals_suppressed_ = 0;
  bool open_ = false;
  bool stopping_ = false;  // the destructor runs: waiting requests give up
  std::vector<std::string> tokens_;
};

}  // namespace proletariat::monitor
