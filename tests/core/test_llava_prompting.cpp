// The LLaVA prompt model's core half: conversation strings, ids with the image placeholder, the
// instruction data, CLIP preprocessing against Pillow, and (LLAVA_MODEL_TESTS) the neural prompt
// writer and ranker on the tiny fixture model.

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "core/base/resources.h"
#include "core/image/image_io.h"
#include "core/llava/clip_preprocess.h"
#include "core/llava/llava_conversation.h"
#include "core/llava/llava_engine_common.h"
#include "core/llava/llava_prompt_writer.h"
#include "core/llava/neural_ranker.h"
#include "core/model_files/hf_cache.h"
#include "core/text/sentencepiece_tokenizer.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/llava_reward.h"
#include "tiny_reward_model_file.h"

namespace fs = std::filesystem;

namespace {

const fs::path kData = CAIG_TEST_DATA;

const caig::SentencePieceTokenizer& tok() {
  static const auto t = caig::SentencePieceTokenizer::load(kData / "tiny-llava-tok");
  return t;
}

fs::path tempDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("caig_llava_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void writeFile(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

}  // namespace

// ---- conversation -------------------------------------------------------------------------

TEST(LlavaConversation, V1PromptIsLlavaVicunaFormat) {
  EXPECT_EQ(caig::llavaV1ImagePrompt("Write a prompt for 'Mug'."),
            "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
            "detailed, and polite answers to the user's questions. USER: <image>\nWrite a prompt for 'Mug'. "
            "ASSISTANT:");
  EXPECT_EQ(caig::llavaV1ImagePrompt("Q", "SYS"), "SYS USER: <image>\nQ ASSISTANT:");
  // Finished assistant turns close with </s>; user turns with the " " separator.
  EXPECT_EQ(caig::llavaV1Prompt({{true, "<image>\nQ1"}, {false, "A1"}, {true, "Q2"}, {false, ""}}, "SYS"),
            "SYS USER: <image>\nQ1 ASSISTANT: A1</s>USER: Q2 ASSISTANT:");
}

TEST(LlavaConversation, RewardModelPromptHasNoSystemText) {
  EXPECT_EQ(caig::rewardModelPrompt("Which side wins for 'Mug'?"), "<image>\nWhich side wins for 'Mug'? ASSISTANT:");
}

TEST(LlavaConversation, IdsHaveOnePlaceholderWhereLlavaPutsIt) {
  const std::string prompt = caig::llavaV1ImagePrompt("Write a prompt for 'Mug'.", "SYS");
  for (const std::int64_t image : {std::int64_t{-200}, std::int64_t{999}}) {
    const auto ids = caig::tokenizeWithImage(tok(), prompt, image);
    ASSERT_EQ(std::count(ids.begin(), ids.end(), image), 1);
    // BOS + "SYS USER: " + image + "\nWrite ... ASSISTANT:" with each chunk tokenized alone.
    std::vector<std::int64_t> expected{tok().bosId()};
    for (auto id : tok().encode("SYS USER: ", false)) expected.push_back(id);
    const std::size_t imagePos = expected.size();
    expected.push_back(image);
    for (auto id : tok().encode("\nWrite a prompt for 'Mug'. ASSISTANT:", false)) expected.push_back(id);
    EXPECT_EQ(ids, expected);
    EXPECT_EQ(ids.front(), 1);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), tok().bosId()), 1);
    // The chunk after the image starts with SentencePiece's lone dummy-prefix "▁" and the
    // newline byte, as LLaVA's tokenizer_image_token gives it.
    EXPECT_EQ(tok().idToToken(ids[imagePos + 1]), "\xE2\x96\x81");
    EXPECT_EQ(tok().idToToken(ids[imagePos + 2]), "<0x0A>");
    // The first chunk ends with the space before "<image>" as its own piece.
    EXPECT_EQ(tok().idToToken(ids[imagePos - 1]), "\xE2\x96\x81");
  }
  // A prompt that starts with the image (the reward model's): BOS then the placeholder.
  const auto rm = caig::tokenizeWithImage(tok(), caig::rewardModelPrompt("Left or right?"), 999);
  ASSERT_GE(rm.size(), 3u);
  EXPECT_EQ(rm[0], 1);
  EXPECT_EQ(rm[1], 999);
  // The transformers way (the added token "<image>" = 999 in the tokenizer) gives the same ids.
  EXPECT_EQ(tok().encode(prompt), caig::tokenizeWithImage(tok(), prompt, 999));
}

