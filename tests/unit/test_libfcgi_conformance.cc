// libfcgi, the FastCGI reference implementation, as the other end of our
// codec: it reads requests our encode_request wrote, answers them, and our
// ClientResponse reads its answers. Where libfcgi itself answers the protocol
// (GET_VALUES, a multiplexed BEGIN_REQUEST), ServerSession must answer alike.
//
// libfcgi runs in a thread behind a UNIX socket in a temporary directory.
// Every blocking call is bounded: socket timeouts on our side, shutdown() of
// the listening socket to free libfcgi's accept(), and an alarm as the last
// resort, so a disagreement fails the test instead of hanging it.
#include <doctest/doctest.h>
#include <fastcgi.h>  // libfcgi's protocol constants, the reference values
#include <fcgiapp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "protocol/fastcgi.h"

using namespace wsgi_fpm;
using namespace wsgi_fpm::fastcgi;

namespace {

// What libfcgi saw of one request.
struct Seen {
  int request_id = 0;
  int role = 0;
  std::vector<std::string> env;  // "NAME=VALUE", in libfcgi's order
  std::string body;
};

// How libfcgi answers a request it has read.
using Answer = std::function<void(FCGX_Request&, const Seen&)>;

// Aborts a test that hangs despite every timeout below.
struct Watchdog {
  explicit Watchdog(unsigned seconds) { alarm(seconds); }
  ~Watchdog() { alarm(0); }
};

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/wsgi-fpm-libfcgi-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

std::size_t count_end_requests(std::string_view bytes) {
  std::size_t n = 0;
  while (true) {
    Record r;
    std::size_t used = 0;
    if (parse_record(bytes, r, used) != ParseStatus::Ok) return n;
    if (r.header.type == static_cast<std::uint8_t>(RecordType::EndRequest)) ++n;
    bytes.remove_prefix(used);
  }
}

// What the frontend sends, and how many END_REQUEST records in all it waits
// for before it sends the next turn. Like nginx, it never pipelines: libfcgi
// never serves a request sent before the previous one's END_REQUEST.
struct Turn {
  std::string wire;
  std::size_t end_requests;
};

// Plays the frontend against libfcgi, which serves `requests` requests with
// `answer`. Returns every byte libfcgi wrote back, once the last turn's
// END_REQUEST records have arrived (or the connection closed, or 10 s passed).
std::string exchange_with_libfcgi(const std::vector<Turn>& turns, int requests, const Answer& answer,
                                  std::vector<Seen>& seen) {
  Watchdog watchdog(60);
  REQUIRE(FCGX_Init() == 0);
  TempDir dir;
  std::string path = (dir.path / "fcgi.sock").string();
  int listen_fd = FCGX_OpenSocket(path.c_str(), 5);
  REQUIRE(listen_fd >= 0);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);

  std::thread server([&] {
    FCGX_Request req;
    FCGX_InitRequest(&req, listen_fd, 0);
    for (int i = 0; i < requests; ++i) {
      if (FCGX_Accept_r(&req) < 0) break;
      Seen s;
      s.request_id = req.requestId;
      s.role = req.role;
      for (char** e = req.envp; e && *e; ++e) s.env.emplace_back(*e);
      char buf[8192];
      int n;
      while ((n = FCGX_GetStr(buf, sizeof buf, req.in)) > 0) s.body.append(buf, static_cast<std::size_t>(n));
      answer(req, s);
      seen.push_back(std::move(s));
      FCGX_Finish_r(&req);
    }
    FCGX_Free(&req, 1);
  });

  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  bool connected = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  CHECK(connected);

  std::string received;
  bool sent_all = true;
  for (const auto& turn : turns) {
    if (!connected) break;
    // Written from its own thread, so neither side waits on the other's buffer.
    bool sent = false;
    std::thread writer([&] {
      std::size_t off = 0;
      while (off < turn.wire.size()) {
        ssize_t n = send(fd, turn.wire.data() + off, turn.wire.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
      }
      sent = true;
    });
    bool open = true;
    while (open && count_end_requests(received) < turn.end_requests) {
      char buf[16384];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) open = false;
      else received.append(buf, static_cast<std::size_t>(n));
    }
    if (!open) shutdown(fd, SHUT_RDWR);  // unblocks the writer
    writer.join();
    sent_all = sent_all && sent;
    if (!open) break;
  }

