// What Worker and Client both offer besides jobs: system messages and status
// requests. Each call becomes a task run on the owner's I/O thread against its
// Session (sockets stay on that thread); these helpers turn the Session's callbacks
// into the public callback and std::future forms, once for both owners.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <proletariat/error.hpp>
#include <proletariat/sysmsg.hpp>

#include "peer/session.hpp"

namespace proletariat::peer {

using SessionTask = std::function<void(Session&)>;
using PostTask = std::function<void(SessionTask)>;
using SysmsgCallback = std::function<void(std::optional<JobError>, SysmsgReceipt)>;

inline void post_system_message(const PostTask& post, nlohmann::json msg, std::optional<std::string> to,
                                SysmsgCallback done) {
  post([msg = std::move(msg), to = std::move(to), done = std::move(done)](Session& session) mutable {
    session.system_message(msg, std::move(to), std::move(done));
  });
}

inline std::future<SysmsgReceipt> system_message_future(const PostTask& post, nlohmann::json msg,
                                                        std::optional<std::string> to) {
  auto promise = std::make_shared<std::promise<SysmsgReceipt>>();
  auto future = promise->get_future();
  post_system_message(post, std::move(msg), std::move(to), [promise](std::optional<JobError> err, SysmsgReceipt r) {
    if (err) {
      promise->set_exception(std::make_exception_ptr(Error(err->code, err->message)));
    } else {
      promise->set_value(r);
    }
  });
  return future;
}

inline std::future<nlohmann::json> status_future(const PostTask& post, bool mine) {
  auto promise = std::make_shared<std::promise<nlohmann::json>>();
  auto future = promise->get_future();
  post([promise, mine](Session& session) {
    session.request_status(mine, [promise](std::optional<JobError> err, nlohmann::json status) {
      if (err) {
        promise->set_exception(std::make_exception_ptr(Error(err->code, err->message)));
      } else {
        promise->set_value(std::move(status));
      }
    });
  });
  return future;
}

inline void post_sysmsg_handler(const PostTask& post, SysmsgHandler handler) {
  post([handler = std::move(handler)](Session& session) mutable { session.set_sysmsg_handler(std::move(handler)); });
}

}  // namespace proletariat::peer
