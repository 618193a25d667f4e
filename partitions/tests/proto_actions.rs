//! Completeness: every RPC of the public `pan.v1.Fabric` service has an
//! [`Action`] with its exact name, and every `Action` has an RPC. A new RPC
//! cannot be served before it is classified for authorization.
//!
//! Reads `api/proto/pan.proto` (the test's only I/O; the crate does none).

use partitions::Action;
use std::collections::BTreeSet;

/// The RPC names of `service <service> { … }` in `proto`, comments ignored.
fn rpc_names(proto: &str, service: &str) -> Vec<String> {
    let code: String = proto
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let header = format!("service {service} {{");
    let start = code
        .find(&header)
        .unwrap_or_else(|| panic!("no `{header}` in pan.proto"))
        + header.len();
    let body = &code[start..];
    let end = body.find('}').expect("service block is closed");
    body[..end]
        .split(';')
        .filter_map(|stmt| {
            let stmt = stmt.trim();
            let rest = stmt.strip_prefix("rpc")?;
            let name = rest.trim_start().split('(').next()?.trim();
            Some(name.to_string())
        })
        .collect()
}

#[test]
fn every_fabric_rpc_has_an_action_and_every_action_an_rpc() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../api/proto/pan.proto");
    let proto = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let rpcs = rpc_names(&proto, "Fabric");
    assert!(rpcs.len() >= 29, "parsed only {rpcs:?}");

    let in_proto: BTreeSet<&str> = rpcs.iter().map(String::as_str).collect();
    assert_eq!(in_proto.len(), rpcs.len(), "duplicate RPC names: {rpcs:?}");
    let in_crate: BTreeSet<&str> = Action::ALL.iter().map(Action::rpc_name).collect();

    let missing: Vec<_> = in_proto.difference(&in_crate).collect();
    assert!(
        missing.is_empty(),
        "RPCs without an Action (add them to partitions/src/action.rs and the matrix in \
         partitions/tests/authz_matrix.rs): {missing:?}"
    );
    let stale: Vec<_> = in_crate.difference(&in_proto).collect();
    assert!(
        stale.is_empty(),
        "Actions without a Fabric RPC (remove them from partitions/src/action.rs): {stale:?}"
    );

    // Same order as the service definition, so the list reads like the proto.
    let ordered: Vec<&str> = Action::ALL.iter().map(Action::rpc_name).collect();
    assert_eq!(ordered, rpcs);
}

#[test]
fn the_parser_sees_rpcs_and_ignores_comments() {
    let proto = "service Fabric {\n  // rpc Fake(X) returns (Y);\n  rpc A(X) returns (Y);\n  \
                 rpc B(stream X) returns (stream Y);\n}\nservice Raft {\n  rpc C(X) returns (Y);\n}\n";
    assert_eq!(rpc_names(proto, "Fabric"), ["A", "B"]);
    assert_eq!(rpc_names(proto, "Raft"), ["C"]);
}
