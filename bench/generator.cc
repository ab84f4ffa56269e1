#include "bench/generator.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "bench/response.h"

namespace wsgi_fpm::bench {
namespace {

constexpr std::size_t kReadBuffer = 64 * 1024;
// After a failed connect (refused, or EAGAIN from a full UNIX backlog), wait a
// little rather than spin the loop re-connecting.
constexpr std::uint64_t kReconnectDelayMs = 1;
// How long requests in flight at the end may take to finish before they are cut off.
constexpr std::uint64_t kDrainMs = 2000;

class Generator;

struct Connection {
  Generator* gen = nullptr;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_timer_t retry_timer;
  std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kReadBuffer);
  FastcgiResponse fastcgi;
  CgiHead scgi;
  std::uint64_t started_ns = 0;
  bool open = false;           // the stream handle is initialized and not closed
  bool closing = false;
  bool writing = false;        // write_req is in use
  bool response_done = false;  // waiting only for the write to finish
  bool retry_after_close = false;
  bool counted_start = false;  // this request took one of --requests' N starts
};

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

class Generator {
 public:
  Generator(const Options& o, const Target& t, const WireRequest& r)
      : opt_(o), target_(t), request_(r), conns_(static_cast<std::size_t>(o.connections)) {
    uv_loop_init(&loop_);
    bufs_[0] = uv_buf_init(const_cast<char*>(request_.head.data()), static_cast<unsigned>(request_.head.size()));
    bufs_[1] = uv_buf_init(const_cast<char*>(request_.body.data()), static_cast<unsigned>(request_.body.size()));
    nbufs_ = request_.body.empty() ? 1 : 2;
    reuse_ = o.protocol == Protocol::Fastcgi && o.keep_alive;
  }

  ~Generator() {
    uv_loop_close(&loop_);
  }

  Stats run() {
    uv_timer_init(&loop_, &phase_timer_);
    phase_timer_.data = this;
    for (auto& c : conns_) {
      c.gen = this;
      uv_timer_init(&loop_, &c.retry_timer);
      c.retry_timer.data = &c;
    }
    if (opt_.warmup > 0) {
      measuring_ = false;
      uv_timer_start(&phase_timer_, on_phase_timer, ms(opt_.warmup), 0);
    } else {
      start_measurement();
    }
    for (auto& c : conns_) begin(c);
    uv_run(&loop_, UV_RUN_DEFAULT);
    return stats_;
  }

 private:
  static std::uint64_t ms(double s) { return static_cast<std::uint64_t>(s * 1000 + 0.5); }

  void start_measurement() {
    stats_.clear();
    started_ = 0;
    for (auto& c : conns_) c.counted_start = false;
    measuring_ = true;
    measure_start_ns_ = uv_hrtime();
    getrusage(RUSAGE_THREAD, &usage_start_);  // this loop's thread alone: threads add up
    uv_timer_start(&phase_timer_, on_phase_timer, ms(opt_.duration), 0);
  }

  static void on_phase_timer(uv_timer_t* t) {
    auto* g = static_cast<Generator*>(t->data);
    if (g->stopping_) g->abort_all();
    else if (!g->measuring_) g->start_measurement();
    else g->finish();
  }

