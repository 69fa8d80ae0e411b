#include "core/text/clip_tokenizer.h"

#include "core/text/byte_level.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <locale.h>
#include <stdexcept>
#include <unordered_map>
#include <wctype.h>

#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace caig {
namespace {

// transformers' CLIPTokenizer reads merges.txt lines [1, 49152 - 256 - 2 + 1): at most 48894.
constexpr std::size_t kMaxMerges = 49152 - 256 - 2;
constexpr char32_t kReplacement = 0xFFFD;

// ---- UTF-8 ---------------------------------------------------------------------------------

std::u32string decodeUtf8(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    }
    int len = 0;
    char32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    bool ok = len > 0 && i + static_cast<std::size_t>(len) <= n;
    for (int k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok) {
      out.push_back(cp);
      i += static_cast<std::size_t>(len);
    } else {
      out.push_back(kReplacement);
      ++i;
    }
  }
  return out;
}


std::string encodeUtf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) appendUtf8(out, c);
  return out;
}

// ---- ftfy subset -----------------------------------------------------------------------------

// Python's str.isspace(): what CLIPTokenizer's whitespace_clean (re "\s+") collapses.
bool isPySpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ftfy's CONTROL_CHARS (remove_control_chars).
bool isFtfyControl(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

// Windows-1252 for numeric references &#128;..&#159; (as Python's html.unescape).
constexpr char32_t kCp1252[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                  0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                                  0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                  0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};

const std::unordered_map<std::string, char32_t>& namedEntities() {
  static const std::unordered_map<std::string, char32_t> table = {
      {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
      {"nbsp", 0xA0},    {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}, {"hellip", 0x2026},
      {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
      {"rdquo", 0x201D}, {"laquo", 0xAB},   {"raquo", 0xBB},   {"deg", 0xB0},     {"times", 0xD7},
      {"divide", 0xF7},  {"euro", 0x20AC},  {"pound", 0xA3},   {"yen", 0xA5},     {"cent", 0xA2},
      {"sect", 0xA7},    {"para", 0xB6},    {"middot", 0xB7},  {"bull", 0x2022},  {"eacute", 0xE9},
      {"egrave", 0xE8},  {"agrave", 0xE0},  {"ccedil", 0xE7},  {"uuml", 0xFC},    {"ouml", 0xF6},
      {"auml", 0xE4},    {"szlig", 0xDF},   {"ntilde", 0xF1},  {"frac12", 0xBD},  {"plusmn", 0xB1},
  };
  return table;
}

bool isAsciiAlnum(char32_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// ftfy's unescape_html: "&#?[0-9A-Za-z]{1,24};" replaced when it names a character.
std::u32string unescapeHtml(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    std::size_t j = i + 1;
    const bool numeric = j < s.size() && s[j] == '#';
    if (numeric) ++j;
    const std::size_t start = j;
    while (j < s.size() && j - start < 24 && isAsciiAlnum(s[j])) ++j;
    if (j == start || j >= s.size() || s[j] != ';') {
      out.push_back(s[i]);
      continue;
    }
    const std::string name(s.begin() + static_cast<std::ptrdiff_t>(start), s.begin() + static_cast<std::ptrdiff_t>(j));
    bool replaced = false;
    char32_t cp = 0;
    if (numeric) {
      const bool hex = name[0] == 'x' || name[0] == 'X';
      const std::string digits = hex ? name.substr(1) : name;
      const bool valid = !digits.empty() && std::all_of(digits.begin(), digits.end(), [&](char c) {
        return hex ? std::isxdigit(static_cast<unsigned char>(c)) != 0 : (c >= '0' && c <= '9');
      });
      if (valid && digits.size() <= 8) {
        const unsigned long v = std::stoul(digits, nullptr, hex ? 16 : 10);
        if (v >= 0x80 && v <= 0x9F) cp = kCp1252[v - 0x80];
        else if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) cp = kReplacement;
        else cp = static_cast<char32_t>(v);
        replaced = true;
      }
    } else {
      std::string lower = name;  // ftfy also accepts the all-upper-case spelling
      const bool allUpper = std::none_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; });
      if (allUpper) std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
      const auto& table = namedEntities();
      auto it = table.find(name);
      if (it == table.end() && allUpper) it = table.find(lower);
      if (it != table.end()) {
        cp = it->second;
        if (allUpper && it->first != name && cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) cp -= 0x20;  // &EACUTE; -> É
        replaced = true;
      }
    }
    if (!replaced) {
      out.push_back(s[i]);
      continue;
    }
    out.push_back(cp);
    i = j;
  }
  return out;
}

