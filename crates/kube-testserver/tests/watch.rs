//! Watches through the real kube client: raw `Api::watch` and
//! `kube_runtime::watcher` (list-watch and streaming lists), bookmarks,
//! resume from a resourceVersion, 410 after compaction, selectors.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use kube_testserver::TestApiServer;
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .unwrap()
}

/// Next non-bookmark event (bounded).
async fn next_event<S>(s: &mut S) -> WatchEvent<ConfigMap>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    bounded("a watch event", async {
        for _ in 0..1000 {
            match s.next().await.expect("stream ended").expect("watch error") {
                WatchEvent::Bookmark(_) => continue,
                e => return e,
            }
        }
        panic!("only bookmarks");
    })
    .await
}

#[tokio::test]
async fn raw_watch_sees_added_modified_deleted() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("before", json!({})))
        .await
        .unwrap();

    let mut s = cms
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    match next_event(&mut s).await {
        WatchEvent::Added(o) => assert_eq!(o.name_any(), "before"),
        e => panic!("{e:?}"),
    }
    let created = cms
        .create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();
    match next_event(&mut s).await {
        WatchEvent::Added(o) => {
            assert_eq!(o.name_any(), "x");
            assert_eq!(o.resource_version(), created.resource_version());
        }
        e => panic!("{e:?}"),
    }
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await
    .unwrap();
    match next_event(&mut s).await {
        WatchEvent::Modified(o) => assert_eq!(o.data.unwrap()["k"], "w"),
        e => panic!("{e:?}"),
    }
    cms.delete("x", &DeleteParams::default()).await.unwrap();
    match next_event(&mut s).await {
        WatchEvent::Deleted(o) => {
            assert_eq!(o.name_any(), "x");
            let rv: u64 = o.resource_version().unwrap().parse().unwrap();
            assert_eq!(rv.to_string(), server.resource_version());
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version_and_gets_410_when_compacted() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let a = cms
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let rv = a.resource_version().unwrap();
    cms.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();

    let mut s = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut s).await {
        WatchEvent::Added(o) => assert_eq!(o.name_any(), "b"),
        e => panic!("{e:?}"),
    }
    match next_event(&mut s).await {
        WatchEvent::Deleted(o) => assert_eq!(o.name_any(), "a"),
        e => panic!("{e:?}"),
    }

    server.compact_watch_history();
    let mut s = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut s).await {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        e => panic!("{e:?}"),
    }

    // A resourceVersion from the future is a 504 (a client without retries
    // sees it at once; kube's default policy would retry it).
    let plain: Api<ConfigMap> = Api::namespaced(client_no_retry(&server), "default");
    let err = plain.watch(&WatchParams::default(), "99999999").await.err();
    let err = match err {
        Some(e) => e,
        None => panic!("expected an error"),
    };
    assert_eq!(status(err).code, 504);
}

#[tokio::test]
async fn bookmarks_and_timeout() {
    let server = TestApiServer::start().await;
    server.set_bookmark_interval(Duration::from_millis(50));
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let wp = WatchParams::default().timeout(1);
    let mut s = cms.watch(&wp, "0").await.unwrap().boxed();
    let mut bookmarks = 0;
    // The watch ends by itself after timeoutSeconds.
    bounded("the watch to time out", async {
        for _ in 0..10_000 {
            match s.next().await {
                Some(Ok(WatchEvent::Bookmark(b))) => {
                    assert_eq!(b.metadata.resource_version, server.resource_version());
                    bookmarks += 1;
                }
                Some(other) => panic!("{other:?}"),
                None => return,
            }
        }
        panic!("watch did not end");
    })
    .await;
    assert!(bookmarks >= 1);
}

#[tokio::test]
async fn selector_watch_sees_objects_enter_and_leave() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut s = cms
        .watch(&WatchParams::default().labels("app=web"), "0")
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &cm("other", json!({"app": "db"})))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("x", json!({"app": "db"})))
        .await
        .unwrap();
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await
    .unwrap();
    match next_event(&mut s).await {
        WatchEvent::Added(o) => assert_eq!(o.name_any(), "x"),
        e => panic!("{e:?}"),
    }
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await
    .unwrap();
    match next_event(&mut s).await {
        WatchEvent::Deleted(o) => assert_eq!(o.name_any(), "x"),
        e => panic!("{e:?}"),
    }
}

