//! Renderings of a record's [`History`]: a text tree for terminals and logs, and Graphviz DOT.
//!
//! The text tree starts at the record asked about, lists its versions, then what it was derived
//! from (recursively) and what was derived from it (recursively). A record reached twice is
//! printed once and referred to after.

use std::collections::HashSet;
use std::fmt::Write as _;

use medchain_protocol::RecordId;

use crate::provenance::{History, RecordNode, Version};

impl History {
    fn node(&self, record: &RecordId) -> Option<&RecordNode> {
        self.records.iter().find(|n| &n.record == record)
    }

    /// The history as an indented text tree.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut shown = HashSet::new();
        self.text_node(&mut out, &self.root, "", &mut shown);
        let sources: Vec<_> = self
            .derivations
            .iter()
            .filter(|d| d.to == self.root)
            .collect();
        if !sources.is_empty() {
            out.push_str("derived from:\n");
            self.text_walk(&mut out, &self.root, "  ", &mut shown, true);
        }
        if self.derivations.iter().any(|d| d.from == self.root) {
            out.push_str("used in:\n");
            self.text_walk(&mut out, &self.root, "  ", &mut shown, false);
        }
        if !self.unresolved.is_empty() {
            let _ = writeln!(
                out,
                "not yet held here: {} parent entries",
                self.unresolved.len()
            );
        }
        if self.truncated {
            out.push_str("(truncated: the history is larger than the query's limits)\n");
        }
        out
    }

    /// Follows derivations from `record` towards its sources (`up`) or what came of it, printing
    /// each record reached once.
    fn text_walk(
        &self,
        out: &mut String,
        record: &RecordId,
        indent: &str,
        shown: &mut HashSet<RecordId>,
        up: bool,
    ) {
        for d in &self.derivations {
            let (arrow, near, far) = if up {
                ("<-", &d.to, &d.from)
            } else {
                ("->", &d.from, &d.to)
            };
            if near != record {
                continue;
            }
            let _ = writeln!(
                out,
                "{indent}{arrow} {} by {} ({})",
                far.short(),
                d.kind,
                d.via
            );
            let deeper = format!("{indent}   ");
            if self.text_node(out, far, &deeper, shown) {
                self.text_walk(out, far, &deeper, shown, up);
            }
        }
    }

    /// Prints a record's header and versions; false if it was printed before.
    fn text_node(
        &self,
        out: &mut String,
        record: &RecordId,
        indent: &str,
        shown: &mut HashSet<RecordId>,
    ) -> bool {
        if !shown.insert(*record) {
            let _ = writeln!(out, "{indent}record {} (shown above)", record.short());
            return false;
        }
        let Some(node) = self.node(record) else {
            let _ = writeln!(out, "{indent}record {} (not held here)", record.short());
            return false;
        };
        let org = node.org.as_deref().unwrap_or("unknown organisation");
        let _ = writeln!(
            out,
            "{indent}record {} at {org}{}{}",
            record,
            if node.disposed { ", disposed" } else { "" },
            match (node.accesses, node.accesses_at_least) {
                (0, _) => String::new(),
                (1, false) => ", 1 access".to_owned(),
                (n, false) => format!(", {n} accesses"),
                (n, true) => format!(", at least {n} accesses"),
            }
        );
        for v in &node.versions {
            let _ = writeln!(out, "{indent}  {}", version_line(v));
        }
        true
    }

    /// The history as a Graphviz digraph: records as boxes listing their versions, edges from
    /// source to derived record labelled with the entry kind.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph history {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for node in &self.records {
            let mut label = format!(
                "record {}\\n{}",
                node.record.short(),
                escape(node.org.as_deref().unwrap_or("unknown organisation"))
            );
            for v in &node.versions {
                let _ = write!(label, "\\l{}", escape(&version_line(v)));
            }
            label.push_str("\\l");
            let style = if node.record == self.root {
                ", style=bold"
            } else {
                ""
            };
            let _ = writeln!(out, "  \"{}\" [label=\"{label}\"{style}];", node.record);
        }
        for d in &self.derivations {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                d.from, d.to, d.kind
            );
        }
        out.push_str("}\n");
        out
    }
}

pub(crate) fn version_line(v: &Version) -> String {
    format!(
        "{:<7} {}/{}/{}  {}  by {}{}",
        v.kind.as_str(),
        v.at.chain.short(),
        v.at.height,
        v.at.index,
        utc(v.time_ms),
        v.actor,
        v.content_type
            .as_deref()
            .map(|c| format!("  {c}"))
            .unwrap_or_default()
    )
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn utc(time_ms: u64) -> String {
    let secs = time_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
