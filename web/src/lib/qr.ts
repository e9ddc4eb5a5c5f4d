/* The QR code of a text as an SVG path drawn in the page (npm qrcode makes
 * the matrix; nothing leaves the browser). Loaded only when a two-factor
 * enrolment shows one: the first load of the app does not carry it. */
import { create } from 'qrcode';

export interface QrPath {
  /** modules per side, without the quiet zone */
  size: number;
  /** an SVG path of the dark modules, one unit a module, offset by the quiet zone */
  d: string;
  /** the side of the viewBox: size + 2 × quiet zone */
  view: number;
}

/** The QR code of text (error correction M, a 4-module quiet zone) as one
 * SVG path: each run of dark modules of a row is one rectangle. */
export function qrPath(text: string, quiet = 4): QrPath {
  const qr = create(text, { errorCorrectionLevel: 'M' });
  const { size, data } = qr.modules;
  const parts: string[] = [];
  for (let y = 0; y < size; y++) {
    let x = 0;
    while (x < size) {
      if (!data[y * size + x]) {
        x++;
        continue;
      }
      const x0 = x;
      while (x < size && data[y * size + x]) x++;
      parts.push(`M${x0 + quiet} ${y + quiet}h${x - x0}v1h${-(x - x0)}z`);
    }
  }
  return { size, d: parts.join(''), view: size + 2 * quiet };
}
