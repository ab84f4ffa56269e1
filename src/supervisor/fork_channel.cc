#include "supervisor/fork_channel.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "util/fd_passing.h"
#include "wsgi_fpm/fork_request.h"

namespace wsgi_fpm::supervisor {

bool ForkChannel::open(uv_loop_t* loop, const HandleCount* count, UniqueFd ours, std::string& error) {
  int rc = poll_.open(loop, ours.get(), count);
  if (rc == 0) rc = poll_.start(UV_READABLE, [this](int, int) { on_replies(); });
  if (rc != 0) {
    error = std::string("cannot watch the fork-request socket: ") + uv_strerror(rc);
    poll_.close();
    return false;
  }
  fd_ = std::move(ours);
  return true;
}

bool ForkChannel::request(std::uint64_t id, std::string_view message, const int* fds, std::size_t fd_count,
                          Reply reply, std::string& error) {
  if (!fd_ || !send_fds(fd_.get(), message.data(), message.size(), fds, fd_count)) {
    error = std::string("cannot ask the template for a worker: ") + std::strerror(fd_ ? errno : EPIPE);
    return false;
  }
  pending_[id] = std::move(reply);
  return true;
}

void ForkChannel::on_replies() {
  while (fd_) {
    ForkReply reply{};
    ssize_t n = recv(fd_.get(), &reply, sizeof reply, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n != static_cast<ssize_t>(sizeof reply)) {
      // The template is gone (or broken): its exit is reported by its process.
      poll_.stop();
      fail_all(n == 0 ? "the template closed its socket" : "the template answered nonsense");
      return;
    }
    auto it = pending_.find(reply.id);
    if (it == pending_.end()) continue;
    Reply answer = std::move(it->second);
    pending_.erase(it);
    if (reply.pid > 0)
      answer(static_cast<long>(reply.pid), {});
    else
      answer(0, std::string("the template could not fork: ") + std::strerror(static_cast<int>(-reply.pid)));
  }
}

void ForkChannel::fail_all(const std::string& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, reply] : pending) reply(0, why);
}

void ForkChannel::close() {
  poll_.close();
  fd_.reset();
}

}  // namespace wsgi_fpm::supervisor
