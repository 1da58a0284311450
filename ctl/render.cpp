#include "render.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

namespace proletariat::ctl {
namespace {

std::uint64_t number(const nlohmann::json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_number()) return 0;
  return it->get<std::uint64_t>();
}

std::string text(const nlohmann::json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string uptime(std::uint64_t ms) {
  const auto seconds = ms / 1000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lluh%02llum%02llus", static_cast<unsigned long long>(seconds / 3600),
                static_cast<unsigned long long>(seconds / 60 % 60), static_cast<unsigned long long>(seconds % 60));
  return buf;
}

void worker_lines(std::ostringstream& out, const nlohmann::json& status, int width) {
  const auto& workers = status.value("workers", nlohmann::json::array());
  out << "WORKERS (" << workers.size() << ")\n";
  if (workers.empty()) {
    out << "  none connected\n";
    return;
  }
  out << "  " << pad("ID", 14) << pad("NAME", 16) << pad("STATE", 7) << pad("SLOTS", static_cast<std::size_t>(width) + 14)
      << "SERVICES\n";
  for (const auto& w : workers) {
    std::string services;
    for (const auto& s : w.value("services", nlohmann::json::array())) {
      if (!services.empty()) services += ',';
      services += s.get<std::string>();
    }
    out << "  " << pad(text(w, "id"), 14) << pad(text(w, "name"), 16) << pad(text(w, "state"), 7)
        << pad(usage_bar(number(w, "running"), number(w, "slots"), width), static_cast<std::size_t>(width) + 14)
        << (services.empty() ? "-" : services) << "\n";
  }
}

}  // namespace

std::string usage_bar(std::uint64_t used, std::uint64_t total, int width) {
  const auto w = static_cast<std::uint64_t>(std::max(width, 1));
  const auto filled = total == 0 ? 0 : std::min(w, (used * w + total - 1) / total);
  std::string bar(1, '[');
  bar.append(filled, '#').append(w - filled, '.').append("] ");
  bar += std::to_string(used);
  bar += '/';
  bar += std::to_string(total);
  return bar;
}

std::string render_status(const nlohmann::json& status, int width) {
  std::ostringstream out;
  const auto now = number(status, "now");
  const auto boot = number(status, "boot");
  out << "manager up " << uptime(now >= boot ? now - boot : 0) << "   sacred guarantees "
      << (status.value("sacred", false) ? "on" : "off") << "   hold similar work "
      << (status.value("holdSimilarWork", false) ? "on" : "off") << (status.value("throttled", false) ? "   THROTTLED" : "")
      << "\n";
  out << "jobs: " << number(status, "queued") << " queued, " << number(status, "held") << " held, "
      << number(status, "running") << " running, " << number(status, "finished") << " finished\n";
  if (status.contains("delayed")) {
    out << "lifecycle: " << number(status, "delayed") << " delayed, " << number(status, "retrying")
        << " waiting to retry, " << number(status, "groupLimited") << " held by group limits, "
        << number(status, "dead") << " dead letters\n";
  }
  out << "slots: " << usage_bar(number(status, "totalSlots") - number(status, "freeSlots"), number(status, "totalSlots"), width)
      << " in use\n\n";

  out << "QUEUES\n";
  const auto& queues = status.value("queuedByPriority", nlohmann::json::object());
  if (queues.empty()) out << "  empty\n";
  std::vector<std::pair<double, std::uint64_t>> rows;
  for (const auto& [priority, count] : queues.items()) rows.emplace_back(std::stod(priority), count.get<std::uint64_t>());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (const auto& [priority, count] : rows) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", priority);
    out << "  priority " << pad(buf, 8) << count << " queued\n";
  }

  out << "\nPRIORITY RANGES\n";
  const auto& ranges = status.value("ranges", nlohmann::json::array());
  if (ranges.empty()) out << "  none (no worker connected)\n";
  for (const auto& r : ranges) {
    char buf[32];
    std::snprintf(buf, sizeof buf, ">= %g", r.value("start", 0.0));
    out << "  " << pad(buf, 10) << pad(usage_bar(number(r, "used"), number(r, "limit"), width), static_cast<std::size_t>(width) + 14)
        << number(r, "workers") << " workers\n";
  }
  out << "\n";
  worker_lines(out, status, width);

  const auto& clients = status.value("clients", nlohmann::json::array());
  out << "\nCLIENTS (" << clients.size() << ")\n";
  for (const auto& c : clients) {
    out << "  " << pad(text(c, "id"), 14) << pad(text(c, "name"), 16) << number(c, "outstanding") << " outstanding\n";
  }
  const auto& waiting = status.value("waiting", nlohmann::json::array());
  if (!waiting.empty()) {
    out << "\nWAITING JOBS (oldest " << waiting.size() << ")\n";
    for (const auto& j : waiting) {
      out << "  job " << pad(text(j, "id"), 10) << "priority " << pad(text(j, "priority"), 6)
          << pad(j.contains("service") ? "service " + text(j, "service") : "", 20) << text(j, "reason") << "\n";
    }
  }
  return out.str();
}