// NFC for a base letter followed by one combining mark, for the precomposed letters of
// U+00C0..U+017F: per mark, the bases and (position by position) the composed letters.
struct Composition {
  char32_t mark;
  const char* bases;
  const char* composed;
};
constexpr Composition kCompositions[] = {
    {0x300, "AEIOUaeiou", "ÀÈÌÒÙàèìòù"},
    {0x301, "AEIOUYaeiouyCcLlNnRrSsZz", "ÁÉÍÓÚÝáéíóúýĆćĹĺŃńŔŕŚśŹź"},
    {0x302, "AEIOUaeiouCcGgHhJjSsWwYy", "ÂÊÎÔÛâêîôûĈĉĜĝĤĥĴĵŜŝŴŵŶŷ"},
    {0x303, "ANOanoIiUu", "ÃÑÕãñõĨĩŨũ"},
    {0x304, "AaEeIiOoUu", "ĀāĒēĪīŌōŪū"},
    {0x306, "AaEeGgIiOoUu", "ĂăĔĕĞğĬĭŎŏŬŭ"},
    {0x307, "CcEeGgIZz", "ĊċĖėĠġİŻż"},
    {0x308, "AEIOUaeiouyY", "ÄËÏÖÜäëïöüÿŸ"},
    {0x30A, "AaUu", "ÅåŮů"},
    {0x30B, "OoUu", "ŐőŰű"},
    {0x30C, "CcDdEeLlNnRrSsTtZz", "ČčĎďĚěĽľŇňŘřŠšŤťŽž"},
    {0x327, "CcGgKkLlNnRrSsTt", "ÇçĢģĶķĻļŅņŖŗŞşŢţ"},
    {0x328, "AaEeIiUu", "ĄąĘęĮįŲų"},
};

const std::unordered_map<uint64_t, char32_t>& compositionTable() {
  static const std::unordered_map<uint64_t, char32_t> table = [] {
    std::unordered_map<uint64_t, char32_t> t;
    for (const auto& c : kCompositions) {
      const std::u32string composed = decodeUtf8(c.composed);
      const std::string bases = c.bases;
      for (std::size_t i = 0; i < bases.size() && i < composed.size(); ++i)
        t[(static_cast<uint64_t>(static_cast<unsigned char>(bases[i])) << 32) | c.mark] = composed[i];
    }
    return t;
  }();
  return table;
}

// ftfy's fix_latin_ligatures (NFKC of these characters).
const char* ligature(char32_t c) {
  switch (c) {
    case 0x132: return "IJ";
    case 0x133: return "ij";
    case 0x149: return "\xCA\xBCn";  // U+02BC n (then uncurled to 'n)
    case 0x1C4: return "D\xC5\xBD";  // DŽ
    case 0x1C5: return "D\xC5\xBE";  // Dž
    case 0x1C6: return "d\xC5\xBE";  // dž
    case 0x1C7: return "LJ";
    case 0x1C8: return "Lj";
    case 0x1C9: return "lj";
    case 0x1CA: return "NJ";
    case 0x1CB: return "Nj";
    case 0x1CC: return "nj";
    case 0xFB00: return "ff";
    case 0xFB01: return "fi";
    case 0xFB02: return "fl";
    case 0xFB03: return "ffi";
    case 0xFB04: return "ffl";
    case 0xFB05: return "st";
    case 0xFB06: return "st";
    default: return nullptr;
  }
}

