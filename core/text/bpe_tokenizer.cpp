#include "core/text/bpe_tokenizer.h"

#include "core/text/byte_level.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <stdexcept>
#include <unordered_map>

#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace caig {
namespace {

constexpr std::int64_t kMaxId = 1 << 24;  // Qwen2 has 151k ids; refuse absurd ones early
// GPT-2's pre-tokenizer: ByteLevel(use_regex = true).
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char kSep = '\xFF';  // never inside UTF-8 text: joins the two halves of a merge key

// ---- UTF-8 -----------------------------------------------------------------------------------


// The bytes as UTF-8, each maximal invalid subpart replaced by U+FFFD (Rust's from_utf8_lossy,
// Python's errors="replace"): what the byte-level decoder does with broken byte sequences.
std::string lossyUtf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    int len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the valid range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    std::size_t k = 1;
    if (len > 0) {
      for (; k < static_cast<std::size_t>(len) && i + k < n; ++k) {
        const unsigned char lower = k == 1 ? lo : 0x80, upper = k == 1 ? hi : 0xBF;
        if (p[i + k] < lower || p[i + k] > upper) break;
      }
    }
    if (len > 0 && k == static_cast<std::size_t>(len)) {
      out.append(s, i, k);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += k;
  }
  return out;
}

std::size_t utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

// GPT-2's bytes_to_unicode() (core/text/byte_level.h) and its inverse.
struct ByteMap {
  std::vector<std::string> toChar;
  std::unordered_map<std::string, unsigned char> toByte;
  ByteMap() : toChar(byteLevelChars()) {
    for (int b = 0; b < 256; ++b) toByte.emplace(toChar[static_cast<std::size_t>(b)], static_cast<unsigned char>(b));
  }
};
const ByteMap& byteMap() {
  static const ByteMap map;
  return map;
}

bool isAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool isWordByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) != 0 || c == '_';
}

// ---- regex -----------------------------------------------------------------------------------

struct Regex {
  pcre2_code* code = nullptr;
  Regex(const std::string& pattern, bool literal, const std::string& where) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                         PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0u), &err, &offset, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw io::FormatError(where + ": regex /" + pattern + "/ does not compile at offset " + std::to_string(offset) +
                            ": " + reinterpret_cast<const char*>(msg));
    }
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() { pcre2_code_free(code); }

  // [begin, end) of every match, left to right.
  std::vector<std::pair<std::size_t, std::size_t>> matches(const std::string& text) const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
    if (!md) throw std::bad_alloc();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    PCRE2_SIZE pos = 0;
    while (pos <= text.size()) {
      const int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        pcre2_match_data_free(md);
        throw std::runtime_error("BPE tokenizer: regex match failed (PCRE2 error " + std::to_string(rc) + ")");
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[1] == ov[0]) {  // empty match: step one character, never loop forever
        if (ov[0] >= text.size()) break;
        pos = ov[0] + utf8Length(static_cast<unsigned char>(text[ov[0]]));
        continue;
      }
      out.emplace_back(ov[0], ov[1]);
      pos = ov[1];
    }
    pcre2_match_data_free(md);
    return out;
  }
};

// ---- pipeline parts --------------------------------------------------------------------------

enum class Normalization { NFC, NFD, NFKC, NFKD };

struct PreTokenizer {
  enum class Kind { Split, ByteLevel } kind = Kind::Split;
  std::shared_ptr<const Regex> regex;  // Split's pattern, or ByteLevel's GPT-2 pattern (use_regex)
  bool removeMatches = false;          // Split behaviour "Removed" (otherwise "Isolated")
  bool addPrefixSpace = false;         // ByteLevel
};

struct Added {
  AddedToken token;
  bool lstrip = false, rstrip = false, singleWord = false, normalized = false;
};

struct Segment {
  std::string text;
  std::int64_t id = -1;  // an added token's id, or -1 for text still to be tokenized
};

std::string tokenText(const json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  throw io::FormatError("expected a token string or {\"content\": ...}");
}

}  // namespace

