// One UNet2DConditionModel forward at a mid-size random config built in code (no checkpoint
// needed): block_out_channels (64, 128, 128), 32x32 latents, 77 tokens of cross dim 128, batch 2
// as classifier-free guidance runs it, with and without ControlNet residuals; plus the
// ControlNet forward that produces them. Torch runs on one thread, like the OpenCV baseline
// measured in the same process.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "baseline.h"
#include "models/controlnet.h"
#include "models/unet2d.h"

namespace {

using namespace caig;

UNet2DConfig midConfig() {
  UNet2DConfig c;
  c.blockOutChannels = {64, 128, 128};
  c.downBlockTypes = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"};
  c.upBlockTypes = {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"};
  c.numAttentionHeads = {8, 8, 8};
  c.transformerLayersPerBlock = {1, 1, 1};
  c.crossAttentionDim = 128;
  c.normNumGroups = 32;
  return c;
}

const UNet2DConditionModel& unet() {
  static const UNet2DConditionModel m = [] {
    at::set_num_threads(1);
    return UNet2DConditionModel(midConfig());
  }();
  return m;
}

const ControlNetModel& controlnet() {
  static const ControlNetModel m = [] {
    at::set_num_threads(1);
    ControlNetConfig c;
    c.unet = midConfig();
    c.unet.upBlockTypes.clear();
    return ControlNetModel(c);
  }();
  return m;
}

struct Inputs {
  at::Tensor sample = at::randn({2, 4, 32, 32});
  at::Tensor timesteps = at::full({2}, 500.0);
  at::Tensor context = at::randn({2, 77, 128});
  at::Tensor cond = at::rand({2, 3, 256, 256});
};

// Arg 0: plain UNet; 1: with ControlNet residuals added (residuals computed once, outside the loop).
void BM_UNetForward(benchmark::State& state) {
  const Inputs in;
  ControlNetResiduals r;
  if (state.range(0)) r = controlnet().forward(in.sample, in.timesteps, in.context, in.cond, 1.0);
  for (auto _ : state) {
    const at::Tensor eps = state.range(0) ? unet().forward(in.sample, in.timesteps, in.context, &r.down, &r.mid)
                                          : unet().forward(in.sample, in.timesteps, in.context);
    benchmark::DoNotOptimize(eps.data_ptr());
  }
}
BENCHMARK(BM_UNetForward)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_ControlNetForward(benchmark::State& state) {
  const Inputs in;
  for (auto _ : state) {
    const auto r = controlnet().forward(in.sample, in.timesteps, in.context, in.cond, 1.0);
    benchmark::DoNotOptimize(r.mid.data_ptr());
  }
}
BENCHMARK(BM_ControlNetForward)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
