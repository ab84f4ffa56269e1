// The worker's notify pipe (kNotifyFd): one line per event the supervisor
// acts on, written by the worker (worker/reporter.cc, fork_template.cc) and
// read by the supervisor (WorkerProcess::on_notify), both through this code.
//   ready             the process serves
//   retire REASON     wants a successor, then to stop (maximum-requests, ...)
//   evict REASON      the same, asked by the operator (SIGUSR1): its
//                     requests get eviction-timeout rather than graceful-timeout
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wsgi_fpm {

struct NotifyMessage {
  enum class Kind { Ready, Retire, Evict };
  Kind kind = Kind::Ready;
  std::string reason;  // Retire and Evict; "requested" when none was given

  // The line, with its newline: one write of it into a pipe is atomic.
  std::string encode() const {
    switch (kind) {
      case Kind::Ready: return "ready\n";
      case Kind::Retire: return "retire " + reason + "\n";
      case Kind::Evict: return "evict " + reason + "\n";
    }
    return {};
  }

  // A line as read (without its newline); nullopt for anything else.
  static std::optional<NotifyMessage> parse(std::string_view line) {
    if (line == "ready") return NotifyMessage{Kind::Ready, {}};
    for (auto [verb, kind] : {std::pair{std::string_view("retire"), Kind::Retire},
                              std::pair{std::string_view("evict"), Kind::Evict}}) {
      if (line == verb) return NotifyMessage{kind, "requested"};
      if (line.starts_with(verb) && line.size() > verb.size() && line[verb.size()] == ' ') {
        std::string_view reason = line.substr(verb.size() + 1);
        return NotifyMessage{kind, reason.empty() ? std::string("requested") : std::string(reason)};
      }
    }
    return std::nullopt;
  }
};

}  // namespace wsgi_fpm
