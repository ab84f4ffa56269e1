#include "worker/connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace wsgi_fpm::worker {

char* InputBuffer::prepare(std::size_t at_least, std::size_t& room) {
  if (begin_ == end_) begin_ = end_ = 0;
  if (capacity_ - end_ < at_least) {
    std::size_t unread = end_ - begin_;
    if (capacity_ - unread < at_least) {
      std::size_t grown = std::max(capacity_ * 2, unread + at_least);
      std::unique_ptr<char[]> bigger(new char[grown]);
      std::memcpy(bigger.get(), data_.get() + begin_, unread);
      data_ = std::move(bigger);
      capacity_ = grown;
    } else {
      std::memmove(data_.get(), data_.get() + begin_, unread);
    }
    begin_ = 0;
    end_ = unread;
  }
  room = capacity_ - end_;
  return data_.get() + end_;
}

// The socket is non-blocking and the timeout is a poll() on EAGAIN only: the
// common case (the data is already there) costs one syscall, and no
// setsockopt(SO_RCVTIMEO) is needed per connection.
bool Connection::wait_for(short events) {
  pollfd p{fd_.get(), events, 0};
  if (wait_hooks_.before) wait_hooks_.before(wait_hooks_.context);
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms_);
  } while (n < 0 && errno == EINTR);
  int saved = n == 0 ? ETIMEDOUT : errno;
  if (wait_hooks_.after) wait_hooks_.after(wait_hooks_.context);
  errno = saved;  // the hook may have run Python
  return n > 0;
}

ssize_t Connection::receive(char* buf, std::size_t n, bool wait) {
  while (true) {
    ssize_t got = ::recv(fd_.get(), buf, n, 0);
    if (got >= 0) return got;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait) {
        errno = EAGAIN;
        return -1;
      }
      if (wait_for(POLLIN)) continue;
    }
    return -1;
  }
}

bool Connection::send_all(iovec* iov, int count) {
  constexpr int kMaxIov = 1024;  // IOV_MAX on Linux
  while (count > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(std::min(count, kMaxIov));
    // sendmsg rather than writev: MSG_NOSIGNAL turns a closed frontend into
    // EPIPE here instead of a SIGPIPE for the whole process.
    ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(POLLOUT)) continue;
      return false;
    }
    auto left = static_cast<size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

}  // namespace wsgi_fpm::worker
