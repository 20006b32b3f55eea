// Writes a Y4M video (what Chromium's fake camera plays) of a face photo:
// the PNG decoded here with node's zlib (8-bit grayscale or RGB, not
// interlaced: what the test photos are), scaled 2x onto the middle of a
// neutral 640x480 frame, repeated for a few frames.
// usage: node y4m.js PHOTO.png OUT.y4m
'use strict';
const fs = require('fs');
const zlib = require('zlib');

function decodePng(buf) {
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!buf.subarray(0, 8).equals(sig)) throw new Error('not a PNG');
  let pos = 8, w = 0, h = 0, depth = 0, type = 0, interlace = 0;
  const idat = [];
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos), kind = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (kind === 'IHDR') {
      w = data.readUInt32BE(0); h = data.readUInt32BE(4);
      depth = data[8]; type = data[9]; interlace = data[12];
    } else if (kind === 'IDAT') idat.push(data);
    else if (kind === 'IEND') break;
    pos += 12 + len;
  }
  if (depth !== 8 || (type !== 0 && type !== 2) || interlace) throw new Error('unsupported PNG layout');
  const bpp = type === 0 ? 1 : 3, stride = w * bpp;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const out = Buffer.alloc(stride * h);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)], src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[y * stride + x - bpp] : 0;
      const b = y > 0 ? out[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y > 0 ? out[(y - 1) * stride + x - bpp] : 0;
      let p = src[x];
      if (f === 1) p += a;
      else if (f === 2) p += b;
      else if (f === 3) p += (a + b) >> 1;
      else if (f === 4) {
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
        p += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (f !== 0) throw new Error('bad PNG filter ' + f);
      out[y * stride + x] = p & 255;
    }
  }
  // Luma only: the fake camera gets a gray picture either way.
  const luma = Buffer.alloc(w * h);
  for (let i = 0; i < w * h; i++)
    luma[i] = bpp === 1 ? out[i] : Math.round(0.299 * out[3 * i] + 0.587 * out[3 * i + 1] + 0.114 * out[3 * i + 2]);
  return { w, h, luma };
}

const [photo, outPath] = process.argv.slice(2);
const img = decodePng(fs.readFileSync(photo));
const W = 640, H = 480, S = 2;
const y = Buffer.alloc(W * H, 128), chroma = Buffer.alloc((W / 2) * (H / 2), 128);
const x0 = Math.floor((W - img.w * S) / 2), y0 = Math.floor((H - img.h * S) / 2);
for (let r = 0; r < img.h * S; r++)
  for (let c = 0; c < img.w * S; c++)
    y[(y0 + r) * W + x0 + c] = img.luma[Math.floor(r / S) * img.w + Math.floor(c / S)];
const parts = [Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`)];
for (let f = 0; f < 10; f++) parts.push(Buffer.from('FRAME\n'), y, chroma, chroma);
fs.writeFileSync(outPath, Buffer.concat(parts));
