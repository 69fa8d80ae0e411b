// diffusers 0.27.2 schedulers. Each class mirrors one scheduling_*.py: where diffusers computes in
// numpy float64 (timesteps, interpolated and Karras sigmas) we use double, where it uses fp32 torch
// scalars (alphas_cumprod, per-step coefficients) we use float, so results agree to fp32 rounding.

#include "models/diffusion_schedulers.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "models/io/errors.h"

namespace caig {

namespace {

using nlohmann::json;

// --- config reading --------------------------------------------------------------------------

template <typename T>
T field(const json& config, const char* key, T fallback) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception& e) {
    throw io::FormatError(std::string("scheduler config: field '") + key + "' has the wrong type: " + e.what());
  }
}

enum class Prediction { Epsilon, VPrediction };

struct BaseConfig {
  int numTrain = 1000;
  int stepsOffset = 0;
  std::string spacing = "linspace";
  Prediction prediction = Prediction::Epsilon;
  bool setAlphaToOne = true;
  std::vector<float> alphasCumprod;  // fp32 as torch.cumprod gives it
};

BaseConfig readBase(const json& config, const std::string& defaultSpacing, bool defaultAlphaToOne) {
  if (!config.is_object()) throw io::FormatError("scheduler config: expected a JSON object");
  BaseConfig base;
  // Read wide and range-checked before use: a narrowing read would wrap 4e12 into some int, and
  // the noise schedule is an array of that many entries.
  const auto numTrain = field<int64_t>(config, "num_train_timesteps", 1000);
  if (numTrain < 2 || numTrain > 100000) {
    throw io::FormatError("scheduler config: num_train_timesteps is " + std::to_string(numTrain) +
                          "; it must be in [2, 100000] (SD1.5 uses 1000)");
  }
  base.numTrain = static_cast<int>(numTrain);
  base.stepsOffset = field<int>(config, "steps_offset", 0);
  base.spacing = field<std::string>(config, "timestep_spacing", defaultSpacing);
  if (base.spacing != "linspace" && base.spacing != "leading" && base.spacing != "trailing")
    throw io::FormatError("scheduler config: unknown timestep_spacing '" + base.spacing +
                          "' (expected linspace, leading or trailing)");
  const std::string pred = field<std::string>(config, "prediction_type", "epsilon");
  if (pred == "epsilon") base.prediction = Prediction::Epsilon;
  else if (pred == "v_prediction") base.prediction = Prediction::VPrediction;
  else throw io::FormatError("scheduler config: unsupported prediction_type '" + pred + "'");
  if (field<bool>(config, "clip_sample", false))
    throw io::FormatError("scheduler config: clip_sample=true is not supported");
  if (field<bool>(config, "thresholding", false))
    throw io::FormatError("scheduler config: thresholding=true is not supported");
  if (field<bool>(config, "rescale_betas_zero_snr", false))
    throw io::FormatError("scheduler config: rescale_betas_zero_snr=true is not supported");
  base.setAlphaToOne = field<bool>(config, "set_alpha_to_one", defaultAlphaToOne);

  at::Tensor betas;
  auto trained = config.find("trained_betas");
  if (trained != config.end() && !trained->is_null()) {
    std::vector<float> values;
    try {
      values = trained->get<std::vector<float>>();
    } catch (const json::exception&) {
      throw io::FormatError("scheduler config: trained_betas must be an array of numbers");
    }
    if (static_cast<int>(values.size()) != base.numTrain)
      throw io::FormatError("scheduler config: trained_betas has " + std::to_string(values.size()) +
                            " entries, num_train_timesteps is " + std::to_string(base.numTrain));
    betas = at::tensor(values, at::kFloat);
  } else {
    const double start = field<double>(config, "beta_start", 0.0001);
    const double end = field<double>(config, "beta_end", 0.02);
    const std::string schedule = field<std::string>(config, "beta_schedule", "linear");
    if (schedule == "linear") {
      betas = at::linspace(start, end, base.numTrain, at::kFloat);
    } else if (schedule == "scaled_linear") {
      betas = at::linspace(std::sqrt(start), std::sqrt(end), base.numTrain, at::kFloat).pow(2);
    } else {
      throw io::FormatError("scheduler config: unknown beta_schedule '" + schedule +
                            "' (expected linear or scaled_linear)");
    }
  }
  const at::Tensor acp = at::cumprod(1.0 - betas, 0).contiguous();
  base.alphasCumprod.assign(acp.data_ptr<float>(), acp.data_ptr<float>() + base.numTrain);
  return base;
}

void checkSteps(int steps, int numTrain) {
  if (steps < 1) throw std::invalid_argument("scheduler: number of steps must be >= 1, got " + std::to_string(steps));
  if (steps > numTrain)
    throw std::invalid_argument("scheduler: " + std::to_string(steps) + " steps exceed num_train_timesteps " +
                                std::to_string(numTrain));
}

void checkIndex(size_t index, size_t size) {
  if (index >= size)
    throw std::out_of_range("scheduler: step index " + std::to_string(index) + " out of range (" +
                            std::to_string(size) + " timesteps; call setTimesteps first)");
}

// numpy.linspace(start, stop, num) in float64 (endpoint included).
std::vector<double> npLinspace(double start, double stop, int num) {
  std::vector<double> out(static_cast<size_t>(num));
  const double step = num > 1 ? (stop - start) / (num - 1) : 0.0;
  for (int i = 0; i < num; ++i) out[static_cast<size_t>(i)] = i * step + start;
  if (num > 1) out.back() = stop;
  return out;
}

// numpy.arange(n, 0, -n / steps).round(): "trailing" spacing, descending.
std::vector<double> trailingRounded(int n, int steps) {
  const double ratio = static_cast<double>(n) / steps;
  const auto count = static_cast<size_t>(std::ceil(static_cast<double>(n) / ratio));
  std::vector<double> out;
  for (size_t i = 0; i < count; ++i) out.push_back(std::nearbyint(n + static_cast<double>(i) * -ratio));
  return out;
}