// ftfy's fix_character_width for the full-width ASCII block and the ideographic space.
char32_t halfWidth(char32_t c) {
  if (c >= 0xFF01 && c <= 0xFF5E) return c - 0xFF01 + 0x21;
  if (c == 0x3000) return ' ';
  switch (c) {
    case 0xFF5F: return 0x2985;
    case 0xFF60: return 0x2986;
    case 0xFFE0: return 0xA2;
    case 0xFFE1: return 0xA3;
    case 0xFFE2: return 0xAC;
    case 0xFFE3: return 0xAF;
    case 0xFFE4: return 0xA6;
    case 0xFFE5: return 0xA5;
    case 0xFFE6: return 0x20A9;
    default: return c;
  }
}

char32_t lowerCodePoint(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  static const locale_t utf8 = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (!l) l = newlocale(LC_CTYPE_MASK, "C.utf8", static_cast<locale_t>(0));
    return l;
  }();
  if (utf8) return static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), utf8));
  // Without the locale: Latin-1 Supplement and Latin Extended-A only.
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x100 && c <= 0x137 && c % 2 == 0 && c != 0x130) return c + 1;
  if (c >= 0x139 && c <= 0x148 && c % 2 == 1) return c + 1;
  if (c >= 0x14A && c <= 0x177 && c % 2 == 0) return c + 1;
  if (c == 0x178) return 0xFF;
  if (c >= 0x179 && c <= 0x17E && c % 2 == 1) return c + 1;
  return c;
}

// ---- byte-level BPE ------------------------------------------------------------------------


// The pre-tokenizer of transformers' CLIPTokenizer (regex module, re.IGNORECASE).
constexpr const char* kPattern =
    R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+)";

}  // namespace

struct ClipTokenizer::Impl {
  std::unordered_map<std::string, int64_t> vocab;
  std::unordered_map<std::string, int> ranks;  // "a b" -> merge rank
  std::vector<std::string> byteChar = byteLevelChars();
  std::string bosToken = "<|startoftext|>", eosToken = "<|endoftext|>", padToken = "<|endoftext|>",
              unkToken = "<|endoftext|>";
  int64_t bos = -1, eos = -1, pad = -1, unk = -1;
  int maxLength = 77;
  pcre2_code* re = nullptr;

  ~Impl() {
    if (re) pcre2_code_free(re);
  }

  void compile() {
    int err = 0;
    PCRE2_SIZE offset = 0;
    re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                       PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &err, &offset, nullptr);
    if (!re) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw std::runtime_error(std::string("CLIP tokenizer regex: ") + reinterpret_cast<const char*>(msg));
    }
  }

  int64_t idOf(const std::string& token, const std::filesystem::path& source) const {
    auto it = vocab.find(token);
    if (it == vocab.end()) throw io::FormatError(source.string() + ": special token " + token + " is not in the vocabulary");
    return it->second;
  }

  void resolveSpecials(const std::filesystem::path& source) {
    bos = idOf(bosToken, source);
    eos = idOf(eosToken, source);
    pad = idOf(padToken, source);
    unk = idOf(unkToken, source);
  }

  // Regex words of already-cleaned text.
  std::vector<std::string> words(const std::string& text) const {
    std::vector<std::string> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
    if (!md) throw std::bad_alloc();
    PCRE2_SIZE pos = 0;
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    while (pos < text.size()) {
      const int rc = pcre2_match(re, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc < 0) break;  // PCRE2_ERROR_NOMATCH: only whitespace remains
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[1] == ov[0]) {  // cannot happen with this pattern; never loop forever
        ++pos;
        continue;
      }
      out.emplace_back(text, ov[0], ov[1] - ov[0]);
      pos = ov[1];
    }
    pcre2_match_data_free(md);
    return out;
  }

  // CLIPTokenizer.bpe(): merge the lowest-ranked adjacent pair (all its occurrences) until none.
  void bpe(const std::string& word, std::vector<std::string>& out) const {
    if (word == bosToken || word == eosToken) {
      out.push_back(word);
      return;
    }
    std::vector<std::string> sym;
    for (unsigned char b : word) sym.push_back(byteChar[b]);
    if (sym.empty()) return;
    sym.back() += "</w>";
    while (sym.size() > 1) {
      int best = std::numeric_limits<int>::max();
      std::size_t bestAt = 0;
      for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
        auto it = ranks.find(sym[i] + ' ' + sym[i + 1]);
        if (it != ranks.end() && it->second < best) best = it->second, bestAt = i;
      }
      if (best == std::numeric_limits<int>::max()) break;
      const std::string first = sym[bestAt], second = sym[bestAt + 1];
      std::vector<std::string> merged;
      merged.reserve(sym.size());
      for (std::size_t i = 0; i < sym.size();) {
        if (i + 1 < sym.size() && sym[i] == first && sym[i + 1] == second) {
          merged.push_back(first + second);
          i += 2;
        } else {
          merged.push_back(sym[i++]);
        }
      }
      sym.swap(merged);
    }
    out.insert(out.end(), sym.begin(), sym.end());
  }
};

