#pragma once
// Prompt emphasis as A1111 writes it and CAIG's own embedder reads it
// (utils/clip_text_custom_embedder.py of github.com/Chenguoz/CAIG): "(word)" x1.1, "[word]" /1.1,
// "(words:1.3)" that weight, "{word}" as "(word)", nesting multiplies, "\(" and friends are
// literal characters; prompts of any length in chunks of 75 tokens. Each fragment is tokenized on
// its own (BPE never merges across a bracket), every token carries its fragment's weight, and each
// chunk becomes [bos] + 75 tokens (padded with the end token) + [eos]. The text encoder side
// (weights applied, the chunk's mean kept) is weightedTextEmbeddings in models/clip_text.h.
// A1111's BREAK (the word alone, in capitals) ends the chunk: what follows starts a new one. CAIG's
// embedder reads BREAK as text; `breaks = false` does too. Differences from A1111 that CAIG's
// embedder also has: no AND, no comma back-off when a chunk is cut. Qt-free and Torch-free.

#include <cstdint>
#include <string>
#include <vector>

namespace caig {

class ClipTokenizer;

struct WeightedFragment {
  std::string text;
  double weight = 1.0;
  bool chunkBreak = false;  // a BREAK: no text, the chunk ends here
  bool operator==(const WeightedFragment& o) const {
    return text == o.text && weight == o.weight && chunkBreak == o.chunkBreak;
  }
};

// The fragments of `prompt` with their weights, runs of equal weight merged; groups still open
// at the end apply to the rest; closers without an opener are text; "" gives one empty fragment.
// With `breaks`, each BREAK (and the spaces around it) becomes a chunkBreak fragment.
std::vector<WeightedFragment> parsePromptAttention(const std::string& prompt, bool breaks = true);

inline constexpr int kPromptChunkTokens = 75;  // + bos and eos = CLIP's 77 positions

struct WeightedChunks {
  std::vector<std::vector<int64_t>> ids;    // chunks of 77 ids
  std::vector<std::vector<float>> weights;  // their weights (1 for bos, eos and padding)
  std::size_t tokens = 0;                   // the prompt's own tokens, before padding
};

// `prompt` as chunks: at least one (an empty prompt is one chunk of end tokens). A BREAK pads the
// chunk it ends, even an empty one ("a BREAK BREAK b": three chunks), as A1111's next_chunk().
WeightedChunks weightedPromptChunks(const ClipTokenizer& tokenizer, const std::string& prompt, bool breaks = true);

// Extends `chunks` to `count` chunks with the empty prompt's chunk (weights 1), as CAIG's embedder
// pads the shorter of a prompt and its negative prompt so that both have as many.
void padPromptChunks(WeightedChunks& chunks, std::size_t count, const ClipTokenizer& tokenizer);

}  // namespace caig
