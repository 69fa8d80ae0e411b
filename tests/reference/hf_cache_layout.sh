#!/usr/bin/env bash
# The installer's cache checked by huggingface_hub itself (the reference Python stack of
# ../shared/refenv, not needed by the test suite): the fake Hub serves tests/data/tiny-sd-e2e,
# huggingface_hub's snapshot_download and `caig models install` each fill a cache, and the two
# trees must be the same (names, link targets, blob sizes, refs/main); scan_cache_dir must read
# ours without warnings and diffusers / transformers must load its components offline.
#   tests/reference/hf_cache_layout.sh [BUILD_DIR]   (PYTHONPATH: the refenv site folder)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$here/build}"
work="$(mktemp -d)"
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$build/tests/fake_hub_server" --repo tiny/sd-e2e="$here/tests/data/tiny-sd-e2e" --endpoint-file "$work/endpoint" &
pid=$!
for _ in $(seq 100); do [ -s "$work/endpoint" ] && break; sleep 0.05; done
export HF_ENDPOINT="$(cat "$work/endpoint")"
HF_HUB_CACHE="$work/ours" "$build/app/caig" models install tiny/sd-e2e 2>/dev/null
WORK="$work" python3 - <<'PY'
import os
from huggingface_hub import snapshot_download, scan_cache_dir
w = os.environ["WORK"]
snapshot_download("tiny/sd-e2e", cache_dir=f"{w}/ref")
def tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = os.readlink(p) if os.path.islink(p) else ("blob", os.path.getsize(p))
    return out
ref, ours = tree(f"{w}/ref/models--tiny--sd-e2e"), tree(f"{w}/ours/models--tiny--sd-e2e")
assert ref == ours, sorted(set(ref.items()) ^ set(ours.items()))
print(f"same tree as huggingface_hub's: {len(ours)} entries (blobs, links, refs/main)")
info = scan_cache_dir(f"{w}/ours")
assert not info.warnings, info.warnings
print("scan_cache_dir:", [(r.repo_id, r.nb_files, [list(v.refs) for v in r.revisions]) for r in info.repos])
from diffusers import UNet2DConditionModel, ControlNetModel, AutoencoderKL
from transformers import CLIPTextModel
for cls, sub in [(UNet2DConditionModel, "unet"), (ControlNetModel, "controlnet"), (AutoencoderKL, "vae"), (CLIPTextModel, "text_encoder")]:
    m = cls.from_pretrained("tiny/sd-e2e", subfolder=sub, cache_dir=f"{w}/ours", local_files_only=True)
    print(f"loaded offline from our cache: {sub} ({type(m).__name__}, {sum(x.numel() for x in m.parameters())} parameters)")
PY
