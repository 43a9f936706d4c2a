//! `compare --plot`: two panels of one SVG. Left, battery life relative to DTLS 1.2 with a kept
//! session against the message interval (what differs between schemes, instead of absolute
//! months that overlap within a line width); right, bytes on air for one command against the
//! number of receivers. Okabe–Ito colours and a distinct marker per scheme, so the curves stay
//! apart for colour-blind readers and in greyscale; a dashed line marks the chosen value.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::CostError;

/// One curve: a scheme's name, its style and its (x, y) points.
pub struct Curve {
    /// Legend text.
    pub name: String,
    /// Colour and marker index: the same scheme keeps its style in both panels.
    pub style: usize,
    /// Points, in increasing x.
    pub points: Vec<(f64, f64)>,
}

/// One panel: log–log axes, its curves and a marked x.
pub struct Panel {
    /// Panel caption.
    pub title: String,
    /// X axis text.
    pub x_desc: String,
    /// Y axis text.
    pub y_desc: String,
    /// X range.
    pub x_range: (f64, f64),
    /// Curves.
    pub curves: Vec<Curve>,
    /// The chosen x, marked with a dashed line, and its label.
    pub mark: Option<(f64, String)>,
    /// A horizontal reference line (y, label), if any.
    pub reference: Option<(f64, String)>,
    /// Draw the legend (upper left). Both panels share styles, so one legend serves both.
    pub legend: bool,
}

/// Message intervals plotted: 1 s to one day, 12 points per decade.
pub fn intervals() -> Vec<f64> {
    let (lo, hi, per_decade) = (0.0f64, 86_400f64.log10(), 12.0);
    let steps = ((hi - lo) * per_decade).ceil() as usize;
    (0..=steps)
        .map(|i| 10f64.powf(lo + (hi - lo) * i as f64 / steps as f64))
        .collect()
}

/// Okabe & Ito's palette without its yellow (unreadable on white), then a mid grey, black and
/// Tol's wine: nine colours a colour-blind reader tells apart, one per scheme of `compare`.
const PALETTE: [RGBColor; 9] = [
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0x88, 0x88, 0x88),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0x88, 0x22, 0x55),
];

/// Powers of ten enclosing every positive y of `p` (and its reference line).
fn y_range(p: &Panel) -> Option<(f64, f64)> {
    let ys = p.curves.iter().flat_map(|c| c.points.iter().map(|q| q.1));
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for y in ys
        .chain(p.reference.iter().map(|r| r.0))
        .filter(|y| *y > 0.0 && y.is_finite())
    {
        lo = lo.min(y);
        hi = hi.max(y);
    }
    // The next 1-2-5 step outside the data, so differences near 1 are not squeezed.
    let steps = |k: f64| [1.0, 2.0, 5.0].map(|m| m * 10f64.powf(k));
    let below = |y: f64| {
        let k = y.log10().floor();
        steps(k)
            .into_iter()
            .rev()
            .find(|&v| v < y * 0.95)
            .unwrap_or(10f64.powf(k - 1.0) * 5.0)
    };
    let above = |y: f64| {
        let k = y.log10().floor();
        steps(k)
            .into_iter()
            .chain([10f64.powf(k + 1.0)])
            .find(|&v| v > y * 1.05)
            .unwrap_or(10f64.powf(k + 1.0))
    };
    (lo.is_finite() && hi > 0.0).then(|| (below(lo), above(hi)))
}