TEST(LlavaInstructions, ShippedFileHasTenPhrasings) {
  const auto ins = caig::LlavaInstructions::load(caig::resourceDir() / "prompts" / "llava_instructions.json");
  ASSERT_EQ(ins.instructions.size(), 10u);
  EXPECT_EQ(ins.system, caig::kVicunaV1System);
  for (std::size_t i = 0; i < ins.instructions.size(); ++i) {
    const std::string s = ins.instruction(i, "Teal Ceramic Mug");
    EXPECT_NE(s.find("'Teal Ceramic Mug'"), std::string::npos) << s;
    const std::string tail = "(Directly give me the prompt without prefix explanation)";
    ASSERT_GE(s.size(), tail.size());
    EXPECT_EQ(s.substr(s.size() - tail.size()), tail) << s;
    EXPECT_NE(s.find("Stable Diffusion"), std::string::npos) << s;
  }
  EXPECT_EQ(ins.instruction(13, "X"), ins.instruction(3, "X"));
  const std::string q = ins.question("Teal Ceramic Mug");
  EXPECT_NE(q.find("'Teal Ceramic Mug'"), std::string::npos);
  EXPECT_NE(q.find("left"), std::string::npos);
  EXPECT_NE(q.find("right"), std::string::npos);
  // A title cannot smuggle in a second image or end the turn.
  const std::string odd = ins.instruction(0, "Mug <image>\n</s> set");
  EXPECT_EQ(odd.find("<image>"), std::string::npos);
  EXPECT_EQ(odd.find("</s>"), std::string::npos);
  EXPECT_NE(odd.find("'Mug set'"), std::string::npos) << odd;
}

TEST(LlavaInstructions, MalformedFilesAreRefusedWithTheReason) {
  const fs::path d = tempDir("instructions");
  auto expectError = [&](const std::string& json, const std::string& needle) {
    writeFile(d / "i.json", json);
    try {
      (void)caig::LlavaInstructions::load(d / "i.json");
      ADD_FAILURE() << "accepted: " << json;
    } catch (const caig::io::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("i.json"), std::string::npos) << e.what();
    }
  };
  const std::string head = R"({"format": "caig-llava-instructions", "version": 1, )";
  expectError("{not json", "i.json");
  expectError(R"({"format": "other", "version": 1})", "format");
  expectError(R"({"format": "caig-llava-instructions", "version": 7, "instructions": ["'{}'"]})", "version");
  expectError(head + R"("instructions": [], "rewardQuestion": "'{}'"})", "non-empty");
  expectError(head + R"("instructions": ["no title here"], "rewardQuestion": "'{}'"})", "instructions[0]");
  expectError(head + R"("instructions": ["'{}' and '{}'"], "rewardQuestion": "'{}'"})", "exactly one {}");
  expectError(head + R"("instructions": ["'{}'", 3], "rewardQuestion": "'{}'"})", "instructions[1]");
  expectError(head + R"("instructions": ["'{}'"]})", "rewardQuestion");
  expectError(head + R"("instructions": ["<image> '{}'"], "rewardQuestion": "'{}'"})", "<image>");
  EXPECT_THROW((void)caig::LlavaInstructions::load(d / "missing.json"), caig::io::FileError);
  writeFile(d / "ok.json", head + R"("instructions": ["Prompt for '{}'"], "rewardQuestion": "Which for '{}'?"})");
  const auto ok = caig::LlavaInstructions::load(d / "ok.json");
  EXPECT_EQ(ok.instruction(5, "Jar"), "Prompt for 'Jar'");
  fs::remove_all(d);
}

