// A1111's <lora:name:weight> tags (core/text/prompt_loras.h): taken out of the prompt with their
// weights, the text around them kept; malformed tags are named.

#include "core/text/prompt_loras.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace {

using caig::extractPromptLoras;
using caig::PromptLora;

TEST(PromptLoras, TagsLeaveThePromptWithTheirWeights) {
  auto p = extractPromptLoras("a glass bottle on marble <lora:marble-podium:0.8>, soft light <LoRA:lcm>");
  EXPECT_EQ(p.prompt, "a glass bottle on marble, soft light");
  EXPECT_EQ(p.loras, (std::vector<PromptLora>{{"marble-podium", 0.8}, {"lcm", 1.0}}));
  p = extractPromptLoras("<lora:style:-0.5>, a jar on sand");
  EXPECT_EQ(p.prompt, "a jar on sand");
  EXPECT_EQ(p.loras, (std::vector<PromptLora>{{"style", -0.5}}));
  p = extractPromptLoras("a <lyco:grain: 1.25 > jar");
  EXPECT_EQ(p.prompt, "a jar");
  EXPECT_EQ(p.loras, (std::vector<PromptLora>{{"grain", 1.25}}));
  // No tag: the text as written, "<" and emphasis included.
  p = extractPromptLoras("(a jar:1.2) < 3 cm, <hypernet:x:1>, <lora:unclosed");
  EXPECT_EQ(p.prompt, "(a jar:1.2) < 3 cm, <hypernet:x:1>, <lora:unclosed");
  EXPECT_TRUE(p.loras.empty());
}

TEST(PromptLoras, MalformedTagsAreNamed) {
  const auto error = [](const std::string& prompt) {
    try {
      extractPromptLoras(prompt);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error("a jar <lora:style:strong>").find("<lora:style:strong>: 'strong' is not a weight"),
            std::string::npos);
  EXPECT_NE(error("a jar <lora::0.5>").find("names no LoRA"), std::string::npos);
  EXPECT_NE(error("a jar <lora:style:0.8:0.5>").find("separate text-encoder and UNet weights"), std::string::npos);
}

}  // namespace
