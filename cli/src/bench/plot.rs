//! `--plot FILE.svg`: for each endpoint and cache state, throughput and CPU per GB against the
//! size moved per op (log-log), one line per technique or peer (plotters' SVG backend: no
//! fonts needed, so it works on any machine).

use std::path::Path;

use plotters::prelude::*;

use super::table::{cells, human, rows};
use super::Run;

/// Refuses a file name that is not `.svg`.
pub fn check_path(path: &Path) -> Result<(), String> {
    if path.extension().and_then(|e| e.to_str()) != Some("svg") {
        return Err(format!(
            "--plot writes SVG: give a file name ending in .svg, not {}",
            path.display()
        ));
    }
    Ok(())
}

/// Writes the chart of `run` to `path` (an `.svg` file).
pub fn write(run: &Run, path: &Path) -> Result<(), String> {
    check_path(path)?;
    draw(run, path).map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

/// One panel's data: (technique, [(size, value)]).
type Lines = Vec<(String, Vec<(u64, f64)>)>;

fn draw(run: &Run, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // Panels: one (endpoint, cache) per row; GB/s left, CPU s/GB right.
    let mut panels: Vec<(String, String)> = Vec::new();
    for (e, _, c) in cells(run) {
        if !panels.contains(&(e.clone(), c.clone())) {
            panels.push((e, c));
        }
    }
    if panels.is_empty() {
        return Err("the run has no samples".into());
    }
    let root = SVGBackend::new(path, (1400, 420 * panels.len() as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(&super::table::header(run), ("sans-serif", 18))?;
    let areas = body.split_evenly((panels.len(), 2));
    for (i, (endpoint, cache)) in panels.iter().enumerate() {
        let mut gbps: Lines = Vec::new();
        let mut cpu: Lines = Vec::new();
        for (e, size, c) in cells(run) {
            if &e != endpoint || &c != cache {
                continue;
            }
            for r in rows(run, &e, size, &c) {
                let add = |lines: &mut Lines, v: f64| match lines.iter_mut().find(|l| l.0 == r.name)
                {
                    Some(l) => l.1.push((size, v)),
                    None => lines.push((r.name.clone(), vec![(size, v)])),
                };
                add(&mut gbps, r.gbps);
                if let Some(c) = r.cpu_per_gb {
                    add(&mut cpu, c);
                }
            }
        }
        let name = format!("{endpoint}, {cache}");
        panel(&areas[2 * i], &format!("{name}: GB/s"), "GB/s", &gbps)?;
        panel(
            &areas[2 * i + 1],
            &format!("{name}: CPU s per GB"),
            "CPU s/GB",
            &cpu,
        )?;
    }
    root.present()?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    unit: &str,
    lines: &Lines,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    // Both axes are logarithmic: sizes span 4 KiB to 256 MiB, rates and costs several decades.
    // A value of 0 cannot be drawn there and is left out.
    let lines: Lines = lines
        .iter()
        .map(|(n, pts)| {
            (
                n.clone(),
                pts.iter().copied().filter(|p| p.1 > 0.0).collect(),
            )
        })
        .collect();
    let points = lines.iter().flat_map(|l| l.1.iter());
    let (lo, hi) = points
        .clone()
        .fold((u64::MAX, 0), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (bottom, top) = points.fold((f64::MAX, 0.0f64), |(b, t), p| (b.min(p.1), t.max(p.1)));
    let (bottom, top) = if bottom > top {
        (0.001, 1.0)
    } else {
        (bottom / 1.5, top * 1.5)
    };
    let (lo, hi) = if lo > hi {
        (1, 2)
    } else {
        (lo, hi.max(lo * 2))
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d((lo..hi).log_scale(), (bottom..top).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("bytes per op")
        .y_desc(unit)
        .x_label_formatter(&|v| human(*v))
        .draw()?;
    for (k, (name, pts)) in lines.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
