#!/usr/bin/env python3
"""The CLI tests' reward-model folder, as two shards: tiny-llava-hf's model.safetensors (copied at
test time as language-and-vision.safetensors, see tests/CMakeLists.txt) and score-head.safetensors
here, with the fixture's stand-in head (tests/data/llava/io.safetensors: rm_head_weight [2, 32],
rm_head_bias [2]) as score.weight / score.bias; model.safetensors.index.json maps every tensor.

    python3 tests/data/tiny-llava-rm/make_head.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        return header, 8 + n


def main():
    header, base = read_header(os.path.join(DATA, "llava", "io.safetensors"))
    with open(os.path.join(DATA, "llava", "io.safetensors"), "rb") as f:
        blob = f.read()
    out = {}
    data = b""
    for src, dst in (("rm_head_weight", "score.weight"), ("rm_head_bias", "score.bias")):
        info = header[src]
        begin, end = info["data_offsets"]
        out[dst] = {"dtype": info["dtype"], "shape": info["shape"], "data_offsets": [len(data), len(data) + end - begin]}
        data += blob[base + begin:base + end]
    text = json.dumps(out, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(HERE, "score-head.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    lm, _ = read_header(os.path.join(DATA, "tiny-llava-hf", "model.safetensors"))
    weight_map = {name: "language-and-vision.safetensors" for name in sorted(lm) if name != "__metadata__"}
    weight_map.update({name: "score-head.safetensors" for name in out})
    with open(os.path.join(HERE, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"note": "see make_head.py"}, "weight_map": weight_map}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
