#include "supervisor/control_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "util/address.h"
#include "util/socket.h"

namespace wsgi_fpm::supervisor {
namespace {

struct Client {
  uv_pipe_t pipe;
  std::string input;
  std::string reply;
  uv_write_t write;
  ControlServer::Handler* handler;
  bool answered = false;
};

void close_client(Client* c) {
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
}

}  // namespace

bool ControlServer::listen(const std::string& path, std::string& error) {
  // 0600 from the start, never more open; a stale socket of a previous run
  // is replaced (the caller holds the runtime-dir's lock: none answers).
  Address addr;
  addr.kind = Address::Kind::Unix;
  addr.path = path;
  ListeningSocket socket = listen_on(addr, SocketOwnership{geteuid(), getegid(), 0600}, 16, error);
  if (!socket.fd) {
    error = "control socket: " + error;
    return false;
  }
  int rc = server_.open(loop_, socket.fd.get());
  if (rc == 0) {
    socket.fd.release();  // the pipe owns it now
    rc = server_.listen(16, [this] { on_connection(); });
  }
  if (rc != 0) {
    error = "control socket " + path + ": " + uv_strerror(rc);
    server_.close();
    remove_socket_file(socket.file);
    return false;
  }
  file_ = std::move(socket.file);
  return true;
}

void ControlServer::close() {
  if (!server_) return;
  server_.close();
  remove_socket_file(std::exchange(file_, {}));
}

void ControlServer::on_connection() {
  auto* c = new Client;
  c->handler = &handler_;
  if (uv_pipe_init(loop_, &c->pipe, 0) != 0) {
    delete c;  // no handle was made: nothing for libuv to close
    return;
  }
  c->pipe.data = c;
  if (uv_accept(server_.stream(), reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
    close_client(c);
    return;
  }
  // A client owns itself until close_client: every way out of it below
  // ends there, a failed start or write included.
  int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->pipe),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char scratch[4096];
        buf->base = scratch;
        buf->len = sizeof scratch;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* c = static_cast<Client*>(s->data);
        if (n < 0 || c->answered) {
          if (!c->answered) close_client(c);
          return;
        }
        c->input.append(buf->base, static_cast<size_t>(n));
        auto nl = c->input.find('\n');
        if (nl == std::string::npos) {
          if (c->input.size() > 4096) close_client(c);
          return;
        }
        c->answered = true;
        uv_read_stop(s);
        c->reply = (*c->handler)(c->input.substr(0, nl));
        uv_buf_t out = uv_buf_init(c->reply.data(), static_cast<unsigned>(c->reply.size()));
        c->write.data = c;
        if (uv_write(&c->write, s, &out, 1, [](uv_write_t* w, int) { close_client(static_cast<Client*>(w->data)); }) != 0)
          close_client(c);
      });
  if (rc != 0) close_client(c);
}

bool control_request(const std::string& socket_path, const std::string& command, std::string& reply,
                     std::string& error) {
  Address addr;
  addr.kind = Address::Kind::Unix;
  addr.path = socket_path;
  UniqueFd fd = connect_to(addr, error);
  if (!fd) {
    if (errno == ENOENT || errno == ECONNREFUSED)
      error = "no supervisor is running (nothing answers on " + socket_path + ")";
    else if (errno == EACCES)
      error = socket_path + ": permission denied (the control socket is for root only)";
    return false;
  }
  std::string line = command + "\n";
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    error = std::string("writing to the supervisor: ") + std::strerror(errno);
    return false;
  }
  std::string all;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  auto nl = all.find('\n');
  std::string head = all.substr(0, nl);
  reply = nl == std::string::npos ? "" : all.substr(nl + 1);
  if (head == "ok") return true;
  error = head.empty() ? "the supervisor closed the connection without answering" : "";
  return false;
}

}  // namespace wsgi_fpm::supervisor
