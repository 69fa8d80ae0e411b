// Dev-time generator of tests/data/bpe_tokenizer (not run by the build or the tests).
//
//   npm pack @huggingface/tokenizers && tar xzf huggingface-tokenizers-*.tgz   (anywhere, e.g. /tmp)
//   node make_reference.mjs <path to the unpacked package>/dist/tokenizers.mjs [real tokenizer.json]
//
// 1. Learns a tiny byte-level BPE (a few hundred merges) over the corpus below with Qwen2's
//    pre-tokenizer, and writes tokenizer.json in Qwen2's layout (NFC normaliser, Split(regex,
//    Isolated) + ByteLevel(use_regex false) pre-tokenizer, ByteLevel decoder, <|endoftext|>,
//    <|im_start|>, <|im_end|> and <image> as added tokens), plus a few vocabulary entries no merge
//    reaches (so that ignore_merges changes results).
// 2. Encodes the cases below with Hugging Face's tokenizers.js (the reference) and writes
//    reference.json: {text, ids, ids_ignore_merges, decoded}.
// 3. With a second argument (e.g. Qwen2's real tokenizer.json), also writes
//    reference_real.json for the same cases on that vocabulary (kept out of the repository).
// Only the generated data is committed, never the npm package.
import fs from "node:fs";
import path from "node:path";
import url from "node:url";

const here = path.dirname(url.fileURLToPath(import.meta.url));
const libPath = process.argv[2];
if (!libPath) throw new Error("usage: node make_reference.mjs <tokenizers.mjs> [tokenizer.json]");
const { Tokenizer } = await import(url.pathToFileURL(path.resolve(libPath)).href);

const QWEN2_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// The same for training in JavaScript (no inline (?i:) groups in Node 20).
const TRAIN_RE =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

// GPT-2's bytes_to_unicode.
function byteChars() {
  const bs = [];
  for (let b = 33; b <= 126; ++b) bs.push(b);
  for (let b = 161; b <= 172; ++b) bs.push(b);
  for (let b = 174; b <= 255; ++b) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; ++b) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const map = new Array(256);
  bs.forEach((b, i) => (map[b] = String.fromCodePoint(cs[i])));
  return map;
}
const BYTE = byteChars();
const toByteLevel = (s) => Array.from(new TextEncoder().encode(s), (b) => BYTE[b]).join("");

const corpus = `
The quick brown fox jumps over the lazy dog. The dog doesn't care; it's sleeping.
Write a Stable Diffusion prompt for the product 'Teal Ceramic Mug': a cozy kitchen table,
soft morning light, wooden shelves, shallow depth of field, photorealistic, 4k, high detail.
We'll see what they've done. I'm sure you're right, and he'd agree.
Product photography of a leather handbag on a marble counter, studio lighting, 85mm lens.
function add(a, b) { return a + b; }  // comment
    indented code line
		tabs and spaces   mixed
Numbers: 12345 and 2024-11-28, 3.14159, 1,000,000.
Café crème brûlée, naïve façade, résumé, São Paulo, Zürich, Ångström.
你好，世界！这是一个测试。产品摄影，柔和的光线。
こんにちは、世界。カメラの写真。
안녕하세요 세계
Emoji: 😀🎉👍🏽 ❤️ ✨
<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
Describe the image.<|im_end|>
<|im_start|>assistant
A mug on a table.<|im_end|>
`.repeat(3);

function learnMerges(text, count) {
  const words = new Map();
  for (const w of text.normalize("NFC").match(TRAIN_RE) || []) {
    const key = toByteLevel(w);
    words.set(key, (words.get(key) || 0) + 1);
  }
  let splits = [...words.entries()].map(([w, c]) => [Array.from(w), c]);
  const merges = [];
  for (let m = 0; m < count; ++m) {
    const pairs = new Map();
    for (const [sym, c] of splits) {
      for (let i = 0; i + 1 < sym.length; ++i) {
        const k = sym[i] + " " + sym[i + 1];
        pairs.set(k, (pairs.get(k) || 0) + c);
      }
    }
    let best = null, bestCount = 1;
    for (const [k, c] of pairs) {
      if (c > bestCount || (c === bestCount && best !== null && k < best)) best = k, bestCount = c;
    }
    if (best === null) break;
    merges.push(best);
    const [a, b] = best.split(" ");
    splits = splits.map(([sym, c]) => {
      const out = [];
      for (let i = 0; i < sym.length; ++i) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) out.push(a + b), ++i;
        else out.push(sym[i]);
      }
      return [out, c];
    });
  }
  return merges;
}