struct BpeTokenizer::Impl {
  fs::path file;
  std::unordered_map<std::string, std::int64_t> vocab;
  std::vector<std::string> pieces;  // id -> vocabulary string ("" for holes)
  std::vector<bool> hasPiece;
  std::unordered_map<std::string, int> ranks;  // a kSep b -> merge rank
  bool ignoreMerges = false;
  std::int64_t unk = -1, bos = -1, eos = -1, pad = -1;
  bool addBos = false;
  std::int64_t pieceCount = 0, vocabSize = 0;
  std::vector<Added> added;
  std::vector<AddedToken> addedPublic;
  std::unordered_map<std::int64_t, std::size_t> addedById;
  std::unordered_map<std::string, std::int64_t> addedByContent;
  std::vector<Normalization> normalizers;
  std::vector<PreTokenizer> preTokenizers;
  bool byteLevelDecoder = false;
  std::string chatTemplate;

  // ---- encode --------------------------------------------------------------------------------

  // Added tokens of one kind (normalized or not) split out of the text segments, leftmost-longest.
  void splitAdded(std::vector<Segment>& segments, bool normalizedPass) const {
    std::vector<Segment> out;
    for (auto& seg : segments) {
      if (seg.id >= 0) {
        out.push_back(std::move(seg));
        continue;
      }
      const std::string& s = seg.text;
      std::size_t plainStart = 0, pos = 0;
      while (pos < s.size()) {
        const Added* best = nullptr;
        for (const auto& a : added) {
          if (a.normalized != normalizedPass || a.token.content.empty()) continue;
          if (best && a.token.content.size() <= best->token.content.size()) continue;
          if (s.compare(pos, a.token.content.size(), a.token.content) != 0) continue;
          const std::size_t end = pos + a.token.content.size();
          if (a.singleWord && ((pos > 0 && isWordByte(s[pos - 1])) || (end < s.size() && isWordByte(s[end])))) continue;
          best = &a;
        }
        if (!best) {
          pos += utf8Length(static_cast<unsigned char>(s[pos]));
          continue;
        }
        std::size_t begin = pos, end = pos + best->token.content.size();
        if (best->lstrip) {
          while (begin > plainStart && isAsciiSpace(s[begin - 1])) --begin;
        }
        if (best->rstrip) {
          while (end < s.size() && isAsciiSpace(s[end])) ++end;
        }
        if (begin > plainStart) out.push_back({s.substr(plainStart, begin - plainStart), -1});
        out.push_back({best->token.content, best->token.id});
        plainStart = pos = end;
      }
      if (plainStart < s.size()) out.push_back({s.substr(plainStart), -1});
    }
    segments.swap(out);
  }

  std::string normalize(const std::string& text) const {
    std::string s = text;
    for (const auto form : normalizers) {
      UErrorCode status = U_ZERO_ERROR;
      const UNormalizer2* norm = form == Normalization::NFC    ? unorm2_getNFCInstance(&status)
                                 : form == Normalization::NFD  ? unorm2_getNFDInstance(&status)
                                 : form == Normalization::NFKC ? unorm2_getNFKCInstance(&status)
                                                               : unorm2_getNFKDInstance(&status);
      if (U_FAILURE(status)) throw std::runtime_error(std::string("BPE tokenizer: ICU normaliser: ") + u_errorName(status));
      auto check = [](UErrorCode st) {
        if (U_FAILURE(st) && st != U_BUFFER_OVERFLOW_ERROR)
          throw std::runtime_error(std::string("BPE tokenizer: ICU: ") + u_errorName(st));
      };
      int32_t len16 = 0;
      u_strFromUTF8WithSub(nullptr, 0, &len16, s.data(), static_cast<int32_t>(s.size()), 0xFFFD, nullptr, &status);
      check(status);
      status = U_ZERO_ERROR;
      std::u16string src(static_cast<std::size_t>(len16), u'\0');
      u_strFromUTF8WithSub(reinterpret_cast<UChar*>(src.data()), len16, nullptr, s.data(), static_cast<int32_t>(s.size()),
                           0xFFFD, nullptr, &status);
      check(status);
      status = U_ZERO_ERROR;
      const int32_t lenN = unorm2_normalize(norm, reinterpret_cast<const UChar*>(src.data()), len16, nullptr, 0, &status);
      check(status);
      status = U_ZERO_ERROR;
      std::u16string dst(static_cast<std::size_t>(lenN), u'\0');
      unorm2_normalize(norm, reinterpret_cast<const UChar*>(src.data()), len16, reinterpret_cast<UChar*>(dst.data()),
                       lenN, &status);
      check(status);
      status = U_ZERO_ERROR;
      int32_t len8 = 0;
      u_strToUTF8(nullptr, 0, &len8, reinterpret_cast<const UChar*>(dst.data()), lenN, &status);
      check(status);
      status = U_ZERO_ERROR;
      std::string out(static_cast<std::size_t>(len8), '\0');
      u_strToUTF8(out.data(), len8, nullptr, reinterpret_cast<const UChar*>(dst.data()), lenN, &status);
      check(status);
      s.swap(out);
    }
    return s;
  }

