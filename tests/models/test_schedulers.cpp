// diffusers 0.27.2 schedulers against the reference fixtures (tests/data/schedulers): timesteps,
// init sigma, every scale_model_input and step output of a fake-model loop, with the recorded
// ancestral noise replayed in order. Also add_noise formulas, seeded noise, and bad configs.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/diffusion_schedulers.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"

namespace {

namespace fs = std::filesystem;
const fs::path kDir = fs::path(CAIG_TEST_DATA) / "schedulers";

double maxAbsErr(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Replays recorded draws; counts what the scheduler asked for.
class ReplayNoise final : public caig::NoiseSource {
 public:
  explicit ReplayNoise(std::vector<at::Tensor> draws) : draws_(std::move(draws)) {}
  at::Tensor next(const at::Tensor& like) override {
    ++requested_;
    if (requested_ > draws_.size()) return at::zeros_like(like);
    return draws_[requested_ - 1].to(like.device(), like.scalar_type());
  }
  size_t requested() const { return requested_; }
  size_t available() const { return draws_.size(); }

 private:
  std::vector<at::Tensor> draws_;
  size_t requested_ = 0;
};

// The fixture's case names are our scheduler names except for Euler ancestral.
std::string schedulerName(const std::string& caseName) { return caseName == "euler_ancestral" ? "euler_a" : caseName; }

// io.json was written by Python's json module, which spells lambda_min_clipped as -Infinity
// (not JSON). Its value is diffusers' default (-inf: no clipping), so read it as null.
nlohmann::json readIoJson() {
  std::ifstream in(kDir / "io.json");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  for (size_t pos; (pos = text.find("-Infinity")) != std::string::npos;) text.replace(pos, 9, "null");
  return nlohmann::json::parse(text);
}

// One case of a fixture folder: the fake model's loop against diffusers' model inputs,
// trajectory and final sample, the recorded noise consumed in order.
// timestepTolerance: 0 (exact) but for fractional timesteps from _sigma_to_t over numpy's float32
// log table, which is not correctly rounded (it differs from glibc's logf in ~19 % of SD1.5's 1000
// entries), so those timesteps agree to a few 1e-5, not bit for bit.
void checkCase(const fs::path& dir, const nlohmann::json& c, const std::string& caseName, const std::string& scheduler,
               double timestepTolerance = 0) {
  const auto ckpt = caig::io::Checkpoint::open(dir / "io.safetensors");

  nlohmann::json config = c.at("resolved_config");
  config["_class_name"] = c.at("class");
  // Both the explicit name and the class-name route must give the same scheduler.
  auto byClass = caig::makeScheduler("", config);
  auto sched = caig::makeScheduler(scheduler, config);
  EXPECT_EQ(byClass->name(), sched->name());

  const int steps = c.at("steps").get<int>();
  sched->setTimesteps(steps);
  const auto expectedT = c.at("timesteps").get<std::vector<double>>();
  ASSERT_EQ(sched->timesteps().size(), expectedT.size());
  double tErr = 0;
  for (size_t i = 0; i < expectedT.size(); ++i) {
    if (timestepTolerance == 0) {
      EXPECT_EQ(sched->timesteps()[i], expectedT[i]) << "timestep " << i;
    }
    tErr = std::max(tErr, std::abs(sched->timesteps()[i] - expectedT[i]));
  }
  EXPECT_LE(tErr, timestepTolerance);
  const double initSigma = c.at("init_noise_sigma").get<double>();
  EXPECT_NEAR(sched->initNoiseSigma(), initSigma, 1e-6 * std::max(1.0, initSigma));

  std::vector<at::Tensor> draws;
  for (int i = 0; i < c.at("n_noises").get<int>(); ++i)
    draws.push_back(ckpt.tensor(caseName + "_noise_" + std::to_string(i)).clone());
  ReplayNoise noise(draws);

  const at::Tensor inputs = ckpt.tensor(caseName + "_model_input").clone();
  const at::Tensor traj = ckpt.tensor(caseName + "_trajectory").clone();
  at::Tensor x = ckpt.tensor("x_T").clone() * sched->initNoiseSigma();
  double inErr = 0, trajErr = 0;
  for (size_t i = 0; i < sched->timesteps().size(); ++i) {
    const double t = sched->timesteps()[i];
    const at::Tensor xin = sched->scaleModelInput(x, i);
    inErr = std::max(inErr, maxAbsErr(xin, inputs[static_cast<int64_t>(i)]));
    const at::Tensor eps = 0.1 * xin + std::sin(t / 100.0);
    x = sched->step(eps, i, x, noise);
    trajErr = std::max(trajErr, maxAbsErr(x, traj[static_cast<int64_t>(i)]));
  }
  const double finalErr = maxAbsErr(x, ckpt.tensor(caseName + "_final"));
  std::printf("[%s] max abs err: timesteps %.3g, model_input %.3g, trajectory %.3g, final %.3g\n", caseName.c_str(),
              tErr, inErr, trajErr, finalErr);
  EXPECT_LE(inErr, 1e-4);
  EXPECT_LE(trajErr, 1e-4);
  EXPECT_LE(finalErr, 1e-4);
  EXPECT_EQ(noise.requested(), noise.available()) << "scheduler drew a different number of noises than diffusers";

  // setTimesteps resets the multistep state: a second run reproduces the first.
  sched->setTimesteps(steps);
  ReplayNoise again(draws);
  at::Tensor y = ckpt.tensor("x_T").clone() * sched->initNoiseSigma();
  for (size_t i = 0; i < sched->timesteps().size(); ++i) {
    const at::Tensor yin = sched->scaleModelInput(y, i);
    y = sched->step(0.1 * yin + std::sin(sched->timesteps()[i] / 100.0), i, y, again);
  }
  EXPECT_EQ(maxAbsErr(x, y), 0.0);
}

class SchedulerFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(SchedulerFixture, MatchesDiffusers) {
  const std::string caseName = GetParam();
  checkCase(kDir, readIoJson().at("cases").at(caseName), caseName, schedulerName(caseName));
}

// Every case of a goldens folder beside tests/data/schedulers (count of them checked first).
nlohmann::json checkFolder(const std::string& name, size_t count, double timestepTolerance = 0) {
  const fs::path dir = fs::path(CAIG_TEST_DATA) / name;
  std::ifstream in(dir / "io.json");
  const nlohmann::json io = nlohmann::json::parse(in);
  EXPECT_EQ(io.at("cases").size(), count);
  for (const auto& [caseName, c] : io.at("cases").items()) {
    SCOPED_TRACE(caseName);
    checkCase(dir, c, caseName, c.at("scheduler").get<std::string>(), timestepTolerance);
  }
  return io;
}

// DPM++ 2M below 15 steps, where diffusers lowers the final step to first order but keeps the
// second-to-last at second order (its lower_order_second only lowers a third-order solver):
// tests/data/schedulers_few_steps, made with ../shared/refenv (io.json says how).
TEST(Schedulers, DpmSolverBelowFifteenStepsMatchesDiffusers) {
  checkFolder("schedulers_few_steps", 4);
}

// DPMSolverSinglestepScheduler (CAIG's "DPM++ SDE Karras"), order 2: alternating first- and
// second-order steps, an odd count, CAIG's 30 Karras steps, and a sigma_min end kept second order.
// tests/data/schedulers_singlestep, made with ../shared/refenv (make_goldens.py beside it).
TEST(Schedulers, DpmSolverSinglestepMatchesDiffusers) {
  const nlohmann::json io = checkFolder("schedulers_singlestep", 5);
  // The same config under the class name CAIG's code builds.
  nlohmann::json config = io.at("cases").at("dpmpp_singlestep_karras_30").at("resolved_config");
  config["_class_name"] = "DPMSolverSinglestepScheduler";
  EXPECT_EQ(caig::makeScheduler("", config)->name(), "dpmpp_singlestep_karras");
}

// Records the Brownian intervals a scheduler asks for, replaying the recorded draws.
class IntervalNoise final : public caig::NoiseSource {
 public:
  explicit IntervalNoise(std::vector<at::Tensor> draws) : draws_(std::move(draws)) {}
  at::Tensor next(const at::Tensor& like) override { return draws_.at(i_++).to(like.scalar_type()); }
  at::Tensor brownian(double a, double b, double lo, double hi, const at::Tensor& like) override {
    intervals.push_back({a, b});
    range = {lo, hi};
    return next(like);
  }
  std::vector<std::vector<double>> intervals;
  std::vector<double> range;

 private:
  std::vector<at::Tensor> draws_;
  size_t i_ = 0;
};

// DPMSolverSDEScheduler (DPM++ SDE, two UNet calls a step): plain, Karras, Karras with leading
// spacing, against diffusers with its Brownian draws recorded (torchsde stood in for; see
// tests/data/schedulers_sde/make_goldens.py), and the sigma intervals each draw was asked for.
TEST(Schedulers, DpmSdeMatchesDiffusers) {
  const nlohmann::json io = checkFolder("schedulers_sde", 3, 1e-3);
  const auto ckpt = caig::io::Checkpoint::open(fs::path(CAIG_TEST_DATA) / "schedulers_sde" / "io.safetensors");
  for (const auto& [caseName, c] : io.at("cases").items()) {
    SCOPED_TRACE(caseName);
    nlohmann::json config = c.at("resolved_config");
    auto s = caig::makeScheduler(c.at("scheduler").get<std::string>(), config);
    s->setTimesteps(c.at("steps").get<int>());
    std::vector<at::Tensor> draws;
    for (int i = 0; i < c.at("n_noises").get<int>(); ++i)
      draws.push_back(ckpt.tensor(caseName + "_noise_" + std::to_string(i)).clone());
    IntervalNoise noise(draws);
    at::Tensor x = ckpt.tensor("x_T").clone() * s->initNoiseSigma();
    for (size_t i = 0; i < s->timesteps().size(); ++i)
      x = s->step(0.1 * s->scaleModelInput(x, i) + std::sin(s->timesteps()[i] / 100.0), i, x, noise);
    const auto expected = c.at("noise_intervals").get<std::vector<std::vector<double>>>();
    ASSERT_EQ(noise.intervals.size(), expected.size());
    for (size_t k = 0; k < expected.size(); ++k) {
      EXPECT_NEAR(noise.intervals[k][0], expected[k][0], 1e-6 * expected[k][0]) << k;
      EXPECT_NEAR(noise.intervals[k][1], expected[k][1], 1e-6 * expected[k][1]) << k;
    }
    const auto range = c.at("noise_range").get<std::vector<double>>();
    EXPECT_NEAR(noise.range[0], range[0], 1e-6 * range[0]);
    EXPECT_NEAR(noise.range[1], range[1], 1e-6 * range[1]);
  }
}

// SeededNoise's Brownian tree: standard-normal increments that add up along the path, the same
// whatever was asked before, uncorrelated over disjoint intervals; a seed reproduces a DPM++ SDE
// run and another seed gives another.
TEST(Schedulers, SeededBrownianNoiseIsABrownianPath) {
  const at::Tensor like = at::empty({1, 4, 128, 128});
  const double lo = 0.03, hi = 14.6;
  caig::SeededNoise a(7), b(7);
  const at::Tensor ab = a.brownian(10.0, 2.0, lo, hi, like);
  (void)b.brownian(0.5, 0.7, lo, hi, like);  // another query first: no effect on the path
  EXPECT_TRUE(at::equal(ab, b.brownian(10.0, 2.0, lo, hi, like)));
  EXPECT_NEAR(ab.mean().item<double>(), 0.0, 0.02);
  EXPECT_NEAR(ab.std().item<double>(), 1.0, 0.02);
  // W(2) - W(10) = (W(5) - W(10)) + (W(2) - W(5)).
  const at::Tensor first = a.brownian(10.0, 5.0, lo, hi, like) * std::sqrt(5.0);
  const at::Tensor second = a.brownian(5.0, 2.0, lo, hi, like) * std::sqrt(3.0);
  EXPECT_LE((ab * std::sqrt(8.0) - (first + second)).abs().max().item<double>(), 1e-4);
  const double corr = (first * second).mean().item<double>() / (first.std() * second.std()).item<double>();
  EXPECT_LT(std::abs(corr), 0.02);
  // Overlapping intervals share their common part: corr(W(2)-W(10), W(5)-W(10)) = sqrt(5/8).
  const double overlap = (ab * first).mean().item<double>() / (ab.std() * first.std()).item<double>();
  EXPECT_NEAR(overlap, std::sqrt(5.0 / 8.0), 0.02);

  nlohmann::json config = readIoJson().at("config");
  auto run = [&](uint64_t seed) {
    auto s = caig::makeScheduler("dpmpp_sde_karras", config);
    s->setTimesteps(8);
    caig::SeededNoise noise(seed);
    at::Tensor x = noise.next(like) * s->initNoiseSigma();
    for (size_t i = 0; i < s->timesteps().size(); ++i) x = s->step(0.1 * s->scaleModelInput(x, i), i, x, noise);
    return x;
  };
  EXPECT_TRUE(at::equal(run(11), run(11)));
  EXPECT_FALSE(at::equal(run(11), run(12)));
}

INSTANTIATE_TEST_SUITE_P(Diffusers, SchedulerFixture,
                         ::testing::Values("euler", "euler_ancestral", "ddim", "dpmpp_2m", "dpmpp_2m_karras", "unipc",
                                           "lcm"));

nlohmann::json baseConfig() { return readIoJson().at("config"); }

TEST(Schedulers, AddNoiseEulerFamily) {
  for (const char* name : {"euler", "euler_a"}) {
    auto s = caig::makeScheduler(name, baseConfig());
    s->setTimesteps(10);
    const at::Tensor orig = at::arange(6, at::kFloat).reshape({2, 3});
    const at::Tensor n = at::full({2, 3}, 0.5f);
    // sigma at index i: the inverse of scaleModelInput's 1/sqrt(sigma^2+1).
    const size_t i = 3;
    const double scale = s->scaleModelInput(at::ones({1}), i).item<double>();
    const double sigma = std::sqrt(1.0 / (scale * scale) - 1.0);
    const at::Tensor expected = orig + n * sigma;
    EXPECT_LE(maxAbsErr(s->addNoise(orig, n, i), expected), 1e-4) << name;
  }
}

TEST(Schedulers, AddNoiseDdpmFamily) {
  const nlohmann::json cfg = baseConfig();
  // alphas_cumprod from the config, in double.
  std::vector<double> acp;
  double prod = 1;
  const double b0 = std::sqrt(0.00085), b1 = std::sqrt(0.012);
  for (int i = 0; i < 1000; ++i) {
    const double b = b0 + (b1 - b0) * i / 999.0;
    prod *= 1 - b * b;
    acp.push_back(prod);
  }
  for (const char* name : {"ddim", "lcm", "dpmpp_2m", "unipc"}) {
    auto s = caig::makeScheduler(name, cfg);
    s->setTimesteps(4);
    const at::Tensor orig = at::linspace(-1, 1, 8, at::kFloat);
    const at::Tensor n = at::linspace(2, -3, 8, at::kFloat);
    for (size_t i = 0; i < s->timesteps().size(); ++i) {
      const double a = acp[static_cast<size_t>(s->timesteps()[i])];
      const at::Tensor expected = std::sqrt(a) * orig + std::sqrt(1 - a) * n;
      EXPECT_LE(maxAbsErr(s->addNoise(orig, n, i), expected), 1e-4) << name << " index " << i;
    }
  }
}

// Every spacing gives `steps` descending timesteps inside the training range, for every scheduler
// (DPM++ SDE: 2 * steps - 1, its midpoints between them).
TEST(Schedulers, SpacingsGiveDescendingTimesteps) {
  for (const char* spacing : {"linspace", "leading", "trailing"}) {
    nlohmann::json cfg = baseConfig();
    cfg["timestep_spacing"] = spacing;
    for (const auto& name : caig::schedulerNames()) {
      auto s = caig::makeScheduler(name, cfg);
      for (int steps : {1, 7, 25}) {
        s->setTimesteps(steps);
        const auto& t = s->timesteps();
        const bool sde = name.rfind("dpmpp_sde", 0) == 0;
        ASSERT_EQ(t.size(), static_cast<size_t>(sde ? 2 * steps - 1 : steps)) << name << " " << spacing;
        for (size_t i = 0; i < t.size(); ++i) {
          EXPECT_GE(t[i], 0.0) << name << " " << spacing;
          EXPECT_LE(t[i], 999.0) << name << " " << spacing;
          if (i > 0 && name != "dpmpp_2m_karras" && name != "dpmpp_singlestep_karras") {
            EXPECT_LT(t[i], t[i - 1]) << name << " " << spacing << " " << i;
          }
        }
      }
    }
  }
  // DDIM trailing, 10 steps: np.round(np.arange(1000, 0, -100)) - 1.
  nlohmann::json cfg = baseConfig();
  cfg["timestep_spacing"] = "trailing";
  auto ddim = caig::makeScheduler("ddim", cfg);
  ddim->setTimesteps(10);
  EXPECT_EQ(ddim->timesteps(), (std::vector<double>{999, 899, 799, 699, 599, 499, 399, 299, 199, 99}));
}

TEST(Schedulers, SeededNoiseIsReproducible) {
  const at::Tensor like = at::zeros({2, 4, 8, 8}, at::kFloat);
  caig::SeededNoise a(42), b(42), c(43);
  const at::Tensor a1 = a.next(like), a2 = a.next(like);
  EXPECT_TRUE(at::equal(a1, b.next(like)));
  EXPECT_TRUE(at::equal(a2, b.next(like)));
  EXPECT_FALSE(at::equal(a1, a2));
  EXPECT_FALSE(at::equal(a1, c.next(like)));
  EXPECT_EQ(a1.sizes(), like.sizes());
  EXPECT_NEAR(a1.std().item<double>(), 1.0, 0.15);
  EXPECT_EQ(a.next(at::zeros({3}, at::kDouble)).scalar_type(), at::kDouble);
}

template <typename E, typename F>
void expectThrowMentioning(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an exception mentioning '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Schedulers, BadConfigs) {
  nlohmann::json cfg = baseConfig();
  cfg["_class_name"] = "PNDMScheduler";
  expectThrowMentioning<caig::io::FormatError>([&] { caig::makeScheduler("", cfg); }, "PNDMScheduler");
  cfg = baseConfig();
  cfg["beta_schedule"] = "cosine_whatever";
  expectThrowMentioning<caig::io::FormatError>([&] { caig::makeScheduler("euler", cfg); }, "cosine_whatever");
  cfg = baseConfig();
  cfg["num_train_timesteps"] = "many";
  expectThrowMentioning<caig::io::FormatError>([&] { caig::makeScheduler("ddim", cfg); }, "num_train_timesteps");
  expectThrowMentioning<std::invalid_argument>([&] { caig::makeScheduler("heun", baseConfig()); }, "heun");
  for (const auto& name : caig::schedulerNames()) {
    auto s = caig::makeScheduler(name, baseConfig());
    EXPECT_EQ(s->name(), name);
    expectThrowMentioning<std::invalid_argument>([&] { s->setTimesteps(0); }, "steps");
  }
}

}  // namespace
