//! Golden tests: the rendered desired state of every cluster of the example
//! fleet, and the `validate` summary. A changed snapshot is a changed
//! output: review it like code (`cargo insta review`).

use flotilla_source::{Source, SourceSpec};

fn example() -> flotilla_core::model::Fleet {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet-repo");
    let mut source = Source::open(SourceSpec::new(dir)).expect("open the example fleet");
    let snapshot = source.snapshot(None).expect("read the example fleet");
    flotilla_core::load::load(&snapshot).unwrap_or_else(|e| panic!("the example fleet loads:\n{e}"))
}

#[test]
fn every_example_cluster_renders_as_recorded() {
    let fleet = example();
    assert!(fleet.clusters.len() >= 5);
    for (cluster, result) in flotilla_core::render::render_fleet(&fleet) {
        let state = result.unwrap_or_else(|e| panic!("{} renders:\n{e}", cluster.name));
        insta::assert_snapshot!(format!("example-{}", cluster.name), state.to_yaml());
    }
}

#[test]
fn example_rollout_waves_are_as_recorded() {
    let fleet = example();
    insta::assert_yaml_snapshot!("example-rollout", fleet.rollout);
}