double npRound(double v) { return std::nearbyint(v); }  // half to even, like numpy

// np.interp(x, arange(len(fp)), fp) with fp float32 promoted to float64.
double npInterp(double x, const std::vector<float>& fp) {
  const size_t n = fp.size();
  if (x <= 0) return fp[0];
  if (x >= static_cast<double>(n - 1)) return fp[n - 1];
  const size_t j = static_cast<size_t>(std::floor(x));
  const double slope = (static_cast<double>(fp[j + 1]) - fp[j]) / 1.0;
  return slope * (x - static_cast<double>(j)) + fp[j];
}

// ((1 - acp) / acp) ** 0.5 in fp32 torch.
std::vector<float> trainSigmas(const std::vector<float>& acp) {
  std::vector<float> s(acp.size());
  for (size_t i = 0; i < acp.size(); ++i) s[i] = std::sqrt((1.0f - acp[i]) / acp[i]);
  return s;
}

// diffusers' _sigma_to_t: fractional training timestep whose log-sigma interpolates to `sigma`.
double sigmaToT(double sigma, const std::vector<float>& logSigmas) {
  const double logSigma = std::log(std::max(sigma, 1e-10));
  const size_t n = logSigmas.size();
  size_t low = 0;
  for (size_t i = 0; i < n; ++i)
    if (logSigma - logSigmas[i] >= 0) low = i;
  low = std::min(low, n - 2);
  const double lo = logSigmas[low], hi = logSigmas[low + 1];
  double w = (lo - logSigma) / (lo - hi);
  w = std::clamp(w, 0.0, 1.0);
  return (1 - w) * static_cast<double>(low) + w * static_cast<double>(low + 1);
}

std::vector<double> karrasSigmas(const std::vector<float>& trainSig, int steps) {
  const double sigmaMin = trainSig.front(), sigmaMax = trainSig.back();
  const double rho = 7.0;
  const std::vector<double> ramp = npLinspace(0.0, 1.0, steps);
  const double minInv = std::pow(sigmaMin, 1 / rho), maxInv = std::pow(sigmaMax, 1 / rho);
  std::vector<double> out(static_cast<size_t>(steps));
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::pow(maxInv + ramp[i] * (minInv - maxInv), rho);
  return out;
}

// The multistep solvers' integer timesteps (DPM-Solver / UniPC set_timesteps).
std::vector<double> multistepTimesteps(const BaseConfig& b, int steps) {
  std::vector<double> t;
  if (b.spacing == "linspace") {
    const std::vector<double> lin = npLinspace(0, b.numTrain - 1, steps + 1);
    for (int i = steps; i >= 1; --i) t.push_back(npRound(lin[static_cast<size_t>(i)]));
  } else if (b.spacing == "leading") {
    const int ratio = b.numTrain / (steps + 1);
    for (int i = steps; i >= 1; --i) t.push_back(static_cast<double>(i * ratio + b.stepsOffset));
  } else {
    for (double v : trailingRounded(b.numTrain, steps)) t.push_back(v - 1);
  }
  return t;
}

// alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t (fp32, _sigma_to_alpha_sigma_t).
struct AlphaSigma {
  float alpha, sigma, lambda;
};
// log / exp / expm1 through ATen's fp32 kernels (vectorized, so not always glibc's last bit),
// as diffusers applies them to 0-dim fp32 tensors.
float torchLog(float v) { return at::log(at::scalar_tensor(v, at::kFloat)).item<float>(); }
float torchExp(float v) { return at::exp(at::scalar_tensor(v, at::kFloat)).item<float>(); }
float torchExpm1(float v) { return at::expm1(at::scalar_tensor(v, at::kFloat)).item<float>(); }

AlphaSigma alphaSigma(float sigma) {
  const float alpha = 1.0f / std::sqrt(sigma * sigma + 1.0f);
  const float s = sigma * alpha;
  return {alpha, s, torchLog(alpha) - torchLog(s)};
}

// --- Euler family ------------------------------------------------------------------------------

class EulerScheduler : public Scheduler {
 public:
  EulerScheduler(const json& config, bool ancestral) : ancestral_(ancestral) {
    base_ = readBase(config, "linspace", true);
    if (field<bool>(config, "use_karras_sigmas", false))
      throw io::FormatError("scheduler config: use_karras_sigmas is not supported for Euler schedulers");
    const std::string interp = field<std::string>(config, "interpolation_type", "linear");
    if (interp != "linear") throw io::FormatError("scheduler config: unsupported interpolation_type '" + interp + "'");
  }
  std::string name() const override { return ancestral_ ? "euler_a" : "euler"; }

  void setTimesteps(int steps) override {
    checkSteps(steps, base_.numTrain);
    std::vector<float> ts;  // np.float32 timesteps, descending
    if (base_.spacing == "linspace") {
      const std::vector<double> lin = npLinspace(0, base_.numTrain - 1, steps);
      for (int i = steps - 1; i >= 0; --i) ts.push_back(static_cast<float>(lin[static_cast<size_t>(i)]));
    } else if (base_.spacing == "leading") {
      const int ratio = base_.numTrain / steps;
      for (int i = steps - 1; i >= 0; --i) ts.push_back(static_cast<float>(i * ratio) + static_cast<float>(base_.stepsOffset));
    } else {
      for (double v : trailingRounded(base_.numTrain, steps)) ts.push_back(static_cast<float>(v) - 1.0f);
    }
    const std::vector<float> train = trainSigmas(base_.alphasCumprod);
    sigmas_.clear();
    timesteps_.clear();
    for (float t : ts) {
      timesteps_.push_back(t);
      sigmas_.push_back(static_cast<float>(npInterp(t, train)));
    }
    sigmas_.push_back(0.0f);
    const float maxSigma = *std::max_element(sigmas_.begin(), sigmas_.end());
    initSigma_ = (base_.spacing == "linspace" || base_.spacing == "trailing")
                     ? maxSigma
                     : std::sqrt(maxSigma * maxSigma + 1.0f);
  }

