//! Line plots of the HTM experiments (PNG, plotters' bitmap backend).

use std::path::Path;

use plotters::prelude::*;

const COLOURS: [RGBColor; 4] = [RGBColor(60, 60, 60), RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44)];

/// Draws named series of (x, y) points as lines, with dashed vertical lines at `marks`.
pub fn lines(path: &Path, title: &str, x_label: &str, series: &[(&str, &[(usize, f64)])], marks: &[f64]) -> engram::Result<()> {
    let fail = |e: &dyn std::fmt::Display| engram::EngramError::Output { path: path.into(), message: e.to_string() };
    let points = series.iter().flat_map(|(_, s)| s.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x as f64), x1.max(x as f64), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1.max(x0 + 1.0), (y0 - pad)..(y1 + pad))
        .map_err(|e| fail(&e))?;
    chart.configure_mesh().x_desc(x_label).draw().map_err(|e| fail(&e))?;
    for &m in marks {
        let dashed = DashedLineSeries::new(vec![(m, y0 - pad), (m, y1 + pad)], 6, 4, BLACK.stroke_width(1));
        chart.draw_series(dashed).map_err(|e| fail(&e))?;
    }
    for (i, (name, s)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(s.iter().map(|&(x, y)| (x as f64, y)), colour.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}
