//! Watch-fed caches (kube-runtime `Store`s) the controllers read, and waiting for them.
//!
//! A controller must not act on a cache that has not listed yet — an empty pod cache
//! would make a ReplicaSet create every pod again, or a Service's endpoints go empty —
//! so a reconcile waits for the caches it reads, as upstream's `WaitForCacheSync`.
//!
//! kube-runtime 5's `Store::wait_until_ready` keeps only the most recent waiter's waker:
//! with two reconciles waiting at once, the earlier one may never wake (seen as a
//! restarted controller manager that never reconciles one ReplicaSet). [`ready`] polls
//! it again every 50 ms, so every waiter goes on once the cache is ready.
//!
//! Cached objects come without `metadata.managedFields` ([`watch`]), as
//! kube-controller-manager's informers trim them: no controller reads them, and they are
//! most of a cached pod's memory.

use std::hash::Hash;
use std::time::Duration;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::{self, Lookup, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// A watch of `K` whose objects come without `metadata.managedFields`.
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures::Stream<Item = watcher::Result<watcher::Event<K>>> + Send
where
    K: kube::Resource
        + Clone
        + k8s_openapi::serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    watcher(api, config).modify(|obj| obj.managed_fields_mut().clear())
}

/// The cache is never going to be ready: its watch was dropped.
#[derive(Debug, thiserror::Error)]
#[error("the cache's watch ended before it listed")]
pub struct NeverReady;

/// Wait until `store` has listed (safe with many concurrent waiters).
pub async fn ready<K>(store: &Store<K>) -> Result<(), NeverReady>
where
    K: 'static + Clone + Lookup,
    K::DynamicType: Eq + Hash + Clone,
{
    loop {
        match tokio::time::timeout(Duration::from_millis(50), store.wait_until_ready()).await {
            Ok(result) => return result.map_err(|_| NeverReady),
            Err(_) => continue,
        }
    }
}

/// A cache of every `K` and the stream of the objects it changes, for a controller's
/// `watches_stream`: the cache its reconciles read, the changes that requeue them.
pub fn with_changes<K>(
    client: &kube::Client,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + k8s_openapi::serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let changes = reflector::reflector(
        writer,
        watch(Api::<K>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects();
    (reader, changes)
}

/// A cache of `K` kept by a background watch.
pub fn spawn<K>(api: Api<K>, config: watcher::Config) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + k8s_openapi::serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let stream = reflector::reflector(writer, watch(api, config)).default_backoff();
    tokio::spawn(stream.for_each(|_| async {}));
    reader
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::watcher::Event;

    /// Two waiters at once both go on once the cache is ready (kube-runtime 5's own wait
    /// wakes only the last).
    #[tokio::test]
    async fn every_concurrent_waiter_wakes() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let (a, b) = (store.clone(), store.clone());
        let first = tokio::spawn(async move { ready(&a).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = tokio::spawn(async move { ready(&b).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitDone);
        let both = tokio::time::timeout(Duration::from_secs(2), async {
            (first.await, second.await)
        })
        .await;
        assert!(matches!(both, Ok((Ok(Ok(())), Ok(Ok(()))))), "{both:?}");
    }
}
