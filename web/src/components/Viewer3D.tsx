/* The 3D view of a structure (3Dmol.js, loaded on first use so the rest of
 * the app does not wait for it). Atoms may be coloured by partial charge. */
import { useEffect, useRef, useState } from 'react';
import { chargeColor } from '../lib/chem';
import { useUi } from '../state/hooks';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Mol3D = any;
let loading: Promise<Mol3D> | null = null;
export function load3Dmol(): Promise<Mol3D> {
  if (!loading)
    loading = import('3dmol/build/3Dmol-min.js').then((m) => {
      const lib = (m as { default?: Mol3D }).default ?? m;
      return lib.createViewer ? lib : (lib as { default: Mol3D }).default;
    });
  return loading;
}

/* Whether WebGL is drawn in software (SwiftShader, llvmpipe: no GPU, as in a
 * VM, a remote desktop or headless Chromium). There multisampling is what
 * costs: the first frame of C60 with antialiasing took 1.3 s, without 0.1 s
 * (bench/web, headless Chromium with SwiftShader, 2 cores), so it is off
 * there and on with a GPU. The renderer's name says which (the browser's
 * failIfMajorPerformanceCaveat does not: Chromium grants it to SwiftShader). */
let software: boolean | null = null;
export function softwareWebGL(): boolean {
  if (software === null) {
    const gl = document.createElement('canvas').getContext('webgl');
    const info = gl?.getExtension('WEBGL_debug_renderer_info');
    const name = gl && info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
    gl?.getExtension('WEBGL_lose_context')?.loseContext();
    software = /swiftshader|llvmpipe|softpipe|software/i.test(name);
  }
  return software;
}

export interface ViewerProps {
  /** the structure as text */
  data: string;
  format: 'xyz' | 'sdf' | 'mol';
  /** one per atom: colours the atoms red (−) to blue (+) */
  charges?: number[] | null;
  height?: number;
  label?: string;
  /** animate the dx dy dz columns of an XYZ frame with this amplitude */
  vibrate?: number;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function Viewer3D({ data, format, charges, height = 360, label = 'Molecule in 3D', vibrate }: ViewerProps) {
  const host = useRef<HTMLDivElement>(null);
  const viewer = useRef<Mol3D>(null);
  const [error, setError] = useState<string | null>(null);
  const [ready, setReady] = useState(false);
  const [atoms, setAtoms] = useState(0);
  const theme = useUi((s) => s.theme); // the background follows the theme

  useEffect(() => {
    let gone = false;
    load3Dmol().then(
      (lib) => {
        if (gone || !host.current) return;
        viewer.current = lib.createViewer(host.current, { backgroundColor: cssVar('--panel', '#ffffff'), antialias: !softwareWebGL() });
        setReady(true);
      },
      (e) => setError(`the 3D viewer could not load: ${e}`),
    );
    return () => {
      gone = true;
      try {
        viewer.current?.clear();
      } catch {
        /* already gone */
      }
      viewer.current = null;
      if (host.current) host.current.innerHTML = '';
    };
  }, []);

  useEffect(() => {
    const v = viewer.current;
    if (!ready || !v) return;
    v.stopAnimate?.();
    v.clear();
    v.setBackgroundColor(cssVar('--panel', '#ffffff'));
    if (!data.trim()) {
      setAtoms(0);
      setError(null);
      v.render();
      return;
    }
    try {
      const m = v.addModel(data, format === 'mol' ? 'sdf' : format, { keepH: true });
      const n = m.selectedAtoms({}).length;
      setAtoms(n);
      if (!n) {
        setError('no atoms could be read for the 3D view');
        v.render();
        return;
      }
      setError(null);
      if (charges && charges.length) {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const color = (a: any) => chargeColor(charges[a.index] ?? 0);
        v.setStyle({}, { stick: { radius: 0.14, colorfunc: color }, sphere: { scale: 0.3, colorfunc: color } });
      } else v.setStyle({}, { stick: { radius: 0.14 }, sphere: { scale: 0.28 } });
      v.zoomTo();
      if (vibrate) {
        m.vibrate(12, vibrate, true);
        v.animate({ loop: 'backAndForth', interval: 60 });
      }
      v.render();
    } catch (e) {
      setError(`the structure could not be drawn: ${(e as Error).message}`);
    }
  }, [ready, data, format, charges, vibrate, theme]);

  return (
    <figure className="viewer" aria-label={label}>
      <div ref={host} className="viewer-canvas" style={{ height, position: 'relative' }} data-testid="viewer" data-atoms={atoms} />
      <figcaption className="muted">
        {error ?? (!ready ? 'Loading the 3D viewer…' : atoms ? `${atoms} atoms · drag to rotate, scroll to zoom` : 'Nothing to show yet.')}
        {charges && charges.length > 0 && (
          <span className="charge-legend" aria-label="Partial charge colours">
            <span style={{ background: chargeColor(-0.5) }} /> −0.5 <span style={{ background: chargeColor(0) }} /> 0 <span style={{ background: chargeColor(0.5) }} /> +0.5 e
          </span>
        )}
      </figcaption>
    </figure>
  );
}