  std::vector<std::string> preTokenize(const std::string& text) const {
    std::vector<std::string> parts{text};
    for (const auto& step : preTokenizers) {
      std::vector<std::string> next;
      for (const auto& part : parts) {
        std::vector<std::string> split;
        if (step.regex) {
          std::size_t last = 0;
          for (const auto& [b, e] : step.regex->matches(part)) {
            if (b > last) split.push_back(part.substr(last, b - last));
            if (!step.removeMatches) split.push_back(part.substr(b, e - b));
            last = e;
          }
          if (last < part.size()) split.push_back(part.substr(last));
        } else {
          split.push_back(part);
        }
        for (auto& piece : split) {
          if (piece.empty()) continue;
          if (step.kind == PreTokenizer::Kind::ByteLevel) {
            std::string mapped;
            if (step.addPrefixSpace && piece[0] != ' ') mapped = byteMap().toChar[' '];
            for (unsigned char b : piece) mapped += byteMap().toChar[b];
            next.push_back(std::move(mapped));
          } else {
            next.push_back(std::move(piece));
          }
        }
      }
      parts.swap(next);
    }
    return parts;
  }

  // The BPE model on one pre-token: merge the lowest-ranked adjacent pair until none is left.
  void bpe(const std::string& word, std::vector<std::int64_t>* ids, std::vector<std::string>* tokens) const {
    auto emit = [&](const std::string& sym) {
      auto it = vocab.find(sym);
      if (it != vocab.end()) {
        if (ids) ids->push_back(it->second);
        if (tokens) tokens->push_back(sym);
      } else if (unk >= 0) {  // otherwise dropped, as tokenizers does without an unk token
        if (ids) ids->push_back(unk);
        if (tokens) tokens->push_back(pieces[static_cast<std::size_t>(unk)]);
      }
    };
    if (ignoreMerges && vocab.count(word)) {
      emit(word);
      return;
    }
    std::vector<std::string> sym;
    for (std::size_t i = 0; i < word.size();) {
      const std::size_t len = std::min(utf8Length(static_cast<unsigned char>(word[i])), word.size() - i);
      sym.push_back(word.substr(i, len));
      i += len;
    }
    std::string key;
    while (sym.size() > 1) {
      int best = std::numeric_limits<int>::max();
      for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
        key.assign(sym[i]).push_back(kSep);
        key += sym[i + 1];
        auto it = ranks.find(key);
        if (it != ranks.end() && it->second < best) best = it->second;
      }
      if (best == std::numeric_limits<int>::max()) break;
      std::vector<std::string> merged;
      merged.reserve(sym.size());
      for (std::size_t i = 0; i < sym.size();) {
        if (i + 1 < sym.size()) {
          key.assign(sym[i]).push_back(kSep);
          key += sym[i + 1];
          auto it = ranks.find(key);
          if (it != ranks.end() && it->second == best) {
            merged.push_back(sym[i] + sym[i + 1]);
            i += 2;
            continue;
          }
        }
        merged.push_back(sym[i++]);
      }
      sym.swap(merged);
    }
    for (const auto& s : sym) emit(s);
  }

  void run(const std::string& text, std::vector<std::int64_t>* ids, std::vector<std::string>* tokens) const {
    std::vector<Segment> segments{{lossyUtf8(text), -1}};
    splitAdded(segments, false);
    for (auto& seg : segments) {
      if (seg.id < 0) seg.text = normalize(seg.text);
    }
    splitAdded(segments, true);
    for (const auto& seg : segments) {
      if (seg.id >= 0) {
        if (ids) ids->push_back(seg.id);
        if (tokens) tokens->push_back(seg.text);
        continue;
      }
      for (const auto& word : preTokenize(seg.text)) bpe(word, ids, tokens);
    }
  }

  // ---- load ----------------------------------------------------------------------------------

  [[noreturn]] void fail(const std::string& what) const { throw io::FormatError(file.string() + ": " + what); }

  void readModel(const json& j) {
    if (!j.contains("model") || !j["model"].is_object()) fail("no \"model\" object (not a tokenizers tokenizer.json?)");
    const json& m = j["model"];
    const std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>()
                             : m.contains("merges")                     ? "BPE"
                                                                        : "";
    if (type != "BPE") fail("model.type \"" + type + "\" is not supported (only BPE; SentencePiece models load from tokenizer.model)");
    if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() != 0.0) fail("model.dropout is not supported");
    if (m.value("byte_fallback", false)) fail("model.byte_fallback is not supported (SentencePiece-style BPE: use tokenizer.model)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (m.contains(key) && !m[key].is_null() && !m[key].get<std::string>().empty())
        fail(std::string("model.") + key + " is not supported");
    }
    ignoreMerges = m.value("ignore_merges", false);
    if (!m.contains("vocab") || !m["vocab"].is_object() || m["vocab"].empty()) fail("model.vocab must be a non-empty token -> id object");
    for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
      if (!it.value().is_number_integer()) fail("model.vocab: id of \"" + it.key() + "\" is not an integer");
      const auto id = it.value().get<std::int64_t>();
      if (id < 0 || id >= kMaxId) fail("model.vocab: id " + std::to_string(id) + " of \"" + it.key() + "\" is out of range");
      if (static_cast<std::size_t>(id) >= pieces.size()) {
        pieces.resize(static_cast<std::size_t>(id) + 1);
        hasPiece.resize(static_cast<std::size_t>(id) + 1, false);
      }
      if (hasPiece[static_cast<std::size_t>(id)]) fail("model.vocab: id " + std::to_string(id) + " is used twice");
      pieces[static_cast<std::size_t>(id)] = it.key();
      hasPiece[static_cast<std::size_t>(id)] = true;
      vocab.emplace(it.key(), id);
    }
    pieceCount = static_cast<std::int64_t>(pieces.size());
    if (!m.contains("merges") || !m["merges"].is_array()) fail("model.merges must be an array");
    const json& merges = m["merges"];
    for (std::size_t i = 0; i < merges.size(); ++i) {
      const json& v = merges[i];
      std::string a, b;
      const std::string where = "model.merges[" + std::to_string(i) + "]";
      if (v.is_string()) {  // "a b" (tokenizers before 0.20)
        const std::string s = v.get<std::string>();
        const auto space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
          fail(where + " \"" + s + "\" is not a merge \"a b\"");
        a = s.substr(0, space);
        b = s.substr(space + 1);
      } else if (v.is_array() && v.size() == 2 && v[0].is_string() && v[1].is_string()) {  // ["a", "b"]
        a = v[0].get<std::string>();
        b = v[1].get<std::string>();
      } else {
        fail(where + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
      if (a.empty() || b.empty()) fail(where + " has an empty half");
      for (const std::string* t : {&a, &b}) {
        if (!vocab.count(*t)) fail(where + ": \"" + *t + "\" is not in the vocabulary");
      }
      if (!vocab.count(a + b)) fail(where + ": the merged \"" + a + b + "\" is not in the vocabulary");
      ranks.emplace(a + kSep + b, static_cast<int>(i));  // a repeated merge keeps its first rank
    }
    if (m.contains("unk_token") && !m["unk_token"].is_null()) {
      const std::string u = m["unk_token"].get<std::string>();
      auto it = vocab.find(u);
      if (it == vocab.end()) fail("model.unk_token \"" + u + "\" is not in the vocabulary");
      unk = it->second;
    }
  }

  void readAddedTokens(const json& j) {
    if (!j.contains("added_tokens") || j["added_tokens"].is_null()) return;
    if (!j["added_tokens"].is_array()) fail("added_tokens must be an array");
    for (std::size_t i = 0; i < j["added_tokens"].size(); ++i) {
      const json& t = j["added_tokens"][i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
          !t["content"].is_string())
        fail(where + " needs an integer \"id\" and a string \"content\"");
      Added a;
      a.token.id = t["id"].get<std::int64_t>();
      a.token.content = t["content"].get<std::string>();
      a.token.special = t.value("special", false);
      a.lstrip = t.value("lstrip", false);
      a.rstrip = t.value("rstrip", false);
      a.singleWord = t.value("single_word", false);
      a.normalized = t.value("normalized", !a.token.special);
      if (a.token.id < 0 || a.token.id >= kMaxId) fail(where + ": id " + std::to_string(a.token.id) + " is out of range");
      if (a.token.content.empty()) fail(where + " has empty content");
      // An added token may repeat a vocabulary entry with the same id (as <|endoftext|> in GPT-2).
      if (auto v = vocab.find(a.token.content); v != vocab.end() && v->second != a.token.id)
        fail(where + " \"" + a.token.content + "\" = " + std::to_string(a.token.id) + " but the vocabulary has it as " +
             std::to_string(v->second));
      if (a.token.id < pieceCount && hasPiece[static_cast<std::size_t>(a.token.id)] &&
          pieces[static_cast<std::size_t>(a.token.id)] != a.token.content)
        fail(where + " \"" + a.token.content + "\" takes id " + std::to_string(a.token.id) + " of vocabulary token \"" +
             pieces[static_cast<std::size_t>(a.token.id)] + "\"");
      if (addedById.count(a.token.id) || addedByContent.count(a.token.content))
        fail(where + " \"" + a.token.content + "\" repeats an earlier added token");
      addedById.emplace(a.token.id, added.size());
      addedByContent.emplace(a.token.content, a.token.id);
      addedPublic.push_back(a.token);
      added.push_back(std::move(a));
    }
  }

  void readNormalizer(const json& n, const std::string& where) {
    if (n.is_null()) return;
    const std::string type = n.value("type", std::string());
    if (type == "Sequence") {
      if (!n.contains("normalizers") || !n["normalizers"].is_array()) fail(where + ".normalizers must be an array");
      for (std::size_t i = 0; i < n["normalizers"].size(); ++i)
        readNormalizer(n["normalizers"][i], where + ".normalizers[" + std::to_string(i) + "]");
    } else if (type == "NFC") {
      normalizers.push_back(Normalization::NFC);
    } else if (type == "NFD") {
      normalizers.push_back(Normalization::NFD);
    } else if (type == "NFKC") {
      normalizers.push_back(Normalization::NFKC);
    } else if (type == "NFKD") {
      normalizers.push_back(Normalization::NFKD);
    } else {
      fail(where + " type \"" + type + "\" is not supported (NFC, NFD, NFKC, NFKD, Sequence)");
    }
  }

  void readPreTokenizer(const json& p, const std::string& where) {
    if (p.is_null()) return;
    const std::string type = p.value("type", std::string());
    if (type == "Sequence") {
      if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) fail(where + ".pretokenizers must be an array");
      for (std::size_t i = 0; i < p["pretokenizers"].size(); ++i)
        readPreTokenizer(p["pretokenizers"][i], where + ".pretokenizers[" + std::to_string(i) + "]");
    } else if (type == "Split") {
      PreTokenizer step;
      const json pattern = p.value("pattern", json());
      if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
        step.regex = std::make_shared<const Regex>(pattern["Regex"].get<std::string>(), false, file.string() + ": " + where);
      } else if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
        step.regex = std::make_shared<const Regex>(pattern["String"].get<std::string>(), true, file.string() + ": " + where);
      } else {
        fail(where + ".pattern must be {\"Regex\": ...} or {\"String\": ...}");
      }
      const std::string behavior = p.value("behavior", std::string());
      if (behavior == "Removed") step.removeMatches = true;
      else if (behavior != "Isolated") fail(where + ".behavior \"" + behavior + "\" is not supported (Isolated, Removed)");
      if (p.value("invert", false)) fail(where + ".invert is not supported");
      preTokenizers.push_back(std::move(step));
    } else if (type == "ByteLevel") {
      PreTokenizer step;
      step.kind = PreTokenizer::Kind::ByteLevel;
      step.addPrefixSpace = p.value("add_prefix_space", true);
      if (p.value("use_regex", true)) step.regex = std::make_shared<const Regex>(kGpt2Pattern, false, "GPT-2 pattern");
      preTokenizers.push_back(std::move(step));
    } else {
      fail(where + " type \"" + type + "\" is not supported (Split, ByteLevel, Sequence)");
    }
  }

  void readDecoder(const json& d) {
    if (d.is_null()) return;
    const std::string type = d.value("type", std::string());
    if (type != "ByteLevel") fail("decoder type \"" + type + "\" is not supported (ByteLevel)");
    byteLevelDecoder = true;
  }

  std::int64_t specialId(const std::string& token, const fs::path& source, const char* key) const {
    if (token.empty()) return -1;
    if (auto it = addedByContent.find(token); it != addedByContent.end()) return it->second;
    if (auto it = vocab.find(token); it != vocab.end()) return it->second;
    throw io::FormatError(source.string() + ": " + key + " \"" + token + "\" is neither an added token nor in the vocabulary");
  }

  void readPostProcessorBos(const json& j) {
    const json p = j.value("post_processor", json());
    if (!p.is_object() || p.value("type", std::string()) != "TemplateProcessing") return;
    const json single = p.value("single", json());
    if (!single.is_array() || single.empty() || !single[0].is_object() || !single[0].contains("SpecialToken")) return;
    const std::string token = single[0]["SpecialToken"].value("id", std::string());
    bos = specialId(token, file, "post_processor.single[0]");
    addBos = true;
  }

  void readConfig(const fs::path& configFile) {
    if (!fs::exists(configFile)) {
      if (auto it = addedByContent.find("<|endoftext|>"); it != addedByContent.end()) eos = it->second;
      return;
    }
    const json c = io::readJsonFile(configFile);
    if (!c.is_object()) throw io::FormatError(configFile.string() + ": expected a JSON object");
    auto token = [&](const char* key) {
      try {
        return c.contains(key) ? tokenText(c[key]) : std::string();
      } catch (const io::FormatError& e) {
        throw io::FormatError(configFile.string() + ": " + key + ": " + e.what());
      }
    };
    if (c.contains("bos_token")) bos = specialId(token("bos_token"), configFile, "bos_token");
    if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean()) addBos = c["add_bos_token"].get<bool>();
    if (bos < 0) addBos = false;
    eos = specialId(token("eos_token"), configFile, "eos_token");
    pad = specialId(token("pad_token"), configFile, "pad_token");
    if (c.contains("unk_token") && !c["unk_token"].is_null() && unk < 0) unk = specialId(token("unk_token"), configFile, "unk_token");
    if (c.contains("chat_template")) {
      const json& t = c["chat_template"];
      if (t.is_string()) {
        chatTemplate = t.get<std::string>();
      } else if (t.is_array()) {  // [{"name": "default", "template": ...}, ...]
        for (const auto& e : t) {
          if (e.is_object() && e.value("name", std::string()) == "default") chatTemplate = e.value("template", std::string());
        }
      }
    }
  }
};

