// "Did you mean ...?" for misspelt keys and values.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wsgi_fpm::config {

// Levenshtein distance (insertions, deletions, substitutions).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if close enough to be a likely typo: at
// most 2 edits, or a third of the word's length for long keys
// ("request_timout" -> "request-timeout"). Ties go to the earlier candidate.
std::optional<std::string> closest_match(std::string_view word,
                                         std::span<const std::string_view> candidates);

}  // namespace wsgi_fpm::config