  double initNoiseSigma() const override { return initSigma_; }

  at::Tensor scaleModelInput(const at::Tensor& x, size_t i) const override {
    checkIndex(i, timesteps_.size());
    const float s = sigmas_[i];
    return x / static_cast<double>(std::sqrt(s * s + 1.0f));
  }

  at::Tensor step(const at::Tensor& out, size_t i, const at::Tensor& xIn, NoiseSource& noise) override {
    checkIndex(i, timesteps_.size());
    const at::Tensor x = xIn.to(at::kFloat);
    const at::Tensor eps = out.to(at::kFloat);
    const float sigma = sigmas_[i];
    at::Tensor x0;
    if (base_.prediction == Prediction::Epsilon) {
      x0 = x - static_cast<double>(sigma) * eps;
    } else {
      const float denom = sigma * sigma + 1.0f;
      x0 = eps * static_cast<double>(-sigma / std::sqrt(denom)) + x / static_cast<double>(denom);
    }
    at::Tensor prev;
    if (!ancestral_) {
      const at::Tensor derivative = (x - x0) / static_cast<double>(sigma);
      const float dt = sigmas_[i + 1] - sigma;
      prev = x + derivative * static_cast<double>(dt);
    } else {
      const float from = sigma, to = sigmas_[i + 1];
      const float up = std::sqrt(to * to * (from * from - to * to) / (from * from));
      const float down = std::sqrt(to * to - up * up);
      const at::Tensor derivative = (x - x0) / static_cast<double>(sigma);
      const float dt = down - sigma;
      prev = x + derivative * static_cast<double>(dt);
      prev = prev + noise.next(prev) * static_cast<double>(up);
    }
    return prev.to(xIn.scalar_type());
  }

  at::Tensor addNoise(const at::Tensor& original, const at::Tensor& n, size_t i) const override {
    checkIndex(i, timesteps_.size());
    return original + n * static_cast<double>(sigmas_[i]);
  }

 private:
  bool ancestral_;
  BaseConfig base_;
  std::vector<float> sigmas_;
  float initSigma_ = 1.0f;
};

// DPMSolverSDEScheduler (k-diffusion's DPM++ SDE, midpoint r = 1/2, eta 1): each step is two UNet
// calls, a first-order stochastic move to the log-sigma midpoint and a second-order one over the
// whole interval from the same start, so timesteps() is [t0, mid01, t1, mid12, ..., t_{N-1}] and
// an even index is a first-order call. Noise comes as Brownian increments over sigma intervals
// (NoiseSource::brownian): the two calls of a step share the start of theirs.
class DpmSdeScheduler final : public Scheduler {
 public:
  DpmSdeScheduler(const json& config, bool karras) : karras_(karras) { base_ = readBase(config, "linspace", true); }
  std::string name() const override { return karras_ ? "dpmpp_sde_karras" : "dpmpp_sde"; }

  void setTimesteps(int steps) override {
    checkSteps(steps, base_.numTrain);
    std::vector<double> ts;  // float64 as numpy gives them, descending
    if (base_.spacing == "linspace") {
      const std::vector<double> lin = npLinspace(0, base_.numTrain - 1, steps);
      for (int i = steps - 1; i >= 0; --i) ts.push_back(lin[static_cast<size_t>(i)]);
    } else if (base_.spacing == "leading") {
      const int ratio = base_.numTrain / steps;
      for (int i = steps - 1; i >= 0; --i) ts.push_back(static_cast<double>(i * ratio + base_.stepsOffset));
    } else {
      for (double v : trailingRounded(base_.numTrain, steps)) ts.push_back(v - 1.0);
    }
    const std::vector<float> train = trainSigmas(base_.alphasCumprod);
    std::vector<float> logSigmas(train.size());
    for (size_t i = 0; i < train.size(); ++i) logSigmas[i] = std::log(train[i]);
    std::vector<double> sig;  // float64
    for (double t : ts) sig.push_back(npInterp(t, train));
    if (karras_) {
      // _convert_to_karras over the interpolated sigmas' ends (not the training table's).
      const double sigmaMin = sig.back(), sigmaMax = sig.front(), rho = 7.0;
      const std::vector<double> ramp = npLinspace(0.0, 1.0, steps);
      const double minInv = std::pow(sigmaMin, 1 / rho), maxInv = std::pow(sigmaMax, 1 / rho);
      for (size_t i = 0; i < sig.size(); ++i) sig[i] = std::pow(maxInv + ramp[i] * (minInv - maxInv), rho);
      for (size_t i = 0; i < sig.size(); ++i) ts[i] = sigmaToT(sig[i], logSigmas);
    }
    // The midpoints in log sigma (float64) and their fractional timesteps.
    std::vector<double> mids;
    for (size_t i = 0; i + 1 < sig.size(); ++i) {
      const double t0 = -std::log(sig[i]), t1 = -std::log(sig[i + 1]);
      mids.push_back(sigmaToT(std::exp(-(t0 + (t1 - t0) * 0.5)), logSigmas));
    }
    timesteps_.clear();
    sigmas_.clear();
    for (size_t i = 0; i < ts.size(); ++i) {
      if (i > 0) {
        timesteps_.push_back(mids[i - 1]);
        sigmas_.push_back(static_cast<float>(sig[i]));  // repeat_interleave(2) of sigmas[1:-1]
      }
      timesteps_.push_back(ts[i]);
      sigmas_.push_back(static_cast<float>(sig[i]));
    }
    sigmas_.push_back(0.0f);
    sample_ = at::Tensor();
    const float maxSigma = *std::max_element(sigmas_.begin(), sigmas_.end());
    initSigma_ =
        (base_.spacing == "linspace" || base_.spacing == "trailing") ? maxSigma : std::sqrt(maxSigma * maxSigma + 1.0f);
    lo_ = std::numeric_limits<double>::infinity();
    for (float v : sigmas_)
      if (v > 0) lo_ = std::min(lo_, static_cast<double>(v));
    hi_ = maxSigma;
  }

