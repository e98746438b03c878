//! The history of a record across hospitals (the paper's scenario 3, Figure 5): created at A,
//! amended at A, combined with a record of B into a derived record at C.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::{Decoded, Ledger, Limits, history};
use medchain_protocol::{EntryKind, Parent};
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::ledgers::*;
use medchain_testkit::pki::*;

struct Figure5 {
    node: Ledger,
    a_record: medchain_protocol::RecordId,
    b_record: medchain_protocol::RecordId,
    c_record: medchain_protocol::RecordId,
    a_amend: medchain_protocol::EntryRef,
}

fn figure5() -> Figure5 {
    let c = TestCa::new("Consortium");
    let (a, b, cc) = (
        c.provider("Hospital A"),
        c.provider("Hospital B"),
        c.provider("Hospital C"),
    );
    let mut at_a = c.ledger();
    let created = at_a
        .author(
            &a,
            vec![create(
                "MRN-5",
                "{\"resourceType\":\"Observation\",\"v\":1}",
            )],
            now_ms(),
        )
        .unwrap();
    let (a_record, a_create) = (created[0].records[0], created[0].refs[0]);
    let amended = at_a
        .author(
            &a,
            vec![amend(
                a_record,
                Parent::Entry(a_create),
                "MRN-5",
                "{\"resourceType\":\"Observation\",\"v\":2}",
            )],
            now_ms(),
        )
        .unwrap();
    let a_amend = amended[0].refs[0];

    let mut at_b = c.ledger();
    let b_created = at_b
        .author(
            &b,
            vec![create("MRN-5", "{\"resourceType\":\"ImagingStudy\"}")],
            now_ms(),
        )
        .unwrap();
    let b_record = b_created[0].records[0];

    // C holds A's and B's chains, then merges A's amended version with B's record.
    let mut node = c.ledger();
    for (source, chain) in [(&at_a, a.chain()), (&at_b, b.chain())] {
        for block in chain_blocks(source, &chain) {
            node.ingest(Decoded::from_block(block, vec![]), now_ms())
                .unwrap();
        }
    }
    let merged = node
        .author(
            &cc,
            vec![derived(
                EntryKind::Merge,
                vec![Parent::Entry(a_amend), Parent::Record(b_record)],
                "MRN-5",
                "{\"resourceType\":\"DiagnosticReport\"}",
            )],
            now_ms(),
        )
        .unwrap();
    // An access of the merged record is audit, not a version.
    let c_record = merged[0].records[0];
    node.author(
        &cc,
        vec![medchain_chain::EntryDraft {
            kind: EntryKind::Access,
            record: Some(c_record),
            patient: patient("MRN-5"),
            actor: "auditor-1".into(),
            payload: None,
            parents: vec![Parent::Entry(merged[0].refs[0])],
            terms: None,
        }],
        now_ms(),
    )
    .unwrap();
    Figure5 {
        node,
        a_record,
        b_record,
        c_record,
        a_amend,
    }
}

#[test]
fn derived_record_history_is_exact() {
    let f = figure5();
    let h = history(&reads(&f.node), f.c_record, Limits::default()).unwrap();
    assert_eq!(h.root, f.c_record);
    let ids: Vec<_> = h.records.iter().map(|r| r.record).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], f.c_record);
    assert!(ids.contains(&f.a_record) && ids.contains(&f.b_record));

    let root = &h.records[0];
    assert_eq!(root.org.as_deref(), Some("Hospital C"));
    assert_eq!(root.versions.len(), 1);
    assert_eq!(root.versions[0].kind, EntryKind::Merge);
    assert_eq!(root.accesses, 1);

    let a = h.records.iter().find(|r| r.record == f.a_record).unwrap();
    assert_eq!(a.org.as_deref(), Some("Hospital A"));
    assert_eq!(
        a.versions.iter().map(|v| v.kind).collect::<Vec<_>>(),
        vec![EntryKind::Create, EntryKind::Amend]
    );
    let b = h.records.iter().find(|r| r.record == f.b_record).unwrap();
    assert_eq!(b.versions.len(), 1);

    let mut edges: Vec<_> = h
        .derivations
        .iter()
        .map(|d| (d.from, d.to, d.kind))
        .collect();
    edges.sort();
    let mut expected = vec![
        (f.a_record, f.c_record, EntryKind::Merge),
        (f.b_record, f.c_record, EntryKind::Merge),
    ];
    expected.sort();
    assert_eq!(edges, expected);
    assert!(h.unresolved.is_empty() && !h.truncated);

    let text = h.to_text();
    assert!(
        text.starts_with(&format!("record {} at Hospital C, 1 access\n", f.c_record)),
        "{text}"
    );
    assert!(text.contains("derived from:\n"), "{text}");
    assert!(
        text.contains(&format!("<- {} by merge", f.a_record.short())),
        "{text}"
    );
    assert!(
        text.contains(&format!("<- {} by merge", f.b_record.short())),
        "{text}"
    );
    assert!(text.contains("  create "), "{text}");
    assert!(text.contains("  amend "), "{text}");
    let dot = h.to_dot();
    assert!(dot.starts_with("digraph history {"));
    assert!(
        dot.contains(&format!(
            "\"{}\" -> \"{}\" [label=\"merge\"]",
            f.a_record, f.c_record
        )),
        "{dot}"
    );
}

