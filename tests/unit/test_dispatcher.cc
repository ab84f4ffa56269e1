// The worker's request threads sharing connections (worker/dispatcher.h),
// without Python: several threads serve FastCGI clients that come and go,
// keep connections open between requests and pipeline them, then a graceful
// stop with idle keep-alive connections open. It uses a real UNIX socket
// (unlike the other unit tests) because the threads meet in epoll, and it is
// here, in the unit suite, so that scripts/sanitize runs it under
// ThreadSanitizer: the worker itself embeds a CPython that is not
// TSan-instrumented, so this is how its own threads' locking gets checked.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/fastcgi.h"
#include "util/fd.h"
#include "util/fd_passing.h"
#include "worker/dispatcher.h"
#include "worker/fastcgi_connection.h"
#include "worker/listener_gate.h"

using namespace wsgi_fpm;

namespace {

struct TempSocket {
  std::string dir, path;
  TempSocket() {
    char tmpl[] = "/tmp/wfpm-dispatcher-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/s.sock";
  }
  ~TempSocket() {
    unlink(path.c_str());
    rmdir(dir.c_str());
  }
};

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  path.copy(a.sun_path, sizeof a.sun_path - 1);
  return a;
}

UniqueFd listen_unix(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto a = address_of(path);
  REQUIRE(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(fd.get(), 128) == 0);
  return fd;
}

UniqueFd connect_unix(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto a = address_of(path);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return {};
  return fd;
}

protocol::Params request_params(int n) {
  protocol::Params p;
  p.add("REQUEST_METHOD", "GET");
  p.add("REQUEST_URI", "/n/" + std::to_string(n));
  p.add("SERVER_PROTOCOL", "HTTP/1.1");
  return p;
}

// Reads responses from one connection; bytes past a response (the next
// pipelined one) stay for the next call.
struct Reader {
  int fd;
  std::string buf;
  // One response's STDOUT, or "" if the connection failed first.
  std::string next() {
    fastcgi::ClientResponse response;
    char chunk[4096];
    while (true) {
      buf.erase(0, response.feed(buf));
      if (!response.error().empty()) return "";
      if (response.done()) return response.stdout_data();
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return "";
      buf.append(chunk, static_cast<std::size_t>(n));
    }
  }
};

std::string read_response(int fd) { return Reader{fd, {}}.next(); }

bool send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Answers each request with its own URI, so a client can tell it got its
// own response and not a neighbour's.
void echo_uri(worker::Connection& conn, std::atomic<int>& served) {
  std::string body(conn.params().get_or("REQUEST_URI", "?"));
  std::string head = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
  std::string_view pieces[] = {head, body};
  // Counted before the write: once the client has its response, the count
  // must include it.
  served.fetch_add(1, std::memory_order_relaxed);
  conn.write(pieces, true);
}

struct Pool {
  TempSocket where;
  std::atomic<int> served{0};
  worker::Dispatcher dispatcher;
  std::vector<std::thread> threads;

  explicit Pool(int thread_count, std::chrono::milliseconds per_request = {}, worker::DispatcherLimits limits = {})
      : dispatcher(listen_unix(where.path).release(), [](UniqueFd fd) -> std::unique_ptr<worker::Connection> {
          return std::make_unique<worker::FastCgiConnection>(std::move(fd), worker::ConnectionLimits{});
        }, limits) {
    for (int i = 0; i < thread_count; ++i)
      threads.emplace_back([this, per_request] {
        dispatcher.run_thread([this, per_request](worker::Connection& c) {
          std::this_thread::sleep_for(per_request);
          echo_uri(c, served);
        });
      });
  }
  // A graceful stop, as the worker's main thread does it.
  bool stop(std::chrono::seconds within) {
    dispatcher.begin_stop();
    bool drained = dispatcher.wait_drained(std::chrono::steady_clock::now() + within);
    dispatcher.release_threads();
    for (auto& t : threads) t.join();
    threads.clear();
    return drained;
  }
  ~Pool() {
    if (!threads.empty()) stop(std::chrono::seconds(5));
  }
};

}  // namespace

