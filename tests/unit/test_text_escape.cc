// What status shows of a request's URL: any bytes in, valid JSON and a safe
// terminal line out.
#include <doctest/doctest.h>

#include "util/text_escape.h"

using wsgi_fpm::json_string;
using wsgi_fpm::printable;

TEST_CASE("json_string keeps UTF-8 and escapes what JSON must") {
  CHECK(json_string("GET /caf\xc3\xa9?q=\xe2\x82\xac") == "\"GET /caf\xc3\xa9?q=\xe2\x82\xac\"");
  CHECK(json_string("a\"b\\c\nd\te") == "\"a\\\"b\\\\c\\nd\\te\"");
  CHECK(json_string(std::string_view("\x1b[31m\x00\x7f", 7)) == "\"\\u001b[31m\\u0000\\u007f\"");
  CHECK(json_string("\xc2\x9b" "2J") == "\"\\u009b2J\"");  // C1 CSI
}

TEST_CASE("json_string turns each byte that is not UTF-8 into U+FFFD") {
  CHECK(json_string("/\xff\xfe") == "\"/\\ufffd\\ufffd\"");
  CHECK(json_string("/\xc3") == "\"/\\ufffd\"");             // cut short
  CHECK(json_string("/\xc0\xaf") == "\"/\\ufffd\\ufffd\"");  // overlong '/'
  CHECK(json_string("/\xed\xa0\x80") == "\"/\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  CHECK(json_string("/\xf4\x90\x80\x80") == "\"/\\ufffd\\ufffd\\ufffd\\ufffd\"");  // past U+10FFFF
  CHECK(json_string("\xf0\x9f\x98\x80") == "\"\xf0\x9f\x98\x80\"");  // a valid 4-byte one
}

TEST_CASE("printable leaves no control character and no invalid UTF-8") {
  CHECK(printable("GET /caf\xc3\xa9") == "GET /caf\xc3\xa9");
  CHECK(printable("GET /\x1b[2J\x1b]0;title\x07") == "GET /\\x1b[2J\\x1b]0;title\\x07");
  CHECK(printable("/\xc2\x9b" "31m") == "/\\xc2\\x9b31m");
  CHECK(printable("/a\\x1b") == "/a\\x5cx1b");  // a real backslash cannot pass for an escape
  CHECK(printable("/\xff\r\n") == "/\\xff\\x0d\\x0a");
}