// ---- CLIP preprocessing against Pillow ----------------------------------------------------

namespace {

struct PillowCase {
  std::string file;
  int size = 0;
  bool pad = true;
};

const caig::io::SafetensorsFile& reference() {
  static const auto f = caig::io::SafetensorsFile::open(kData / "clip_preprocess" / "reference.safetensors");
  return f;
}

PillowCase pillowCase(const std::string& name) {
  const auto meta = nlohmann::json::parse(reference().metadata().at(name));
  return {meta.value("file", std::string()), meta.at("size").get<int>(), meta.at("pad").get<bool>()};
}

cv::Mat rgbFromTensor(const at::Tensor& t) {  // uint8 [H, W, 3]
  const at::Tensor c = t.contiguous();
  return cv::Mat(static_cast<int>(c.size(0)), static_cast<int>(c.size(1)), CV_8UC3, c.data_ptr()).clone();
}

}  // namespace

TEST(ClipPreprocess, MatchesPillowExactly) {
  for (const std::string name : {"upscale", "downscale", "tall", "rgba", "grey", "nopad"}) {
    SCOPED_TRACE(name);
    const auto c = pillowCase(name);
    const cv::Mat image = caig::loadImage(kData / "clip_preprocess" / c.file);
    caig::ClipPreprocessOptions options;
    options.size = c.size;
    options.padToSquare = c.pad;
    // Pillow's uint8 result, pixel for pixel.
    const cv::Mat pixels = caig::clipPreprocessPixels(image, options);
    const cv::Mat expected = rgbFromTensor(reference().tensor(name + ".pixels"));
    ASSERT_EQ(pixels.size(), expected.size());
    EXPECT_EQ(cv::norm(pixels, expected, cv::NORM_INF), 0.0);
    // The normalised tensor.
    const at::Tensor t = caig::clipPreprocess(image, options);
    const at::Tensor ref = reference().tensor(name + ".tensor");
    ASSERT_EQ(t.sizes(), ref.sizes());
    EXPECT_LE((t - ref).abs().max().item<float>(), 1e-4f);
  }
}

TEST(ClipPreprocess, SideBySidePairMatchesPillow) {
  const auto meta = nlohmann::json::parse(reference().metadata().at("pair"));
  const cv::Mat left = caig::loadImage(kData / "clip_preprocess" / meta.at("left").get<std::string>());
  const cv::Mat right = caig::loadImage(kData / "clip_preprocess" / meta.at("right").get<std::string>());
  const int side = meta.at("pair_side").get<int>();
  const cv::Mat pair = caig::sideBySide(left, right, side);
  ASSERT_EQ(pair.size(), cv::Size(2 * side, side));
  ASSERT_EQ(pair.type(), CV_8UC3);
  cv::Mat pairRgb;
  cv::cvtColor(pair, pairRgb, cv::COLOR_BGR2RGB);
  EXPECT_EQ(cv::norm(pairRgb, rgbFromTensor(reference().tensor("pair.side_by_side")), cv::NORM_INF), 0.0);
  caig::ClipPreprocessOptions options;
  options.size = meta.at("size").get<int>();
  const at::Tensor t = caig::clipPreprocess(pair, options);
  EXPECT_LE((t - reference().tensor("pair.tensor")).abs().max().item<float>(), 1e-4f);
}

