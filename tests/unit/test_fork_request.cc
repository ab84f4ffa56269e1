// The zygote's fork-request payload (include/wsgi_fpm/fork_request.h).
#include "doctest/doctest.h"
#include "wsgi_fpm/fork_request.h"

using namespace wsgi_fpm;

TEST_CASE("a command line survives the round trip, empty strings included") {
  CommandLine line{{"--pool", "t1", "--home", "", "--app-mount", "/"}, {"LANG=C.UTF-8", "EMPTY=", "PATH=/bin"}};
  auto bytes = encode_command_line(line);
  auto back = decode_command_line(bytes);
  REQUIRE(back);
  CHECK(back->arguments == line.arguments);
  CHECK(back->environment == line.environment);
}

TEST_CASE("nothing at all is two empty lists") {
  auto back = decode_command_line(encode_command_line(CommandLine{}));
  REQUIRE(back);
  CHECK(back->arguments.empty());
  CHECK(back->environment.empty());
}

TEST_CASE("anything but exactly one encoded command line is refused") {
  std::string good = encode_command_line(CommandLine{{"a", "b"}, {"X=1"}});
  CHECK_FALSE(decode_command_line(""));
  CHECK_FALSE(decode_command_line(good + "x"));                      // trailing bytes
  CHECK_FALSE(decode_command_line(good.substr(0, good.size() - 1)));  // cut short
  CHECK_FALSE(decode_command_line(std::string("2\0a\0", 4)));         // fewer strings than counted
  CHECK_FALSE(decode_command_line(std::string("x\0" "0\0", 4)));      // not a count
  CHECK_FALSE(decode_command_line(std::string("\0" "0\0", 3)));       // an empty count
  CHECK_FALSE(decode_command_line(std::string("9999999\0", 8)));      // an absurd count
  CHECK_FALSE(decode_command_line(std::string("5\0a\0" "0\0", 6)));   // a count larger than what follows
}
