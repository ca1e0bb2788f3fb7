//! The sweep plot: stored throughput and p99 latency against offered load, as SVG (plotters'
//! SVG backend needs no system fonts).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::report::RunReport;

/// Draws stored events/s (left axis, with the ideal "stored = offered" line) and p99 latency in
/// ms (right axis) against the offered rate; every axis is logarithmic.
pub fn sweep_svg(runs: &[RunReport], path: &Path, title: &str) -> Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    let max_rate = runs.iter().map(|r| r.offered_per_s).max().unwrap_or(1) as f64 * 1.3;
    let min_rate = runs.iter().map(|r| r.offered_per_s).min().unwrap_or(1) as f64 / 1.3;
    let max_p99 = runs.iter().map(|r| r.latency.p99_ms).fold(1.0, f64::max) * 2.0;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(
            (min_rate..max_rate).log_scale(),
            (min_rate..max_rate).log_scale(),
        )
        .map_err(|e| err(&e))?
        .set_secondary_coord((min_rate..max_rate).log_scale(), (0.5..max_p99).log_scale());
    chart
        .configure_mesh()
        .x_desc("offered load (events/s)")
        .y_desc("stored (events/s)")
        .x_label_formatter(&|v| format!("{:.0}", v))
        .y_label_formatter(&|v| format!("{:.0}", v))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .configure_secondary_axes()
        .y_desc("p99 publish → WebSocket (ms)")
        .y_label_formatter(&|v| format!("{:.0}", v))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            [(min_rate, min_rate), (max_rate, max_rate)],
            ShapeStyle::from(&BLACK.mix(0.3)).stroke_width(1),
        ))
        .map_err(|e| err(&e))?
        .label("stored = offered")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.3)));
    let throughput: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| (r.offered_per_s as f64, r.stored_per_s))
        .collect();
    chart
        .draw_series(LineSeries::new(throughput.clone(), BLUE.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("stored events/s")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(throughput.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))
        .map_err(|e| err(&e))?;
    let p99: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| (r.offered_per_s as f64, r.latency.p99_ms.max(0.5)))
        .collect();
    chart
        .draw_secondary_series(LineSeries::new(p99.clone(), RED.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("p99 latency (ms, right)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .draw_secondary_series(p99.iter().map(|&p| TriangleMarker::new(p, 5, RED.filled())))
        .map_err(|e| err(&e))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
