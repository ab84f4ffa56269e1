// Whole-process descriptor hygiene: what a process that runs (or starts)
// tenant code does with descriptors it did not open itself.
#pragma once

#include <span>

namespace wsgi_fpm {

// Closes every descriptor from `first` up except those in `keep`.
// close_range(2) on each gap, so it costs a few system calls, not one per
// possible number.
void close_descriptors_except(int first, std::span<const int> keep);

// Marks every descriptor from `first` up close-on-exec: this process may
// still use them, nothing it executes inherits them.
void mark_cloexec_from(int first);

}  // namespace wsgi_fpm
