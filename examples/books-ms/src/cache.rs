//! The rendered book list, kept between changes of the table.
//!
//! `GET /api/v1/books` is the call every client (the UI, the integration test, health checks)
//! makes, and rendering it means reading every row. The rendered body is kept until the table
//! changes. Changes are learnt from PostgreSQL (a trigger on the table `NOTIFY`s a channel this
//! instance `LISTEN`s to), so writes made through another instance (blue and green share one
//! database) or straight in SQL invalidate it too; this instance's own writes invalidate it
//! before they are answered. While the notification connection is down the cache is off and
//! every request reads the table.
//!
//! A generation counter closes the race between a read and a change: a body rendered from a
//! read that started before an invalidation is not stored.

use std::sync::Mutex;

use axum::body::Bytes;

#[derive(Debug, Default)]
pub struct ListCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    enabled: bool,
    generation: u64,
    body: Option<Bytes>,
}

/// What a read finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Hit(Bytes),
    /// Read the table, then [`ListCache::store`] the body with this generation.
    Miss(u64),
}

impl ListCache {
    /// An empty cache, off until [`ListCache::set_enabled`] turns it on.
    pub fn new() -> ListCache {
        ListCache::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is one assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn lookup(&self) -> Lookup {
        let state = self.state();
        match &state.body {
            Some(body) if state.enabled => Lookup::Hit(body.clone()),
            _ => Lookup::Miss(state.generation),
        }
    }

    /// Keeps `body` if nothing changed since the lookup that returned `generation`.
    pub fn store(&self, generation: u64, body: Bytes) {
        let mut state = self.state();
        if state.enabled && state.generation == generation {
            state.body = Some(body);
        }
    }

    /// The table changed (or may have): drop the body.
    pub fn invalidate(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.body = None;
    }

    /// Turns caching on (changes are being notified) or off (they are not); either way starts
    /// from nothing, since changes may have been missed.
    pub fn set_enabled(&self, enabled: bool) {
        let mut state = self.state();
        state.enabled = enabled;
        state.generation += 1;
        state.body = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miss(cache: &ListCache) -> u64 {
        match cache.lookup() {
            Lookup::Miss(generation) => generation,
            Lookup::Hit(body) => panic!("unexpected hit {body:?}"),
        }
    }

    #[test]
    fn a_stored_body_is_served_until_invalidated() {
        let cache = ListCache::new();
        cache.set_enabled(true);
        let generation = miss(&cache);
        cache.store(generation, Bytes::from_static(b"[1]"));
        assert_eq!(cache.lookup(), Lookup::Hit(Bytes::from_static(b"[1]")));
        cache.invalidate();
        miss(&cache);
    }

    #[test]
    fn a_body_read_before_a_change_is_not_stored() {
        let cache = ListCache::new();
        cache.set_enabled(true);
        let generation = miss(&cache);
        cache.invalidate();
        cache.store(generation, Bytes::from_static(b"[stale]"));
        miss(&cache);
    }

    #[test]
    fn nothing_is_cached_while_off() {
        let cache = ListCache::new();
        let generation = miss(&cache);
        cache.store(generation, Bytes::from_static(b"[]"));
        miss(&cache);

        cache.set_enabled(true);
        let generation = miss(&cache);
        cache.store(generation, Bytes::from_static(b"[]"));
        cache.set_enabled(false);
        miss(&cache);
        cache.set_enabled(true);
        // Turning it back on does not resurrect what was kept before.
        miss(&cache);
    }
}
