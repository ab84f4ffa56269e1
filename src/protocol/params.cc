#include "protocol/params.h"

#include <charconv>

namespace wsgi_fpm::protocol {

void Params::set(std::string_view name, std::string_view value) {
  for (auto& p : items_) {
    if (p.name == name) {
      p.value.assign(value);
      return;
    }
  }
  add(name, value);
}

void Params::remove(std::string_view name) {
  std::erase_if(items_, [&](const Param& p) { return p.name == name; });
}

std::optional<std::string_view> Params::get(std::string_view name) const {
  for (const auto& p : items_) {
    if (p.name == name) return std::string_view(p.value);
  }
  return std::nullopt;
}

std::size_t Params::byte_size() const {
  std::size_t n = 0;
  for (const auto& p : items_) n += p.name.size() + p.value.size();
  return n;
}

std::optional<std::uint64_t> parse_content_length(std::string_view text) {
  if (text.empty()) return 0;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace wsgi_fpm::protocol
