// A pannable, zoomable view of one image with its overlay and region boxes. The canvases
// keep the image's own size; only a CSS transform moves them, so a 4096x4096 image pans and
// zooms without redrawing. Views can be linked so that two models' results move together.

const SVG = 'http://www.w3.org/2000/svg';

export class Viewport {
  constructor(element) {
    this.element = element;
    this.stage = element.querySelector('.stage');
    this.image = element.querySelector('canvas.image');
    this.overlay = element.querySelector('canvas.overlay');
    this.boxes = element.querySelector('svg.boxes');
    this.scale = 1;
    this.x = 0;
    this.y = 0;
    this.linked = [];
    this.onchange = null;
    this.listen();
  }

  // Shows a decoded image (ImageBitmap) and clears what was drawn over the last one.
  show(bitmap) {
    for (const c of [this.image, this.overlay]) {
      c.width = bitmap.width;
      c.height = bitmap.height;
    }
    this.image.getContext('2d').drawImage(bitmap, 0, 0);
    this.boxes.setAttribute('viewBox', `0 0 ${bitmap.width} ${bitmap.height}`);
    this.boxes.setAttribute('width', bitmap.width);
    this.boxes.setAttribute('height', bitmap.height);
    this.drawBoxes([]);
    this.fit();
  }

  get width() {
    return this.image.width;
  }

  get height() {
    return this.image.height;
  }

  overlayContext() {
    return this.overlay.getContext('2d', { willReadFrequently: true });
  }

  drawBoxes(regions, selected = -1) {
    this.boxes.replaceChildren();
    regions.forEach((r, i) => {
      const [x0, y0, x1, y1] = r.box;
      const rect = document.createElementNS(SVG, 'rect');
      rect.setAttribute('x', x0 - 0.5);
      rect.setAttribute('y', y0 - 0.5);
      rect.setAttribute('width', x1 - x0 + 2);
      rect.setAttribute('height', y1 - y0 + 2);
      rect.setAttribute('class', i === selected ? 'box selected' : 'box');
      this.boxes.append(rect);
    });
  }

  // The whole image in view.
  fit() {
    const { clientWidth: w, clientHeight: h } = this.element;
    if (!this.width || !w || !h) return;
    this.scale = Math.min(w / this.width, h / this.height);
    this.x = (w - this.width * this.scale) / 2;
    this.y = (h - this.height * this.scale) / 2;
    this.apply(true);
  }

  // A box of the image ([x0, y0, x1, y1]) in view, with a margin around it.
  zoomTo(box) {
    const { clientWidth: w, clientHeight: h } = this.element;
    const bw = box[2] - box[0] + 1, bh = box[3] - box[1] + 1;
    const margin = Math.max(bw, bh, 16) * 1.5;
    this.scale = Math.min(w / (bw + margin), h / (bh + margin), 32);
    this.x = w / 2 - (box[0] + bw / 2) * this.scale;
    this.y = h / 2 - (box[1] + bh / 2) * this.scale;
    this.apply(true);
  }

  apply(propagate) {
    this.stage.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.scale})`;
    // Past 2x, show the pixels as they are rather than smoothed.
    this.stage.classList.toggle('pixelated', this.scale >= 2);
    if (propagate)
      for (const v of this.linked) {
        v.scale = this.scale;
        v.x = this.x;
        v.y = this.y;
        v.apply(false);
      }
    if (this.onchange) this.onchange(this);
  }

  listen() {
    this.element.addEventListener(
      'wheel',
      (e) => {
        if (!this.width) return;
        e.preventDefault();
        const rect = this.element.getBoundingClientRect();
        const px = e.clientX - rect.left, py = e.clientY - rect.top;
        const factor = Math.exp(-e.deltaY * 0.0015);
        const scale = Math.min(64, Math.max(0.02, this.scale * factor));
        this.x = px - ((px - this.x) * scale) / this.scale;
        this.y = py - ((py - this.y) * scale) / this.scale;
        this.scale = scale;
        this.apply(true);
      },
      { passive: false },
    );
    let drag = null;
    this.element.addEventListener('pointerdown', (e) => {
      if (!this.width || e.button !== 0) return;
      drag = { x: e.clientX - this.x, y: e.clientY - this.y };
      this.element.setPointerCapture(e.pointerId);
      this.element.classList.add('dragging');
    });
    this.element.addEventListener('pointermove', (e) => {
      if (!drag) return;
      this.x = e.clientX - drag.x;
      this.y = e.clientY - drag.y;
      this.apply(true);
    });
    const end = () => {
      drag = null;
      this.element.classList.remove('dragging');
    };
    this.element.addEventListener('pointerup', end);
    this.element.addEventListener('pointercancel', end);
    this.element.addEventListener('dblclick', () => this.fit());
  }
}

// Two views that pan and zoom together.
export function link(a, b) {
  a.linked.push(b);
  b.linked.push(a);
}
