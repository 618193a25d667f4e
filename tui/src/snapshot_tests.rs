//! Snapshot tests (insta) of what operators read in table mode, built from
//! hand-made proto values. Snapshots live in `src/snapshots/`; after an
//! intended change, review the new output and accept it with
//! `INSTA_UPDATE=always cargo test -p tui` (or `cargo insta review`).

use crate::cli::Format;
use crate::commands::{
    blade, cluster, coverage, discover, failover, image, network, partition, principal, server,
    volume,
};
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
fn server_show_failed_table() {
    let view = server::ServerView::from(&server::tests::sample()[1]);
    insta::assert_snapshot!(view.detail());
}

#[test]
fn blade_list_table() {
    let views: Vec<_> = blade::tests::sample()
        .iter()
        .map(blade::BladeView::from)
        .collect();
    insta::assert_snapshot!(output::list(Format::Table, &views).unwrap());
}

#[test]
fn blade_show_table() {
    let view = blade::BladeView::from(&blade::tests::sample()[1]);
    insta::assert_snapshot!(view.detail());
}

#[test]
fn blade_show_without_facts_table() {
    let view = blade::BladeView::from(&blade::tests::sample()[2]);
    insta::assert_snapshot!(view.detail());
}

#[test]
fn blade_discover_lines_and_summary() {
    let records = discover::tests::sample();
    let mut text: String = records
        .iter()
        .map(|r| discover::progress_line(r) + "\n")
        .collect();
    text.push('\n');
    text.push_str(&discover::tests::tally(&records).summary());
    insta::assert_snapshot!(text);
}

#[test]
fn cluster_status_table() {
    let view = cluster::ClusterView::from(&cluster::tests::sample());
    insta::assert_snapshot!(output::one(Format::Table, &view).unwrap());
}

#[test]
fn volume_list_table() {
    let views: Vec<_> = volume::tests::sample()
        .iter()
        .map(volume::VolumeView::from)
        .collect();
    insta::assert_snapshot!(output::list(Format::Table, &views).unwrap());
}

#[test]
fn volume_show_with_snapshots_table() {
    let view = volume::VolumeView::from(&volume::tests::sample()[0]);
    insta::assert_snapshot!(view.detail());
}

#[test]
fn volume_show_failed_table() {
    let view = volume::VolumeView::from(&volume::tests::sample()[1]);
    insta::assert_snapshot!(view.detail());
}

#[test]
fn image_list_table() {
    let views: Vec<_> = image::tests::sample()
        .iter()
        .map(image::ImageView::from)
        .collect();
    insta::assert_snapshot!(output::list(Format::Table, &views).unwrap());
}

#[test]
fn image_show_table() {
    let view = image::ImageView::from(&image::tests::sample()[1]);
    insta::assert_snapshot!(output::one(Format::Table, &view).unwrap());
}

#[test]
fn network_list_table() {
    let views: Vec<_> = network::tests::sample()
        .iter()
        .map(network::NetworkView::from)
        .collect();
    insta::assert_snapshot!(output::list(Format::Table, &views).unwrap());
}

#[test]
fn partition_list_table() {
    let views: Vec<_> = partition::tests::sample()
        .iter()
        .map(partition::PartitionView::from)
        .collect();
    insta::assert_snapshot!(output::list(Format::Table, &views).unwrap());
}

#[test]
fn partition_show_with_quota_table() {
    let view = partition::PartitionView::from(&partition::tests::sample()[0]);
    insta::assert_snapshot!(output::one(Format::Table, &view).unwrap());
}

#[test]
fn principal_list_table() {
    let views: Vec<_> = principal::tests::sample()
        .iter()
        .map(principal::PrincipalView::from)
        .collect();
    insta::assert_snapshot!(output::list(Format::Table, &views).unwrap());
}

#[test]
fn principal_show_table() {
    let view = principal::PrincipalView::from(&principal::tests::sample()[1]);
    insta::assert_snapshot!(output::one(Format::Table, &view).unwrap());
}

#[test]
fn principal_create_with_token_table() {
    let view = principal::TokenView::from(&principal::tests::token_reply());
    insta::assert_snapshot!(output::one(Format::Table, &view).unwrap());
}

#[test]
fn failover_history_table() {
    let views: Vec<_> = failover::tests::sample()
        .iter()
        .map(failover::FailoverView::from)
        .collect();
    insta::assert_snapshot!(output::list(Format::Table, &views).unwrap());
}

#[test]
fn coverage_uncovered_table() {
    let view = coverage::CoverageView::from(&coverage::tests::sample());
    insta::assert_snapshot!(output::one(Format::Table, &view).unwrap());
}
