// Text from requests (URLs, headers) shown to an operator: any bytes may be
// in it, so it is escaped for where it goes. Neither function ever emits a
// control character or a byte sequence that is not UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace wsgi_fpm {

// A JSON string literal, quotes included: valid UTF-8 is kept, control
// characters are \u escapes, and each byte that is not part of valid UTF-8
// becomes U+FFFD (JSON text must be UTF-8; RFC 8259 §8.1).
std::string json_string(std::string_view bytes);

// For a terminal: valid UTF-8 is kept; control characters (C0, DEL, C1 such
// as the ESC of a colour sequence), backslashes and bytes that are not valid
// UTF-8 become \xNN, so what is shown cannot move the cursor or recolour the
// screen, and can be told apart from what it escapes.
std::string printable(std::string_view bytes);

}  // namespace wsgi_fpm
