#pragma once
// The PromptWriter engine interface: product shot + title -> N background prompts, with
// streaming and cancellation for the slow (neural) writers. The built-in template planner
// (prompt_writer.h) answers in milliseconds and keeps its richer API; the LLaVA prompt model
// (llava_prompt_writer.h) implements this. Qt-free and Torch-free.

#include <atomic>
#include <cstdint>
#include <functional>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace caig {

struct PromptRequest {
  cv::Mat productImage;  // BGR/BGRA 8-bit product shot
  std::string title;
  std::string category;
  int count = 4;
  std::uint64_t seed = 1;
};

struct WrittenPrompt {
  std::string text;         // the prompt, cleaned (no "Prompt:" label, quotes or end token)
  std::string raw;          // what the model wrote, decoded
  std::string instruction;  // the instruction it answered (empty for writers without one)
  std::string source;       // e.g. "llava: llava-v1.6-vicuna-7b", "builtin"
  bool complete = true;     // false when cut by the token budget or cancelled
  int duplicateOf = -1;     // index of an earlier prompt in the batch with the same text (case-insensitive)
};

struct PromptBatch {
  std::vector<WrittenPrompt> prompts;  // request.count of them, in order (partial when cancelled)
  bool cancelled = false;
};

// Streaming: called with a prompt's index and the text it just grew by (whole UTF-8 characters).
// Returning false cancels the batch.
using PromptStreamCallback = std::function<bool(int index, const std::string& newText)>;

class PromptWriter {
 public:
  virtual ~PromptWriter() = default;
  virtual std::string id() const = 0;  // the source label written into each prompt
  virtual PromptBatch write(const PromptRequest& request, const PromptStreamCallback& onText = {},
                            const std::atomic<bool>* cancel = nullptr) = 0;
};

}  // namespace caig
