#pragma once
// Writing CSV (RFC 4180): the one field quoting every CSV the studio writes uses.

#include <string>

namespace caig {

// The field as written: quoted (inner quotes doubled) when it holds a comma, quote or line break.
inline std::string csvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace caig