#[test]
fn source_record_history_shows_descendants() {
    let f = figure5();
    let h = history(&reads(&f.node), f.a_record, Limits::default()).unwrap();
    assert_eq!(h.records[0].record, f.a_record);
    assert!(
        h.derivations
            .iter()
            .any(|d| d.from == f.a_record && d.to == f.c_record && d.via.height == 0)
    );
    let text = h.to_text();
    assert!(text.contains("used in:\n"), "{text}");
    assert!(
        text.contains(&format!("-> {} by merge", f.c_record.short())),
        "{text}"
    );
    // The amended version is the one C merged.
    assert_eq!(f.a_amend.height, 1);
}

#[test]
fn limits_truncate_and_unknown_records_are_errors() {
    let f = figure5();
    let h = history(
        &reads(&f.node),
        f.c_record,
        Limits {
            max_depth: 32,
            max_records: 2,
        },
    )
    .unwrap();
    assert_eq!(h.records.len(), 2);
    assert!(h.truncated);
    let h = history(
        &reads(&f.node),
        f.c_record,
        Limits {
            max_depth: 0,
            max_records: 100,
        },
    )
    .unwrap();
    assert_eq!(h.records.len(), 1);
    assert!(h.truncated);
    let unknown = medchain_protocol::RecordId([9; 16]);
    assert!(history(&reads(&f.node), unknown, Limits::default()).is_err());
}

/// The y coordinate of the SVG text line that names `record`.
fn svg_row_of(svg: &str, record: &medchain_protocol::RecordId) -> f64 {
    let line = svg
        .lines()
        .find(|l| l.contains(&format!(">record {record}<")))
        .unwrap_or_else(|| panic!("record {record} not drawn:\n{svg}"));
    let y = line
        .split("y=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    y.parse().unwrap()
}

#[test]
fn svg_draws_sources_above_the_merged_record() {
    let f = figure5();
    let h = history(&reads(&f.node), f.c_record, Limits::default()).unwrap();
    let svg = h.to_svg();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("<line ").count(), 2, "{svg}");
    assert_eq!(svg.matches("<rect x=").count(), 3, "{svg}");
    assert_eq!(
        svg.matches("stroke-width=\"3\"").count(),
        1,
        "root is bold once"
    );
    let (a, b, c) = (
        svg_row_of(&svg, &f.a_record),
        svg_row_of(&svg, &f.b_record),
        svg_row_of(&svg, &f.c_record),
    );
    assert_eq!(a, b, "both sources on one row");
    assert!(c > a, "the merged record is drawn below its sources");
    assert_eq!(svg.matches(">merge<").count(), 2);
    assert!(!svg.contains("&&") && !svg.contains("<<"));
}

#[test]
fn planted_index_entries_do_not_change_a_history() {
    let mut f = figure5();
    let before = history(&reads(&f.node), f.a_record, Limits::default()).unwrap();
    let merge = history(&reads(&f.node), f.c_record, Limits::default()).unwrap();
    let merge_at = merge.records[0].versions[0].at;
    // The merged entry named as a version of A's record: a lie the entry itself contradicts.
    medchain_store::tamper::plant_record_index(
        f.node.store_for_tampering(),
        &f.a_record,
        &merge_at,
    )
    .unwrap();
    let after = history(&reads(&f.node), f.a_record, Limits::default()).unwrap();
    assert_eq!(after, before);
}
