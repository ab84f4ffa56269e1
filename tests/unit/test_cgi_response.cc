// The response head an application hands to start_response, checked before a
// byte of it reaches the frontend: a status or header that could split the
// response or inject a header must be refused, whatever the application does.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/cgi_response.h"

using namespace wsgi_fpm::protocol;

namespace {

const std::string kBadForm = "status must be three digits, a space and a reason phrase, e.g. '200 OK'";

}  // namespace

TEST_CASE("statuses an application may send") {
  for (std::string status : {"200 OK", "404 Not Found", "100 Continue", "999 Custom",
                             "200 ", "451 Unavailable For Legal Reasons",
                             "200 caf\xC3\xA9"}) {
    CAPTURE(status);
    CHECK(check_status(status) == "");
  }
}

TEST_CASE("statuses that are refused, and why") {
  struct Row {
    std::string status, error;
  };
  std::vector<Row> rows = {
      {"", kBadForm},
      {"200", kBadForm},                 // PEP 3333 wants a reason phrase
      {"200OK", kBadForm},
      {"20 OK", kBadForm},
      {"2000 OK", kBadForm},
      {"OK 200", kBadForm},
      {"2x0 OK", kBadForm},
      {" 200 OK", kBadForm},
      {"099 Low", "status code must be from 100 to 999"},
      {"000 Zero", "status code must be from 100 to 999"},
      {"200 OK\r\nX-Injected: 1", "status contains a control character"},
      {"200 OK\n", "status contains a control character"},
      {"200 OK\r", "status contains a control character"},
      {std::string("200 OK\0", 7), "status contains a control character"},
      {"200 O\x7FK", "status contains a control character"},
      {"200 \x1B[31mred", "status contains a control character"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.status);
    CHECK(check_status(row.status) == row.error);
  }
}

TEST_CASE("headers an application may send") {
  struct Row {
    std::string name, value;
  };
  std::vector<Row> rows = {
      {"Content-Type", "text/html; charset=utf-8"},
      {"X-Token-Chars!#$%&'*+-.^_`|~09", "v"},  // every tchar of RFC 9110
      {"Set-Cookie", "a=b; Path=/; HttpOnly"},
      {"X-Empty", ""},
      {"X-Tab", "a\tb"},                         // HTAB is legal inside a value
      {"X-Latin1", "caf\xE9"},
      {"X-Colon", "a: b"},
      {"Statusline", "a header merely starting with 'Status'"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    CHECK(check_header(row.name, row.value) == "");
  }
}

TEST_CASE("headers that could split the response or forge one are refused") {
  struct Row {
    std::string name, value, error;
  };
  std::vector<Row> rows = {
      {"X-A", "a\r\nSet-Cookie: admin=1", "header 'X-A' value contains CR, LF or NUL"},
      {"X-A", "a\nb", "header 'X-A' value contains CR, LF or NUL"},
      {"X-A", "a\rb", "header 'X-A' value contains CR, LF or NUL"},
      {"X-A", std::string("a\0b", 3), "header 'X-A' value contains CR, LF or NUL"},
      {"X-A", "\r\n\r\n<html>", "header 'X-A' value contains CR, LF or NUL"},
      {"", "v", "header name is empty"},
      {"Bad Name", "v", "header name 'Bad Name' contains an invalid character"},
      {"Bad:Name", "v", "header name 'Bad:Name' contains an invalid character"},
      {"X-A\r\nX-B", "v", "header name 'X-A\r\nX-B' contains an invalid character"},
      {"X(y)", "v", "header name 'X(y)' contains an invalid character"},
      {"X\"q\"", "v", "header name 'X\"q\"' contains an invalid character"},
      {"Caf\xC3\xA9", "v", "header name 'Caf\xC3\xA9' contains an invalid character"},
      {"Status", "500 Oops", "'Status' is not a valid header name (use the status argument)"},
      {"status", "500 Oops", "'Status' is not a valid header name (use the status argument)"},
      {"STATUS", "500 Oops", "'Status' is not a valid header name (use the status argument)"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    CAPTURE(row.value);
    CHECK(check_header(row.name, row.value) == row.error);
  }
}

TEST_CASE("a response head is written as a CGI head") {
  ResponseHead head;
  head.set_status("201 Created");
  head.add_header("Content-Type", "application/json");
  head.add_header("Location", "/items/7");
  head.add_header("Content-Length", "2");
  std::string expected =
      "Status: 201 Created\r\n"
      "Content-Type: application/json\r\n"
      "Location: /items/7\r\n"
      "Content-Length: 2\r\n"
      "\r\n";
  CHECK(head.serialize() == expected);
  CHECK(head.serialized_size() == expected.size());
  CHECK(head.status() == "201 Created");
  CHECK(head.status_code() == 201);
  CHECK(head.content_length() == 2u);

  SUBCASE("cleared, it is ready for the next response") {
    head.clear();
    CHECK(head.status().empty());
    CHECK(head.status_code() == 0);
    CHECK_FALSE(head.content_length());
    head.set_status("204 No Content");
    CHECK(head.serialize() == "Status: 204 No Content\r\n\r\n");
    CHECK(head.serialized_size() == head.serialize().size());
  }
}

TEST_CASE("Content-Length is recognised in any case, and only when it is a number") {
  struct Row {
    std::string name, value;
    std::optional<std::uint64_t> length;
  };
  std::vector<Row> rows = {
      {"Content-Length", "0", 0u},
      {"content-length", "1234", 1234u},
      {"CONTENT-LENGTH", "18446744073709551615", 18446744073709551615u},
      {"Content-Length", "12abc", std::nullopt},
      {"Content-Length", "-1", std::nullopt},
      {"Content-Length", " 5", std::nullopt},
      {"Content-Length", "18446744073709551616", std::nullopt},
      {"Content-Length2", "5", std::nullopt},
      {"Content-Lengt", "5", std::nullopt},
      {"X-Content-Length", "5", std::nullopt},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    CAPTURE(row.value);
    ResponseHead head;
    head.set_status("200 OK");
    head.add_header(row.name, row.value);
    CHECK(head.content_length() == row.length);
  }
}

TEST_CASE("an error response the application never saw is complete and self-consistent") {
  std::string r = error_response(413, "Request Entity Too Large");
  CHECK(r ==
        "Status: 413 Request Entity Too Large\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 29\r\n"
        "\r\n"
        "413 Request Entity Too Large\n");
  for (auto [code, reason] : {std::pair{404, "Not Found"}, std::pair{500, "Internal Server Error"},
                              std::pair{431, "Request Header Fields Too Large"}}) {
    CAPTURE(code);
    std::string resp = error_response(code, reason);
    auto blank = resp.find("\r\n\r\n");
    REQUIRE(blank != std::string::npos);
    std::string body = resp.substr(blank + 4);
    CHECK(body == std::to_string(code) + " " + reason + "\n");
    CHECK(resp.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
    CHECK(check_status(std::to_string(code) + " " + reason) == "");
  }
}
