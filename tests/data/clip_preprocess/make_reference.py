#!/usr/bin/env python3
"""Reference outputs for core/clip_preprocess: LLaVA's pad-mode image preprocessing done with
Pillow (and numpy for the steps transformers' CLIPImageProcessor does in numpy).

Needs Debian's python3-pil and python3-numpy (run it with /usr/bin/python3). Writes small input
PNGs and reference.safetensors: for each case `<name>.pixels` (uint8 [S, S, 3], the resized and
cropped RGB image) and `<name>.tensor` (float32 [1, 3, S, S], normalised), plus the sizes in the
metadata. The pipeline, step by step as LLaVA + transformers 4.38 run it:

  image.convert('RGB')                       # RGBA loses alpha, L is replicated
  expand2square(image, int(mean * 255))       # LLaVA's pad mode (skipped for the "nopad" case)
  resize shortest side to S, long side int(S * long / short), PIL BICUBIC, reducing_gap None
  centre crop S x S, offsets (h - S) // 2, (w - S) // 2
  float64 * (1 / 255) -> float32, (x - mean) / std in float32

The side-by-side case resizes two images to `pair_side` x `pair_side` (PIL BICUBIC) and pastes
them left | right before the same pipeline (the reward model's input; CAIG uses 512).
"""
import json
import os
import struct

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
PAD = tuple(int(x * 255) for x in [0.48145466, 0.4578275, 0.40821073])


def pattern(w, h, channels, seed):
    """Gradients plus coarse noise: sharp edges exercise the filter's negative lobes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    out = np.empty((h, w, channels), dtype=np.uint8)
    for c in range(channels):
        base = (x * (37 + 11 * c) + y * (23 + 7 * c)) % 256
        noise = rng.integers(0, 256, size=(h, w))
        block = ((x // 3 + y // 2 + c) % 2) == 0
        out[..., c] = np.where(block, base, noise).astype(np.uint8)
    return out


def expand2square(img, background):
    w, h = img.size
    if w == h:
        return img
    if w > h:
        result = Image.new(img.mode, (w, w), background)
        result.paste(img, (0, (w - h) // 2))
        return result
    result = Image.new(img.mode, (h, h), background)
    result.paste(img, ((h - w) // 2, 0))
    return result


def clip_pixels(img, size, pad):
    img = img.convert("RGB")
    if pad:
        img = expand2square(img, PAD)
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(size * long / short)
    new_size = (size, new_long) if w <= h else (new_long, size)
    img = img.resize(new_size, resample=Image.BICUBIC, reducing_gap=None)
    arr = np.asarray(img)
    top = (arr.shape[0] - size) // 2
    left = (arr.shape[1] - size) // 2
    return arr[top:top + size, left:left + size]


def normalise(arr):
    x = (arr.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - MEAN) / STD
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def save_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8"}[arr.dtype]
        data = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    cases = [
        # name, input file, size, pad
        ("upscale", "upscale.png", 20, True),        # 9 x 7 RGB -> 9 x 9 -> 20
        ("downscale", "downscale.png", 16, True),    # 45 x 33 RGB -> 45 x 45 -> 16 (support x 2.8)
        ("tall", "tall.png", 24, True),              # 13 x 40 RGB -> 40 x 40 -> 24
        ("rgba", "rgba.png", 16, True),              # 30 x 22 RGBA, alpha dropped
        ("grey", "grey.png", 20, True),              # 25 x 25 L, no padding needed
        ("nopad", "nopad.png", 20, False),           # 40 x 23 RGB -> 34 x 20 -> crop 20
    ]
    inputs = {
        "upscale.png": Image.fromarray(pattern(9, 7, 3, 1), "RGB"),
        "downscale.png": Image.fromarray(pattern(45, 33, 3, 2), "RGB"),
        "tall.png": Image.fromarray(pattern(13, 40, 3, 3), "RGB"),
        "rgba.png": Image.fromarray(pattern(30, 22, 4, 4), "RGBA"),
        "grey.png": Image.fromarray(pattern(25, 25, 1, 5)[..., 0], "L"),
        "nopad.png": Image.fromarray(pattern(40, 23, 3, 6), "RGB"),
        "pair_left.png": Image.fromarray(pattern(30, 20, 3, 7), "RGB"),
        "pair_right.png": Image.fromarray(pattern(17, 25, 3, 8), "RGB"),
    }
    for name, img in inputs.items():
        img.save(os.path.join(HERE, name))
    tensors = []
    metadata = {}
    for name, file, size, pad in cases:
        img = Image.open(os.path.join(HERE, file))
        img.load()
        pixels = clip_pixels(img, size, pad)
        tensors += [(name + ".pixels", pixels), (name + ".tensor", normalise(pixels))]
        metadata[name] = json.dumps({"file": file, "size": size, "pad": pad})
    # The reward model's pair: each side resized to pair_side, pasted left | right.
    pair_side, size = 24, 20
    left = Image.open(os.path.join(HERE, "pair_left.png")).convert("RGB").resize((pair_side, pair_side), Image.BICUBIC)
    right = Image.open(os.path.join(HERE, "pair_right.png")).convert("RGB").resize((pair_side, pair_side), Image.BICUBIC)
    pair = Image.new("RGB", (2 * pair_side, pair_side))
    pair.paste(left, (0, 0))
    pair.paste(right, (pair_side, 0))
    pixels = clip_pixels(pair, size, True)
    tensors += [("pair.side_by_side", np.asarray(pair)), ("pair.pixels", pixels), ("pair.tensor", normalise(pixels))]
    metadata["pair"] = json.dumps({"left": "pair_left.png", "right": "pair_right.png", "pair_side": pair_side,
                                   "size": size, "pad": True})
    import PIL
    metadata["producer"] = f"Pillow {PIL.__version__}, numpy {np.__version__}"
    save_safetensors(os.path.join(HERE, "reference.safetensors"), tensors, metadata)


if __name__ == "__main__":
    main()