BpeTokenizer::BpeTokenizer() : impl_(std::make_unique<Impl>()) {}
BpeTokenizer::~BpeTokenizer() = default;
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;

BpeTokenizer BpeTokenizer::load(const fs::path& dirOrJsonFile) {
  BpeTokenizer t;
  auto& impl = *t.impl_;
  std::error_code ec;
  impl.file = fs::is_directory(dirOrJsonFile, ec) ? dirOrJsonFile / "tokenizer.json" : dirOrJsonFile;
  if (!fs::exists(impl.file, ec)) throw io::FileError("BPE tokenizer: no file " + impl.file.string());
  const json j = io::readJsonFile(impl.file);
  if (!j.is_object()) impl.fail("expected a JSON object");
  try {
    impl.readModel(j);
    impl.readAddedTokens(j);
    impl.readNormalizer(j.value("normalizer", json()), "normalizer");
    impl.readPreTokenizer(j.value("pre_tokenizer", json()), "pre_tokenizer");
    impl.readDecoder(j.value("decoder", json()));
    impl.readPostProcessorBos(j);
  } catch (const json::exception& e) {
    impl.fail(std::string("unexpected value: ") + e.what());
  }
  impl.vocabSize = impl.pieceCount;
  for (const auto& a : impl.added) impl.vocabSize = std::max(impl.vocabSize, a.token.id + 1);
  try {
    impl.readConfig(impl.file.parent_path() / "tokenizer_config.json");
  } catch (const json::exception& e) {
    throw io::FormatError((impl.file.parent_path() / "tokenizer_config.json").string() + ": " + e.what());
  }
  return t;
}

