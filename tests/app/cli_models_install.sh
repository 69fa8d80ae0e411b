#!/usr/bin/env bash
# `caig models install` end to end against the fake Hub on 127.0.0.1 (tests/support/fake_hub_server):
# a repository, catalogue names, a gated repository, a dropped connection; then the studio's own
# listing and `caig generate` use what landed in the Hugging Face cache.
#   cli_models_install.sh CAIG FAKE_HUB_SERVER TEST_DATA WORK_DIR PRODUCT_IMAGE
set -euo pipefail
caig=$1 server=$2 data=$3 work=$4 product=$5
rm -rf "$work" && mkdir -p "$work/lcm" "$work/home"
cp "$data/lora/lcm-lora-style.safetensors" "$work/lcm/pytorch_lora_weights.safetensors"
"$server" --repo tiny/sd-e2e="$data/tiny-sd-e2e" --repo madebyollin/taesd="$data/taesd/tiny-taesd" \
  --repo latent-consistency/lcm-lora-sdv1-5="$work/lcm" --repo gated/sd-e2e="$data/tiny-sd-e2e" --gated gated/sd-e2e \
  --token hf_test_token --drop unet/diffusion_pytorch_model.safetensors=20000 --endpoint-file "$work/endpoint" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$work/endpoint" ] && break; sleep 0.05; done
export HF_ENDPOINT="$(cat "$work/endpoint")" HF_HUB_CACHE="$work/hub" HOME="$work/home" CAIG_MODELS_DIR="$work/models"
export CAIG_MODEL_DISCOVERY=on  # the Hugging Face cache above is this test's "usual place"
unset HF_TOKEN HF_HOME

echo "== install a repository (its UNet's connection drops after 20 kB and resumes)"
"$caig" models install tiny/sd-e2e 2>"$work/install.log"
grep -c "file [0-9]*/13 " "$work/install.log"
snap=$(ls -d "$HF_HUB_CACHE"/models--tiny--sd-e2e/snapshots/*)
test "$(cat "$HF_HUB_CACHE/models--tiny--sd-e2e/refs/main")" = "$(basename "$snap")" && echo "refs/main names the snapshot"
test -L "$snap/unet/diffusion_pytorch_model.safetensors" && echo "the snapshot links into blobs"
cmp "$snap/unet/diffusion_pytorch_model.safetensors" "$data/tiny-sd-e2e/unet/diffusion_pytorch_model.safetensors" && echo "the UNet arrived whole"
! ls "$HF_HUB_CACHE"/models--tiny--sd-e2e/blobs/*.incomplete 2>/dev/null

echo "== catalogue names"
"$caig" models install taesd 2>/dev/null
"$caig" models install lcm-lora-sd15 2>/dev/null
echo "== a gated repository"
if "$caig" models install gated/sd-e2e 2>"$work/gated.log"; then echo "gated without a token installed"; exit 1; fi
cat "$work/gated.log"
HF_TOKEN=hf_test_token "$caig" models install gated/sd-e2e --include 'model_index.json' 2>/dev/null
echo "== pickle and unknown names"
if "$caig" models install "stable diffusion" 2>"$work/unknown.log"; then exit 1; fi
cat "$work/unknown.log"

echo "== listed where they are"
"$caig" models list | grep "Hugging Face cache"
"$caig" models locations

echo "== generate with the repository id"
"$caig" generate --engine sd15 --model tiny/sd-e2e --device cpu --steps 1 -n 1 --preset 1:1-512 --working-size 64 \
  --seed 3 --vae-decode taesd --out "$work/out" "$product"
echo "all ok"