  double initNoiseSigma() const override { return initSigma_; }

  at::Tensor scaleModelInput(const at::Tensor& x, size_t i) const override {
    checkIndex(i, timesteps_.size());
    const float s = i % 2 == 0 ? sigmas_[i] : midSigma(sigmas_[i - 1], sigmas_[i]);
    return x / static_cast<double>(std::sqrt(s * s + 1.0f));
  }

  at::Tensor step(const at::Tensor& out, size_t i, const at::Tensor& xIn, NoiseSource& noise) override {
    checkIndex(i, timesteps_.size());
    const bool first = i % 2 == 0;
    const float sigma = first ? sigmas_[i] : sigmas_[i - 1];
    const float sigmaNext = first ? sigmas_[i + 1] : sigmas_[i];
    const at::Tensor x = xIn.to(at::kFloat);
    const float t = -torchLog(sigma), tNextFull = -torchLog(sigmaNext);
    const float tProposed = t + (tNextFull - t) * 0.5f;
    const float sigmaIn = first ? sigma : torchExp(-tProposed);
    const at::Tensor eps = out.to(at::kFloat);
    at::Tensor x0;
    if (base_.prediction == Prediction::Epsilon) {
      x0 = x - static_cast<double>(sigmaIn) * eps;
    } else {
      const float norm = sigmaIn * sigmaIn + 1.0f;
      x0 = eps * static_cast<double>(-sigmaIn / std::sqrt(norm)) + x / static_cast<double>(norm);
    }
    at::Tensor prev;
    if (sigmaNext == 0.0f) {
      const at::Tensor derivative = (x - x0) / static_cast<double>(sigma);
      prev = x + derivative * static_cast<double>(sigmaNext - sigma);
    } else {
      const float tNext = first ? tProposed : tNextFull;
      if (first) sample_ = x;
      if (!sample_.defined()) throw std::logic_error("dpmpp_sde: a second-order call without its first half");
      const float sFrom = torchExp(-t), sTo = torchExp(-tNext);
      const float up = std::min(sTo, std::sqrt(sTo * sTo * (sFrom * sFrom - sTo * sTo) / (sFrom * sFrom)));
      const float down = std::sqrt(sTo * sTo - up * up);  // ** 0.5: ATen's pow takes sqrt for it
      const float ancestralT = -torchLog(down);
      prev = static_cast<double>(torchExp(-ancestralT) / sFrom) * sample_ -
             static_cast<double>(torchExpm1(t - ancestralT)) * x0;
      prev = prev + noise.brownian(sFrom, sTo, lo_, hi_, prev) * static_cast<double>(up);
      if (!first) sample_ = at::Tensor();
    }
    return prev.to(xIn.scalar_type());
  }

  at::Tensor addNoise(const at::Tensor& original, const at::Tensor& n, size_t i) const override {
    checkIndex(i, timesteps_.size());
    return original + n * static_cast<double>(sigmas_[i]);
  }

 private:
  static float midSigma(float sigma, float sigmaNext) {
    const float t = -torchLog(sigma), tNext = -torchLog(sigmaNext);
    return torchExp(-(t + (tNext - t) * 0.5f));
  }

  bool karras_;
  BaseConfig base_;
  std::vector<float> sigmas_;
  float initSigma_ = 1.0f;
  double lo_ = 0, hi_ = 1;
  at::Tensor sample_;  // the start of the step in progress
};

// --- DDPM family (DDIM, LCM): alphas_cumprod indexed by integer timestep ------------------------

at::Tensor ddpmAddNoise(const std::vector<float>& acp, const at::Tensor& original, const at::Tensor& noise, double t) {
  const float a = acp[static_cast<size_t>(t)];
  return static_cast<double>(std::sqrt(a)) * original + static_cast<double>(std::sqrt(1.0f - a)) * noise;
}

// x0 and eps from the model output (DDIM / LCM get_prediction).
void predictX0(Prediction p, const at::Tensor& out, const at::Tensor& x, float alphaProd, at::Tensor& x0,
               at::Tensor& eps) {
  const float beta = 1.0f - alphaProd;
  if (p == Prediction::Epsilon) {
    x0 = (x - static_cast<double>(std::sqrt(beta)) * out) / static_cast<double>(std::sqrt(alphaProd));
    eps = out;
  } else {
    x0 = static_cast<double>(std::sqrt(alphaProd)) * x - static_cast<double>(std::sqrt(beta)) * out;
    eps = static_cast<double>(std::sqrt(alphaProd)) * out + static_cast<double>(std::sqrt(beta)) * x;
  }
}

class DdimScheduler : public Scheduler {
 public:
  explicit DdimScheduler(const json& config) {
    base_ = readBase(config, "leading", true);
    finalAlpha_ = base_.setAlphaToOne ? 1.0f : base_.alphasCumprod[0];
  }
  std::string name() const override { return "ddim"; }

  void setTimesteps(int steps) override {
    checkSteps(steps, base_.numTrain);
    timesteps_.clear();
    if (base_.spacing == "linspace") {
      const std::vector<double> lin = npLinspace(0, base_.numTrain - 1, steps);
      for (int i = steps - 1; i >= 0; --i) timesteps_.push_back(npRound(lin[static_cast<size_t>(i)]));
    } else if (base_.spacing == "leading") {
      const int ratio = base_.numTrain / steps;
      for (int i = steps - 1; i >= 0; --i) timesteps_.push_back(static_cast<double>(i * ratio + base_.stepsOffset));
    } else {
      for (double v : trailingRounded(base_.numTrain, steps)) timesteps_.push_back(v - 1);
    }
    for (double& t : timesteps_) t = std::clamp(t, 0.0, static_cast<double>(base_.numTrain - 1));
    numSteps_ = steps;
  }
  double initNoiseSigma() const override { return 1.0; }
  at::Tensor scaleModelInput(const at::Tensor& x, size_t i) const override {
    checkIndex(i, timesteps_.size());
    return x;
  }

