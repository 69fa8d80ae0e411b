#pragma once
// The built-in BackgroundGenerator: procedural studio backdrops (core/backdrop/backdrop_renderer.h)
// drawn at the ad size itself, with the product's contact shadow and reflection. A prompt from the
// built-in planner comes with its backdrop spec (the plan) and is drawn as planned; any other
// prompt (typed, or written by a prompt model) is planned here from its words: a style whose name
// it mentions ("marble podium", "window light"), the product's palette for the colours.
// Milliseconds per variant on the CPU, no weights. Qt-free and Torch-free.

#include <opencv2/core.hpp>
#include <string>

#include "core/generation/generator_registry.h"
#include "core/prompts/prompt_writer.h"

namespace caig {

// "builtin": no options; the plan is the recorded "spec", "style" and "harmony".
GeneratorKind builtinGeneratorKind();

// The planner's description for a prompt it did not write: styles scored by how many words of
// their id the prompt uses (the best ones only, all when none matches), details seeded by the
// text. Deterministic in (prompt, title, product pixels). `productBgr`/`productAlpha`: the
// product as it will appear (its palette), any size.
BackgroundDescription builtinPlanForPrompt(const std::string& prompt, const std::string& title,
                                           const std::string& category, const cv::Mat& productBgr,
                                           const cv::Mat& productAlpha);

}  // namespace caig
