// The score map of a segment answer and what the page draws from it. The server sends one
// byte per pixel (round(score * 255), a grey PNG); the page thresholds it itself, so moving
// the threshold or opacity slider never asks the server again.

// Decodes the answer's base64 PNG into {width, height, data: Uint8Array of bytes 0..255}.
export async function decodeScores(base64) {
  const image = new Image();
  image.src = `data:image/png;base64,${base64}`;
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(image, 0, 0);
  const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const data = new Uint8Array(canvas.width * canvas.height);
  for (let i = 0; i < data.length; ++i) data[i] = rgba[4 * i];
  return { width: canvas.width, height: canvas.height, data };
}

// The byte a score must reach to count as a defect: the server's rule (score >= threshold)
// carried to bytes; round(s * 255) >= round(t * 255) whenever s >= t.
export const thresholdByte = (threshold) => Math.round(threshold * 255);

// Paints the pixels at or over the threshold into `imageData` (same size as the map) in
// `color` at `opacity`; the rest transparent. Returns how many pixels were painted.
export function paintOverlay(scores, threshold, opacity, color, imageData) {
  const t = thresholdByte(threshold);
  const alpha = Math.round(opacity * 255);
  const out = imageData.data;
  const [r, g, b] = color;
  let count = 0;
  for (let i = 0, n = scores.data.length; i < n; ++i) {
    const o = 4 * i;
    if (scores.data[i] >= t) {
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = alpha;
      ++count;
    } else {
      out[o + 3] = 0;
    }
  }
  return count;
}

// Connected defect regions at a threshold, as the server finds them (8-connected, in scan
// order, at least minArea pixels): [{box: [x0, y0, x1, y1], area, mean_score}].
export function findRegions(scores, threshold, minArea) {
  const { width: w, height: h, data } = scores;
  const t = thresholdByte(threshold);
  const seen = new Uint8Array(w * h);
  const stack = [];
  const regions = [];
  for (let start = 0; start < w * h; ++start) {
    if (seen[start] || data[start] < t) continue;
    let x0 = start % w, x1 = x0, y0 = (start - x0) / w, y1 = y0, area = 0, sum = 0;
    seen[start] = 1;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop();
      const x = p % w, y = (p - x) / w;
      ++area;
      sum += data[p];
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; ++dy) {
        const ny = y + dy;
        if (ny < 0 || ny >= h) continue;
        for (let dx = -1; dx <= 1; ++dx) {
          const nx = x + dx;
          if (nx < 0 || nx >= w) continue;
          const q = ny * w + nx;
          if (seen[q] || data[q] < t) continue;
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    if (area >= minArea) regions.push({ box: [x0, y0, x1, y1], area, mean_score: sum / area / 255 });
  }
  return regions;
}
