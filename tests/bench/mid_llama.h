#pragma once
// The mid-size random LLaMA the LLaVA, training and data-parallel benchmarks share (hidden 512,
// 8 layers, vocab 32000: the 7B's shape scaled down), so their figures compare.

#include "models/llama.h"

namespace caig::bench {

inline LlamaConfig midLlama() {
  LlamaConfig c;
  c.vocabSize = 32000;
  c.hiddenSize = 512;
  c.intermediateSize = 1376;
  c.numLayers = 8;
  c.numHeads = 8;
  c.numKvHeads = 8;
  c.headDim = 64;
  c.maxPositions = 4096;
  return c;
}

}  // namespace caig::bench