  shutdown(fd, SHUT_RDWR);
  close(fd);
  shutdown(listen_fd, SHUT_RDWR);  // frees libfcgi if it went back to accept()
  server.join();
  close(listen_fd);
  CHECK(sent_all);
  return received;
}

struct Reply {
  std::uint8_t type;
  std::uint16_t id;
  std::string bytes;  // the whole record
  std::string content;
};

std::vector<Reply> records_of(std::string_view bytes) {
  std::vector<Reply> out;
  while (!bytes.empty()) {
    Record r;
    std::size_t n = 0;
    REQUIRE(parse_record(bytes, r, n) == ParseStatus::Ok);
    out.push_back({r.header.type, r.header.request_id, std::string(bytes.substr(0, n)),
                   std::string(r.content)});
    bytes.remove_prefix(n);
  }
  return out;
}

// The environment libfcgi builds from `params`: its own FCGI_ROLE first.
std::vector<std::string> as_env(const protocol::Params& params) {
  std::vector<std::string> env{"FCGI_ROLE=RESPONDER"};
  for (const auto p : params) env.push_back(std::string(p.name) + "=" + std::string(p.value));
  return env;
}

// A body whose every byte depends on its offset, NULs included.
std::string patterned(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + i / 509) & 0xff);
  return s;
}

const std::string kHead = "Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n";

// libfcgi echoes the body after a CGI head, says something on stderr, and
// exits with 7.
void echo(FCGX_Request& req, const Seen& seen) {
  FCGX_PutStr(kHead.data(), static_cast<int>(kHead.size()), req.out);
  FCGX_PutStr(seen.body.data(), static_cast<int>(seen.body.size()), req.out);
  FCGX_PutS("libfcgi was here\n", req.err);
  FCGX_SetExitStatus(7, req.out);
}

std::uint8_t t(RecordType type) { return static_cast<std::uint8_t>(type); }

}  // namespace

TEST_CASE("libfcgi reads what encode_request wrote, and ClientResponse reads libfcgi's answer") {
  signal(SIGPIPE, SIG_IGN);
  std::string body = patterned(200 * 1024 + 3);  // four STDIN records
  protocol::Params params;
  params.add("REQUEST_METHOD", "POST");
  params.add("CONTENT_LENGTH", std::to_string(body.size()));
  params.add("REQUEST_URI", "/app/upload?x=1");
  params.add("HTTP_X_" + std::string(200, 'N'), "a name needing a four-byte length");
  params.add("HTTP_X_MEDIUM", std::string(300, 'm'));         // a four-byte value length
  params.add("HTTP_COOKIE", std::string(70000, 'c'));         // PARAMS over two records
  params.add("QUERY_STRING", "");
  params.add("HTTP_X_UTF8", "caf\xC3\xA9");
  std::string wire = encode_request(1, params, body, false);

  std::vector<Seen> seen;
  std::string received = exchange_with_libfcgi({{wire, 1}}, 1, echo, seen);

  REQUIRE(seen.size() == 1);
  CHECK(seen[0].request_id == 1);
  CHECK(seen[0].role == FCGI_RESPONDER);
  CHECK(seen[0].env == as_env(params));
  CHECK(seen[0].body.size() == body.size());
  CHECK(seen[0].body == body);

  ClientResponse resp;
  CHECK(resp.feed(received) == received.size());
  REQUIRE(resp.done());
  CHECK(resp.error().empty());
  CHECK(resp.stdout_data().size() == kHead.size() + body.size());
  CHECK(resp.stdout_data() == kHead + body);
  CHECK(resp.stderr_data() == "libfcgi was here\n");
  CHECK(resp.app_status() == 7);
  CHECK(resp.protocol_status() == ProtocolStatus::RequestComplete);
}

TEST_CASE("libfcgi's answer read byte by byte gives the same response") {
  signal(SIGPIPE, SIG_IGN);
  protocol::Params params;
  params.add("REQUEST_METHOD", "PUT");
  std::string body = patterned(70000);
  std::vector<Seen> seen;
  std::string received = exchange_with_libfcgi({{encode_request(300, params, body, false), 1}}, 1, echo, seen);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].request_id == 300);

  ClientResponse resp;
  std::string buffer;
  for (char c : received) {
    buffer.push_back(c);
    buffer.erase(0, resp.feed(buffer));
  }
  REQUIRE(resp.done());
  CHECK(buffer.empty());
  CHECK(resp.stdout_data() == kHead + body);
  CHECK(resp.app_status() == 7);
}