TEST_CASE("request threads share new, kept-alive and pipelined connections, then stop gracefully") {
  Pool pool(4);
  constexpr int kClients = 6, kConnections = 15, kPerConnection = 4;
  std::atomic<int> wrong{0}, ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int k = 0; k < kConnections; ++k) {
        UniqueFd fd = connect_unix(pool.where.path);
        if (!fd) {
          wrong++;
          continue;
        }
        bool keep = (c + k) % 3 != 0;  // some connections close after one request
        bool pipeline = c % 2 == 1;     // some send every request before reading
        int requests = keep ? kPerConnection : 1;
        std::string batch;
        for (int r = 0; r < requests; ++r) {
          int n = (c * 1000) + (k * 10) + r;
          std::string one = fastcgi::encode_request(1, request_params(n), "", keep && r + 1 < requests);
          if (pipeline) {
            batch += one;
            continue;
          }
          if (!send_all(fd.get(), one) || read_response(fd.get()).find("/n/" + std::to_string(n)) == std::string::npos)
            wrong++;
          else
            ok++;
        }
        if (pipeline) {
          if (!send_all(fd.get(), batch)) {
            wrong++;
            continue;
          }
          Reader reader{fd.get(), {}};
          for (int r = 0; r < requests; ++r) {
            int n = (c * 1000) + (k * 10) + r;
            if (reader.next().find("/n/" + std::to_string(n)) == std::string::npos) wrong++;
            else ok++;
          }
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(wrong.load() == 0);
  CHECK(ok.load() == pool.served.load());
  CHECK(ok.load() > kClients * kConnections);

  // Idle keep-alive connections at the stop are closed, not waited for.
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 5; ++i) {
    idle.push_back(connect_unix(pool.where.path));
    REQUIRE(idle.back());
    REQUIRE(send_all(idle.back().get(), fastcgi::encode_request(1, request_params(i), "", true)));
    CHECK(read_response(idle.back().get()).find("/n/" + std::to_string(i)) != std::string::npos);
  }
  CHECK(pool.stop(std::chrono::seconds(10)));
  for (auto& fd : idle) {
    char byte;
    CHECK(recv(fd.get(), &byte, 1, 0) == 0);  // EOF: the worker closed it
  }
}