  // Ends the measurement. Requests in flight may finish (uncounted) for up to
  // kDrainMs: cutting them off would measure the server's abort path instead,
  // and fill its log with resets.
  void finish() {
    if (stopping_) return;
    stopping_ = true;
    measuring_ = false;
    stats_.elapsed = static_cast<double>(uv_hrtime() - measure_start_ns_) / 1e9;
    rusage end{};
    getrusage(RUSAGE_THREAD, &end);
    stats_.cpu_user = seconds(end.ru_utime) - seconds(usage_start_.ru_utime);
    stats_.cpu_system = seconds(end.ru_stime) - seconds(usage_start_.ru_stime);
    for (auto& c : conns_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c.retry_timer), nullptr);
      if (c.open && c.started_ns != 0) ++stats_.in_flight_at_end;
      else close(c, false);
    }
    uv_timer_start(&phase_timer_, on_phase_timer, kDrainMs, 0);
    close_timer_when_done();
  }

  void abort_all() {
    for (auto& c : conns_) close(c, false);
    close_timer_when_done();
  }

  // The loop ends once no handle is left: the phase timer goes last.
  void close_timer_when_done() {
    if (!stopping_ || phase_timer_closed_) return;
    for (auto& c : conns_) {
      if (c.open) return;
    }
    phase_timer_closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&phase_timer_), nullptr);
  }

  // Starts the next request on `c`: connects first unless the connection is kept.
  void begin(Connection& c) {
    if (stopping_) return;
    // --requests N sends N requests, not N plus one per other connection busy
    // when the N-th ends: once N have started, a connection goes idle (a kept
    // one is closed) until the last response ends the run.
    c.counted_start = false;
    if (measuring_ && opt_.requests > 0) {
      if (started_ >= opt_.requests) {
        close(c, false);
        return;
      }
      ++started_;
      c.counted_start = true;
    }
    c.started_ns = uv_hrtime();
    c.response_done = false;
    c.fastcgi.reset();
    c.scgi.reset();
    if (c.open) {
      send(c);
      return;
    }
    c.open = true;
    c.closing = false;
    c.h.handle.data = &c;
    c.connect_req.data = &c;
    if (target_.is_unix) {
      uv_pipe_init(&loop_, &c.h.pipe, 0);
      // connect() by hand and write at once, as nginx and Apache do: a UNIX
      // connect completes (or fails) on the spot, and they send the request
      // in the same breath. uv_pipe_connect() would defer the write to the
      // next loop iteration, so every server would accept an empty
      // connection and sleep until the request came.
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int rc = fd < 0 ? -errno : 0;
      if (rc == 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&target_.addr), target_.addr_len) != 0)
        rc = -errno;
      if (rc == 0) rc = uv_pipe_open(&c.h.pipe, fd);
      if (rc != 0) {
        if (fd >= 0) ::close(fd);
        fail_connect(c, rc);
        return;
      }
      uv_read_start(&c.h.stream, on_alloc, on_read);
      send(c);
      return;
    }
    uv_tcp_init(&loop_, &c.h.tcp);
    uv_tcp_nodelay(&c.h.tcp, 1);
    int rc = uv_tcp_connect(&c.connect_req, &c.h.tcp, reinterpret_cast<const sockaddr*>(&target_.addr), on_connect);
    if (rc != 0) fail_connect(c, rc);
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto& c = *static_cast<Connection*>(req->data);
    auto* g = c.gen;
    if (status == UV_ECANCELED) return;  // closed by finish()
    if (status < 0) {
      g->fail_connect(c, status);
      return;
    }
    uv_read_start(&c.h.stream, on_alloc, on_read);
    g->send(c);
  }

  void send(Connection& c) {
    c.writing = true;
    c.write_req.data = &c;
    int rc = uv_write(&c.write_req, &c.h.stream, bufs_, nbufs_, on_write);
    if (rc != 0) {
      c.writing = false;
      fail_io(c, rc, "write");
    }
  }

  static void on_write(uv_write_t* req, int status) {
    auto& c = *static_cast<Connection*>(req->data);
    c.writing = false;
    if (status == UV_ECANCELED || c.closing) return;
    if (status < 0) {
      c.gen->fail_io(c, status, "write");
      return;
    }
    if (c.response_done) c.gen->complete(c);
  }

  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto& c = *static_cast<Connection*>(h->data);
    *buf = uv_buf_init(c.buffer.get(), kReadBuffer);
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto& c = *static_cast<Connection*>(s->data);
    auto* g = c.gen;
    if (c.closing) return;
    if (nread > 0) {
      g->stats_.bytes_read += static_cast<std::uint64_t>(nread);
      g->on_bytes(c, buf->base, static_cast<std::size_t>(nread));
    } else if (nread == UV_EOF) {
      if (g->opt_.protocol == Protocol::Scgi && c.scgi.complete() && !c.response_done) {
        c.response_done = true;
        if (!c.writing) g->complete(c);
      } else if (!c.response_done) {
        g->fail_io(c, UV_EOF, "read");
      }
    } else if (nread < 0) {
      g->fail_io(c, static_cast<int>(nread), "read");
    }
  }

  void on_bytes(Connection& c, const char* p, std::size_t n) {
    if (c.response_done) {
      fail_protocol(c, "bytes after the end of the response");
      return;
    }
    if (opt_.protocol == Protocol::Scgi) {
      c.scgi.feed(p, n);
      if (c.scgi.malformed()) fail_protocol(c, "malformed CGI header block");
      return;  // the response ends at EOF
    }
    std::size_t used = 0;
    auto r = c.fastcgi.feed(p, n, used);
    if (r == FastcgiResponse::Result::Error) {
      fail_protocol(c, c.fastcgi.error());
    } else if (r == FastcgiResponse::Result::Done) {
      if (used != n) {
        fail_protocol(c, "bytes after END_REQUEST");
        return;
      }
      c.response_done = true;
      if (!c.writing) complete(c);
    }
  }

  // A whole response arrived and the request was fully written.
  void complete(Connection& c) {
    const CgiHead& head = opt_.protocol == Protocol::Scgi ? c.scgi : c.fastcgi.head();
    if (measuring_) {
      auto& s = stats_;
      s.latency.record(uv_hrtime() - c.started_ns);
      ++s.responses;
      s.body_bytes += head.body_bytes();
      int status = head.status();
      ++s.by_status[status >= 0 && status < 600 ? static_cast<std::size_t>(status) : 0];
      if (status == 200) ++s.ok;
      else ++s.status_errors;
      if (opt_.requests > 0 && s.responses + s.io_errors + s.protocol_errors >= opt_.requests) {
        c.started_ns = 0;
        finish();
        return;
      }
    }
    c.started_ns = 0;
    if (reuse_ && !stopping_) begin(c);
    else close(c, false);
  }

  void fail_connect(Connection& c, int err) {
    // Nothing was sent: the retry takes the start back.
    if (c.counted_start && measuring_) --started_;
    c.counted_start = false;
    if (measuring_) {
      ++stats_.connect_errors;
      if (stats_.first_connect_error.empty()) stats_.first_connect_error = std::string("connect: ") + uv_strerror(err);
    }
    close(c, true);
  }

  void fail_io(Connection& c, int err, const char* what) {
    if (measuring_) {
      ++stats_.io_errors;
      if (stats_.first_io_error.empty())
        stats_.first_io_error = std::string(what) + ": " +
                                (err == UV_EOF ? "connection closed before the response ended" : uv_strerror(err));
    }
    count_failed_request();
    close(c, false);
  }

  void fail_protocol(Connection& c, const char* why) {
    if (measuring_) {
      ++stats_.protocol_errors;
      if (stats_.first_protocol_error.empty()) stats_.first_protocol_error = why;
    }
    count_failed_request();
    close(c, false);
  }

  void count_failed_request() {
    if (measuring_ && opt_.requests > 0 &&
        stats_.responses + stats_.io_errors + stats_.protocol_errors >= opt_.requests)
      finish();
  }

  void close(Connection& c, bool retry_later) {
    if (!c.open || c.closing) return;
    c.closing = true;
    c.retry_after_close = retry_later;
    c.started_ns = 0;
    uv_close(&c.h.handle, on_close);
  }

  static void on_close(uv_handle_t* h) {
    auto& c = *static_cast<Connection*>(h->data);
    auto* g = c.gen;
    c.open = false;
    c.closing = false;
    if (g->stopping_) {
      g->close_timer_when_done();
      return;
    }
    if (c.retry_after_close) uv_timer_start(&c.retry_timer, on_retry, kReconnectDelayMs, 0);
    else g->begin(c);
  }

  static void on_retry(uv_timer_t* t) {
    auto& c = *static_cast<Connection*>(t->data);
    c.gen->begin(c);
  }

  const Options& opt_;
  const Target& target_;
  const WireRequest& request_;
  uv_loop_t loop_;
  uv_timer_t phase_timer_;
  uv_buf_t bufs_[2];
  unsigned nbufs_ = 1;
  bool reuse_ = false;
  bool measuring_ = false;
  bool stopping_ = false;  // measurement over: no new requests, draining
  bool phase_timer_closed_ = false;
  std::uint64_t measure_start_ns_ = 0;
  std::uint64_t started_ = 0;  // requests started since the measurement began
  rusage usage_start_{};
  std::vector<Connection> conns_;
  Stats stats_;
};

}  // namespace