TEST(ClipPreprocess, PadColourAndShapes) {
  const cv::Scalar pad = caig::clipPadColour();
  EXPECT_EQ(pad[0], 122);
  EXPECT_EQ(pad[1], 116);
  EXPECT_EQ(pad[2], 104);
  // A wide image is padded top and bottom with the mean colour, which normalises to ~0.
  cv::Mat wide(10, 40, CV_8UC3, cv::Scalar(0, 0, 255));  // BGR red
  caig::ClipPreprocessOptions options;
  options.size = 40;
  const at::Tensor t = caig::clipPreprocess(wide, options);
  EXPECT_EQ(t.sizes(), (std::vector<std::int64_t>{1, 3, 40, 40}));
  EXPECT_NEAR(t[0][0][0][20].item<float>(), (122 / 255.0 - 0.48145466) / 0.26862954, 1e-5);
  EXPECT_NEAR(t[0][0][20][20].item<float>(), (1.0 - 0.48145466) / 0.26862954, 1e-5);  // R of red
  EXPECT_NEAR(t[0][2][20][20].item<float>(), (0.0 - 0.40821073) / 0.27577711, 1e-5);
  // Batches stack.
  const at::Tensor b = caig::clipPreprocessBatch({wide, wide}, options);
  EXPECT_EQ(b.size(0), 2);
  EXPECT_TRUE(at::equal(b[1], t[0]));
  EXPECT_THROW((void)caig::clipPreprocess(cv::Mat(), options), std::invalid_argument);
  EXPECT_THROW((void)caig::pillowResizeBicubic(cv::Mat(4, 4, CV_32FC1), {2, 2}), std::invalid_argument);
}

// ---- the neural prompt writer and ranker on the tiny fixture model ----------------------------


namespace {

caig::LlavaEngineOptions tinyEngine() {
  caig::LlavaEngineOptions o;
  o.modelDir = kData / "tiny-llava-hf";
  o.tokenizerDir = kData / "tiny-llava-tok";
  o.device = "cpu";
  return o;
}

// The writer is loaded once; every test sets all the sampling options it relies on.
caig::LlavaPromptWriter& tinyWriter(int maxNewTokens, double temperature, double topP = 1.0) {
  static caig::LlavaPromptWriter w(tinyEngine());
  w.sampling = {};
  w.sampling.maxNewTokens = maxNewTokens;
  w.sampling.temperature = temperature;
  w.sampling.topP = topP;
  return w;
}

caig::PromptRequest mugRequest(int count, std::uint64_t seed) {
  caig::PromptRequest r;
  r.productImage = caig::loadImage(fs::path(CAIG_SOURCE_DIR) / "resources" / "demo" / "mug.png");
  r.title = "Teal Ceramic Mug";
  r.count = count;
  r.seed = seed;
  return r;
}

}  // namespace

TEST(LlavaPromptCleaning, StripsLabelsQuotesAndEndTokens) {
  EXPECT_EQ(caig::cleanGeneratedPrompt("Prompt: a mug on marble</s>"), "a mug on marble");
  EXPECT_EQ(caig::cleanGeneratedPrompt("  \"a mug on marble, soft light\"  "), "a mug on marble, soft light");
  EXPECT_EQ(caig::cleanGeneratedPrompt("Stable Diffusion prompt: 'a mug\non marble'"), "a mug on marble");
  // Over the limit: cut at the last ", " before it, never inside a UTF-8 character.
  EXPECT_EQ(caig::cleanGeneratedPrompt("a mug on marble, soft light, warm tones", 30), "a mug on marble, soft light");
  EXPECT_EQ(caig::cleanGeneratedPrompt("abcdefghij", 4), "abcd");
  EXPECT_EQ(caig::cleanGeneratedPrompt("caf\xC3\xA9" "caf\xC3\xA9", 4), "caf");
  std::vector<caig::WrittenPrompt> batch(4);
  batch[0].text = "a mug on marble";
  batch[1].text = "a mug on sand";
  batch[2].text = "A mug on marble ";
  batch[3].text = "";
  caig::markDuplicatePrompts(batch);
  EXPECT_EQ(batch[0].duplicateOf, -1);
  EXPECT_EQ(batch[1].duplicateOf, -1);
  EXPECT_EQ(batch[2].duplicateOf, 0);
  EXPECT_EQ(batch[3].duplicateOf, -1);
  EXPECT_EQ(caig::cleanGeneratedPrompt("Here is the prompt: \xE2\x80\x9C" "a mug\xE2\x80\x9D"), "a mug");
  EXPECT_EQ(caig::cleanGeneratedPrompt("a kitchen: warm light"), "a kitchen: warm light");  // not a label
  EXPECT_EQ(caig::cleanGeneratedPrompt("don't stop"), "don't stop");
  EXPECT_EQ(caig::cleanGeneratedPrompt("</s>"), "");
}

