// onnxruntime-node side of bench_isnet: times the same ISNet model (joined from the npm
// package's chunks as dist/resources.json lists them) on a 1024x1024 input, and prints
// "ort_median_ms <ms>". Run by bench_isnet; needs ORT_NODE_DIR (a folder with
// node_modules/onnxruntime-node) and the extracted package folder as argument.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [pkg, runsArg, threadsArg] = process.argv.slice(2);
const ort = createRequire(path.join(process.env.ORT_NODE_DIR ?? '.', 'x.js'))('onnxruntime-node');
const res = JSON.parse(fs.readFileSync(path.join(pkg, 'dist', 'resources.json'), 'utf8'))['/models/medium'];
const model = Buffer.alloc(res.size);
for (const c of res.chunks) fs.readFileSync(path.join(pkg, 'dist', c.hash)).copy(model, c.offsets[0]);

const opts = { executionProviders: ['cpu'] };
if (threadsArg) opts.intraOpNumThreads = Number(threadsArg);
const session = await ort.InferenceSession.create(model, opts);
const S = 1024, input = new Float32Array(3 * S * S);
for (let i = 0; i < input.length; ++i) input[i] = (((i * 2654435761) >>> 24) - 128) / 256;  // fixed pseudo-random pixels
const feeds = { input: new ort.Tensor('float32', input, [1, 3, S, S]) };
await session.run(feeds);  // warm-up
const times = [];
for (let i = 0; i < Number(runsArg ?? 5); ++i) {
  const t = process.hrtime.bigint();
  await session.run(feeds);
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
}
times.sort((a, b) => a - b);
console.log(`ort_median_ms ${times[Math.floor(times.length / 2)].toFixed(1)}`);
console.log(`ort_peak_rss_mib ${(process.resourceUsage().maxRSS / 1024).toFixed(0)}`);