ClipTokenizer::ClipTokenizer() : impl_(std::make_unique<Impl>()) {}
ClipTokenizer::~ClipTokenizer() = default;
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;

ClipTokenizer::ClipTokenizer(const std::filesystem::path& vocabJson, const std::filesystem::path& mergesTxt)
    : impl_(std::make_unique<Impl>()) {
  const auto vocab = io::readJsonFile(vocabJson);
  if (!vocab.is_object() || vocab.empty()) throw io::FormatError(vocabJson.string() + ": not a token -> id object");
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) throw io::FormatError(vocabJson.string() + ": id of " + it.key() + " is not an integer");
    impl_->vocab.emplace(it.key(), it.value().get<int64_t>());
  }

  io::requireRegularFile(mergesTxt, "CLIP merges file");
  std::ifstream in(mergesTxt, std::ios::binary);
  if (!in) throw io::FileError(mergesTxt.string() + ": cannot open");
  std::string line;
  std::size_t lineNo = 0;
  while (std::getline(in, line) && impl_->ranks.size() < kMaxMerges) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineNo == 1 && line.rfind("#version", 0) == 0) continue;
    if (line.empty()) continue;
    const auto space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size() || line.find(' ', space + 1) != std::string::npos)
      throw io::FormatError(mergesTxt.string() + ":" + std::to_string(lineNo) + ": not a merge \"a b\"");
    impl_->ranks.emplace(line, static_cast<int>(impl_->ranks.size()));
  }
  if (in.bad()) throw io::FileError(mergesTxt.string() + ": read error");
  if (impl_->ranks.empty()) throw io::FormatError(mergesTxt.string() + ": no merges");
  impl_->resolveSpecials(vocabJson);
  impl_->compile();
}

ClipTokenizer ClipTokenizer::load(const std::filesystem::path& dir) {
  ClipTokenizer t(dir / "vocab.json", dir / "merges.txt");
  const auto configPath = dir / "tokenizer_config.json";
  if (std::filesystem::exists(configPath)) {
    const auto j = io::readJsonFile(configPath);
    try {
      // Special tokens are either strings or AddedToken objects {"content": ...}.
      auto token = [&](const char* key, std::string& target) {
        if (!j.contains(key) || j[key].is_null()) return;
        const auto& v = j[key];
        target = v.is_object() ? v.at("content").get<std::string>() : v.get<std::string>();
      };
      token("bos_token", t.impl_->bosToken);
      token("eos_token", t.impl_->eosToken);
      token("pad_token", t.impl_->padToken);
      token("unk_token", t.impl_->unkToken);
      if (j.contains("model_max_length") && j["model_max_length"].is_number()) {
        const double m = j["model_max_length"].get<double>();
        if (m >= 2 && m <= 1e6) t.impl_->maxLength = static_cast<int>(m);  // huge = "unset" in transformers
      }
    } catch (const nlohmann::json::exception& e) {
      throw io::FormatError(configPath.string() + ": " + e.what());
    }
    t.impl_->resolveSpecials(configPath);
  }
  return t;
}

