#pragma once
// A1111's extra-network tags in a prompt: "<lora:name>" and "<lora:name:weight>" ("lyco:" the
// same) ask for the LoRA file of that name at that weight (1 when absent) and are taken out of the
// text before it is tokenised. Other text, "<" included, stays as written. Qt-free, Torch-free.

#include <string>
#include <vector>

namespace caig {

struct PromptLora {
  std::string name;  // the file's name without .safetensors, as A1111 lists it
  double weight = 1.0;
  bool operator==(const PromptLora& o) const { return name == o.name && weight == o.weight; }
};

struct PromptWithLoras {
  std::string prompt;  // the text without the tags (a tag and the blanks before it removed)
  std::vector<PromptLora> loras;
};

// Throws std::invalid_argument naming the tag for an empty name, a weight that is not a number,
// or A1111's separate text-encoder / UNet weights (<lora:name:0.8:0.5>), which CAIG does not apply.
PromptWithLoras extractPromptLoras(const std::string& prompt);

}  // namespace caig