TEST(LlavaPromptWriter, WritesNLabelledPromptsReproducibly) {
  auto& w = tinyWriter(12, 1.0, 0.95);
  EXPECT_EQ(w.id(), "llava: tiny-llava-hf");
  const auto a = w.write(mugRequest(5, 42));
  ASSERT_EQ(a.prompts.size(), 5u);
  EXPECT_FALSE(a.cancelled);
  std::set<std::string> instructions;
  for (const auto& p : a.prompts) {
    EXPECT_FALSE(p.text.empty()) << p.raw;
    EXPECT_EQ(p.source, "llava: tiny-llava-hf");
    EXPECT_NE(p.instruction.find("'Teal Ceramic Mug'"), std::string::npos) << p.instruction;
    EXPECT_EQ(p.text, caig::cleanGeneratedPrompt(p.raw));
    instructions.insert(p.instruction);
  }
  EXPECT_GE(instructions.size(), 2u) << "phrasings are picked per prompt";
  // Same seed, same prompts; another seed, other prompts.
  const auto b = w.write(mugRequest(5, 42));
  const auto c = w.write(mugRequest(5, 43));
  int differ = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(a.prompts[i].raw, b.prompts[i].raw) << i;
    EXPECT_EQ(a.prompts[i].instruction, b.prompts[i].instruction) << i;
    differ += a.prompts[i].raw != c.prompts[i].raw;
  }
  EXPECT_GE(differ, 4);
  // The instruction choice follows instructionIndex().
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(a.prompts[static_cast<std::size_t>(i)].instruction,
              w.instructions().instruction(w.instructionIndex(42, i), "Teal Ceramic Mug"));
  }
}

TEST(LlavaPromptWriter, StreamsWholeCharactersThatAddUpToTheAnswer) {
  auto& w = tinyWriter(16, 1.0);
  std::vector<std::string> streamed(3);
  int calls = 0;
  const auto batch = w.write(mugRequest(3, 7), [&](int index, const std::string& text) {
    EXPECT_GE(index, 0);
    EXPECT_LT(index, 3);
    EXPECT_FALSE(text.empty());
    streamed[static_cast<std::size_t>(index)] += text;
    ++calls;
    return true;
  });
  EXPECT_GT(calls, 3);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(streamed[i], batch.prompts[i].raw) << i;
}

TEST(LlavaPromptWriter, Cancels) {
  auto& w = tinyWriter(16, 1.0);
  // From the callback, after the first piece of text.
  int calls = 0;
  const auto byCallback = w.write(mugRequest(4, 3), [&](int, const std::string&) { return ++calls < 1; });
  EXPECT_TRUE(byCallback.cancelled);
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(byCallback.prompts.size(), 4u);
  for (const auto& p : byCallback.prompts) EXPECT_FALSE(p.complete);
  // By the flag, set before the start: nothing is generated.
  std::atomic<bool> cancel{true};
  const auto byFlag = w.write(mugRequest(2, 3), {}, &cancel);
  EXPECT_TRUE(byFlag.cancelled);
  for (const auto& p : byFlag.prompts) EXPECT_TRUE(p.raw.empty()) << p.raw;
}

TEST(LlavaPromptWriter, GreedyIsDeterministicAcrossSeedsOfTheSamePhrasing) {
  auto& w = tinyWriter(8, 0.0);  // greedy: every row of a phrasing gives the same answer
  const auto batch = w.write(mugRequest(6, 11));
  std::map<std::string, std::string> byInstruction;
  for (const auto& p : batch.prompts) {
    auto [it, fresh] = byInstruction.emplace(p.instruction, p.raw);
    if (!fresh) {
      EXPECT_EQ(it->second, p.raw);
    }
  }
}

