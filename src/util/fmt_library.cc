// fmt's compiled part, built into our static util library rather than linked
// as libfmt.so: that would bring libstdc++.so into the worker, which links
// libstdc++ statically (src/meson.build says why), and Debian ships no
// libfmt.a. Including format-inl.h in this one file gives the non-template
// functions; the instantiations below are the ones format.h declares extern
// (what fmt's own src/format.cc builds). Building every file with
// FMT_HEADER_ONLY instead would do the same at three times the compile time
// per file. Should a new fmt declare more, linking fails, loudly. Built with
// FMT_STATIC_THOUSANDS_SEPARATOR (meson.build), fmt never touches std::locale.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view, basic_format_args<FMT_BUFFER_CONTEXT(char)>,
                                 locale_ref);

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<wchar_t>;
template FMT_API auto decimal_point_impl(locale_ref) -> wchar_t;
template FMT_API void buffer<wchar_t>::append(const wchar_t*, const wchar_t*);

}  // namespace detail
FMT_END_NAMESPACE
