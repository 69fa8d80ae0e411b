#pragma once
// An exception's text as a user should read it, in a dialog or on one line of a terminal.
// LibTorch's c10::Error appends a C++ backtrace ("Exception raised from f at file:line (most recent
// call first):" and "frame #0: ..." lines); that part is for developers and is cut here, so no
// path reaches the user as a stack dump. Header-only and Torch-free (widgets and app use it).

#include <exception>
#include <string>
#include <string_view>

namespace caig {

inline std::string userMessage(std::string_view what) {
  for (const std::string_view marker : {std::string_view("Exception raised from "), std::string_view("\nframe #")}) {
    const auto at = what.find(marker);
    if (at != std::string_view::npos) what = what.substr(0, at);
  }
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ' || what.back() == '\r')) what.remove_suffix(1);
  return what.empty() ? std::string("an internal error without a message") : std::string(what);
}

inline std::string userMessage(const std::exception& e) {
  return userMessage(std::string_view(e.what()));
}

}  // namespace caig
