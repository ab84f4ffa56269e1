#include "protocol/params.h"

#include <algorithm>
#include <charconv>

namespace wsgi_fpm::protocol {

void Params::add(std::string_view name, std::string_view value) {
  Slot s;
  s.name_size = name.size();
  s.value_size = value.size();
  s.name_at = append(name);
  s.value_at = append(value);
  slots_.push_back(s);
  byte_size_ += name.size() + value.size();
}

void Params::set(std::string_view name, std::string_view value) {
  for (auto& s : slots_) {
    if (view(s).name == name) {
      // The old value stays in the buffer, unused, until clear().
      byte_size_ = byte_size_ - s.value_size + value.size();
      s.value_size = value.size();
      s.value_at = append(value);
      return;
    }
  }
  add(name, value);
}

void Params::remove(std::string_view name) {
  std::erase_if(slots_, [&](const Slot& s) {
    if (view(s).name != name) return false;
    byte_size_ -= s.name_size + s.value_size;
    return true;
  });
}

std::optional<std::string_view> Params::get(std::string_view name) const {
  for (const auto& s : slots_) {
    if (s.name_size == name.size() && view(s).name == name) return view(s).value;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_content_length(std::string_view text) {
  if (text.empty()) return 0;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace wsgi_fpm::protocol