const merges = learnMerges(corpus, 400);
const vocab = {};
const add = (t) => {
  if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
};
for (let b = 0; b < 256; ++b) add(BYTE[b]);
for (const m of merges) add(m.replace(" ", ""));
// Whole words that no merge builds: only ignore_merges finds them.
for (const w of [" zebra", " quickly", "Hello", " world"]) add(toByteLevel(w));
const base = Object.keys(vocab).length;
const added = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"].map((content, i) => ({
  id: base + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
}));
added[3].special = false;  // <image> is a plain added token in LLaVA-OneVision folders

const tokenizerJson = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: added,
  normalizer: { type: "NFC" },
  pre_tokenizer: {
    type: "Sequence",
    pretokenizers: [
      { type: "Split", pattern: { Regex: QWEN2_PATTERN }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    ],
  },
  post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
  decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
  model: {
    type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
  },
};
const tokenizerConfig = {
  add_bos_token: false, add_prefix_space: false, bos_token: null, clean_up_tokenization_spaces: false,
  eos_token: "<|im_end|>",
  pad_token: "<|endoftext|>", unk_token: null, model_max_length: 32768,
  chat_template: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
};

const cases = [
  "Hello world", "Hello World", "hello", " Hello", "  Hello", "The quick brown fox jumps over the lazy dog.",
  "It's, they'RE, we've, I'M, you'll, he'D", "don't", "a'b", "Numbers 12345 and 3.14159", "2024-11-28",
  "1,000,000", "x=1+2*3", "!!!???...", "--- ***", "foo!!!\n\nbar", "line1\nline2\r\nline3", "\n\n\n",
  "   ", "a  b   c    d", "trailing spaces   ", "\ttab\tseparated\t", " \n \n", "end with newline\n",
  "你好，世界！", "这是一个测试。", "こんにちは、世界", "안녕하세요", "😀🎉👍🏽", "❤️ ✨ love", "Café crème brûlée",
  "Cafe\u0301 cre\u0300me (decomposed)", "A\u030Angstro\u0308m", "naïve façade résumé",
  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n",
  "<|im_start|>user\n<image>\nDescribe the image.<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>",
  "a<|im_end|>b", "<|im_start|><|im_end|>", "<image>", "Look: <image> here", "<|im_end", "zebra quickly",
  "Hello world zebra", "function add(a, b) { return a + b; }", "    indented", "mixed 中文 and English",
  "Ωμέγα ελληνικά", "Привет, мир", "\u00A0non-breaking\u00A0space", "emoji👍🏽text", "",
  "Write a Stable Diffusion prompt for 'Teal Ceramic Mug'",
];

function reference(json, config) {
  const tok = new Tokenizer(json, config);
  const ignoring = new Tokenizer({ ...json, model: { ...json.model, ignore_merges: true } }, config);
  return cases.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    return {
      text,
      ids,
      ids_ignore_merges: ignoring.encode(text, { add_special_tokens: false }).ids,
      decoded: ids.length ? tok.decode(ids, { skip_special_tokens: false }) : "",
      decoded_skip_special: ids.length ? tok.decode(ids, { skip_special_tokens: true }) : "",
    };
  });
}

fs.writeFileSync(path.join(here, "tokenizer.json"), JSON.stringify(tokenizerJson, null, 1) + "\n");
fs.writeFileSync(path.join(here, "tokenizer_config.json"), JSON.stringify(tokenizerConfig, null, 1) + "\n");
fs.writeFileSync(path.join(here, "reference.json"),
  JSON.stringify({ generator: "tokenizers.js (@huggingface/tokenizers) via make_reference.mjs", cases: reference(tokenizerJson, tokenizerConfig) }, null, 1) + "\n");
console.log(`tiny tokenizer: ${merges.length} merges, ${Object.keys(vocab).length} pieces, ${cases.length} cases`);

if (process.argv[3]) {
  const real = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
  fs.writeFileSync(path.join(process.cwd(), "reference_real.json"),
    JSON.stringify({ cases: reference(real, {}) }, null, 1) + "\n");
  console.log("wrote reference_real.json in the current folder");
}