std::string ClipTokenizer::cleanText(const std::string& utf8) {
  std::u32string s = decodeUtf8(utf8);
  // ftfy.fix_text (the subset described in the header), in ftfy's order.
  if (s.find(U'<') == std::u32string::npos) s = unescapeHtml(s);
  {
    std::u32string t;
    t.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == 0x1B && i + 1 < s.size() && s[i + 1] == '[') {  // remove_terminal_escapes
        std::size_t j = i + 2;
        while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == ';')) ++j;
        if (j < s.size() && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) {
          i = j;
          continue;
        }
      }
      if (const char* lig = ligature(s[i])) {
        t += decodeUtf8(lig);
        continue;
      }
      char32_t c = halfWidth(s[i]);
      if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';  // uncurl_quotes
      else if (c >= 0x201C && c <= 0x201F) c = '"';
      if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';  // fix_line_breaks
      if (isFtfyControl(c)) continue;
      t.push_back(c);
    }
    s.swap(t);
  }
  {  // NFC (partial, see the header)
    const auto& table = compositionTable();
    std::u32string t;
    t.reserve(s.size());
    for (char32_t c : s) {
      if (!t.empty() && c >= 0x300 && c <= 0x36F && t.back() < 0x80) {
        auto it = table.find((static_cast<uint64_t>(t.back()) << 32) | c);
        if (it != table.end()) {
          t.back() = it->second;
          continue;
        }
      }
      t.push_back(c);
    }
    s.swap(t);
  }
  // whitespace_clean + strip, then lower().
  std::u32string t;
  t.reserve(s.size());
  bool pendingSpace = false;
  for (char32_t c : s) {
    if (isPySpace(c)) {
      pendingSpace = !t.empty();
      continue;
    }
    if (pendingSpace) t.push_back(' ');
    pendingSpace = false;
    t.push_back(lowerCodePoint(c));
  }
  return encodeUtf8(t);
}

std::vector<std::string> ClipTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (const auto& w : impl_->words(cleanText(text))) impl_->bpe(w, out);
  return out;
}

std::vector<int64_t> ClipTokenizer::encodeRaw(const std::string& text) const {
  std::vector<int64_t> ids;
  for (const auto& token : tokenize(text)) {
    auto it = impl_->vocab.find(token);
    ids.push_back(it == impl_->vocab.end() ? impl_->unk : it->second);
  }
  return ids;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text, int maxLength) const {
  if (maxLength <= 0) maxLength = impl_->maxLength;
  if (maxLength < 2) throw std::invalid_argument("CLIP tokenizer: maxLength must be at least 2");
  std::vector<int64_t> body = encodeRaw(text);
  const auto room = static_cast<std::size_t>(maxLength - 2);
  if (body.size() > room) body.resize(room);
  std::vector<int64_t> ids;
  ids.reserve(static_cast<std::size_t>(maxLength));
  ids.push_back(impl_->bos);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(impl_->eos);
  ids.resize(static_cast<std::size_t>(maxLength), impl_->pad);
  return ids;
}

int64_t ClipTokenizer::bosId() const { return impl_->bos; }
int64_t ClipTokenizer::eosId() const { return impl_->eos; }
int64_t ClipTokenizer::padId() const { return impl_->pad; }
int64_t ClipTokenizer::unkId() const { return impl_->unk; }
int ClipTokenizer::modelMaxLength() const { return impl_->maxLength; }
std::size_t ClipTokenizer::vocabSize() const { return impl_->vocab.size(); }
std::size_t ClipTokenizer::mergeCount() const { return impl_->ranks.size(); }
int64_t ClipTokenizer::tokenId(const std::string& token) const {
  auto it = impl_->vocab.find(token);
  return it == impl_->vocab.end() ? -1 : it->second;
}

}  // namespace caig