TEST(LlavaPromptWriter, OriginalLayoutFolderWritesTheSamePrompts) {
  // tests/data/tiny-llava holds the same weights in original LLaVA's key layout.
  auto o = tinyEngine();
  o.modelDir = kData / "tiny-llava";
  caig::LlavaPromptWriter original(o);
  EXPECT_EQ(original.id(), "llava: tiny-llava");
  original.sampling.maxNewTokens = 8;
  original.sampling.temperature = 0;
  auto& hf = tinyWriter(8, 0.0);
  const auto a = original.write(mugRequest(3, 21));
  const auto b = hf.write(mugRequest(3, 21));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a.prompts[i].raw, b.prompts[i].raw) << i;
    EXPECT_EQ(a.prompts[i].source, "llava: tiny-llava");
  }
}

TEST(LlavaPromptWriter, MissingOrMismatchedTokenizerIsAClearError) {
  auto o = tinyEngine();
  o.tokenizerDir.clear();  // tiny-llava-hf has no tokenizer.model
  try {
    caig::LlavaPromptWriter w(o);
    FAIL() << "loaded without a tokenizer";
  } catch (const caig::io::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
  }
  // A tokenizer whose "<image>" is not the model's image_token_index.
  const fs::path d = tempDir("tokmismatch");
  fs::copy_file(kData / "tiny-llava-tok" / "tokenizer.model", d / "tokenizer.model");
  writeFile(d / "added_tokens.json", R"({"<image>": 1005})");
  o.tokenizerDir = d;
  try {
    caig::LlavaPromptWriter w(o);
    FAIL() << "loaded a mismatched tokenizer";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("does not match the model"), std::string::npos) << e.what();
  }
  o = tinyEngine();
  o.device = "tpu";
  EXPECT_THROW(caig::LlavaPromptWriter w(o), std::invalid_argument);
  fs::remove_all(d);
}

namespace {

fs::path makeRewardModelFolder() {
  static const fs::path dir = caig::test::writeTinyRewardModelFile(kData, tempDir("rm") / "tiny-llava-rm");
  return dir;
}

caig::NeuralRanker& tinyRanker() {
  static caig::NeuralRanker r([] {
    caig::NeuralRankerOptions o;
    o.engine = tinyEngine();
    o.engine.modelDir = makeRewardModelFolder();
    o.pairSide = 64;  // small pairs keep the test fast; CAIG's 512 is the default
    return o;
  }());
  return r;
}

std::vector<caig::Creative> demoCreatives() {
  std::vector<caig::Creative> out;
  for (const char* name : {"mug", "jar", "perfume"}) {
    out.push_back({caig::loadImage(fs::path(CAIG_SOURCE_DIR) / "resources" / "demo" / (std::string(name) + ".png")),
                   {}});
  }
  return out;
}

}  // namespace

TEST(NeuralRanker, RecognisesRewardModelFolders) {
  EXPECT_TRUE(caig::isRewardModelFolder(makeRewardModelFolder()));
  EXPECT_FALSE(caig::isRewardModelFolder(kData / "tiny-llava-hf"));  // no score head
  EXPECT_FALSE(caig::isRewardModelFolder(kData / "no-such-folder"));
  EXPECT_FALSE(caig::isRewardModelFolder("builtin"));
}

