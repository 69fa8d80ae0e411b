#include "core/text/sentencepiece_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace fs = std::filesystem;

namespace caig {

namespace {

constexpr std::uintmax_t kMaxModelBytes = 64u << 20;  // LLaMA's is 0.5 MB; refuse absurd files early

// ---- The SentencePiece model, read and run natively ----------------------------------------
// Debian's libsentencepiece carries its own copy of protobuf-lite with exported symbols, which
// collide with LibTorch's libprotobuf in one process (a crash while libraries initialise), so the
// studio reads the model file itself: a few protobuf fields, then SentencePiece's BPE exactly as
// bpe_model.cc runs it, byte fallback as sentencepiece_processor.cc, and the identity normaliser
// (LLaMA's). tests/core/test_sentencepiece.cpp checks ids and text against libsentencepiece.

// Reads the protobuf wire format: varints, fixed32, length-delimited fields.
class ProtoReader {
 public:
  ProtoReader(const char* data, std::size_t size) : p_(reinterpret_cast<const unsigned char*>(data)), end_(p_ + size) {}
  bool done() const { return p_ >= end_; }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) throw std::runtime_error("truncated varint");
      const unsigned char b = *p_++;
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::runtime_error("varint longer than 10 bytes");
  }
  float fixed32() {
    if (end_ - p_ < 4) throw std::runtime_error("truncated fixed32");
    std::uint32_t bits = static_cast<std::uint32_t>(p_[0]) | static_cast<std::uint32_t>(p_[1]) << 8 |
                         static_cast<std::uint32_t>(p_[2]) << 16 | static_cast<std::uint32_t>(p_[3]) << 24;
    p_ += 4;
    float f = 0;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  std::string_view bytes() {
    const std::uint64_t n = varint();
    if (n > static_cast<std::uint64_t>(end_ - p_)) throw std::runtime_error("truncated length-delimited field");
    const std::string_view v(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
    p_ += n;
    return v;
  }
  void skip(int wireType) {
    switch (wireType) {
      case 0: (void)varint(); break;
      case 1:
        if (end_ - p_ < 8) throw std::runtime_error("truncated fixed64");
        p_ += 8;
        break;
      case 2: (void)bytes(); break;
      case 5: (void)fixed32(); break;
      default: throw std::runtime_error("unsupported wire type " + std::to_string(wireType));
    }
  }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
};

enum class PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

const char kSpaceSymbol[] = "\xE2\x96\x81";  // U+2581, SentencePiece's escaped space

// Length of the UTF-8 character at `s` (1 for an invalid lead byte), and whether it is valid.
std::size_t utf8Length(std::string_view s, bool* valid) {
  const auto c = static_cast<unsigned char>(s[0]);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  bool ok = n > 0 && n <= s.size();
  for (std::size_t i = 1; ok && i < n; ++i) ok = (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80;
  if (ok && n > 1) {  // reject overlong forms, surrogates and code points past U+10FFFF
    std::uint32_t cp = c & (0xFF >> (n + 1));
    for (std::size_t i = 1; i < n; ++i) cp = cp << 6 | (static_cast<unsigned char>(s[i]) & 0x3F);
    ok = !(cp < 0x80 || (n > 2 && cp < 0x800) || (n > 3 && cp < 0x10000) || cp > 0x10FFFF ||
           (cp >= 0xD800 && cp <= 0xDFFF));
  }
  if (valid) *valid = ok;
  return ok ? n : 1;
}

int pieceToByte(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

class SpmModel {
 public:
  void parse(std::string_view bytes) {
    ProtoReader r(bytes.data(), bytes.size());
    while (!r.done()) {
      const std::uint64_t tag = r.varint();
      const int field = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
      if (field == 1 && wire == 2) {
        parsePiece(r.bytes());
      } else if (field == 2 && wire == 2) {
        parseTrainerSpec(r.bytes());
      } else if (field == 3 && wire == 2) {
        parseNormalizerSpec(r.bytes());
      } else {
        r.skip(wire);
      }
    }
    if (pieces_.empty()) throw std::runtime_error("no pieces");
    if (modelType_ != 2) {
      throw std::runtime_error(std::string("model type ") +
                               (modelType_ == 1 ? "unigram" : modelType_ == 3 ? "word" : modelType_ == 4 ? "char" : "?") +
                               " is not supported (LLaMA-family tokenizers are BPE)");
    }
    if (!charsMap_.empty()) {
      throw std::runtime_error("normalisation rule '" + normalizerName_ +
                               "' is not supported (LLaMA-family tokenizers use 'identity')");
    }
    if (whitespaceAsSuffix_) throw std::runtime_error("treat_whitespace_as_suffix is not supported");
    std::array<bool, 256> byteFound{};
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
      const auto& p = pieces_[i];
      if (p.text.empty()) throw std::runtime_error("piece " + std::to_string(i) + " is empty");
      const bool normal = p.type == PieceType::Normal || p.type == PieceType::UserDefined || p.type == PieceType::Unused;
      auto& map = normal ? normal_ : reserved_;
      if (!map.emplace(p.text, static_cast<int>(i)).second) {
        throw std::runtime_error("piece '" + p.text + "' is defined twice");
      }
      if (p.type == PieceType::UserDefined) userDefined_.push_back(p.text);
      if (p.type == PieceType::Unknown) {
        if (unk_ >= 0) throw std::runtime_error("two unknown pieces");
        unk_ = static_cast<int>(i);
      }
      if (p.type == PieceType::Byte) {
        const int b = pieceToByte(p.text);
        if (b < 0 || !byteFallback_) throw std::runtime_error("unexpected byte piece '" + p.text + "'");
        byteFound[static_cast<std::size_t>(b)] = true;
        byteIds_[static_cast<std::size_t>(b)] = static_cast<int>(i);
      }
    }
    if (unk_ < 0) throw std::runtime_error("no unknown piece");
    if (byteFallback_ && std::find(byteFound.begin(), byteFound.end(), false) != byteFound.end()) {
      throw std::runtime_error("byte_fallback without all 256 byte pieces");
    }
    // Longest user-defined symbols first, for the prefix match.
    std::sort(userDefined_.begin(), userDefined_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }

  int GetPieceSize() const { return static_cast<int>(pieces_.size()); }
  const std::string& IdToPiece(int id) const { return pieces_.at(static_cast<std::size_t>(id)).text; }
  bool IsControl(int id) const { return type(id) == PieceType::Control; }
  bool IsUnknown(int id) const { return type(id) == PieceType::Unknown; }
  bool IsByte(int id) const { return type(id) == PieceType::Byte; }
  int PieceToId(std::string_view piece) const {
    if (auto it = reserved_.find(std::string(piece)); it != reserved_.end()) return it->second;
    if (auto it = normal_.find(std::string(piece)); it != normal_.end()) return it->second;
    return unk_;
  }
  int unk_id() const { return unk_; }
  int bos_id() const { return controlId(bosId_, "<s>"); }
  int eos_id() const { return controlId(eosId_, "</s>"); }
  int pad_id() const { return controlId(padId_, "<pad>"); }

  // SentencePieceProcessor::Encode: normalise, BPE, byte fallback for unknown pieces.
  std::vector<std::pair<std::string, int>> encode(std::string_view text) const {
    const std::string normalized = normalize(text);
    std::vector<std::pair<std::string, int>> out;
    for (const auto& [piece, id] : bpe(normalized)) {
      if (id == unk_ && byteFallback_) {
        for (const char b : piece) {
          const int bid = byteIds_[static_cast<unsigned char>(b)];
          out.emplace_back(IdToPiece(bid), bid);
        }
      } else if (id == unk_ && !out.empty() && out.back().second == unk_) {
        out.back().first += piece;  // runs of unknown pieces are one <unk>
      } else {
        out.emplace_back(piece, id);
      }
    }
    return out;
  }

  // SentencePieceProcessor::Decode: control pieces vanish, byte pieces are joined into UTF-8
  // (U+FFFD per invalid byte), "▁" becomes a space, the first piece loses its dummy-prefix space.
  std::string decode(const std::vector<int>& ids) const {
    std::string text;
    bool bosSpace = true;
    for (std::size_t i = 0; i < ids.size();) {
      const int id = ids[i];
      if (id < 0 || id >= GetPieceSize()) throw std::out_of_range("piece id " + std::to_string(id));
      if (IsByte(id)) {
        std::string bytes;
        for (; i < ids.size() && ids[i] >= 0 && ids[i] < GetPieceSize() && IsByte(ids[i]); ++i) {
          bytes += static_cast<char>(pieceToByte(IdToPiece(ids[i])));
        }
        for (std::size_t off = 0; off < bytes.size();) {
          bool valid = false;
          const std::size_t n = utf8Length(std::string_view(bytes).substr(off), &valid);
          text += valid ? bytes.substr(off, n) : std::string("\xEF\xBF\xBD");
          off += n;
        }
        bosSpace = false;
        continue;
      }
      ++i;
      if (IsControl(id)) continue;
      if (IsUnknown(id)) {
        text += unkSurface_;
        bosSpace = false;
        continue;
      }
      std::string_view piece = IdToPiece(id);
      if (bosSpace && (addDummyPrefix_ || removeExtraWhitespaces_) && piece.substr(0, 3) == kSpaceSymbol) {
        piece.remove_prefix(3);
      }
      bosSpace = false;
      for (std::size_t k = 0; k < piece.size();) {
        if (piece.substr(k, 3) == kSpaceSymbol) {
          text += ' ';
          k += 3;
        } else {
          text += piece[k++];
        }
      }
    }
    return text;
  }

 private:
  struct Piece {
    std::string text;
    float score = 0;
    PieceType type = PieceType::Normal;
  };

  PieceType type(int id) const {
    return id >= 0 && id < GetPieceSize() ? pieces_[static_cast<std::size_t>(id)].type : PieceType::Unused;
  }
  int controlId(int fromSpec, const char* piece) const {
    if (fromSpec >= 0 && fromSpec < GetPieceSize()) return fromSpec;
    if (auto it = reserved_.find(piece); it != reserved_.end()) return it->second;
    return -1;
  }

  void parsePiece(std::string_view bytes) {
    ProtoReader r(bytes.data(), bytes.size());
    Piece p;
    while (!r.done()) {
      const std::uint64_t tag = r.varint();
      const int field = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
      if (field == 1 && wire == 2) {
        p.text = std::string(r.bytes());
      } else if (field == 2 && wire == 5) {
        p.score = r.fixed32();
      } else if (field == 3 && wire == 0) {
        const auto t = r.varint();
        if (t < 1 || t > 6) throw std::runtime_error("piece type " + std::to_string(t));
        p.type = static_cast<PieceType>(t);
      } else {
        r.skip(wire);
      }
    }
    pieces_.push_back(std::move(p));
  }

  void parseTrainerSpec(std::string_view bytes) {
    ProtoReader r(bytes.data(), bytes.size());
    while (!r.done()) {
      const std::uint64_t tag = r.varint();
      const int field = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
      if (wire == 0 && (field == 3 || field == 24 || field == 35 || (field >= 40 && field <= 43))) {
        const auto v = static_cast<std::int32_t>(static_cast<std::int64_t>(r.varint()));  // int32 sign-extends
        if (field == 3) modelType_ = v;
        if (field == 24) whitespaceAsSuffix_ = v != 0;
        if (field == 35) byteFallback_ = v != 0;
        if (field == 41) bosId_ = v;
        if (field == 42) eosId_ = v;
        if (field == 43) padId_ = v;
      } else if (field == 44 && wire == 2) {
        unkSurface_ = std::string(r.bytes());
      } else {
        r.skip(wire);
      }
    }
  }

  void parseNormalizerSpec(std::string_view bytes) {
    ProtoReader r(bytes.data(), bytes.size());
    while (!r.done()) {
      const std::uint64_t tag = r.varint();
      const int field = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
      if (field == 1 && wire == 2) {
        normalizerName_ = std::string(r.bytes());
      } else if (field == 2 && wire == 2) {
        charsMap_ = std::string(r.bytes());
      } else if (field >= 3 && field <= 5 && wire == 0) {
        const bool v = r.varint() != 0;
        if (field == 3) addDummyPrefix_ = v;
        if (field == 4) removeExtraWhitespaces_ = v;
        if (field == 5) escapeWhitespaces_ = v;
      } else {
        r.skip(wire);
      }
    }
  }

  // The identity normaliser: invalid UTF-8 bytes become U+FFFD, spaces become "▁" (escaped),
  // a "▁" in front (dummy prefix), extra spaces dropped when the model says so.
  std::string normalize(std::string_view in) const {
    std::string out;
    if (removeExtraWhitespaces_) {
      while (!in.empty() && in.front() == ' ') in.remove_prefix(1);
    }
    if (in.empty()) return out;
    if (addDummyPrefix_) out += kSpaceSymbol;
    bool prevSpace = removeExtraWhitespaces_;
    while (!in.empty()) {
      bool valid = false;
      const std::size_t n = utf8Length(in, &valid);
      const std::string_view ch = in.substr(0, n);
      in.remove_prefix(n);
      if (!valid) {
        out += "\xEF\xBF\xBD";
        prevSpace = false;
        continue;
      }
      if (ch == " ") {
        if (prevSpace) continue;
        out += escapeWhitespaces_ ? kSpaceSymbol : " ";
        prevSpace = removeExtraWhitespaces_;
        continue;
      }
      out += ch;
      prevSpace = false;
    }
    if (removeExtraWhitespaces_) {
      const std::string space = escapeWhitespaces_ ? kSpaceSymbol : " ";
      while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0) {
        out.resize(out.size() - space.size());
      }
    }
    return out;
  }

  // bpe_model.cc: characters (user-defined symbols whole and frozen), then repeatedly merge the
  // adjacent pair whose concatenation is a piece with the highest score (leftmost on ties).
  std::vector<std::pair<std::string, int>> bpe(const std::string& normalized) const {
    struct Symbol {
      int prev, next;
      bool freeze;
      std::size_t begin, size;
    };
    struct Pair {
      int left, right;
      float score;
      std::size_t size;
    };
    auto worse = [](const Pair& a, const Pair& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
    std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
    std::vector<Symbol> symbols;
    std::string_view rest(normalized);
    std::size_t pos = 0;
    while (!rest.empty()) {
      std::size_t n = 0;
      bool freeze = false;
      for (const auto& u : userDefined_) {
        if (rest.substr(0, u.size()) == u) {
          n = u.size();
          freeze = true;
          break;
        }
      }
      if (!freeze) n = utf8Length(rest, nullptr);
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({index - 1, rest.size() == n ? -1 : index + 1, freeze, pos, n});
      rest.remove_prefix(n);
      pos += n;
    }
    std::map<std::string, std::pair<std::string, std::string>> revMerge;
    auto piece = [&](const Symbol& s) { return normalized.substr(s.begin, s.size); };
    auto maybeAdd = [&](int left, int right) {
      if (left < 0 || right < 0 || symbols[static_cast<std::size_t>(left)].freeze ||
          symbols[static_cast<std::size_t>(right)].freeze) {
        return;
      }
      const auto& l = symbols[static_cast<std::size_t>(left)];
      const auto& r = symbols[static_cast<std::size_t>(right)];
      const std::string merged = normalized.substr(l.begin, l.size + r.size);
      const auto it = normal_.find(merged);
      if (it == normal_.end()) return;
      agenda.push({left, right, pieces_[static_cast<std::size_t>(it->second)].score, merged.size()});
      if (pieces_[static_cast<std::size_t>(it->second)].type == PieceType::Unused) {
        revMerge[merged] = {piece(l), piece(r)};
      }
    };
    for (std::size_t i = 1; i < symbols.size(); ++i) maybeAdd(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!agenda.empty()) {
      const Pair top = agenda.top();
      agenda.pop();
      auto& l = symbols[static_cast<std::size_t>(top.left)];
      auto& r = symbols[static_cast<std::size_t>(top.right)];
      if (l.size == 0 || r.size == 0 || l.size + r.size != top.size) continue;  // stale
      l.size += r.size;
      l.next = r.next;
      if (r.next >= 0) symbols[static_cast<std::size_t>(r.next)].prev = top.left;
      r.size = 0;
      maybeAdd(l.prev, top.left);
      maybeAdd(top.left, l.next);
    }
    std::vector<std::pair<std::string, int>> out;
    std::function<void(const std::string&)> resegment = [&](const std::string& w) {
      const int id = PieceToId(w);
      if (type(id) != PieceType::Unused) {
        out.emplace_back(w, id);
        return;
      }
      const auto it = revMerge.find(w);
      if (it == revMerge.end()) {
        out.emplace_back(w, id);
        return;
      }
      resegment(it->second.first);
      resegment(it->second.second);
    };
    for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[static_cast<std::size_t>(i)].next) {
      resegment(piece(symbols[static_cast<std::size_t>(i)]));
    }
    return out;
  }

  std::vector<Piece> pieces_;
  std::unordered_map<std::string, int> normal_;    // normal, user-defined, unused: BPE may form these
  std::unordered_map<std::string, int> reserved_;  // control, unknown, byte
  std::vector<std::string> userDefined_;
  std::array<int, 256> byteIds_{};
  int unk_ = -1;
  int modelType_ = 1;  // protobuf default: unigram
  bool byteFallback_ = false;
  bool whitespaceAsSuffix_ = false;
  int bosId_ = 1, eosId_ = 2, padId_ = -1;
  std::string unkSurface_ = " \xE2\x81\x87 ";
  std::string normalizerName_;
  std::string charsMap_;
  bool addDummyPrefix_ = true;
  bool removeExtraWhitespaces_ = true;
  bool escapeWhitespaces_ = true;
};

}  // namespace

struct SentencePieceTokenizer::Impl {
  SpmModel sp;
  fs::path modelFile;
  std::vector<AddedToken> added;              // sorted by id
  std::map<std::string, std::int64_t> split;  // strings the text is split on: added + <s> </s> <unk>
  bool addBos = true;

  int pieceCount() const { return sp.GetPieceSize(); }

  const AddedToken* addedById(std::int64_t id) const {
    for (const auto& t : added) {
      if (t.id == id) return &t;
    }
    return nullptr;
  }

  // The text cut into (chunk, -1) and (token, id) parts, longest token first at each position.
  std::vector<std::pair<std::string, std::int64_t>> splitText(const std::string& text) const {
    std::vector<std::pair<std::string, std::int64_t>> parts;
    std::string chunk;
    std::size_t i = 0;
    while (i < text.size()) {
      const std::pair<const std::string, std::int64_t>* best = nullptr;
      for (const auto& kv : split) {
        if (kv.first.empty() || text.compare(i, kv.first.size(), kv.first) != 0) continue;
        if (!best || kv.first.size() > best->first.size()) best = &kv;
      }
      if (best) {
        if (!chunk.empty()) parts.emplace_back(std::move(chunk), -1);
        chunk.clear();
        parts.emplace_back(best->first, best->second);
        i += best->first.size();
      } else {
        chunk += text[i++];
      }
    }
    if (!chunk.empty()) parts.emplace_back(std::move(chunk), -1);
    return parts;
  }
};

SentencePieceTokenizer::SentencePieceTokenizer() : impl_(std::make_unique<Impl>()) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;
SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer& SentencePieceTokenizer::operator=(SentencePieceTokenizer&&) noexcept = default;

SentencePieceTokenizer SentencePieceTokenizer::load(const fs::path& dirOrModelFile) {
  std::error_code ec;
  const bool isDir = fs::is_directory(dirOrModelFile, ec);
  const fs::path modelFile = isDir ? dirOrModelFile / "tokenizer.model" : dirOrModelFile;
  const fs::path dir = isDir ? dirOrModelFile : dirOrModelFile.parent_path();
  if (!fs::is_regular_file(modelFile, ec)) {
    throw io::FileError("SentencePiece tokenizer: no file " + modelFile.string() +
                        (isDir ? " (a LLaMA/LLaVA model folder holds its tokenizer as tokenizer.model)" : ""));
  }
  const auto size = fs::file_size(modelFile, ec);
  if (ec || size > kMaxModelBytes) {
    throw io::FileError("SentencePiece tokenizer: cannot read " + modelFile.string() +
                        (ec ? ": " + ec.message() : std::string(": larger than 64 MiB")));
  }
  io::requireRegularFile(modelFile, "SentencePiece tokenizer");
  std::ifstream in(modelFile, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) throw io::FileError("SentencePiece tokenizer: cannot read " + modelFile.string());

  SentencePieceTokenizer tok;
  tok.impl_->modelFile = modelFile;
  const std::string serialized = bytes.str();
  try {
    tok.impl_->sp.parse(serialized);
  } catch (const std::exception& e) {
    throw io::FormatError("SentencePiece tokenizer: " + modelFile.string() + " is not a SentencePiece model (" +
                          e.what() + ")");
  }
  auto& impl = *tok.impl_;
  for (const int id : {impl.sp.bos_id(), impl.sp.eos_id(), impl.sp.unk_id()}) {
    if (id >= 0 && id < impl.pieceCount()) impl.split.emplace(impl.sp.IdToPiece(id), id);
  }

  // transformers writes the added tokens in tokenizer_config.json (added_tokens_decoder, 4.34+)
  // and/or added_tokens.json (content -> id); both are read, and must agree.
  const fs::path config = dir / "tokenizer_config.json";
  if (isDir && fs::is_regular_file(config, ec)) {
    const auto j = io::readJsonFile(config);
    if (j.is_object()) {
      if (auto it = j.find("add_bos_token"); it != j.end() && it->is_boolean()) impl.addBos = it->get<bool>();
      if (auto it = j.find("added_tokens_decoder"); it != j.end() && it->is_object()) {
        for (const auto& [key, value] : it->items()) {
          std::int64_t id = 0;
          try {
            std::size_t used = 0;
            id = std::stoll(key, &used);
            if (used != key.size()) throw std::invalid_argument(key);
          } catch (const std::exception&) {
            throw io::FormatError(config.string() + ": added_tokens_decoder key '" + key + "' is not a token id");
          }
          if (!value.is_object() || !value.contains("content") || !value["content"].is_string()) {
            throw io::FormatError(config.string() + ": added_tokens_decoder[" + key + "] has no string 'content'");
          }
          const std::string content = value["content"].get<std::string>();
          const bool special = value.value("special", true);
          // Tokens that are the model's own pieces (<unk>, <s>, </s>) are listed here too.
          if (id < impl.pieceCount() && impl.sp.IdToPiece(static_cast<int>(id)) == content) continue;
          try {
            tok.addToken(content, id, special);
          } catch (const io::FormatError& e) {
            throw io::FormatError(config.string() + ": " + e.what());
          }
        }
      }
    }
  }
  const fs::path addedJson = dir / "added_tokens.json";
  if (isDir && fs::is_regular_file(addedJson, ec)) {
    const auto j = io::readJsonFile(addedJson);
    if (!j.is_object()) throw io::FormatError(addedJson.string() + ": expected an object {\"token\": id, ...}");
    for (const auto& [content, value] : j.items()) {
      if (!value.is_number_integer()) {
        throw io::FormatError(addedJson.string() + ": the id of '" + content + "' is not an integer");
      }
      const auto id = value.get<std::int64_t>();
      if (id < 0) {
        throw io::FormatError(addedJson.string() + ": the id of '" + content + "' is negative (" + std::to_string(id) + ")");
      }
      if (id < impl.pieceCount() && impl.sp.IdToPiece(static_cast<int>(id)) == content) continue;
      try {
        tok.addToken(content, id, impl.addedById(id) ? impl.addedById(id)->special : true);
      } catch (const io::FormatError& e) {
        throw io::FormatError(addedJson.string() + ": " + e.what());
      }
    }
  }
  return tok;
}

void SentencePieceTokenizer::addToken(const std::string& content, std::int64_t id, bool special) {
  auto& impl = *impl_;
  if (content.empty()) throw io::FormatError("an added token is empty");
  if (id < 0) throw io::FormatError("added token '" + content + "' has a negative id " + std::to_string(id));
  if (id < impl.pieceCount()) {
    throw io::FormatError("added token '" + content + "' has id " + std::to_string(id) + ", which is the piece '" +
                          impl.sp.IdToPiece(static_cast<int>(id)) + "' of the SentencePiece model");
  }
  if (const auto* existing = impl.addedById(id)) {
    if (existing->content == content) return;
    throw io::FormatError("id " + std::to_string(id) + " is both '" + existing->content + "' and '" + content + "'");
  }
  if (auto it = impl.split.find(content); it != impl.split.end()) {
    throw io::FormatError("token '" + content + "' has two ids, " + std::to_string(it->second) + " and " +
                          std::to_string(id));
  }
  impl.added.push_back({content, id, special});
  std::sort(impl.added.begin(), impl.added.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  impl.split.emplace(content, id);
}

std::vector<std::int64_t> SentencePieceTokenizer::encode(const std::string& text, bool addBos) const {
  std::vector<std::int64_t> ids;
  if (addBos && bosId() >= 0) ids.push_back(bosId());
  for (const auto& [chunk, id] : impl_->splitText(text)) {
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    for (const auto& piece : impl_->sp.encode(chunk)) ids.push_back(piece.second);
  }
  return ids;
}

std::vector<std::string> SentencePieceTokenizer::pieces(const std::string& text) const {
  std::vector<std::string> out;
  for (const auto& [chunk, id] : impl_->splitText(text)) {
    if (id >= 0) {
      out.push_back(chunk);
      continue;
    }
    for (const auto& piece : impl_->sp.encode(chunk)) out.push_back(piece.first);
  }
  return out;
}

bool SentencePieceTokenizer::isSpecial(std::int64_t id) const {
  if (id < 0) return true;
  if (id < pieceCount()) {
    const int i = static_cast<int>(id);
    return impl_->sp.IsControl(i) || impl_->sp.IsUnknown(i);
  }
  const auto* t = impl_->addedById(id);
  return !t || t->special;
}

std::string SentencePieceTokenizer::decode(const std::vector<std::int64_t>& ids, bool skipSpecial) const {
  // Runs of ordinary pieces go to SentencePiece together so it can join byte pieces and
  // spaces; with skipSpecial everything left is one run (as transformers' legacy decode).
  std::string text;
  std::vector<int> run;
  auto flushRun = [&] {
    if (run.empty()) return;
    text += impl_->sp.decode(run);
    run.clear();
  };
  for (const auto id : ids) {
    const bool piece = id >= 0 && id < pieceCount();
    if (skipSpecial) {
      if (!isSpecial(id)) {
        if (piece) {
          run.push_back(static_cast<int>(id));
        } else {
          flushRun();  // a non-special added token: its text as it is
          text += impl_->addedById(id)->content;
        }
      }
      continue;
    }
    if (piece && !isSpecial(id)) {
      run.push_back(static_cast<int>(id));
      continue;
    }
    flushRun();
    if (piece) {
      text += impl_->sp.IdToPiece(static_cast<int>(id));
    } else if (const auto* t = impl_->addedById(id)) {
      text += t->content;
    } else {
      text += "<unk>";
    }
  }
  flushRun();
  return text;
}

std::int64_t SentencePieceTokenizer::bosId() const { return impl_->sp.bos_id(); }
std::int64_t SentencePieceTokenizer::eosId() const { return impl_->sp.eos_id(); }
std::int64_t SentencePieceTokenizer::unkId() const { return impl_->sp.unk_id(); }
std::int64_t SentencePieceTokenizer::padId() const { return impl_->sp.pad_id(); }
std::int64_t SentencePieceTokenizer::pieceCount() const { return impl_->pieceCount(); }

std::int64_t SentencePieceTokenizer::vocabSize() const {
  std::int64_t n = pieceCount();
  for (const auto& t : impl_->added) n = std::max(n, t.id + 1);
  return n;
}

std::optional<std::int64_t> SentencePieceTokenizer::tokenId(const std::string& token) const {
  for (const auto& t : impl_->added) {
    if (t.content == token) return t.id;
  }
  const int id = impl_->sp.PieceToId(token);
  // PieceToId answers unk_id for unknown pieces; only "<unk>" itself may map there.
  if (id < 0 || (id == impl_->sp.unk_id() && impl_->sp.IdToPiece(id) != token)) return std::nullopt;
  return id;
}

std::string SentencePieceTokenizer::idToToken(std::int64_t id) const {
  if (id >= 0 && id < pieceCount()) return impl_->sp.IdToPiece(static_cast<int>(id));
  if (const auto* t = impl_->addedById(id)) return t->content;
  throw std::out_of_range("token id " + std::to_string(id) + " is not in the tokenizer (" +
                          std::to_string(vocabSize()) + " ids)");
}

const std::vector<AddedToken>& SentencePieceTokenizer::addedTokens() const { return impl_->added; }
bool SentencePieceTokenizer::addBosByDefault() const { return impl_->addBos; }
const fs::path& SentencePieceTokenizer::modelFile() const { return impl_->modelFile; }

}  // namespace caig
