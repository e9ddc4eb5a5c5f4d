/* A line / bar chart drawn by uPlot (loaded on first use). */
import { useEffect, useRef, useState } from 'react';
import 'uplot/dist/uPlot.min.css';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type UPlotCtor = any;
let loading: Promise<UPlotCtor> | null = null;
const loadUplot = () => (loading ??= import('uplot').then((m) => m.default));

export interface Series {
  label: string;
  values: (number | null)[];
  color?: string;
  bars?: boolean;
  points?: boolean;
}

export interface ChartProps {
  title: string;
  x: number[];
  series: Series[];
  height?: number;
  /** x values are Unix seconds */
  time?: boolean;
  xLabel?: string;
  yLabel?: string;
  /** tick labels for categorical x (x = 0..n-1) */
  categories?: string[];
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2'];

export function Chart({ title, x, series, height = 220, time = false, xLabel, yLabel, categories }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  const [err, setErr] = useState<string | null>(null);

  useEffect(() => {
    if (!host.current) return;
    const ro = new ResizeObserver((e) => setWidth(Math.floor(e[0].contentRect.width)));
    ro.observe(host.current);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    if (!host.current || width < 50) return;
    let plot: { destroy(): void } | null = null;
    let gone = false;
    loadUplot().then(
      (UPlot) => {
        if (gone || !host.current) return;
        const css = getComputedStyle(document.documentElement);
        const fg = css.getPropertyValue('--muted').trim() || '#666';
        const grid = css.getPropertyValue('--border').trim() || '#ddd';
        const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
        const bars = UPlot.paths?.bars ? UPlot.paths.bars({ size: [0.6, 60] }) : undefined;
        plot = new UPlot(
          {
            width,
            height,
            title: undefined,
            scales: { x: { time } },
            legend: { show: series.length > 1, live: false },
            axes: [
              {
                ...axis,
                label: xLabel,
                ...(categories ? { values: (_u: unknown, ticks: number[]) => ticks.map((t) => categories[Math.round(t)] ?? '') , splits: () => categories.map((_, i) => i) } : {}),
              },
              { ...axis, label: yLabel, size: 70 },
            ],
            series: [
              {},
              ...series.map((s, i) => ({
                label: s.label,
                stroke: s.color ?? PALETTE[i % PALETTE.length],
                fill: s.bars ? (s.color ?? PALETTE[i % PALETTE.length]) + '99' : undefined,
                width: s.bars ? 1 : 2,
                paths: s.bars ? bars : undefined,
                points: { show: s.points ?? !s.bars },
                spanGaps: true,
              })),
            ],
          },
          [x, ...series.map((s) => s.values)],
          host.current,
        );
      },
      (e) => setErr(String(e)),
    );
    return () => {
      gone = true;
      plot?.destroy();
    };
  }, [width, height, x, series, time, xLabel, yLabel, categories]);

  return (
    <figure className="chart" aria-label={title}>
      <figcaption>
        <h3>{title}</h3>
      </figcaption>
      {err ? <div className="state state-error">{err}</div> : <div ref={host} className="chart-host" style={{ minHeight: height }} />}
    </figure>
  );
}
