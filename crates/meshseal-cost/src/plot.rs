//! `compare --plot`: battery months against message interval for every scheme, as SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::CostError;

/// One curve: a scheme's name and its (interval s, months) points.
pub struct Curve {
    /// Legend text.
    pub name: String,
    /// Points, in increasing interval.
    pub points: Vec<(f64, f64)>,
}

/// Message intervals plotted: 1 s to one day, 12 points per decade.
pub fn intervals() -> Vec<f64> {
    let (lo, hi, per_decade) = (0.0f64, 86_400f64.log10(), 12.0);
    let steps = ((hi - lo) * per_decade).ceil() as usize;
    (0..=steps)
        .map(|i| 10f64.powf(lo + (hi - lo) * i as f64 / steps as f64))
        .collect()
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// Draws `curves` into an SVG file at `path`.
pub fn draw(path: &Path, title: &str, curves: &[Curve]) -> Result<(), CostError> {
    let err = |e: &dyn std::fmt::Display| CostError::Plot(format!("plot {}: {e}", path.display()));
    let ys = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for y in ys.filter(|y| *y > 0.0 && y.is_finite()) {
        lo = lo.min(y);
        hi = hi.max(y);
    }
    if !(lo.is_finite() && hi > 0.0) {
        return Err(CostError::Plot("nothing to plot".into()));
    }
    let (lo, hi) = (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil()),
    );
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d((1f64..86_400f64).log_scale(), (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("message interval (s)")
        .y_desc("battery life (months)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, c) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                c.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(c.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_span_a_second_to_a_day() {
        let v = intervals();
        assert!((v[0] - 1.0).abs() < 1e-9);
        assert!((v[v.len() - 1] - 86_400.0).abs() < 1e-6);
        assert!(v.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn draws_an_svg_with_every_curve() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        let curves = vec![
            Curve {
                name: "alpha".into(),
                points: intervals().iter().map(|&x| (x, x / 10.0 + 1.0)).collect(),
            },
            Curve {
                name: "beta".into(),
                points: intervals().iter().map(|&x| (x, x / 20.0 + 1.0)).collect(),
            },
        ];
        draw(&path, "test", &curves).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("alpha") && svg.contains("beta"));
        assert!(svg.contains("message interval"));
        assert!(svg.matches("<polyline").count() >= 2);
    }
}