  at::Tensor step(const at::Tensor& out, size_t i, const at::Tensor& x, NoiseSource&) override {
    checkIndex(i, timesteps_.size());
    const long t = static_cast<long>(timesteps_[i]);
    const long prevT = t - base_.numTrain / numSteps_;
    const float a = base_.alphasCumprod[static_cast<size_t>(t)];
    const float aPrev = prevT >= 0 ? base_.alphasCumprod[static_cast<size_t>(prevT)] : finalAlpha_;
    at::Tensor x0, eps;
    predictX0(base_.prediction, out, x, a, x0, eps);
    const at::Tensor direction = static_cast<double>(std::sqrt(1.0f - aPrev)) * eps;
    return static_cast<double>(std::sqrt(aPrev)) * x0 + direction;
  }

  at::Tensor addNoise(const at::Tensor& original, const at::Tensor& n, size_t i) const override {
    checkIndex(i, timesteps_.size());
    return ddpmAddNoise(base_.alphasCumprod, original, n, timesteps_[i]);
  }

 private:
  BaseConfig base_;
  float finalAlpha_ = 1.0f;
  int numSteps_ = 1;
};

class LcmScheduler : public Scheduler {
 public:
  explicit LcmScheduler(const json& config) {
    base_ = readBase(config, "leading", true);
    finalAlpha_ = base_.setAlphaToOne ? 1.0f : base_.alphasCumprod[0];
    originalSteps_ = field<int>(config, "original_inference_steps", 50);
    timestepScaling_ = field<double>(config, "timestep_scaling", 10.0);
    if (originalSteps_ < 1 || originalSteps_ > base_.numTrain)
      throw io::FormatError("scheduler config: original_inference_steps must be in [1, num_train_timesteps]");
  }
  std::string name() const override { return "lcm"; }

  void setTimesteps(int steps) override {
    checkSteps(steps, base_.numTrain);
    if (steps > originalSteps_)
      throw std::invalid_argument("lcm scheduler: " + std::to_string(steps) + " steps exceed original_inference_steps " +
                                  std::to_string(originalSteps_));
    const int k = base_.numTrain / originalSteps_;
    std::vector<double> origin;  // descending
    for (int i = originalSteps_; i >= 1; --i) origin.push_back(static_cast<double>(i * k - 1));
    timesteps_.clear();
    const double stride = static_cast<double>(origin.size()) / steps;  // np.linspace(0, n, steps, endpoint=False)
    for (int i = 0; i < steps; ++i) timesteps_.push_back(origin[static_cast<size_t>(std::floor(i * stride))]);
  }
  double initNoiseSigma() const override { return 1.0; }
  at::Tensor scaleModelInput(const at::Tensor& x, size_t i) const override {
    checkIndex(i, timesteps_.size());
    return x;
  }

  at::Tensor step(const at::Tensor& out, size_t i, const at::Tensor& x, NoiseSource& noise) override {
    checkIndex(i, timesteps_.size());
    const double t = timesteps_[i];
    const bool last = i + 1 == timesteps_.size();
    const double prevT = last ? t : timesteps_[i + 1];
    const float a = base_.alphasCumprod[static_cast<size_t>(t)];
    const float aPrev = prevT >= 0 ? base_.alphasCumprod[static_cast<size_t>(prevT)] : finalAlpha_;
    // get_scalings_for_boundary_condition_discrete, in fp32 (int64 timestep * python float).
    const float scaled = static_cast<float>(t * timestepScaling_);
    const float cSkip = 0.25f / (scaled * scaled + 0.25f);
    const float cOut = scaled / std::sqrt(scaled * scaled + 0.25f);
    at::Tensor x0, eps;
    predictX0(base_.prediction, out, x, a, x0, eps);
    const at::Tensor denoised = static_cast<double>(cOut) * x0 + static_cast<double>(cSkip) * x;
    if (last) return denoised;
    return static_cast<double>(std::sqrt(aPrev)) * denoised +
           static_cast<double>(std::sqrt(1.0f - aPrev)) * noise.next(denoised);
  }

  at::Tensor addNoise(const at::Tensor& original, const at::Tensor& n, size_t i) const override {
    checkIndex(i, timesteps_.size());
    return ddpmAddNoise(base_.alphasCumprod, original, n, timesteps_[i]);
  }

 private:
  BaseConfig base_;
  float finalAlpha_ = 1.0f;
  int originalSteps_ = 50;
  double timestepScaling_ = 10.0;
};

// --- multistep solvers (DPM-Solver++ 2M, UniPC bh2) ---------------------------------------------

// The DPM-Solver schedulers' last sigma: final_sigmas_type "zero" (the default) or "sigma_min"
// (the training schedule's smallest).
std::string finalSigmasType(const json& config) {
  const std::string type = field<std::string>(config, "final_sigmas_type", "zero");
  if (type != "zero" && type != "sigma_min")
    throw io::FormatError("scheduler config: unknown final_sigmas_type '" + type + "'");
  return type;
}
float dpmFinalSigma(const std::string& type, const BaseConfig& base) {
  if (type == "zero") return 0.0f;
  const float a = base.alphasCumprod[0];
  return std::sqrt((1.0f - a) / a);
}

