# diffusers' half of tests/bench/compare_sd15_diffusers.sh: the ControlNet step and the UNet step
# with its residuals at SD1.5's sizes (random weights, batch 2 as CFG runs them, 64x64 latents,
# 77 tokens of 768), fp32 on the CPU, median wall time of N runs after a warm-up. Prints one
# "name<TAB>ms" line per part. Needs diffusers (e.g. ../shared/refenv's site on PYTHONPATH).
import statistics, sys, time
import torch
from diffusers import ControlNetModel, UNet2DConditionModel

threads, iters = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
unet = UNet2DConditionModel(block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                            attention_head_dim=8, sample_size=64).eval()
controlnet = ControlNetModel.from_unet(unet).eval()
latents = torch.randn(2, 4, 64, 64)
t = torch.full((2,), 500.0)
context = torch.randn(2, 77, 768)
control = torch.rand(2, 3, 512, 512)

def median_ms(body):
    body()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        body()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)

with torch.inference_mode():
    down, mid = controlnet(latents, t, context, controlnet_cond=control, return_dict=False)
    print(f"ControlNet step (batch 2)\t{median_ms(lambda: controlnet(latents, t, context, controlnet_cond=control, return_dict=False)):.1f}")
    print(f"UNet step + ControlNet residuals (batch 2)\t{median_ms(lambda: unet(latents, t, context, down_block_additional_residuals=down, mid_block_additional_residual=mid)):.1f}")