void Stats::merge(const Stats& o) {
  latency.merge(o.latency);
  responses += o.responses;
  ok += o.ok;
  bytes_read += o.bytes_read;
  body_bytes += o.body_bytes;
  connect_errors += o.connect_errors;
  io_errors += o.io_errors;
  protocol_errors += o.protocol_errors;
  status_errors += o.status_errors;
  for (std::size_t i = 0; i < by_status.size(); ++i) by_status[i] += o.by_status[i];
  for (auto [mine, theirs] : {std::pair{&first_connect_error, &o.first_connect_error},
                              std::pair{&first_io_error, &o.first_io_error},
                              std::pair{&first_protocol_error, &o.first_protocol_error}}) {
    if (mine->empty()) *mine = *theirs;
  }
  elapsed = std::max(elapsed, o.elapsed);
  cpu_user += o.cpu_user;
  cpu_system += o.cpu_system;
  in_flight_at_end += o.in_flight_at_end;
}

Stats run_load(const Options& options, const Target& target, const WireRequest& request) {
  // Each thread gets its share of the connections and of --requests.
  int n = options.threads;
  std::vector<Options> shares(static_cast<std::size_t>(n), options);
  for (int i = 0; i < n; ++i) {
    auto& o = shares[static_cast<std::size_t>(i)];
    o.connections = options.connections / n + (i < options.connections % n ? 1 : 0);
    if (options.requests > 0) {
      auto per = options.requests / static_cast<std::uint64_t>(n);
      o.requests = per + (static_cast<std::uint64_t>(i) < options.requests % static_cast<std::uint64_t>(n) ? 1 : 0);
    }
  }
  std::vector<Stats> results(shares.size());
  // The loop and its handles hold pointers into the generator: keep it in one place.
  auto run_share = [&](std::size_t i) { results[i] = std::make_unique<Generator>(shares[i], target, request)->run(); };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < shares.size(); ++i) threads.emplace_back(run_share, i);
  run_share(0);
  for (auto& t : threads) t.join();
  Stats total = std::move(results[0]);
  for (std::size_t i = 1; i < results.size(); ++i) total.merge(results[i]);
  return total;
}

}  // namespace wsgi_fpm::bench
