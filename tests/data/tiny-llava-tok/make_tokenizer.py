#!/usr/bin/env python3
"""Builds the tiny LLaMA-style SentencePiece tokenizer of the tests (tokenizer.model, ~20 KB).

BPE with byte fallback, split digits, identity normalisation, dummy prefix and kept whitespace,
as LLaMA's tokenizer.model; 999 pieces (<unk> 0, <s> 1, </s> 2, 256 byte pieces, one
user-defined symbol "<logo>") so that, with the added token "<image>" = 999 (added_tokens.json, as
transformers LLaVA folders add it), every id fits tests/data/tiny-llava-hf (vocab 1000,
image_token_index 999). The corpus is generated here, deterministically, and spm_train runs
single-threaded with a fixed seed: the pieces and scores come out the same on every run (the file's
bytes differ only in the temporary corpus path the trainer records).

    python3 tests/data/tiny-llava-tok/make_tokenizer.py
"""
import itertools
import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

subjects = ["perfume bottle", "ceramic mug", "glass jar", "leather bag", "running shoe", "wrist watch",
            "face cream", "coffee beans", "wireless earbuds", "silk scarf", "wooden toy", "olive oil"]
scenes = ["on a marble counter", "on a wooden table", "in a sunlit kitchen", "on a beach at sunset",
          "in a minimalist studio", "on a moss covered rock", "beside fresh flowers", "in a cozy living room",
          "on a pastel podium", "under soft morning light", "in front of a city skyline", "on white sand"]
styles = ["photorealistic", "soft shadows", "high detail", "8k", "product photography", "bokeh background",
          "warm tones", "cool blue palette", "studio lighting", "cinematic", "clean composition", "elegant"]
questions = ["Design a concise Stable Diffusion prompt for the product '{}'.",
             "Which side, left or right, would get the higher click-through rate for the product '{}'?",
             "USER: describe the background for '{}' ASSISTANT: a background with {} and {}."]


def corpus_lines():
    lines = []
    for i, (s, c) in enumerate(itertools.product(subjects, scenes)):
        st = styles[i % len(styles)], styles[(i * 5 + 3) % len(styles)]
        lines.append(f"A {s} {c}, {st[0]}, {st[1]}, {i % 97} degrees, {2000 + i} lux")
        lines.append(questions[i % 3].format(s, c, st[0]) if i % 3 == 2 else questions[i % 3].format(s))
    lines += ["Le café crème sur la table, élégant et raffiné.", "Über den Dächern — schöne Aussicht!",
              "日本の香水 ボトル", "<logo> in the corner of the ad", "Prompt: a bright backdrop"]
    return lines


def main():
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "corpus.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write("\n".join(corpus_lines()) + "\n")
        subprocess.run(["spm_train", f"--input={text}", f"--model_prefix={tmp}/tokenizer", "--model_type=bpe",
                        "--vocab_size=999", "--byte_fallback=true", "--split_digits=true",
                        "--normalization_rule_name=identity", "--add_dummy_prefix=true",
                        "--remove_extra_whitespaces=false", "--allow_whitespace_only_pieces=true",
                        "--character_coverage=0.9995", "--user_defined_symbols=<logo>", "--unk_id=0",
                        "--bos_id=1", "--eos_id=2", "--pad_id=-1", "--num_threads=1", "--random_seed=1",
                        "--hard_vocab_limit=false", "--minloglevel=2"], check=True)
        with open(os.path.join(tmp, "tokenizer.model"), "rb") as f:
            model = f.read()
    with open(os.path.join(HERE, "tokenizer.model"), "wb") as f:
        f.write(model)
    with open(os.path.join(HERE, "added_tokens.json"), "w") as f:
        json.dump({"<image>": 999}, f, indent=2)
        f.write("\n")
    config = {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "legacy": True,
              "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>",
              "added_tokens_decoder": {"999": {"content": "<image>", "lstrip": False, "normalized": False,
                                               "rstrip": False, "single_word": False, "special": True}}}
    with open(os.path.join(HERE, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