TEST(NeuralRanker, ScoresBothOrdersThroughTheRewardModel) {
  auto& ranker = tinyRanker();
  EXPECT_EQ(ranker.id().rfind("llava-rm:tiny-llava-rm@", 0), 0u) << ranker.id();
  const auto creatives = demoCreatives();
  const caig::RankContext ctx{"Teal Ceramic Mug", ""};
  const caig::PairScore s = ranker.score(creatives[0], creatives[1], ctx);
  EXPECT_GT(s.probAB, 0.0);
  EXPECT_LT(s.probAB, 1.0);
  EXPECT_NEAR(s.probLeftWins, 0.5 * (s.probAB + 1.0 - s.probBA), 1e-12);
  EXPECT_NEAR(s.disagreement, std::abs(s.probAB - (1.0 - s.probBA)), 1e-12);
  // Swapping the creatives swaps the orders: P(b beats a) = 1 - P(a beats b).
  const caig::PairScore swapped = ranker.score(creatives[1], creatives[0], ctx);
  EXPECT_NEAR(swapped.probAB, s.probBA, 1e-5);
  EXPECT_NEAR(swapped.probLeftWins, 1.0 - s.probLeftWins, 1e-5);
  // The same numbers straight from the reward model on the composed pair and the question.
  caig::LlavaLoadOptions lo;
  const auto rm = caig::LlavaRewardModel::load(makeRewardModelFolder(), lo);
  const auto ins = caig::LlavaInstructions::load(caig::defaultLlavaInstructionsFile());
  const auto ids = caig::tokenizeWithImage(tok(), caig::rewardModelPrompt(ins.question("Teal Ceramic Mug")), 999);
  EXPECT_EQ(ids[1], 999);
  caig::ClipPreprocessOptions pre;
  pre.size = static_cast<int>(rm.llava().imageSize());
  const at::Tensor pixels = caig::clipPreprocess(caig::sideBySide(creatives[0].image, creatives[1].image, 64), pre);
  const at::Tensor logits = rm.pairLogits(at::tensor(ids, at::kLong).unsqueeze(0), pixels);
  EXPECT_NEAR(logits.softmax(-1)[0][0].item<double>(), s.probAB, 1e-5);
}

TEST(NeuralRanker, RanksThroughBradleyTerry) {
  auto& ranker = tinyRanker();
  const auto creatives = demoCreatives();
  const int before = ranker.comparisons();
  const auto r = caig::rankCreatives(ranker, creatives, {"Teal Ceramic Mug", ""});
  EXPECT_EQ(r.comparisons, 3);
  EXPECT_EQ(ranker.comparisons() - before, 3);
  std::vector<int> ranks = r.rank;
  std::sort(ranks.begin(), ranks.end());
  EXPECT_EQ(ranks, (std::vector<int>{1, 2, 3}));
  EXPECT_NE(ranker.status().find("order disagreement"), std::string::npos) << ranker.status();
  EXPECT_GE(ranker.meanDisagreement(), 0.0);
  // Deterministic.
  const auto again = caig::rankCreatives(ranker, creatives, {"Teal Ceramic Mug", ""});
  EXPECT_EQ(again.rank, r.rank);
}

TEST(NeuralRanker, RefusesAFolderWithoutScoreHead) {
  caig::NeuralRankerOptions o;
  o.engine = tinyEngine();
  EXPECT_THROW(caig::NeuralRanker r(o), caig::io::FormatError);
}

TEST(LlavaPromptWriter, TransparentShotIsSeenOverWhite) {
  // The same product as BGRA with a transparent background, and flattened over white by hand:
  // the writer must give the same prompts for both.
  const cv::Mat bgr = caig::loadImage(fs::path(CAIG_SOURCE_DIR) / "resources" / "demo" / "mug.png");
  cv::Mat alpha = caig::loadImage(fs::path(CAIG_SOURCE_DIR) / "resources" / "demo" / "mug.alpha.png");
  if (alpha.channels() != 1) cv::extractChannel(alpha, alpha, 0);
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  std::vector<cv::Mat> ch;
  cv::split(bgra, ch);
  ch[3] = alpha > 127;
  for (int c = 0; c < 3; ++c) ch[static_cast<std::size_t>(c)].setTo(0, ~ch[3]);  // junk under transparency
  cv::merge(ch, bgra);
  cv::Mat flat(bgr.size(), CV_8UC3, cv::Scalar::all(255));
  bgr.copyTo(flat, alpha > 127);
  auto& w = tinyWriter(6, 0.0);
  auto request = mugRequest(2, 5);
  request.productImage = bgra;
  const auto a = w.write(request);
  request.productImage = flat;
  const auto b = w.write(request);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(a.prompts[i].raw, b.prompts[i].raw);
}