// The listening socket is edge-triggered: connections queued in the backlog
// while every thread is busy raise no edge of their own, and must still be
// accepted when a thread comes free, with no later connection to announce
// them.
TEST_CASE("a burst of connections larger than the thread count is served in full") {
  Pool pool(2, std::chrono::milliseconds(5));
  constexpr int kBurst = 40;
  std::vector<UniqueFd> clients;
  for (int i = 0; i < kBurst; ++i) {
    clients.push_back(connect_unix(pool.where.path));
    REQUIRE(clients.back());
    timeval five_seconds{5, 0};
    setsockopt(clients.back().get(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
  }
  for (int i = 0; i < kBurst; ++i)
    REQUIRE(send_all(clients[i].get(), fastcgi::encode_request(1, request_params(i), "", false)));
  int answered = 0;
  for (int i = 0; i < kBurst; ++i) {
    if (read_response(clients[i].get()).find("/n/" + std::to_string(i)) == std::string::npos) break;  // stranded
    ++answered;
  }
  CHECK(answered == kBurst);
  CHECK(pool.stop(std::chrono::seconds(10)));
}

TEST_CASE("a stop while requests run lets them finish") {
  TempSocket where;
  std::atomic<int> finished{0};
  std::atomic<bool> entered{false};
  worker::Dispatcher dispatcher(listen_unix(where.path).release(), [](UniqueFd fd) -> std::unique_ptr<worker::Connection> {
    return std::make_unique<worker::FastCgiConnection>(std::move(fd), worker::ConnectionLimits{});
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      dispatcher.run_thread([&](worker::Connection& c) {
        entered = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        echo_uri(c, finished);
      });
    });
  }
  UniqueFd fd = connect_unix(where.path);
  REQUIRE(fd);
  REQUIRE(send_all(fd.get(), fastcgi::encode_request(1, request_params(7), "", false)));
  for (int i = 0; i < 200 && !entered; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(entered.load());
  dispatcher.begin_stop();
  CHECK(dispatcher.wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  CHECK(read_response(fd.get()).find("/n/7") != std::string::npos);
  CHECK(finished.load() == 1);
  dispatcher.release_threads();
  for (auto& t : threads) t.join();
}

// A frontend's connection that has reached the worker (accepted, or still in
// the backlog) when a graceful stop begins is served, even if its request
// comes after: the frontend sent it here, and a sibling may never hear of it.
// Cut off, nginx answers 502 ("upstream prematurely closed connection").
TEST_CASE("a stop serves the connections that have come but not yet sent their request") {
  Pool pool(2, std::chrono::milliseconds(300));
  auto client = [&] {
    UniqueFd fd = connect_unix(pool.where.path);
    REQUIRE(fd);
    timeval five_seconds{5, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
    return fd;
  };
  // Both threads busy: the connections after them wait in the backlog.
  std::vector<UniqueFd> busy, late;
  for (int i = 0; i < 2; ++i) {
    busy.push_back(client());
    REQUIRE(send_all(busy.back().get(), fastcgi::encode_request(1, request_params(i), "", false)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 3; ++i) late.push_back(client());
  pool.dispatcher.begin_stop();
  for (int i = 0; i < 3; ++i)
    REQUIRE(send_all(late[i].get(), fastcgi::encode_request(1, request_params(10 + i), "", false)));
  CHECK(pool.dispatcher.wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  for (int i = 0; i < 2; ++i) CHECK(read_response(busy[i].get()).find("/n/" + std::to_string(i)) != std::string::npos);
  for (int i = 0; i < 3; ++i)
    CHECK(read_response(late[i].get()).find("/n/" + std::to_string(10 + i)) != std::string::npos);
  CHECK(pool.served.load() == 5);
}

// Slowloris: connections that send nothing, or half a request head, wait in
// the epoll set, not in a thread. Before, 8-20 of them froze a 2x4 pool for
// socket-timeout (each held a thread in poll()).
TEST_CASE("silent and half-sent connections hold no thread and close at request-read-timeout") {
  Pool pool(2, {}, worker::DispatcherLimits{std::chrono::milliseconds(400), 512});
  auto client = [&] {
    UniqueFd fd = connect_unix(pool.where.path);
    REQUIRE(fd);
    timeval five_seconds{5, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
    return fd;
  };
  std::vector<UniqueFd> silent, half;
  for (int i = 0; i < 10; ++i) silent.push_back(client());
  for (int i = 0; i < 10; ++i) {
    half.push_back(client());
    std::string whole = fastcgi::encode_request(1, request_params(100 + i), "", false);
    REQUIRE(send_all(half.back().get(), whole.substr(0, whole.size() / 2)));
  }
  // Two threads, twenty stalled connections: a real request is served at once.
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    UniqueFd fd = client();
    REQUIRE(send_all(fd.get(), fastcgi::encode_request(1, request_params(i), "", false)));
    CHECK(read_response(fd.get()).find("/n/" + std::to_string(i)) != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(400));
  // A half-sent head finished in time is served.
  std::string whole = fastcgi::encode_request(1, request_params(100), "", false);
  REQUIRE(send_all(half[0].get(), whole.substr(whole.size() / 2)));
  CHECK(read_response(half[0].get()).find("/n/100") != std::string::npos);
  // The others are closed by the worker once request-read-timeout passes.
  for (std::size_t i = 1; i < half.size(); ++i) {
    char byte;
    CHECK(recv(half[i].get(), &byte, 1, 0) == 0);
  }
  for (auto& fd : silent) {
    char byte;
    CHECK(recv(fd.get(), &byte, 1, 0) == 0);
  }
  CHECK(pool.served.load() == 5);
  CHECK(pool.stop(std::chrono::seconds(5)));
}

// An idle keep-alive connection does not time out (nginx decides when its
// cached connections go), but the connections a process keeps open are
// bounded: over maximum-connections the longest idle one is closed to make
// room, and the new connection is served.
TEST_CASE("over maximum-connections the longest idle connection closes, never the new one") {
  Pool pool(2, {}, worker::DispatcherLimits{std::chrono::milliseconds(300), 4});
  std::vector<UniqueFd> kept;
  for (int i = 0; i < 4; ++i) {
    kept.push_back(connect_unix(pool.where.path));
    REQUIRE(kept.back());
    timeval five_seconds{5, 0};
    setsockopt(kept.back().get(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
    REQUIRE(send_all(kept.back().get(), fastcgi::encode_request(1, request_params(i), "", true)));
    CHECK(read_response(kept.back().get()).find("/n/" + std::to_string(i)) != std::string::npos);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a clear order of idleness
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // idle past request-read-timeout: still open
  UniqueFd fresh = connect_unix(pool.where.path);
  REQUIRE(send_all(fresh.get(), fastcgi::encode_request(1, request_params(9), "", false)));
  CHECK(read_response(fresh.get()).find("/n/9") != std::string::npos);
  char byte;
  CHECK(recv(kept[0].get(), &byte, 1, 0) == 0);  // the longest idle: closed
  for (int i = 1; i < 4; ++i) {
    REQUIRE(send_all(kept[i].get(), fastcgi::encode_request(1, request_params(20 + i), "", true)));
    CHECK(read_response(kept[i].get()).find("/n/" + std::to_string(20 + i)) != std::string::npos);
  }
  CHECK(pool.stop(std::chrono::seconds(5)));
}

// Handlers that block (time.sleep, a database) still get every thread: the
// listener gate promotes reserve threads while the others are held.
TEST_CASE("blocking requests run on every thread at once") {
  TempSocket where;
  std::atomic<int> running{0}, most{0}, finished{0};
  worker::Dispatcher dispatcher(listen_unix(where.path).release(), [](UniqueFd fd) -> std::unique_ptr<worker::Connection> {
    return std::make_unique<worker::FastCgiConnection>(std::move(fd), worker::ConnectionLimits{});
  });
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      dispatcher.run_thread([&](worker::Connection& c) {
        int now = ++running;
        for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        --running;
        echo_uri(c, finished);
      });
    });
  }
  std::vector<UniqueFd> clients;
  for (int i = 0; i < kThreads; ++i) {
    clients.push_back(connect_unix(where.path));
    REQUIRE(clients.back());
    REQUIRE(send_all(clients.back().get(), fastcgi::encode_request(1, request_params(i), "", false)));
  }
  for (int i = 0; i < kThreads; ++i) CHECK(read_response(clients[i].get()).find("/n/" + std::to_string(i)) != std::string::npos);
  CHECK(most.load() == kThreads);
  dispatcher.begin_stop();
  CHECK(dispatcher.wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  dispatcher.release_threads();
  for (auto& t : threads) t.join();
}

TEST_CASE("the listener gate: one listener, reserves promoted only for held work") {
  // A long tick, so that the quick work below is never caught mid-request
  // twice in a row even on a loaded machine.
  worker::ListenerGate gate(std::chrono::milliseconds(200));
  auto& first = gate.join();
  auto& second = gate.join();
  REQUIRE(gate.wait_turn());  // no listener yet: this thread listens
  CHECK(gate.listeners() == 1);
  std::atomic<bool> second_listens{false}, second_done{false};
  std::thread reserve([&] {
    bool turn = gate.wait_turn();  // a listener exists: waits in reserve
    second_listens = turn;
    if (turn) {
      gate.start_serving(second);
      gate.stop_serving(second);
      // Back while the first still holds its request (blocking_), or
      // after close(): either way it does not wait again for long.
      while (gate.wait_turn()) {
        gate.start_serving(second);
        gate.stop_serving(second);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    second_done = true;
  });
  for (int i = 0; i < 200 && gate.reserves() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(gate.reserves() == 1);

  // Quick work, however much of it, leaves the reserve alone.
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(700);
  bool always_listened = true;
  while (std::chrono::steady_clock::now() < until) {
    gate.start_serving(first);
    gate.stop_serving(first);
    always_listened = gate.wait_turn() && always_listened;
  }
  CHECK(always_listened);
  CHECK_FALSE(second_listens.load());
  CHECK(gate.reserves() == 1);

  // Work held across ticks: the reserve thread is promoted.
  gate.start_serving(first);
  for (int i = 0; i < 200 && !second_listens; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(second_listens.load());
  gate.stop_serving(first);

  gate.close();
  reserve.join();
  CHECK(second_done.load());
  CHECK_FALSE(gate.wait_turn());
}

// An application closed the worker's listening socket (issue 13). The epoll
// set goes on reporting it, because another descriptor (the supervisor's;
// here `kept`) keeps the socket alive: the dispatcher must say so once and
// stop accepting, not retry each report (which spun a core), and must not
// close the number at the end (it may be someone else's by then).
TEST_CASE("a listening socket closed under the dispatcher is reported once, without a spin") {
  TempSocket where;
  UniqueFd listening = listen_unix(where.path);
  UniqueFd kept(dup(listening.get()));
  int number = listening.get();
  std::atomic<int> lost{0}, finished{0};
  std::string why;
  auto dispatcher = std::make_unique<worker::Dispatcher>(
      listening.release(), [](UniqueFd fd) -> std::unique_ptr<worker::Connection> {
        return std::make_unique<worker::FastCgiConnection>(std::move(fd), worker::ConnectionLimits{});
      });
  dispatcher->set_listener_lost([&](const std::string& w) {
    why = w;
    ++lost;
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] { dispatcher->run_thread([&](worker::Connection& c) { echo_uri(c, finished); }); });
  CHECK(dispatcher->check_listener());
  ::close(number);  // what the app did
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(connect_unix(where.path));  // queued by the socket `kept` holds open
    REQUIRE(clients.back());
  }
  for (int i = 0; i < 200 && lost.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(lost.load() == 1);
  CHECK(why.find("accept") != std::string::npos);
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  getrusage(RUSAGE_SELF, &after);
  auto cpu_ms = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000 + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1000;
  };
  CHECK(cpu_ms(after) - cpu_ms(before) < 100);  // idle, not spinning
  CHECK_FALSE(dispatcher->check_listener());
  CHECK(lost.load() == 1);
  CHECK(finished.load() == 0);
  // The number reused by the "app": the dispatcher leaves it alone.
  int reused = open("/dev/null", O_RDONLY | O_CLOEXEC);
  dispatcher->begin_stop();
  CHECK(dispatcher->wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  dispatcher->release_threads();
  for (auto& t : threads) t.join();
  dispatcher.reset();
  if (reused == number) CHECK(fcntl(reused, F_GETFD) != -1);
  ::close(reused);
}

// The number reused for another file before any connection came: the
// once-a-second check finds it by identity.
TEST_CASE("a listening socket's number reused by another file is found by check_listener") {
  TempSocket where;
  UniqueFd listening = listen_unix(where.path);
  UniqueFd kept(dup(listening.get()));
  int number = listening.get();
  std::atomic<int> lost{0};
  worker::Dispatcher dispatcher(listening.release(), [](UniqueFd fd) -> std::unique_ptr<worker::Connection> {
    return std::make_unique<worker::FastCgiConnection>(std::move(fd), worker::ConnectionLimits{});
  });
  dispatcher.set_listener_lost([&](const std::string&) { ++lost; });
  CHECK(dispatcher.check_listener());
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(dup2(null, number) == number);  // closes the socket's number, reuses it
  ::close(null);
  CHECK_FALSE(dispatcher.check_listener());
  CHECK_FALSE(dispatcher.check_listener());
  CHECK(lost.load() == 1);
  dispatcher.begin_stop();
  dispatcher.release_threads();
  ::close(number);
}

namespace {

// Where a stopping Pool's idle keep-alive connections go: copies of them,
// as the supervisor would hold them on their way to a sibling.
struct HandedOver {
  std::mutex mutex;
  std::vector<UniqueFd> fds;
  std::size_t count() {
    std::lock_guard lock(mutex);
    return fds.size();
  }
  worker::Dispatcher::HandOver sink() {
    return [this](const int* fds_in, std::size_t n) {
      std::lock_guard lock(mutex);
      for (std::size_t i = 0; i < n; ++i) fds.emplace_back(dup(fds_in[i]));
      return true;
    };
  }
};

UniqueFd client_with_timeout(const std::string& path) {
  UniqueFd fd = connect_unix(path);
  REQUIRE(fd);
  timeval five_seconds{5, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
  return fd;
}

}  // namespace

// Closing an idle keep-alive connection races with the frontend, which may
// be writing a request to it at that very moment (nginx then answers a POST
// with 502). Handed over, the connection lives on in a sibling, and what is
// sent on it after the stop is served there.
TEST_CASE("a stop hands idle keep-alive connections over, and the adopter serves their next request") {
  HandedOver handed;
  Pool old_pool(2);
  old_pool.dispatcher.set_hand_over(handed.sink());
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 5; ++i) {
    idle.push_back(client_with_timeout(old_pool.where.path));
    REQUIRE(send_all(idle.back().get(), fastcgi::encode_request(1, request_params(i), "", true)));
    CHECK(read_response(idle.back().get()).find("/n/" + std::to_string(i)) != std::string::npos);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // back in the epoll set
  CHECK(old_pool.stop(std::chrono::seconds(10)));  // drained at once: nothing was in flight
  CHECK(old_pool.served.load() == 5);
  REQUIRE(handed.count() == 5);

  Pool successor(2);
  // The first requests go out before the adoption: they wait in the sockets.
  for (int i = 0; i < 5; ++i)
    REQUIRE(send_all(idle[i].get(), fastcgi::encode_request(1, request_params(100 + i), "", true)));
  for (auto& fd : handed.fds) successor.dispatcher.adopt(std::move(fd));
  for (int i = 0; i < 5; ++i) {
    CHECK(read_response(idle[i].get()).find("/n/" + std::to_string(100 + i)) != std::string::npos);
    REQUIRE(send_all(idle[i].get(), fastcgi::encode_request(1, request_params(200 + i), "", true)));
    CHECK(read_response(idle[i].get()).find("/n/" + std::to_string(200 + i)) != std::string::npos);
  }
  CHECK(successor.served.load() == 10);
  CHECK(successor.dispatcher.open_connections() == 5);
  CHECK(successor.stop(std::chrono::seconds(10)));
}

TEST_CASE("a stop serves a keep-alive connection whose next request has come, and hands over the rest") {
  HandedOver handed;
  Pool pool(1, std::chrono::milliseconds(300));
  pool.dispatcher.set_hand_over(handed.sink());
  UniqueFd waiting = client_with_timeout(pool.where.path), idle = client_with_timeout(pool.where.path);
  for (auto* fd : {&waiting, &idle}) {
    REQUIRE(send_all(fd->get(), fastcgi::encode_request(1, request_params(1), "", true)));
    CHECK(read_response(fd->get()).find("/n/1") != std::string::npos);
  }
  // The only thread busy with a third connection: the next request on
  // `waiting` stays unread in its socket while the stop begins.
  UniqueFd busy = client_with_timeout(pool.where.path);
  REQUIRE(send_all(busy.get(), fastcgi::encode_request(1, request_params(2), "", false)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(send_all(waiting.get(), fastcgi::encode_request(1, request_params(3), "", true)));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pool.dispatcher.begin_stop();
  CHECK(handed.count() == 1);  // `idle`, and only it
  CHECK(pool.dispatcher.wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  CHECK(read_response(busy.get()).find("/n/2") != std::string::npos);
  CHECK(read_response(waiting.get()).find("/n/3") != std::string::npos);
  // Served during the stop, with nothing more waiting: handed over too.
  CHECK(handed.count() == 2);
  CHECK(pool.served.load() == 4);
}

TEST_CASE("without a sibling to take them, idle keep-alive connections are closed at the stop") {
  Pool pool(2);
  pool.dispatcher.set_hand_over([](const int*, std::size_t) { return false; });
  UniqueFd idle = client_with_timeout(pool.where.path);
  REQUIRE(send_all(idle.get(), fastcgi::encode_request(1, request_params(1), "", true)));
  CHECK(read_response(idle.get()).find("/n/1") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(pool.stop(std::chrono::seconds(10)));
  char byte;
  CHECK(recv(idle.get(), &byte, 1, 0) == 0);
}

// A connection passed to a process just as it is told to stop may still be
// in its handoff socket, unread by any thread: the stop takes it in first
// and passes it on, rather than leave it to close when the process exits.
TEST_CASE("a stop takes in what the watched socket holds before it hands connections over") {
  TempSocket where;
  HandedOver handed;
  worker::Dispatcher dispatcher(listen_unix(where.path).release(), [](UniqueFd fd) -> std::unique_ptr<worker::Connection> {
    return std::make_unique<worker::FastCgiConnection>(std::move(fd), worker::ConnectionLimits{});
  });
  dispatcher.set_hand_over(handed.sink());
  int channel[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) == 0);
  UniqueFd sender(channel[0]), receiver(channel[1]);
  dispatcher.watch(receiver.get(), [&] {
    std::vector<UniqueFd> fds;
    char byte;
    while (receive_fds(receiver.get(), &byte, 1, fds, 4) > 0) {
    }
    for (auto& fd : fds) dispatcher.adopt(std::move(fd));
    return true;
  });
  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  UniqueFd frontend(pair[0]), connection(pair[1]);
  char byte = 'c';
  int fd = connection.get();
  REQUIRE(send_fds(sender.get(), &byte, 1, &fd, 1));
  connection.reset();
  // No request thread runs: only the stop can read the watched socket.
  dispatcher.begin_stop();
  CHECK(handed.count() == 1);
  CHECK(dispatcher.wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(5)));
  dispatcher.release_threads();
}

// request-read-timeout counts from a connection's accept or the first byte
// of a head; a connection handed over between two requests owes none.
TEST_CASE("an adopted keep-alive connection idles past request-read-timeout and still serves") {
  Pool pool(2, {}, worker::DispatcherLimits{std::chrono::milliseconds(200), 512});
  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  UniqueFd frontend(pair[0]);
  timeval five_seconds{5, 0};
  setsockopt(frontend.get(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
  pool.dispatcher.adopt(UniqueFd(pair[1]));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // past the timeout, and its tick
  REQUIRE(send_all(frontend.get(), fastcgi::encode_request(1, request_params(1), "", true)));
  CHECK(read_response(frontend.get()).find("/n/1") != std::string::npos);
  CHECK(pool.served.load() == 1);
}

// Issue 14's flaky dynamic-pool story: a one-thread process accepted a
// connection whose request had not come yet, parked it, and being free
// again took the next connection from the backlog too. It served one and
// the other's request waited behind it while a sibling idled. The thread
// that accepts a connection now waits in it for the first request head
// (first_head_grace), so what it cannot serve stays in the backlog for a
// sibling. Two dispatchers on one socket stand for two processes; the grace
// is long here so that the test does not depend on the scheduler.
TEST_CASE("a one-thread process does not take a second connection while the first one's request is on its way") {
  TempSocket where;
  UniqueFd listener = listen_unix(where.path);
  std::mutex mutex;
  std::vector<std::string> served_by;  // "<dispatcher> <uri>"
  auto factory = [](UniqueFd fd) -> std::unique_ptr<worker::Connection> {
    return std::make_unique<worker::FastCgiConnection>(std::move(fd), worker::ConnectionLimits{});
  };
  worker::DispatcherLimits limits{std::chrono::milliseconds(10000), 512, std::chrono::milliseconds(3000)};
  std::atomic<int> served{0};
  auto run = [&](worker::Dispatcher& d, const char* name) {
    d.run_thread([&, name](worker::Connection& c) {
      {
        std::lock_guard lock(mutex);
        served_by.push_back(std::string(name) + " " + std::string(c.params().get_or("REQUEST_URI", "?")));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      echo_uri(c, served);
    });
  };
  worker::Dispatcher first(dup(listener.get()), factory, limits);
  std::thread first_thread([&] { run(first, "first"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // its thread waits in epoll
  UniqueFd slow = connect_unix(where.path);   // its request comes 100 ms after the connect
  UniqueFd ready = connect_unix(where.path);  // its request comes with it
  REQUIRE(slow);
  REQUIRE(ready);
  REQUIRE(send_all(ready.get(), fastcgi::encode_request(1, request_params(2), "", false)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(send_all(slow.get(), fastcgi::encode_request(1, request_params(1), "", false)));
  // The sibling comes while the first process serves: what the first left
  // in the backlog is its.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  worker::Dispatcher second(dup(listener.get()), factory, limits);
  std::thread second_thread([&] { run(second, "second"); });
  CHECK(read_response(slow.get()).find("/n/1") != std::string::npos);
  CHECK(read_response(ready.get()).find("/n/2") != std::string::npos);
  {
    std::lock_guard lock(mutex);
    CHECK(std::find(served_by.begin(), served_by.end(), "first /n/1") != served_by.end());
    CHECK(std::find(served_by.begin(), served_by.end(), "second /n/2") != served_by.end());
  }
  for (auto* d : {&first, &second}) {
    d->begin_stop();
    CHECK(d->wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(5)));
    d->release_threads();
  }
  first_thread.join();
  second_thread.join();
}

// begin_stop adopts the backlog under the dispatcher's lock; at
// maximum-connections, admitting a connection took the lock again to make
// room, and the stopping thread hung on itself (found reading the code;
// this test hung before the fix).
TEST_CASE("a stop at maximum-connections with connections in the backlog does not hang") {
  Pool pool(1, std::chrono::milliseconds(800), worker::DispatcherLimits{std::chrono::milliseconds(2000), 1});
  UniqueFd busy = client_with_timeout(pool.where.path);
  REQUIRE(send_all(busy.get(), fastcgi::encode_request(1, request_params(1), "", false)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the one thread is in the request
  UniqueFd late = client_with_timeout(pool.where.path);           // waits in the backlog
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    pool.dispatcher.begin_stop();
    stopped = true;
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!stopped && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!stopped) {
    // Hung for good, holding the lock that everything else needs: nothing
    // can be cleaned up, so say so and end here.
    std::fprintf(stderr, "begin_stop() hung at maximum-connections\n");
    std::_Exit(1);
  }
  stopper.join();
  REQUIRE(send_all(late.get(), fastcgi::encode_request(1, request_params(2), "", false)));
  CHECK(pool.dispatcher.wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  CHECK(read_response(busy.get()).find("/n/1") != std::string::npos);
  CHECK(read_response(late.get()).find("/n/2") != std::string::npos);
}
