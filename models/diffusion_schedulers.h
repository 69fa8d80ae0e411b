#pragma once
// diffusers 0.27.2 noise schedulers (Euler, Euler ancestral, DDIM, DPM-Solver++ 2M (+Karras),
// DPM-Solver++ singlestep (+Karras: what CAIG's code runs for its "DPM++ SDE Karras"), DPM++ SDE
// (+Karras; two model calls a step, Brownian-tree noise), UniPC bh2,
// LCM) built from a scheduler_config.json. Scalars follow diffusers' dtypes (numpy float64 where
// diffusers uses numpy, fp32 where it uses torch) so trajectories agree to fp32 rounding.
// Torch-light header: the work lives in diffusion_schedulers.cpp.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace caig {

// Where a stochastic sampler's fresh noise comes from. The caller owns it, so runs are reproducible.
class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // A standard-normal tensor shaped/typed/placed like `like`.
  virtual at::Tensor next(const at::Tensor& like) = 0;
  // The increment of one Brownian path W over [a, b] (a path on [lo, hi], W(lo) = 0), divided by
  // sqrt(|b - a|): standard normal, and increments over overlapping intervals agree, as the
  // DPM++ SDE sampler needs. Sources without a path give independent draws (next()).
  virtual at::Tensor brownian(double a, double b, double lo, double hi, const at::Tensor& like) {
    (void)a, (void)b, (void)lo, (void)hi;
    return next(like);
  }
};

// Seeded CPU at::Generator (draws on CPU in fp32, then moves to like's device/dtype).
class SeededNoise final : public NoiseSource {
 public:
  explicit SeededNoise(uint64_t seed);
  at::Tensor next(const at::Tensor& like) override;
  // A virtual Brownian tree (Li et al. 2020, what torchsde's BrownianTree is) seeded from the seed:
  // W at any point by bisecting [lo, hi] with Brownian-bridge draws, each node's draw seeded by its
  // place in the tree, so a point's value does not depend on what was asked before. Not torchsde's
  // bits: the same seed gives the same variant here, not diffusers' pixels.
  at::Tensor brownian(double a, double b, double lo, double hi, const at::Tensor& like) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // "euler", "euler_a", "ddim", "dpmpp_2m", "dpmpp_2m_karras", "dpmpp_singlestep", "dpmpp_singlestep_karras",
  // "dpmpp_sde", "dpmpp_sde_karras", "unipc", "lcm"
  virtual std::string name() const = 0;
  virtual void setTimesteps(int steps) = 0;  // resets the multistep state too
  const std::vector<double>& timesteps() const { return timesteps_; }  // what the UNet receives (fractional for Euler-family)
  virtual double initNoiseSigma() const = 0;
  virtual at::Tensor scaleModelInput(const at::Tensor& x, size_t stepIndex) const = 0;
  virtual at::Tensor step(const at::Tensor& modelOutput, size_t stepIndex, const at::Tensor& x, NoiseSource& noise) = 0;
  // diffusers' add_noise(original, noise, timesteps()[stepIndex]) for this scheduler family.
  virtual at::Tensor addNoise(const at::Tensor& original, const at::Tensor& noise, size_t stepIndex) const = 0;

 protected:
  std::vector<double> timesteps_;
};

// `name` as above, or "" to follow config["_class_name"] (+ use_karras_sigmas). `config` is a diffusers
// scheduler_config.json object; missing fields take diffusers 0.27 defaults. Throws io::FormatError (models/io/errors.h).
std::unique_ptr<Scheduler> makeScheduler(const std::string& name, const nlohmann::json& config);
std::vector<std::string> schedulerNames();

}  // namespace caig