class MultistepBase : public Scheduler {
 public:
  MultistepBase(const json& config, bool karras, bool uniPC) : karras_(karras), uniPC_(uniPC) {
    base_ = readBase(config, "linspace", true);
    const int order = field<int>(config, "solver_order", 2);
    if (order != 2) throw io::FormatError("scheduler config: only solver_order 2 is supported, got " + std::to_string(order));
    lowerOrderFinal_ = field<bool>(config, "lower_order_final", true);
    if (field<bool>(config, "use_lu_lambdas", false))
      throw io::FormatError("scheduler config: use_lu_lambdas is not supported");
  }

  void setTimesteps(int steps) override {
    checkSteps(steps, base_.numTrain);
    const std::vector<float> train = trainSigmas(base_.alphasCumprod);
    sigmas_.clear();
    if (karras_) {
      std::vector<float> logSigmas(train.size());
      for (size_t i = 0; i < train.size(); ++i) logSigmas[i] = std::log(train[i]);
      const std::vector<double> ks = karrasSigmas(train, steps);
      timesteps_.clear();
      for (double s : ks) {
        timesteps_.push_back(npRound(sigmaToT(s, logSigmas)));
        sigmas_.push_back(static_cast<float>(s));
      }
    } else {
      timesteps_ = multistepTimesteps(base_, steps);
      for (double t : timesteps_) sigmas_.push_back(static_cast<float>(npInterp(t, train)));
    }
    sigmas_.push_back(finalSigma(train));
    outputs_[0] = outputs_[1] = at::Tensor();
    lowerOrderNums_ = 0;
    resetExtra();
  }
  double initNoiseSigma() const override { return 1.0; }
  at::Tensor scaleModelInput(const at::Tensor& x, size_t i) const override {
    checkIndex(i, timesteps_.size());
    return x;
  }
  at::Tensor addNoise(const at::Tensor& original, const at::Tensor& n, size_t i) const override {
    checkIndex(i, timesteps_.size());
    const AlphaSigma as = alphaSigma(sigmas_[i]);
    return static_cast<double>(as.alpha) * original + static_cast<double>(as.sigma) * n;
  }

 protected:
  virtual float finalSigma(const std::vector<float>& train) const = 0;
  virtual void resetExtra() {}

  at::Tensor toX0(const at::Tensor& out, const at::Tensor& x, size_t i) const {
    const AlphaSigma as = alphaSigma(sigmas_[i]);
    if (base_.prediction == Prediction::Epsilon)
      return (x - static_cast<double>(as.sigma) * out) / static_cast<double>(as.alpha);
    return static_cast<double>(as.alpha) * x - static_cast<double>(as.sigma) * out;
  }
  void push(const at::Tensor& x0) {
    outputs_[0] = outputs_[1];
    outputs_[1] = x0;
  }

  bool karras_;
  bool uniPC_;
  bool lowerOrderFinal_ = true;
  BaseConfig base_;
  std::vector<float> sigmas_;
  at::Tensor outputs_[2];  // [-2], [-1] of diffusers' model_outputs
  int lowerOrderNums_ = 0;
};

class DpmSolverScheduler final : public MultistepBase {
 public:
  DpmSolverScheduler(const json& config, bool karras) : MultistepBase(config, karras, false) {
    const std::string algo = field<std::string>(config, "algorithm_type", "dpmsolver++");
    if (algo != "dpmsolver++") throw io::FormatError("scheduler config: unsupported algorithm_type '" + algo + "'");
    const std::string solver = field<std::string>(config, "solver_type", "midpoint");
    if (solver != "midpoint") throw io::FormatError("scheduler config: unsupported solver_type '" + solver + "'");
    eulerAtFinal_ = field<bool>(config, "euler_at_final", false);
    finalType_ = finalSigmasType(config);
  }
  std::string name() const override { return karras_ ? "dpmpp_2m_karras" : "dpmpp_2m"; }

  at::Tensor step(const at::Tensor& out, size_t i, const at::Tensor& xIn, NoiseSource&) override {
    checkIndex(i, timesteps_.size());
    const size_t n = timesteps_.size();
    // diffusers lowers the final step to first order; its lower_order_second (the step before,
    // below 15 steps) only turns a third-order solver into a second-order one, so a second-order
    // solver stays second order there.
    const bool lowerFinal = i == n - 1 && (eulerAtFinal_ || (lowerOrderFinal_ && n < 15) || finalType_ == "zero");
    const at::Tensor x = xIn.to(at::kFloat);
    const at::Tensor m0 = toX0(out.to(at::kFloat), x, i);
    push(m0);
    const AlphaSigma t = alphaSigma(sigmas_[i + 1]), s0 = alphaSigma(sigmas_[i]);
    const float h = t.lambda - s0.lambda;
    const float coef = t.alpha * (torchExp(-h) - 1.0f);
    at::Tensor prev;
    if (lowerOrderNums_ < 1 || lowerFinal) {
      prev = static_cast<double>(t.sigma / s0.sigma) * x - static_cast<double>(coef) * m0;
    } else {
      const AlphaSigma s1 = alphaSigma(sigmas_[i - 1]);
      const float h0 = s0.lambda - s1.lambda;
      const float r0 = h0 / h;
      const at::Tensor d1 = static_cast<double>(1.0f / r0) * (m0 - outputs_[0]);
      prev = static_cast<double>(t.sigma / s0.sigma) * x - static_cast<double>(coef) * m0 -
             static_cast<double>(0.5f * coef) * d1;
    }
    if (lowerOrderNums_ < 2) ++lowerOrderNums_;
    return prev.to(xIn.scalar_type());
  }

 protected:
  float finalSigma(const std::vector<float>&) const override { return dpmFinalSigma(finalType_, base_); }

 private:
  bool eulerAtFinal_ = false;
  std::string finalType_ = "zero";
};

