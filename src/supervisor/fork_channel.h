// A template's or the zygote's side of the fork-request socket, as the
// supervisor holds it (wsgi_fpm/fork_request.h): requests go out with the
// new process's descriptors, and each reply (its pid, or why not) goes to
// the request's callback.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "supervisor/uv_handle.h"
#include "util/fd.h"

namespace wsgi_fpm::supervisor {

class ForkChannel {
 public:
  // `pid` > 0: the process made; else `error` says why there is none.
  using Reply = std::function<void(long pid, const std::string& error)>;

  ForkChannel() = default;
  ~ForkChannel() { fail_all("the template is gone"); }
  ForkChannel(const ForkChannel&) = delete;
  ForkChannel& operator=(const ForkChannel&) = delete;

  // Takes our end of the socket and watches it for replies.
  bool open(uv_loop_t* loop, const HandleCount* count, UniqueFd ours, std::string& error);
  explicit operator bool() const { return static_cast<bool>(fd_); }
  // Asks for a process: `message` (a ForkRequest whose id is `id`, and for
  // the zygote the command line after it) with `fds`. False with `error`
  // if it could not be sent; else `reply` is called once, whatever happens.
  bool request(std::uint64_t id, std::string_view message, const int* fds, std::size_t fd_count, Reply reply,
               std::string& error);
  // Every request still waiting fails with `why` (the template exited).
  void fail_all(const std::string& why);
  void close();

 private:
  void on_replies();
  UniqueFd fd_;
  Poll poll_;
  std::map<std::uint64_t, Reply> pending_;
};

}  // namespace wsgi_fpm::supervisor
