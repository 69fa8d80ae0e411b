#include "app/cli_export.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/user_message.h"
#include "core/generation/ad_frames.h"
#include "core/generation/generator_registry.h"
#include "core/project/export.h"
#include "core/project/project.h"

namespace caig::cli {

namespace {

struct ExportArgs {
  std::filesystem::path project;
  std::int64_t product = 0;  // 0: every product
  std::vector<std::int64_t> variants;
  std::vector<std::string> presets;
  std::string format = "png";
  int quality = 92;
  std::filesystem::path out;
  bool overwrite = false;
  std::string frames = "draw";
  std::string copySpace = "none";
};

int runExport(const ExportArgs& a) {
  try {
    if (!caig::Project::isProject(a.project)) {
      std::fprintf(stderr, "caig export: %s is not a project folder\n", a.project.string().c_str());
      return 1;
    }
    const auto project = caig::Project::openReadOnly(a.project);
    caig::ExportRequest request;
    request.items = caig::exportItemsFromProject(
        project, a.product ? std::optional<std::int64_t>(a.product) : std::nullopt, a.variants);
    if (request.items.empty()) {
      std::fprintf(stderr, "caig export: %s has no variants to export\n",
                   a.product ? ("product " + std::to_string(a.product)).c_str() : "the project");
      return 1;
    }
    request.presetIds = a.presets.empty() ? caig::exportPresetIds() : a.presets;
    request.format = a.format == "jpeg" ? caig::ExportFormat::Jpeg
                     : a.format == "webp" ? caig::ExportFormat::Webp
                                          : caig::ExportFormat::Png;
    request.jpegQuality = a.quality;
    request.folder = a.out;
    request.replaceExisting = a.overwrite;
    // Each size drawn for its own frame from the variant's record (the default), or the stored
    // image fitted to it.
    std::optional<caig::AdFrames> frames;
    caig::GeneratorCache generators;
    caig::GenerationEngines engines;
    engines.generators = &generators;
    const caig::CopySpace copy = caig::parseCopySpace(a.copySpace);
    const caig::FrameMode mode = caig::parseFrameMode(a.frames);
    if (mode != caig::FrameMode::Fit) {
      frames.emplace(project, request.items, request.presetIds, copy, mode);
      for (const auto& note : frames->notes()) std::fprintf(stderr, "caig export: %s\n", note.c_str());
      if (frames->framesToDraw() > 0) {
        std::string names;
        for (const auto& e : frames->engines()) names += (names.empty() ? "" : ", ") + e;
        std::fprintf(stderr, "%s %d frame%s%s (%s)\n", mode == caig::FrameMode::Outpaint ? "composing" : "drawing",
                     frames->framesToDraw(), frames->framesToDraw() == 1 ? "" : "s",
                     mode == caig::FrameMode::Outpaint ? "" : " again", names.c_str());
      }
      request.drawFrame = [&](std::size_t index, const std::string& presetId) {
        return frames->draw(engines, index, presetId);
      };
    } else if (copy.top > 0 || copy.bottom > 0) {
      std::fprintf(
          stderr,
          "caig export: --copy-space needs --frames draw or outpaint (a fitted image keeps its product where it is)\n");
      return 1;
    }
    const auto result = caig::exportVariants(request);
    for (const auto& f : result.files) std::printf("%s\n", f.string().c_str());
    std::printf("exported %zu variant%s at %zu size%s: %zu files and %s\n", request.items.size(),
                request.items.size() == 1 ? "" : "s", request.presetIds.size(), request.presetIds.size() == 1 ? "" : "s",
                result.files.size(), result.manifest.string().c_str());
    return 0;
  } catch (const caig::ExportWouldReplace& e) {
    std::fprintf(stderr, "caig export: %s (--overwrite)\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caig export: %s\n", caig::userMessage(e).c_str());
    return 1;
  }
}

}  // namespace

void addExportCommand(CLI::App& app, int& status) {
  auto a = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Export variants as ads: every chosen size, metadata and manifest.csv");
  cmd->add_option("--project", a->project, "Project folder")->required();
  cmd->add_option("--product", a->product, "Only this product's variants (default: every product's)");
  cmd->add_option("--variant", a->variants, "Only these variants (repeatable; default: all)");
  std::string presets;
  for (const auto& id : caig::exportPresetIds()) presets += (presets.empty() ? "" : " ") + id;
  cmd->add_option("--preset", a->presets, "Ad size (repeatable; default: all of " + presets + ")")
      ->check(CLI::IsMember(caig::exportPresetIds()));
  cmd->add_option("--format", a->format, "png, jpeg or webp")
      ->check(CLI::IsMember({"png", "jpeg", "webp"}))
      ->capture_default_str();
  cmd->add_option("--quality", a->quality, "JPEG / WebP quality")->check(CLI::Range(1, 100))->capture_default_str();
  cmd->add_option("--out", a->out, "Folder to write (created when absent)")->required();
  cmd->add_flag("--overwrite", a->overwrite, "Replace files a previous export left in --out");
  cmd->add_option("--frames", a->frames,
                  "draw: each size composed for its own frame, drawn again from the variant's prompt and seed "
                  "(built-in: instant; SD1.5: one generation per size); outpaint: SD1.5 variants kept whole and "
                  "the frame around them painted with the same prompt and seed (others drawn); fit: the stored "
                  "image fitted, its backdrop extended")
      ->check(CLI::IsMember({"draw", "outpaint", "fit"}))
      ->capture_default_str();
  cmd->add_option("--copy-space", a->copySpace, "Keep the top or bottom 20% of every frame free for a headline or call to action")
      ->check(CLI::IsMember({"none", "top", "bottom"}))
      ->capture_default_str();
  cmd->callback([a, &status] { status = runExport(*a); });
}

}  // namespace caig::cli
