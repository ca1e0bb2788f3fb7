/** Chart.js with only the parts the dashboard draws (tree-shaken registration). */
import { useEffect, useRef, type RefObject } from 'react';
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartType,
  type ScaleOptions,
} from 'chart.js';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
);
Chart.defaults.color = '#cbd5e1';
Chart.defaults.borderColor = '#1e293b';
Chart.defaults.animation = false;

export { Chart };

/** One colour per metric wherever it is charted (each at least 7:1 on the panels). */
export const SERIES_COLOURS = {
  speed: '#38bdf8',
  battery: '#22c55e',
  temp: '#f59e0b',
  distance: '#2dd4bf',
} as const;

/** The speed axis (km/h, from zero). */
export function speedScale(extra: Partial<ScaleOptions<'linear'>> = {}): ScaleOptions<'linear'> {
  return {
    type: 'linear',
    position: 'left',
    title: { display: true, text: 'km/h' },
    beginAtZero: true,
    ...extra,
  } as ScaleOptions<'linear'>;
}

/** The battery axis (0–100 %). */
export function batteryScale(extra: Partial<ScaleOptions<'linear'>> = {}): ScaleOptions<'linear'> {
  return {
    type: 'linear',
    position: 'right',
    min: 0,
    max: 100,
    title: { display: true, text: '%' },
    ...extra,
  } as ScaleOptions<'linear'>;
}

/** A distance axis (km, from zero). */
export function distanceScale(extra: Partial<ScaleOptions<'linear'>> = {}): ScaleOptions<'linear'> {
  return {
    type: 'linear',
    position: 'left',
    title: { display: true, text: 'km' },
    beginAtZero: true,
    ...extra,
  } as ScaleOptions<'linear'>;
}

/** A time axis in hours (from zero), e.g. hours in each state per day. */
export function hoursScale(extra: Partial<ScaleOptions<'linear'>> = {}): ScaleOptions<'linear'> {
  return {
    type: 'linear',
    position: 'left',
    title: { display: true, text: 'h' },
    beginAtZero: true,
    ...extra,
  } as ScaleOptions<'linear'>;
}

/** The engine temperature axis (°C). */
export function temperatureScale(extra: Partial<ScaleOptions<'linear'>> = {}): ScaleOptions<'linear'> {
  return {
    type: 'linear',
    position: 'left',
    title: { display: true, text: '°C' },
    ...extra,
  } as ScaleOptions<'linear'>;
}

/**
 * A chart on the canvas for as long as the component is mounted: made from `config` once, then
 * updated in place by the caller through the returned ref (`chart.data = …; chart.update()`).
 */
export function useChart<T extends ChartType>(
  canvasRef: RefObject<HTMLCanvasElement | null>,
  config: () => ChartConfiguration<T>,
): RefObject<Chart<T> | null> {
  const chartRef = useRef<Chart<T> | null>(null);
  useEffect(() => {
    if (!canvasRef.current) return;
    const chart = new Chart<T>(canvasRef.current, config());
    chartRef.current = chart;
    return () => {
      chart.destroy();
      chartRef.current = null;
    };
    // Made once per mount; later changes go through the ref.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [canvasRef]);
  return chartRef;
}
