/**
 * Icons drawn on a canvas at run time, so the offline style needs no sprite sheet and no glyph
 * server: cluster counts ("count:42", "count:1.2k") and the heading arrow.
 */
export interface ImageData2 {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

const RATIO = typeof devicePixelRatio === 'number' ? Math.max(1, Math.round(devicePixelRatio)) : 1;

function canvas(w: number, h: number): CanvasRenderingContext2D | null {
  const c = document.createElement('canvas');
  c.width = w * RATIO;
  c.height = h * RATIO;
  const ctx = c.getContext('2d');
  ctx?.scale(RATIO, RATIO);
  return ctx;
}

/** A label image for a cluster count, or null for ids this module does not draw. */
export function countIcon(id: string): { image: ImageData2; pixelRatio: number } | null {
  if (!id.startsWith('count:')) return null;
  const text = id.slice('count:'.length);
  const w = Math.max(16, 8 * text.length + 6);
  const h = 16;
  const ctx = canvas(w, h);
  if (!ctx) return null;
  ctx.font = 'bold 12px system-ui, sans-serif';
  ctx.fillStyle = '#f8fafc';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, w / 2, h / 2 + 0.5);
  const data = ctx.getImageData(0, 0, w * RATIO, h * RATIO);
  return { image: { width: data.width, height: data.height, data: data.data }, pixelRatio: RATIO };
}

/** A small arrow pointing north, drawn offset so it sits just ahead of the vehicle dot. */
export function headingArrow(): { image: ImageData2; pixelRatio: number } | null {
  const s = 28;
  const ctx = canvas(s, s);
  if (!ctx) return null;
  ctx.fillStyle = '#f8fafc';
  ctx.beginPath();
  ctx.moveTo(s / 2, 0);
  ctx.lineTo(s / 2 + 4, 6);
  ctx.lineTo(s / 2 - 4, 6);
  ctx.closePath();
  ctx.fill();
  const data = ctx.getImageData(0, 0, s * RATIO, s * RATIO);
  return { image: { width: data.width, height: data.height, data: data.data }, pixelRatio: RATIO };
}