// DPMSolverSinglestepScheduler, solver order 2 (what CAIG's code runs for its "DPM++ SDE Karras"):
// steps alternate first order (from x_s, its output kept) and second order (from that same x_s with
// both outputs), so every other UNet input is only a midpoint. Timesteps always linspace.
class DpmSingleStepScheduler final : public MultistepBase {
 public:
  DpmSingleStepScheduler(const json& config, bool karras) : MultistepBase(config, karras, false) {
    base_.spacing = "linspace";  // set_timesteps ignores timestep_spacing
    const std::string algo = field<std::string>(config, "algorithm_type", "dpmsolver++");
    if (algo != "dpmsolver++" && algo != "deis")  // diffusers turns deis into dpmsolver++
      throw io::FormatError("scheduler config: unsupported algorithm_type '" + algo + "'");
    const std::string solver = field<std::string>(config, "solver_type", "midpoint");
    if (solver != "midpoint" && solver != "logrho" && solver != "bh1" && solver != "bh2")
      throw io::FormatError("scheduler config: unsupported solver_type '" + solver + "'");
    lowerOrderFinal_ = field<bool>(config, "lower_order_final", false);
    finalType_ = finalSigmasType(config);
  }
  std::string name() const override { return karras_ ? "dpmpp_singlestep_karras" : "dpmpp_singlestep"; }

  at::Tensor step(const at::Tensor& out, size_t i, const at::Tensor& xIn, NoiseSource&) override {
    checkIndex(i, timesteps_.size());
    const at::Tensor x = xIn.to(at::kFloat);
    const at::Tensor m0 = toX0(out.to(at::kFloat), x, i);
    push(m0);
    int order = orders_[i];
    if (order == 2 && !outputs_[0].defined()) order = 1;
    if (order == 1) sample_ = x;
    const AlphaSigma t = alphaSigma(sigmas_[i + 1]);
    at::Tensor prev;
    if (order == 1) {
      const AlphaSigma s0 = alphaSigma(sigmas_[i]);
      const float h = t.lambda - s0.lambda;
      prev =
          static_cast<double>(t.sigma / s0.sigma) * sample_ - static_cast<double>(t.alpha * (torchExp(-h) - 1.0f)) * m0;
    } else {
      const AlphaSigma s0 = alphaSigma(sigmas_[i]), s1 = alphaSigma(sigmas_[i - 1]);
      const float h = t.lambda - s1.lambda, h0 = s0.lambda - s1.lambda;
      const float r0 = h0 / h;
      const float coef = t.alpha * (torchExp(-h) - 1.0f);
      const at::Tensor d1 = static_cast<double>(1.0f / r0) * (m0 - outputs_[0]);
      prev = static_cast<double>(t.sigma / s1.sigma) * sample_ - static_cast<double>(coef) * outputs_[0] -
             static_cast<double>(0.5f * coef) * d1;
    }
    return prev.to(xIn.scalar_type());
  }

 protected:
  float finalSigma(const std::vector<float>&) const override { return dpmFinalSigma(finalType_, base_); }
  void resetExtra() override {
    sample_ = at::Tensor();
    const int n = static_cast<int>(timesteps_.size());
    // set_timesteps turns lower_order_final on for an odd count or a zero final sigma.
    const bool lower = lowerOrderFinal_ || n % 2 != 0 || finalType_ == "zero";
    orders_.clear();
    for (int k = 0; k < n / 2; ++k) orders_.insert(orders_.end(), {1, 2});
    if (lower) {
      if (n % 2 == 0)
        orders_.back() = 1;  // [1, 2] * (n/2 - 1) + [1, 1]
      else
        orders_.push_back(1);
    }
  }

 private:
  std::string finalType_ = "zero";
  std::vector<int> orders_;
  at::Tensor sample_;  // the input of the last first-order step
};

class UniPcScheduler final : public MultistepBase {
 public:
  UniPcScheduler(const json& config, bool karras) : MultistepBase(config, karras, true) {
    const std::string solver = field<std::string>(config, "solver_type", "bh2");
    if (solver != "bh2") throw io::FormatError("scheduler config: unsupported UniPC solver_type '" + solver + "'");
    if (!field<bool>(config, "predict_x0", true)) throw io::FormatError("scheduler config: predict_x0=false is not supported");
    auto dc = config.find("disable_corrector");
    if (dc != config.end() && !dc->is_null() && !(dc->is_array() && dc->empty()))
      throw io::FormatError("scheduler config: disable_corrector is not supported");
  }
  std::string name() const override { return "unipc"; }

  at::Tensor step(const at::Tensor& out, size_t i, const at::Tensor& xIn, NoiseSource&) override {
    checkIndex(i, timesteps_.size());
    at::Tensor x = xIn.to(at::kFloat);
    const at::Tensor mt = toX0(out.to(at::kFloat), x, i);
    if (i > 0 && lastSample_.defined()) x = corrector(mt, i);
    push(mt);
    int order = lowerOrderFinal_ ? std::min<int>(2, static_cast<int>(timesteps_.size() - i)) : 2;
    order = std::min(order, lowerOrderNums_ + 1);
    thisOrder_ = order;
    lastSample_ = x;
    const at::Tensor prev = predictor(x, i, order);
    if (lowerOrderNums_ < 2) ++lowerOrderNums_;
    return prev.to(xIn.scalar_type());
  }

 protected:
  float finalSigma(const std::vector<float>& train) const override {
    if (karras_) return sigmas_.back();
    return train[0];
  }
  void resetExtra() override {
    lastSample_ = at::Tensor();
    thisOrder_ = 1;
  }

 private:
  // h*phi_k coefficients b_1, b_2 with B(h) = expm1(hh), hh = -h (bh2, predict_x0).
  static void coefficients(float h, float& hPhi1, float& bh, float b[2]) {
    const float hh = -h;
    hPhi1 = torchExpm1(hh);
    bh = hPhi1;
    float hPhiK = hPhi1 / hh - 1.0f;
    float factorial = 1.0f;
    for (int k = 1; k <= 2; ++k) {
      b[k - 1] = hPhiK * factorial / bh;
      factorial *= static_cast<float>(k + 1);
      hPhiK = hPhiK / hh - 1.0f / factorial;
    }
  }

