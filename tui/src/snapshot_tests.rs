//! Snapshot tests (insta) of what operators read in table mode, built from
//! hand-made proto values. Snapshots live in `src/snapshots/`; after an
//! intended change, review the new output and accept it with
//! `INSTA_UPDATE=always cargo test -p tui` (or `cargo insta review`).

use crate::cli::Format;
use crate::commands::{cluster, server};
use crate::output::{self, Detail};

#[test]
fn server_list_table() {
    let views: Vec<_> = server::tests::sample()
        .iter()
        .map(server::ServerView::from)
        .collect();
    insta::assert_snapshot!(output::list(Format::Table, &views).unwrap());
}

#[test]
fn server_show_table() {
    let view = server::ServerView::from(&server::tests::sample()[0]);
    insta::assert_snapshot!(view.detail());
}

#[test]
fn cluster_status_table() {
    let view = cluster::ClusterView::from(&cluster::tests::sample());
    insta::assert_snapshot!(output::one(Format::Table, &view).unwrap());
}