async fn collect_until<S, F>(s: &mut S, mut done: F) -> Vec<watcher::Event<ConfigMap>>
where
    S: futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin,
    F: FnMut(&watcher::Event<ConfigMap>) -> bool,
{
    bounded("watcher events", async {
        let mut out = Vec::new();
        for _ in 0..1000 {
            match s.next().await {
                Some(Ok(e)) => {
                    let stop = done(&e);
                    out.push(e);
                    if stop {
                        return out;
                    }
                }
                Some(Err(_)) => continue,
                None => panic!("watcher ended"),
            }
        }
        panic!("condition never met");
    })
    .await
}

async fn watcher_sees_changes(cfg: watcher::Config) {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("pre", json!({})))
        .await
        .unwrap();
    let mut w = watcher(cms.clone(), cfg).boxed();
    let init = collect_until(&mut w, |e| matches!(e, watcher::Event::InitDone)).await;
    assert!(
        init.iter()
            .any(|e| matches!(e, watcher::Event::InitApply(o) if o.name_any() == "pre"))
    );

    cms.create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();
    collect_until(
        &mut w,
        |e| matches!(e, watcher::Event::Apply(o) if o.name_any() == "x"),
    )
    .await;
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "changed"}})),
    )
    .await
    .unwrap();
    collect_until(&mut w, |e| {
        matches!(e, watcher::Event::Apply(o) if o.name_any() == "x"
            && o.data.as_ref().is_some_and(|d| d["k"] == "changed"))
    })
    .await;
    cms.delete("x", &DeleteParams::default()).await.unwrap();
    collect_until(
        &mut w,
        |e| matches!(e, watcher::Event::Delete(o) if o.name_any() == "x"),
    )
    .await;
}

#[tokio::test]
async fn runtime_watcher_list_watch() {
    watcher_sees_changes(watcher::Config::default()).await;
}

#[tokio::test]
async fn runtime_watcher_paged_initial_list() {
    watcher_sees_changes(watcher::Config::default().page_size(1)).await;
}

#[tokio::test]
async fn runtime_watcher_streaming_lists() {
    watcher_sees_changes(watcher::Config::default().streaming_lists()).await;
}

#[tokio::test]
async fn watcher_recovers_from_an_outage_with_compacted_history() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut w = watcher(cms.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    collect_until(&mut w, |e| matches!(e, watcher::Event::InitDone)).await;

    // Outage: the watch connection is cut; meanwhile an object appears and
    // history is compacted, so resuming from the old resourceVersion gets a
    // 410 and the watcher must re-list.
    server.set_down(true);
    server
        .insert(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "during"}}))
        .unwrap();
    server.compact_watch_history();
    server.set_down(false);

    let events = collect_until(&mut w, |e| {
        matches!(e, watcher::Event::InitApply(o) | watcher::Event::Apply(o) if o.name_any() == "during")
    })
    .await;
    assert!(
        events.iter().any(|e| matches!(e, watcher::Event::Init)),
        "the watcher re-listed after the 410: {events:?}"
    );
    assert!(matches!(events.last(), Some(watcher::Event::InitApply(_))));
}

#[tokio::test]
async fn metadata_watcher_works() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let metas: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::namespaced(client.clone(), "default");
    let mut w = watcher(metas, watcher::Config::default()).boxed();
    cms.create(&PostParams::default(), &cm("m", json!({"a": "b"})))
        .await
        .unwrap();
    let found = bounded("metadata event", async {
        for _ in 0..100 {
            if let Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o))) =
                w.next().await
                && o.name_any() == "m"
            {
                return o;
            }
        }
        panic!("no event");
    })
    .await;
    assert_eq!(found.labels()["a"], "b");
}