  at::Tensor predictor(const at::Tensor& x, size_t i, int order) const {
    const at::Tensor& m0 = outputs_[1];
    const AlphaSigma t = alphaSigma(sigmas_[i + 1]), s0 = alphaSigma(sigmas_[i]);
    const float h = t.lambda - s0.lambda;
    float hPhi1, bh, b[2];
    coefficients(h, hPhi1, bh, b);
    const at::Tensor xt = static_cast<double>(t.sigma / s0.sigma) * x - static_cast<double>(t.alpha * hPhi1) * m0;
    if (order < 2) return xt;
    const AlphaSigma s1 = alphaSigma(sigmas_[i - 1]);
    const float rk = (s1.lambda - s0.lambda) / h;
    const at::Tensor d1 = (outputs_[0] - m0) / static_cast<double>(rk);
    return xt - static_cast<double>(t.alpha * bh) * (0.5 * d1);  // rhos_p = [0.5] for order 2
  }

  at::Tensor corrector(const at::Tensor& modelT, size_t i) const {
    const at::Tensor& m0 = outputs_[1];
    const at::Tensor& x = lastSample_;
    const AlphaSigma t = alphaSigma(sigmas_[i]), s0 = alphaSigma(sigmas_[i - 1]);
    const float h = t.lambda - s0.lambda;
    float hPhi1, bh, b[2];
    coefficients(h, hPhi1, bh, b);
    const at::Tensor xt = static_cast<double>(t.sigma / s0.sigma) * x - static_cast<double>(t.alpha * hPhi1) * m0;
    const at::Tensor d1t = modelT - m0;
    if (thisOrder_ < 2) return xt - static_cast<double>(t.alpha * bh) * (0.5 * d1t);
    const AlphaSigma s1 = alphaSigma(sigmas_[i - 2]);
    const float rk = (s1.lambda - s0.lambda) / h;
    const at::Tensor d1 = (outputs_[0] - m0) / static_cast<double>(rk);
    // rhos_c = torch.linalg.solve([[1, 1], [rk, 1]], b) in fp32, as diffusers does.
    const at::Tensor r = at::tensor(std::vector<float>{1.0f, 1.0f, rk, 1.0f}, at::kFloat).reshape({2, 2});
    const at::Tensor rhs = at::tensor(std::vector<float>{b[0], b[1]}, at::kFloat);
    const at::Tensor rhos = at::linalg_solve(r, rhs).contiguous();
    const float rho0 = rhos.data_ptr<float>()[0], rho1 = rhos.data_ptr<float>()[1];
    const at::Tensor corr = static_cast<double>(rho0) * d1;
    return xt - static_cast<double>(t.alpha * bh) * (corr + static_cast<double>(rho1) * d1t);
  }

  at::Tensor lastSample_;
  int thisOrder_ = 1;
};

const std::vector<std::string>& names() {
  // clang-format off
  static const std::vector<std::string> n = {
      "euler", "euler_a", "ddim", "dpmpp_2m", "dpmpp_2m_karras", "dpmpp_singlestep", "dpmpp_singlestep_karras",
      "dpmpp_sde", "dpmpp_sde_karras", "unipc", "lcm"};
  // clang-format on
  return n;
}

}  // namespace

std::vector<std::string> schedulerNames() { return names(); }

std::unique_ptr<Scheduler> makeScheduler(const std::string& nameIn, const nlohmann::json& config) {
  if (!config.is_object()) throw io::FormatError("scheduler config: expected a JSON object");
  std::string name = nameIn;
  if (name.empty()) {
    const std::string cls = field<std::string>(config, "_class_name", "");
    const bool karras = field<bool>(config, "use_karras_sigmas", false);
    if (cls == "EulerDiscreteScheduler") name = "euler";
    else if (cls == "EulerAncestralDiscreteScheduler") name = "euler_a";
    else if (cls == "DDIMScheduler") name = "ddim";
    else if (cls == "DPMSolverMultistepScheduler") name = karras ? "dpmpp_2m_karras" : "dpmpp_2m";
    else if (cls == "DPMSolverSinglestepScheduler")
      name = karras ? "dpmpp_singlestep_karras" : "dpmpp_singlestep";
    else if (cls == "DPMSolverSDEScheduler")
      name = karras ? "dpmpp_sde_karras" : "dpmpp_sde";
    else if (cls == "UniPCMultistepScheduler") name = "unipc";
    else if (cls == "LCMScheduler") name = "lcm";
    else
      throw io::FormatError(
          "scheduler config: unsupported _class_name '" + cls +
          "' (expected EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DDIMScheduler, "
          "DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, DPMSolverSDEScheduler, UniPCMultistepScheduler "
          "or LCMScheduler)");
  }
  if (name == "euler") return std::make_unique<EulerScheduler>(config, false);
  if (name == "euler_a") return std::make_unique<EulerScheduler>(config, true);
  if (name == "ddim") return std::make_unique<DdimScheduler>(config);
  if (name == "dpmpp_2m") return std::make_unique<DpmSolverScheduler>(config, false);
  if (name == "dpmpp_2m_karras") return std::make_unique<DpmSolverScheduler>(config, true);
  if (name == "dpmpp_singlestep") return std::make_unique<DpmSingleStepScheduler>(config, false);
  if (name == "dpmpp_singlestep_karras") return std::make_unique<DpmSingleStepScheduler>(config, true);
  if (name == "dpmpp_sde") return std::make_unique<DpmSdeScheduler>(config, false);
  if (name == "dpmpp_sde_karras") return std::make_unique<DpmSdeScheduler>(config, true);
  if (name == "unipc") return std::make_unique<UniPcScheduler>(config, field<bool>(config, "use_karras_sigmas", false));
  if (name == "lcm") return std::make_unique<LcmScheduler>(config);
  throw std::invalid_argument("unknown scheduler '" + name + "'");
}

}  // namespace caig
