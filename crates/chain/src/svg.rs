//! A record's [`History`] as a self-contained SVG picture, so the paper's Figure 5 can be drawn
//! without Graphviz installed.
//!
//! Layout: records are boxes in rows by depth (a record sits one row below the deepest record it
//! was derived from), sources on top; arrows point from a source to the record derived from it
//! and carry the entry kind. The record asked about has a bold border. Text is XML-escaped; the
//! picture's size follows from the text, with monospace glyphs assumed 7.5 px wide.

use std::collections::HashMap;
use std::fmt::Write as _;

use medchain_protocol::RecordId;

use crate::provenance::{History, RecordNode};
use crate::render::version_line;

const CHAR_W: f64 = 7.5;
const LINE_H: f64 = 16.0;
const PAD: f64 = 8.0;
const GAP_X: f64 = 30.0;
const GAP_Y: f64 = 70.0;
const MARGIN: f64 = 20.0;

/// A placed box.
struct Placed {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl History {
    /// The history as an SVG document.
    pub fn to_svg(&self) -> String {
        let rows = self.rows();
        let lines: HashMap<RecordId, Vec<String>> = self
            .records
            .iter()
            .map(|n| (n.record, box_lines(n)))
            .collect();
        let size = |record: &RecordId| {
            let text = lines.get(record).map(Vec::as_slice).unwrap_or_default();
            let widest = text.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            (
                widest as f64 * CHAR_W + 2.0 * PAD,
                text.len() as f64 * LINE_H + 2.0 * PAD,
            )
        };
        let mut placed: HashMap<RecordId, Placed> = HashMap::new();
        let (mut y, mut width) = (MARGIN, 0.0_f64);
        for row in &rows {
            let mut x = MARGIN;
            let mut tallest = 0.0_f64;
            for record in row {
                let (w, h) = size(record);
                placed.insert(*record, Placed { x, y, w, h });
                x += w + GAP_X;
                tallest = tallest.max(h);
            }
            width = width.max(x - GAP_X + MARGIN);
            y += tallest + GAP_Y;
        }
        let height = y - GAP_Y + MARGIN;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"monospace\" font-size=\"12\">\n\
             <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
             markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\">\
             <path d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        for d in &self.derivations {
            let (Some(from), Some(to)) = (placed.get(&d.from), placed.get(&d.to)) else {
                continue;
            };
            let (x1, y1) = (from.x + from.w / 2.0, from.y + from.h);
            let (x2, y2) = (to.x + to.w / 2.0, to.y);
            let _ = writeln!(
                out,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"black\" marker-end=\"url(#arrow)\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#444\">{}</text>",
                (x1 + x2) / 2.0 + 4.0,
                (y1 + y2) / 2.0,
                xml(d.kind.as_str())
            );
        }
        for node in &self.records {
            let Some(p) = placed.get(&node.record) else {
                continue;
            };
            let stroke = if node.record == self.root { 3 } else { 1 };
            let _ = writeln!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"4\" fill=\"#f4f8ff\" stroke=\"black\" stroke-width=\"{stroke}\"/>",
                p.x, p.y, p.w, p.h
            );
            for (i, line) in lines.get(&node.record).into_iter().flatten().enumerate() {
                let _ = writeln!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" xml:space=\"preserve\">{}</text>",
                    p.x + PAD,
                    p.y + PAD + (i as f64 + 0.8) * LINE_H,
                    xml(line)
                );
            }
        }
        out.push_str("</svg>\n");
        out
    }

    /// Records grouped in rows: a record's row is one more than the deepest of its sources.
    /// Bounded by the number of records, so a cycle in forged data cannot loop.
    fn rows(&self) -> Vec<Vec<RecordId>> {
        let mut depth: HashMap<RecordId, usize> =
            self.records.iter().map(|n| (n.record, 0)).collect();
        for _ in 0..self.records.len() {
            let mut changed = false;
            for d in &self.derivations {
                let (Some(&from), Some(&to)) = (depth.get(&d.from), depth.get(&d.to)) else {
                    continue;
                };
                if to <= from && from < self.records.len() {
                    depth.insert(d.to, from + 1);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut rows: Vec<Vec<RecordId>> = Vec::new();
        for node in &self.records {
            let row = depth.get(&node.record).copied().unwrap_or(0);
            if rows.len() <= row {
                rows.resize_with(row + 1, Vec::new);
            }
            rows[row].push(node.record);
        }
        rows.retain(|r| !r.is_empty());
        rows
    }
}

fn box_lines(node: &RecordNode) -> Vec<String> {
    let mut lines = vec![
        format!("record {}", node.record),
        format!(
            "{}{}",
            node.org.as_deref().unwrap_or("unknown organisation"),
            if node.disposed { " (disposed)" } else { "" }
        ),
    ];
    lines.extend(node.versions.iter().map(version_line));
    lines
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