std::vector<std::int64_t> BpeTokenizer::encode(const std::string& text, bool addBos) const {
  std::vector<std::int64_t> ids;
  if (addBos && impl_->bos >= 0) ids.push_back(impl_->bos);
  impl_->run(text, &ids, nullptr);
  return ids;
}

std::vector<std::string> BpeTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> tokens;
  impl_->run(text, nullptr, &tokens);
  return tokens;
}

std::string BpeTokenizer::decode(const std::vector<std::int64_t>& ids, bool skipSpecial) const {
  const auto& impl = *impl_;
  const auto& bytes = byteMap().toByte;
  std::string raw;
  for (const auto id : ids) {
    std::string token;
    if (auto it = impl.addedById.find(id); it != impl.addedById.end()) {
      if (skipSpecial && impl.added[it->second].token.special) continue;
      token = impl.added[it->second].token.content;
    } else if (id >= 0 && id < impl.pieceCount && impl.hasPiece[static_cast<std::size_t>(id)]) {
      token = impl.pieces[static_cast<std::size_t>(id)];
    } else {
      continue;  // an id past the tokenizer's vocabulary has no text
    }
    if (!impl.byteLevelDecoder) {
      raw += token;
      continue;
    }
    // Byte characters back to bytes; a token with any other character stays as it is (tokenizers).
    std::string out;
    bool allBytes = true;
    for (std::size_t i = 0; i < token.size() && allBytes;) {
      const std::size_t len = std::min(utf8Length(static_cast<unsigned char>(token[i])), token.size() - i);
      auto b = bytes.find(token.substr(i, len));
      if (b == bytes.end()) allBytes = false;
      else out.push_back(static_cast<char>(b->second));
      i += len;
    }
    raw += allBytes ? out : token;
  }
  return lossyUtf8(raw);
}

