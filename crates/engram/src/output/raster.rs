//! The raster plot: one dot per spike, populations stacked and coloured.

use std::path::Path;

use plotters::prelude::*;

use crate::engine::RunResult;
use crate::error::{EngramError, Result};
use crate::network::Network;

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(127, 127, 127),
];

pub fn draw(path: &Path, net: &Network, result: &RunResult) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| EngramError::Output { path: path.to_path_buf(), message: e.to_string() };
    let selected = net.spec.monitors.spikes.as_ref();
    let shown: Vec<usize> = (0..net.groups.len())
        .filter(|&g| selected.is_none_or(|names| names.contains(&net.groups[g].name)))
        .collect();
    let total: usize = shown.iter().map(|&g| net.groups[g].size).sum::<usize>().max(1);
    let dt_s = net.spec.run.dt * 1e-3;
    let t_max = (result.n_steps as f64 * dt_s).max(dt_s);
    let root = BitMapBackend::new(path, (1200, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("spike raster", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..t_max, 0.0..total as f64)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("time (s)")
        .y_desc("neuron")
        .draw()
        .map_err(|e| fail(&e))?;
    let mut offset = 0usize;
    for (c, &g) in shown.iter().enumerate() {
        let colour = COLOURS[c % COLOURS.len()];
        let s = &result.spikes[g];
        let base = offset as f64;
        chart
            .draw_series(
                s.steps.iter().zip(&s.ids).map(|(&k, &i)| Pixel::new((k as f64 * dt_s, base + i as f64), colour)),
            )
            .map_err(|e| fail(&e))?
            .label(net.groups[g].name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 8, y + 4)], colour.filled()));
        offset += net.groups[g].size;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
