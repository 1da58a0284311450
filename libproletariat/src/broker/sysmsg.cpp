#include "broker/sysmsg.hpp"

namespace proletariat::broker {

Publication SystemMessages::publication(std::uint64_t msg, Message& m, const std::string& topic) {
  Publication p;
  p.topic = topic;
  p.msg = msg;
  p.from = m.sender_id;
  p.content.copy(m.content);
  return p;
}

void SystemMessages::start(const std::string& sender_routing_id, const std::string& sender_id, std::uint64_t req,
                           zmq::message_t& content, const std::vector<Recipient>& recipients,
                           bool manager_counts, TimePoint subscribe_deadline, std::vector<Publication>& publish,
                           std::vector<SysmsgDone>& done) {
  const std::uint64_t id = next_msg_++;
  Message m;
  m.sender_routing_id = sender_routing_id;
  m.sender_id = sender_id;
  m.req = req;
  m.content.copy(content);
  m.subscribe_deadline = subscribe_deadline;
  if (manager_counts) {
    ++m.sent_to;
    ++m.received_by;
  }
  for (const auto& r : recipients) {
    ++m.sent_to;
    if (r.subscribed) {
      m.pending_ack.insert(r.id);
      publish.push_back(publication(id, m, r.id));
    } else {
      m.pending_subscribe.insert(r.id);
    }
  }
  messages_.emplace(id, std::move(m));
  finish_if_complete(id, done);
}

void SystemMessages::ack(const std::string& peer_id, std::uint64_t msg, std::vector<SysmsgDone>& done) {
  auto it = messages_.find(msg);
  if (it == messages_.end() || it->second.pending_ack.erase(peer_id) == 0) return;
  ++it->second.received_by;
  finish_if_complete(msg, done);
}

void SystemMessages::subscribed(const std::string& peer_id, std::vector<Publication>& publish) {
  for (auto& [id, m] : messages_) {
    if (m.pending_subscribe.erase(peer_id) > 0) {
      m.pending_ack.insert(peer_id);
      publish.push_back(publication(id, m, peer_id));
    }
  }
}

void SystemMessages::peer_left(const std::string& peer_id, std::vector<SysmsgDone>& done) {
  std::vector<std::uint64_t> touched;
  for (auto it = messages_.begin(); it != messages_.end();) {
    if (it->second.sender_id == peer_id) {
      it = messages_.erase(it);  // nobody is left to tell
      continue;
    }
    auto& m = it->second;
    if (m.pending_ack.erase(peer_id) + m.pending_subscribe.erase(peer_id) > 0) {
      --m.sent_to;
      touched.push_back(it->first);
    }
    ++it;
  }
  for (auto id : touched) finish_if_complete(id, done);
}

void SystemMessages::expire(TimePoint now, std::vector<SysmsgDone>& done) {
  std::vector<std::uint64_t> touched;
  for (auto& [id, m] : messages_) {
    if (!m.pending_subscribe.empty() && now >= m.subscribe_deadline) {
      m.sent_to -= m.pending_subscribe.size();
      m.pending_subscribe.clear();
      touched.push_back(id);
    }
  }
  for (auto id : touched) finish_if_complete(id, done);
}

std::optional<TimePoint> SystemMessages::next_deadline() const {
  std::optional<TimePoint> earliest;
  for (const auto& [id, m] : messages_) {
    if (!m.pending_subscribe.empty() && (!earliest || m.subscribe_deadline < *earliest)) {
      earliest = m.subscribe_deadline;
    }
  }
  return earliest;
}

void SystemMessages::finish_if_complete(std::uint64_t msg, std::vector<SysmsgDone>& done) {
  auto it = messages_.find(msg);
  if (it == messages_.end()) return;
  auto& m = it->second;
  if (!m.pending_ack.empty() || !m.pending_subscribe.empty()) return;
  done.push_back(SysmsgDone{m.sender_routing_id, protocol::SysDone{m.req, m.sent_to, m.received_by}});
  messages_.erase(it);
}

}  // namespace proletariat::broker
