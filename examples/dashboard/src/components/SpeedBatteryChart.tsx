/** The selected vehicle's speed and battery over the last hour, from the analytics API. */
import { useEffect, useRef } from 'react';
import { batteryScale, SERIES_COLOURS, speedScale, useChart } from './charts';
import { useAppDispatch, useAppSelector } from '../store';
import { fetchVehicleSeries } from '../store/analyticsSlice';
import { useInterval } from '../hooks';

const WINDOW_MINUTES = 60;

export function SpeedBatteryChart({ vehicleId }: { vehicleId: string }) {
  const dispatch = useAppDispatch();
  const series = useAppSelector((s) => (s.analytics.series?.vehicleId === vehicleId ? s.analytics.series : null));
  const error = useAppSelector((s) => s.analytics.seriesError);
  const canvasRef = useRef<HTMLCanvasElement>(null);

  useInterval(
    () => {
      const to = new Date();
      const from = new Date(to.getTime() - WINDOW_MINUTES * 60_000);
      void dispatch(fetchVehicleSeries({ vehicleId, window: { from: from.toISOString(), to: to.toISOString() } }));
    },
    30_000,
    [vehicleId, dispatch],
  );

  const chartRef = useChart<'line'>(canvasRef, () => ({
    type: 'line',
    data: { labels: [], datasets: [] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      scales: {
        speed: speedScale(),
        battery: batteryScale({ grid: { drawOnChartArea: false } }),
      },
      plugins: { legend: { labels: { boxWidth: 10 } } },
    },
  }));

  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return;
    const speed = series?.speed ?? [];
    const battery = series?.battery ?? [];
    const labels = (speed.length ? speed : battery).map((p) =>
      new Date(p.bucket).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
    );
    chart.data.labels = labels;
    chart.data.datasets = [
      {
        label: 'Speed (avg km/h)',
        data: speed.map((p) => p.avg_value),
        borderColor: SERIES_COLOURS.speed,
        backgroundColor: SERIES_COLOURS.speed,
        yAxisID: 'speed',
        pointRadius: 0,
        tension: 0.2,
      },
      {
        label: 'Battery (avg %)',
        data: battery.map((p) => p.avg_value),
        borderColor: SERIES_COLOURS.battery,
        backgroundColor: SERIES_COLOURS.battery,
        yAxisID: 'battery',
        pointRadius: 0,
        tension: 0.2,
      },
    ];
    chart.update();
  }, [series]);

  return (
    <div className="chart-box" data-testid="speed-battery-chart" data-points={series?.speed.length ?? 0}>
      <canvas ref={canvasRef} />
      {error && <div className="error small">{error}</div>}
    </div>
  );
}
