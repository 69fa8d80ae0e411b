#pragma once
// A job's variants as plain files, for people who work outside a project (caig generate --out):
// one PNG per variant carrying its settings in the "parameters" text chunk that A1111 and ComfyUI
// users read, and variants.json with every recorded parameter. Files are written atomically.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/generation/generation_job.h"

namespace caig {

// A1111's "parameters" text for a variant's recorded params: the prompt, "Negative prompt: ..."
// when there is one, then "Steps: 30, Sampler: euler_a, CFG scale: 7.5, Seed: 7, Size: 512x512,
// Model: ..." with the settings the engine has.
std::string a1111Parameters(const nlohmann::json& params);

// Writes "<prefix>-01-seed<seed>.png", ... and variants.json into `folder` (created). Returns the
// image files. Throws io::FileError / ExportError.
std::vector<std::filesystem::path> writeVariantFiles(const std::filesystem::path& folder, const GenerationOutcome& result,
                                                     const std::string& prefix);

}  // namespace caig
