// The request model shared by both protocols: an ordered list of CGI parameters.
// FastCGI and SCGI both deliver a request head as name/value byte strings; the
// worker turns them into a WSGI environ. Kept free of Python and of I/O.
//
// Every name and value lives in one buffer, so that a request head of twenty
// parameters costs two allocations (the buffer and the index), not one or
// two per string; clear() keeps both for the connection's next request.
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsgi_fpm::protocol {

// A view of one parameter: valid until its Params changes.
struct Param {
  std::string_view name;
  std::string_view value;
};

class Params {
  struct Slot {
    std::size_t name_at, name_size, value_at, value_size;
  };

 public:
  // `name` and `value` must not point into this Params.
  void add(std::string_view name, std::string_view value);
  // A decoder's way in: `block` is copied whole, and add_within() then
  // names parameters in it by their offsets from the base returned, with no
  // copy per parameter.
  std::size_t adopt(std::string_view block) { return append(block); }
  void add_within(std::size_t name_at, std::size_t name_size, std::size_t value_at, std::size_t value_size) {
    slots_.push_back({name_at, name_size, value_at, value_size});
    byte_size_ += name_size + value_size;
  }
  // Replaces the first parameter called `name`, or adds it.
  void set(std::string_view name, std::string_view value);
  void remove(std::string_view name);
  // First value for `name`; frontends never legitimately repeat a parameter.
  std::optional<std::string_view> get(std::string_view name) const;
  std::string_view get_or(std::string_view name, std::string_view fallback) const {
    auto v = get(name);
    return v ? *v : fallback;
  }

  Param operator[](std::size_t i) const { return view(slots_[i]); }
  Param front() const { return view(slots_.front()); }
  std::size_t size() const { return slots_.size(); }
  bool empty() const { return slots_.empty(); }
  void clear() {
    slots_.clear();
    bytes_.clear();
    byte_size_ = 0;
  }
  // Room for `count` parameters of `bytes` bytes in all.
  void reserve(std::size_t count, std::size_t bytes) {
    slots_.reserve(count);
    bytes_.reserve(bytes);
  }
  // Sum of name and value lengths: what request-header-limit bounds.
  std::size_t byte_size() const { return byte_size_; }

  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Param;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Param;
    Iterator() = default;
    Iterator(const Params* params, std::size_t at) : params_(params), at_(at) {}
    Param operator*() const { return (*params_)[at_]; }
    Iterator& operator++() {
      ++at_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator was = *this;
      ++at_;
      return was;
    }
    bool operator==(const Iterator& other) const { return at_ == other.at_; }

   private:
    const Params* params_ = nullptr;
    std::size_t at_ = 0;
  };
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, slots_.size()}; }

 private:
  Param view(const Slot& s) const {
    return {std::string_view(bytes_.data() + s.name_at, s.name_size),
            std::string_view(bytes_.data() + s.value_at, s.value_size)};
  }
  std::size_t append(std::string_view text) {
    std::size_t at = bytes_.size();
    bytes_.append(text);
    return at;
  }

  std::string bytes_;  // names and values, back to back
  std::vector<Slot> slots_;
  std::size_t byte_size_ = 0;
};

// Parses a decimal CONTENT_LENGTH. Empty means 0; anything else that is not a
// plain non-negative decimal integer is nullopt.
std::optional<std::uint64_t> parse_content_length(std::string_view text);

}  // namespace wsgi_fpm::protocol