fn panel<'a>(area: &DrawingArea<SVGBackend<'a>, Shift>, p: &Panel) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let (lo, hi) = y_range(p).ok_or("nothing to plot")?;
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d((p.x_range.0..p.x_range.1).log_scale(), (lo..hi).log_scale())
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc(&p.x_desc)
        .y_desc(&p.y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| {
            if *y >= 1.0 {
                format!("{y:.0}")
            } else {
                let t = format!("{y:.3}");
                t.trim_end_matches('0').to_string()
            }
        })
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|x| e(&x))?;
    let grey = RGBColor(0x60, 0x60, 0x60);
    if let Some((x, label)) = &p.mark {
        chart
            .draw_series(DashedLineSeries::new(
                [(*x, lo), (*x, hi)],
                6,
                4,
                grey.stroke_width(1),
            ))
            .map_err(|x| e(&x))?;
        chart
            .draw_series([Text::new(
                label.clone(),
                (*x * 1.06, lo * 1.15),
                ("sans-serif", 13).into_font().color(&grey),
            )])
            .map_err(|x| e(&x))?;
    }
    if let Some((y, label)) = &p.reference {
        chart
            .draw_series(DashedLineSeries::new(
                [(p.x_range.0, *y), (p.x_range.1, *y)],
                3,
                3,
                BLACK.stroke_width(1),
            ))
            .map_err(|x| e(&x))?;
        chart
            .draw_series([Text::new(
                label.clone(),
                (p.x_range.0 * 1.1, *y * 0.98),
                ("sans-serif", 12).into_font().color(&BLACK).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Top,
                    ),
                ),
            )])
            .map_err(|x| e(&x))?;
    }
    for c in &p.curves {
        let i = c.style;
        let color = PALETTE[i % PALETTE.len()];
        let anno = chart
            .draw_series(LineSeries::new(
                c.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|x| e(&x))?
            .label(c.name.clone());
        let (filled, open) = (color.filled(), color.stroke_width(2));
        let line = move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(-10, 0), (10, 0)], color.stroke_width(2))
        };
        // The legend shows the shape the curve's markers have.
        match i % 6 {
            0 => anno.legend(move |p| line(p) + Circle::new((0, 0), 4, filled)),
            1 => anno.legend(move |p| line(p) + TriangleMarker::new((0, 0), 6, filled)),
            2 => anno.legend(move |p| line(p) + Cross::new((0, 0), 5, open)),
            3 => anno.legend(move |p| line(p) + Circle::new((0, 0), 5, open)),
            4 => anno.legend(move |p| line(p) + TriangleMarker::new((0, 0), 6, open)),
            _ => anno.legend(move |p| line(p) + Cross::new((0, 0), 3, filled.stroke_width(3))),
        };
        // A marker on every third point, offset per curve so overlapping curves stay visible.
        let pts = || {
            c.points
                .iter()
                .enumerate()
                .filter(move |(k, _)| k % 3 == i % 3)
                .map(|(_, &q)| q)
        };
        match i % 6 {
            0 => chart.draw_series(pts().map(|q| Circle::new(q, 4, filled))),
            1 => chart.draw_series(pts().map(|q| TriangleMarker::new(q, 6, filled))),
            2 => chart.draw_series(pts().map(|q| Cross::new(q, 5, open))),
            3 => chart.draw_series(pts().map(|q| Circle::new(q, 5, open))),
            4 => chart.draw_series(pts().map(|q| TriangleMarker::new(q, 6, open))),
            _ => chart.draw_series(pts().map(|q| Cross::new(q, 3, filled.stroke_width(3)))),
        }
        .map_err(|x| e(&x))?;
    }
    if !p.legend {
        return Ok(());
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    Ok(())
}

/// Draws `left` and `right` side by side under `title`, with `notes` as lines below, into an
/// SVG file at `path`.
pub fn draw(
    path: &Path,
    title: &str,
    left: &Panel,
    right: &Panel,
    notes: &[String],
) -> Result<(), CostError> {
    let err = |e: &dyn std::fmt::Display| CostError::Plot(format!("plot {}: {e}", path.display()));
    let footer = 20 * notes.len() as u32 + 12;
    let root = SVGBackend::new(path, (1280, 620 + footer)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| err(&e))?;
    let (upper, lower) = root.split_vertically(620 - 30);
    let halves = upper.split_evenly((1, 2));
    panel(&halves[0], left).map_err(|e| err(&e))?;
    panel(&halves[1], right).map_err(|e| err(&e))?;
    for (k, n) in notes.iter().enumerate() {
        lower
            .draw(&Text::new(
                n.clone(),
                (24, 8 + 20 * k as i32),
                ("sans-serif", 14).into_font().color(&BLACK),
            ))
            .map_err(|e| err(&e))?;
    }
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

    fn panel_of(name: &str, k: f64) -> Panel {
        Panel {
            title: format!("{name} panel"),
            x_desc: "message interval (s)".into(),
            y_desc: "ratio".into(),
            x_range: (1.0, 86_400.0),
            curves: vec![
                Curve {
                    style: 0,
                    name: format!("{name} alpha"),
                    points: intervals().iter().map(|&x| (x, x / 10.0 + k)).collect(),
                },
                Curve {
                    style: 1,
                    name: format!("{name} beta"),
                    points: intervals().iter().map(|&x| (x, x / 20.0 + k)).collect(),
                },
            ],
            mark: Some((60.0, "chosen: 60 s".into())),
            reference: Some((1.0, "reference".into())),
            legend: true,
        }
    }

    #[test]
    fn draws_both_panels_with_every_curve_marker_and_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        let notes = vec!["a note about sleep current".to_string()];
        draw(
            &path,
            "test",
            &panel_of("left", 1.0),
            &panel_of("right", 2.0),
            &notes,
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "left alpha",
            "right beta",
            "chosen: 60 s",
            "sleep current",
            "reference",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        // Two curves per panel, the mark and the reference line.
        assert!(svg.matches("<polyline").count() >= 4);
        assert!(svg.matches("<circle").count() >= 4);
    }

    #[test]
    fn an_empty_panel_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut empty = panel_of("left", 1.0);
        empty.curves.clear();
        empty.reference = None;
        let r = draw(
            &dir.path().join("p.svg"),
            "t",
            &empty,
            &panel_of("r", 1.0),
            &[],
        );
        assert!(r.is_err());
    }
}