// CAIG's LLaVA folders name their CLIP tower by its Hub id; installed into the Hugging Face cache,
// the tower is found there unless one beside the model or a given one says otherwise.
TEST(LlavaVisionTower, FoundInTheHuggingFaceCacheByItsHubId) {
  namespace fs = std::filesystem;
  const fs::path tmp = fs::temp_directory_path() / ("caig-tower-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  const fs::path model = tmp / "llava";
  fs::create_directories(model);
  std::ofstream(model / "config.json") << R"({"model_type": "llava", "mm_vision_tower": "tiny-org/clip-tiny"})";
  const std::string commit(40, 'c');
  const fs::path repo = tmp / "hub" / caig::hf::repoFolderName("tiny-org/clip-tiny");
  fs::create_directories(repo / "blobs");
  std::ofstream(repo / "blobs" / "cfg") << "{}";
  caig::hf::linkSnapshotFile(repo, commit, "config.json", "cfg");
  caig::hf::writeRef(repo, "main", commit);
  setenv("HF_HUB_CACHE", (tmp / "hub").c_str(), 1);
  setenv("CAIG_MODELS_DIR", (tmp / "models").c_str(), 1);

  EXPECT_EQ(caig::llavaVisionTowerFor(model, {}), repo / "snapshots" / commit);
  EXPECT_EQ(caig::llavaVisionTowerFor(model, tmp / "given"), tmp / "given");  // a given folder wins
  fs::create_directories(model / "clip-tiny");  // a copy beside the model: the loader's own rule
  EXPECT_EQ(caig::llavaVisionTowerFor(model, {}), fs::path());
  fs::remove_all(model / "clip-tiny");
  fs::remove_all(repo);  // not installed: the loader names what it looked for
  EXPECT_EQ(caig::llavaVisionTowerFor(model, {}), fs::path());
  unsetenv("HF_HUB_CACHE");
  unsetenv("CAIG_MODELS_DIR");
  fs::remove_all(tmp);
}

// "auto" on the CPU picks what fits the machine: a 7B model (6.7 B parameters) in fp32 on 64 GiB,
// bf16 on 24 GiB, int8 on 16 GiB; the tiny fixtures stay fp32.
TEST(LlavaRuntime, AutoOnTheCpuFitsTheModelToTheMemory) {
  constexpr std::uint64_t k7b = 6'740'000'000ull, kGiB = 1ull << 30;
  EXPECT_EQ(caig::autoCpuLlavaDtype(k7b, 64 * kGiB), "fp32");
  EXPECT_EQ(caig::autoCpuLlavaDtype(k7b, 24 * kGiB), "bf16");
  EXPECT_EQ(caig::autoCpuLlavaDtype(k7b, 16 * kGiB), "int8");
  const caig::LlavaRuntime tiny = caig::resolveLlavaRuntime("cpu", "auto", kData / "tiny-llava-hf");
  EXPECT_EQ(tiny.dtype, at::kFloat);
  EXPECT_FALSE(tiny.int8Weights);
  const caig::LlavaRuntime int8 = caig::resolveLlavaRuntime("cpu", "int8");
  EXPECT_EQ(int8.dtype, at::kBFloat16);
  EXPECT_TRUE(int8.int8Weights);
  EXPECT_THROW(caig::resolveLlavaRuntime("cpu", "int4"), std::invalid_argument);
}

// The reward ranker with int8 linear layers scores pairs as the fp32 one does, within the
// rounding of 8-bit weights.
TEST(NeuralRanker, Int8WeightsScoreLikeFp32) {
  caig::NeuralRankerOptions o;
  o.engine = tinyEngine();
  o.engine.modelDir = makeRewardModelFolder();
  o.engine.dtype = "int8";
  o.pairSide = 64;
  caig::NeuralRanker int8(o);
  const auto creatives = demoCreatives();
  const caig::RankContext ctx{"Teal Ceramic Mug", ""};
  const caig::PairScore a = tinyRanker().score(creatives[0], creatives[1], ctx);
  const caig::PairScore b = int8.score(creatives[0], creatives[1], ctx);
  std::printf("reward model P(a beats b): fp32 %.5f, int8 weights + bf16 %.5f\n", a.probAB, b.probAB);
  EXPECT_NEAR(b.probAB, a.probAB, 0.02);
  EXPECT_NEAR(b.probBA, a.probBA, 0.02);
}
