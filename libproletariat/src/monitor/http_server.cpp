#include "monitor/http_server.hpp"

#include <arpa/inet.h>
#include <httplib.h>

#include <chrono>
#include <utility>

#include <proletariat/error.hpp>

#include "log.hpp"
#include "monitor/dashboard_assets.hpp"
#include "monitor/prometheus_text.hpp"

namespace proletariat::monitor {
namespace {

enum What { kMetrics, kStatus, kIndex, kScript, kStyle, kIcon };

// How long a request waits for the loop's snapshot before it is served the last one.
constexpr auto kSnapshotWait = std::chrono::seconds(1);
// A snapshot this young is served as it is: however many clients poll, the loop builds
// at most four a second for them.
constexpr auto kSnapshotReuse = std::chrono::milliseconds(250);
// A snapshot this old (the loop has not answered for so long) is no longer served:
// /status and /metrics answer 503, so a scraper sees a manager that is stuck.
constexpr auto kSnapshotTooOld = std::chrono::seconds(5);

// The Host header of a request to an open (tokenless, loopback) endpoint: a name
// other than loopback is a web page that rebound its own name to 127.0.0.1 (DNS
// rebinding) to read the manager through the operator's browser.
bool loopback_host_header(std::string host) {
  if (!host.empty() && host.back() != ']') {
    if (const auto colon = host.rfind(':'); colon != std::string::npos) host.resize(colon);
  }
  return is_loopback_name(host);
}

// Equal without telling, by its timing, how much of a guess was right.
bool same_token(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

bool is_loopback_name(std::string_view host) {
  if (host == "localhost" || host == "[::1]" || host == "::1") return true;
  in_addr address{};
  return host.rfind("127.", 0) == 0 && ::inet_pton(AF_INET, std::string(host).c_str(), &address) == 1;
}

HttpServer::HttpServer(const std::string& address) : server_(std::make_unique<httplib::Server>()) {
  const auto colon = address.rfind(':');
  int port = -1;
  if (colon != std::string::npos && colon > 0) {
    try {
      std::size_t used = 0;
      port = std::stoi(address.substr(colon + 1), &used);
      if (used != address.size() - colon - 1) port = -1;
    } catch (const std::exception&) {
      port = -1;
    }
  }
  if (port < 0 || port > 65535) {
    throw Error(std::string(errc::kBadField), "http: '" + address + "' is not HOST:PORT");
  }
  const std::string host = address.substr(0, colon);
  // A slow or hostile HTTP client holds one of a few threads for seconds at most;
  // requests are GETs, so a body is never needed.
  server_->new_task_queue = [] { return new httplib::ThreadPool(4); };
  server_->set_read_timeout(5, 0);
  server_->set_write_timeout(5, 0);
  server_->set_payload_max_length(16 * 1024);
  // One request a connection: a dashboard polling every second must not keep one of
  // the four threads to itself while a scraper waits.
  server_->set_keep_alive_max_count(1);
  const auto route = [this](const char* path, int what) {
    server_->Get(path, [this, what](const httplib::Request& req, httplib::Response& res) { serve(req, res, what); });
  };
  route("/metrics", kMetrics);
  route("/status", kStatus);
  route("/", kIndex);
  route("/dashboard.js", kScript);
  route("/dashboard.css", kStyle);
  route("/favicon.ico", kIcon);
  const int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) throw Error(std::string(errc::kInternal), "http: cannot bind " + address);
  address_ = host + ":" + std::to_string(bound);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() before the listener runs would be lost (it would then accept forever, and
  // the destructor's join with it): return only once it runs.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

HttpServer::~HttpServer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  published_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::set_access(bool open, std::vector<std::string> tokens) {
  std::lock_guard lock(mutex_);
  open_ = open;
  tokens_ = std::move(tokens);
}

bool HttpServer::take_request() {
  requests_.clear_signal();
  return !requests_.drain().empty();
}

void HttpServer::publish(Snapshot snapshot) {
  {
    std::lock_guard lock(mutex_);
    snapshot.sequence = latest_ ? latest_->sequence + 1 : 1;
    snapshot.taken = std::chrono::steady_clock::now();
    latest_ = std::make_shared<const Snapshot>(std::move(snapshot));
  }
  published_.notify_all();
}

std::shared_ptr<const Snapshot> HttpServer::fresh_snapshot(bool& stale) {
  std::unique_lock lock(mutex_);
  stale = false;
  if (latest_ && std::chrono::steady_clock::now() - latest_->taken < kSnapshotReuse) return latest_;
  const std::uint64_t need = (latest_ ? latest_->sequence : 0) + 1;
  lock.unlock();
  requests_.post(1);
  lock.lock();
  stale = !published_.wait_for(lock, kSnapshotWait,
                               [&] { return stopping_ || (latest_ && latest_->sequence >= need); });
  stale = stale || !latest_ || latest_->sequence < need;
  return latest_;
}

void HttpServer::log_refusal(const httplib::Request& request) {
  // One line a second at most: a scanner must not be able to fill the log.
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(mutex_);
    if (now - last_refusal_log_ < std::chrono::seconds(1)) {
      ++refusals_suppressed_;
      return;
    }
    last_refusal_log_ = now;
    suppressed = std::exchange(refusals_suppressed_, 0);
  }
  detail::log().warn("http: refused {} {} from {} with 401: no valid token{}", request.method, request.path,
                     request.remote_addr,
                     suppressed > 0 ? " (and " + std::to_string(suppressed) + " more refusals not logged)" : "");
}

bool HttpServer::open_endpoint() const {
  std::lock_guard lock(mutex_);
  return open_;
}

bool HttpServer::authorized(const httplib::Request& request) const {
  std::lock_guard lock(mutex_);
  if (open_) return true;
  std::string offered;
  const std::string header = request.get_header_value("Authorization");
  if (header.rfind("Bearer ", 0) == 0) {
    offered = header.substr(7);
  } else if (request.has_param("token")) {
    offered = request.get_param_value("token");
  }
  if (offered.empty()) return false;
  bool match = false;
  for (const auto& token : tokens_) match = same_token(offered, token) || match;
  return match;
}

void HttpServer::serve(const httplib::Request& request, httplib::Response& response, int what) {
  response.set_header("Cache-Control", "no-store");
  response.set_header("X-Content-Type-Options", "nosniff");
  // The page, its script and its style sheet hold no data and are served to anyone: a
  // browser sends no token with <script src> or <link href>. The page then reads
  // /status with the token from its own address, and shows the 401 when it lacks one.
  const bool data = what == kMetrics || what == kStatus;
  if (data && open_endpoint() && !loopback_host_header(request.get_header_value("Host"))) {
    response.status = 403;
    response.set_content("403: an open endpoint answers only requests for a loopback host (docs/OPERATIONS.md)\n",
                         "text/plain");
    return;
  }
  if (data && !authorized(request)) {
    log_refusal(request);
    response.status = 401;
    response.set_header("WWW-Authenticate", "Bearer realm=\"proletariat\"");
    response.set_content("401 unauthorized: send Authorization: Bearer TOKEN (docs/OPERATIONS.md)\n", "text/plain");
    return;
  }
  switch (what) {
    case kIcon:
      response.status = 204;  // no icon: a browser asks for one with every page
      return;
    case kIndex:
      response.set_header("Content-Security-Policy", "default-src 'self'; connect-src 'self'");
      response.set_content(kDashboardHtml.data(), kDashboardHtml.size(), "text/html; charset=utf-8");
      return;
    case kScript:
      response.set_content(kDashboardJs.data(), kDashboardJs.size(), "text/javascript; charset=utf-8");
      return;
    case kStyle:
      response.set_content(kDashboardCss.data(), kDashboardCss.size(), "text/css; charset=utf-8");
      return;
    default:
      break;
  }
  bool stale = false;
  const auto snapshot = fresh_snapshot(stale);
  if (!snapshot) {
    response.status = 503;
    response.set_content("503: the manager has not answered yet\n", "text/plain");
    return;
  }
  if (stale) {
    if (std::chrono::steady_clock::now() - snapshot->taken > kSnapshotTooOld) {
      response.status = 503;
      response.set_content("503: the manager's loop has not answered for more than 5 s\n", "text/plain");
      return;
    }
    response.set_header("X-Proletariat-Stale", "1");
  }
  if (what == kStatus) {
    response.set_content(snapshot->status, "application/json");
    return;
  }
  try {
    response.set_content(prometheus_text(*snapshot), "text/plain; version=0.0.4; charset=utf-8");
  } catch (const std::exception& e) {
    detail::log().error("http: /metrics failed: {}", e.what());
    response.status = 500;
  }
}

}  // namespace proletariat::monitor
