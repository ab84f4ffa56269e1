// Descriptors over a SOCK_SEQPACKET socket (util/fd_passing.h), as the
// supervisor and its workers pass keep-alive connections (kHandoffFd): a
// record arrives whole with its descriptors, which refer to the same open
// sockets as the sender's.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "util/fd.h"
#include "util/fd_passing.h"
#include "wsgi_fpm/descriptors.h"

using namespace wsgi_fpm;

namespace {

struct Pair {
  UniqueFd a, b;
  explicit Pair(int type) {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) == 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
};

}  // namespace

TEST_CASE("connections handed over arrive with their record, and bytes sent to them later follow") {
  Pair channel(SOCK_SEQPACKET);
  std::vector<Pair> connections;
  for (int i = 0; i < 3; ++i) connections.emplace_back(SOCK_STREAM);
  int fds[3] = {connections[0].b.get(), connections[1].b.get(), connections[2].b.get()};
  HandoffRecord sent{3};
  REQUIRE(send_fds(channel.a.get(), &sent, sizeof sent, fds, 3));
  for (auto& c : connections) c.b.reset();  // the sender's copies close; the sockets live on

  HandoffRecord got{};
  std::vector<UniqueFd> received;
  CHECK(receive_fds(channel.b.get(), &got, sizeof got, received, kHandoffMaxFds) == sizeof got);
  CHECK(got.connections == 3);
  REQUIRE(received.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK((fcntl(received[i].get(), F_GETFD) & FD_CLOEXEC) != 0);
    std::string request = "request " + std::to_string(i);
    REQUIRE(send(connections[i].a.get(), request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    char buf[64];
    ssize_t n = recv(received[i].get(), buf, sizeof buf, 0);
    CHECK(std::string(buf, static_cast<std::size_t>(n > 0 ? n : 0)) == request);
  }

  // Nothing more: EAGAIN, without blocking; the sender gone: EOF.
  CHECK(receive_fds(channel.b.get(), &got, sizeof got, received, kHandoffMaxFds) == -1);
  CHECK(errno == EAGAIN);
  channel.a.reset();
  CHECK(receive_fds(channel.b.get(), &got, sizeof got, received, kHandoffMaxFds) == 0);
}

TEST_CASE("a record with more descriptors than room keeps those that came and says EMSGSIZE") {
  Pair channel(SOCK_SEQPACKET);
  std::vector<Pair> connections;
  for (int i = 0; i < 4; ++i) connections.emplace_back(SOCK_STREAM);
  int fds[4];
  for (int i = 0; i < 4; ++i) fds[i] = connections[static_cast<std::size_t>(i)].b.get();
  HandoffRecord sent{4};
  REQUIRE(send_fds(channel.a.get(), &sent, sizeof sent, fds, 4));
  HandoffRecord got{};
  std::vector<UniqueFd> received;
  // Room for one (which the alignment of the control buffer rounds up to two).
  CHECK(receive_fds(channel.b.get(), &got, sizeof got, received, 1) == -1);
  CHECK(errno == EMSGSIZE);
  CHECK(!received.empty());
  CHECK(received.size() < 4);
}