std::string render_workers(const nlohmann::json& status, int width) {
  std::ostringstream out;
  worker_lines(out, status, width);
  return out.str();
}

namespace {

std::string limit_text(const nlohmann::json& doc, const char* key) {
  const auto it = doc.find(key);
  return it == doc.end() || it->is_null() ? std::string("none") : it->dump();
}

}  // namespace

std::string render_dead_letters(const nlohmann::json& reply) {
  std::ostringstream out;
  const auto& letters = reply.value("letters", nlohmann::json::array());
  if (!letters.empty()) {
    out << pad("LETTER", 8) << pad("JOB", 10) << pad("SERVICE", 14) << pad("GROUP", 14) << pad("ATTEMPTS", 10)
        << "ERROR\n";
  }
  for (const auto& letter : letters) {
    const auto& err = letter.value("err", nlohmann::json::object());
    out << pad(text(letter, "id"), 8) << pad(text(letter, "job"), 10)
        << pad(letter.value("service", std::string("-")), 14) << pad(letter.value("group", std::string("-")), 14)
        << pad(text(letter, "attempts"), 10) << text(err, "code") << ": " << text(err, "message") << "\n";
  }
  if (reply.contains("requeued")) {
    for (const auto& r : reply["requeued"]) out << "letter " << text(r, "letter") << " requeued as job " << text(r, "job") << "\n";
  }
  if (reply.contains("purged")) out << text(reply, "purged") << " letters purged\n";
  out << number(reply, "total") << " dead letters kept\n";
  return out.str();
}

std::string render_groups(const nlohmann::json& reply) {
  std::ostringstream out;
  const auto& defaults = reply.value("defaults", nlohmann::json::object());
  out << "defaults: max running " << limit_text(defaults, "maxRunning") << ", rate " << limit_text(defaults, "rate")
      << "/s\n";
  const auto& groups = reply.value("groups", nlohmann::json::array());
  if (groups.empty()) {
    out << "no groups\n";
    return out.str();
  }
  out << pad("GROUP", 24) << pad("MAX RUNNING", 13) << pad("RATE", 10) << pad("RUNNING", 9) << pad("WAITING", 9)
      << pad("STARTED", 10) << "OWN LIMITS\n";
  for (const auto& g : groups) {
    out << pad(text(g, "group"), 24) << pad(limit_text(g, "maxRunning"), 13) << pad(limit_text(g, "rate"), 10)
        << pad(text(g, "running"), 9) << pad(text(g, "waiting"), 9) << pad(text(g, "started"), 10)
        << (g.value("custom", false) ? "yes" : "no") << "\n";
  }
  return out.str();
}

}  // namespace proletariat::ctl