TEST_CASE("a keep-alive connection carries two requests to libfcgi, one after the other") {
  signal(SIGPIPE, SIG_IGN);
  protocol::Params first, second;
  first.add("REQUEST_URI", "/one");
  second.add("REQUEST_URI", "/two");
  second.add("HTTP_X_BIG", std::string(1000, 'b'));
  std::vector<Turn> turns = {{encode_request(1, first, "first body", true), 1},
                             {encode_request(2, second, "", true), 2}};

  std::vector<Seen> seen;
  std::string received = exchange_with_libfcgi(turns, 2, echo, seen);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].request_id == 1);
  CHECK(seen[0].env == as_env(first));
  CHECK(seen[0].body == "first body");
  CHECK(seen[1].request_id == 2);
  CHECK(seen[1].env == as_env(second));
  CHECK(seen[1].body == "");

  ClientResponse resp;
  std::size_t used = resp.feed(received);
  REQUIRE(resp.done());
  CHECK(resp.stdout_data() == kHead + "first body");
  resp.reset();
  CHECK(resp.feed(std::string_view(received).substr(used)) == received.size() - used);
  REQUIRE(resp.done());
  CHECK(resp.stdout_data() == kHead);

  std::vector<std::uint16_t> end_ids;
  for (const auto& r : records_of(received)) {
    if (r.type == t(RecordType::EndRequest)) end_ids.push_back(r.id);
  }
  CHECK(end_ids == std::vector<std::uint16_t>{1, 2});
}

TEST_CASE("ServerSession answers GET_VALUES and a multiplexed BEGIN_REQUEST as libfcgi does") {
  signal(SIGPIPE, SIG_IGN);
  protocol::Params params;
  params.add("REQUEST_URI", "/");
  std::string asked;
  append_name_value(asked, "FCGI_MPXS_CONNS", "");
  std::string wire;
  append_stream(wire, RecordType::GetValues, 0, asked);
  append_begin_request(wire, 1, Role::Responder, false);
  append_begin_request(wire, 2, Role::Responder, false);  // a frontend trying to multiplex
  append_params(wire, 1, params);
  append_stream(wire, RecordType::Stdin, 1, {});

  // libfcgi's answer: 2 END_REQUESTs (the refusal of 2, then request 1's end).
  std::vector<Seen> seen;
  std::string received = exchange_with_libfcgi({{wire, 2}}, 1, echo, seen);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].request_id == 1);

  // Ours, for the same bytes.
  ServerSession session;
  std::string ours;
  std::string_view in = wire;
  while (!in.empty()) {
    Record r;
    std::size_t n = 0;
    REQUIRE(parse_record(in, r, n) == ParseStatus::Ok);
    REQUIRE(session.on_record(r, ours) != ServerSession::Event::Error);
    in.remove_prefix(n);
  }

  auto find = [](const std::vector<Reply>& records, RecordType type, std::uint16_t id) -> const Reply* {
    for (const auto& r : records) {
      if (r.type == t(type) && r.id == id) return &r;
    }
    return nullptr;
  };
  auto theirs = records_of(received);
  auto mine = records_of(ours);

  const Reply* their_values = find(theirs, RecordType::GetValuesResult, 0);
  const Reply* my_values = find(mine, RecordType::GetValuesResult, 0);
  REQUIRE(their_values);
  REQUIRE(my_values);
  protocol::Params their_result, my_result;
  REQUIRE(decode_name_values(their_values->content, their_result));
  REQUIRE(decode_name_values(my_values->content, my_result));
  CHECK(their_result.get("FCGI_MPXS_CONNS") == "0");
  CHECK(my_result.get("FCGI_MPXS_CONNS") == their_result.get("FCGI_MPXS_CONNS"));

  const Reply* their_refusal = find(theirs, RecordType::EndRequest, 2);
  const Reply* my_refusal = find(mine, RecordType::EndRequest, 2);
  REQUIRE(their_refusal);
  REQUIRE(my_refusal);
  CHECK(my_refusal->bytes == their_refusal->bytes);  // byte for byte
  CHECK(my_refusal->content[4] == FCGI_CANT_MPX_CONN);
}
