#include "broker/zap_handler.hpp"

#include <vector>

#include "log.hpp"

namespace proletariat::broker {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

std::string z85_of(const zmq::message_t& key) {
  if (key.size() != 32) return {};
  char text[41];
  if (zmq_z85_encode(text, static_cast<const std::uint8_t*>(key.data()), 32) == nullptr) return {};
  return text;
}

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, const KeyDirectory& keys)
    : socket_(context, zmq::socket_type::rep), keys_(keys) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind(kZapEndpoint);
}

void ZapHandler::handle_pending() {
  for (;;) {
    std::vector<zmq::message_t> request;
    bool more = true;
    while (more) {
      zmq::message_t frame;
      if (!socket_.recv(frame, request.empty() ? zmq::recv_flags::dontwait : zmq::recv_flags::none)) return;
      more = frame.more();
      request.push_back(std::move(frame));
    }
    handle(request);
  }
}

void ZapHandler::handle(std::vector<zmq::message_t>& request) {
  // version, request id, domain, address, routing id, mechanism, credentials...
  std::string status = "400";
  std::string text = "refused";
  std::string user;
  const std::string version = request.empty() ? std::string() : request[0].to_string();
  const std::string request_id = request.size() > 1 ? request[1].to_string() : std::string();
  const std::string address = request.size() > 3 ? request[3].to_string() : std::string();
  const std::string mechanism = request.size() > 5 ? request[5].to_string() : std::string();
  if (version == "1.0" && mechanism == "CURVE" && request.size() > 6) {
    user = z85_of(request[6]);
    if (!user.empty() && keys_.find(user) != nullptr) {
      status = "200";
      text = "OK";
    } else {
      detail::log().warn("CURVE: refused {} from {} with ZAP 400: the key is not in {}", user.empty() ? "a malformed key" : user,
                         address, keys_.dir());
      user.clear();
    }
  } else {
    detail::log().warn("CURVE: refused a {} connection from {} with ZAP 400: only CURVE is offered",
                       mechanism.empty() ? "?" : mechanism, address);
  }
  const std::string parts[] = {"1.0", request_id, status, text, user, ""};
  for (std::size_t i = 0; i < std::size(parts); ++i) {
    zmq::message_t frame(parts[i].data(), parts[i].size());
    (void)socket_.send(frame, i + 1 < std::size(parts) ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

}  // namespace proletariat::broker