std::int64_t BpeTokenizer::bosId() const { return impl_->bos; }
std::int64_t BpeTokenizer::eosId() const { return impl_->eos; }
std::int64_t BpeTokenizer::unkId() const { return impl_->unk; }
std::int64_t BpeTokenizer::padId() const { return impl_->pad; }
std::int64_t BpeTokenizer::pieceCount() const { return impl_->pieceCount; }
std::int64_t BpeTokenizer::vocabSize() const { return impl_->vocabSize; }
std::size_t BpeTokenizer::mergeCount() const { return impl_->ranks.size(); }
const std::string& BpeTokenizer::chatTemplate() const { return impl_->chatTemplate; }
const std::vector<AddedToken>& BpeTokenizer::addedTokens() const { return impl_->addedPublic; }
bool BpeTokenizer::addBosByDefault() const { return impl_->addBos; }
const fs::path& BpeTokenizer::modelFile() const { return impl_->file; }

std::optional<std::int64_t> BpeTokenizer::tokenId(const std::string& token) const {
  if (auto it = impl_->addedByContent.find(token); it != impl_->addedByContent.end()) return it->second;
  if (auto it = impl_->vocab.find(token); it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

std::string BpeTokenizer::idToToken(std::int64_t id) const {
  if (auto it = impl_->addedById.find(id); it != impl_->addedById.end()) return impl_->added[it->second].token.content;
  if (id >= 0 && id < impl_->pieceCount && impl_->hasPiece[static_cast<std::size_t>(id)])
    return impl_->pieces[static_cast<std::size_t>(id)];
  throw std::out_of_range("BPE tokenizer: no token has id " + std::to_string(id));
}

bool BpeTokenizer::isSpecial(std::int64_t id) const {
  auto it = impl_->addedById.find(id);
  return it != impl_->addedById.end() && impl_->added[it->second].token.special;
}

}  // namespace caig
