//! An ordered map of string keys kept in one vector and searched by a scan.
//!
//! Compose mappings are small (a service has a few dozen keys, most nested mappings a handful),
//! and the tree is cloned and merged a lot while `extends` and merge keys are resolved: one
//! allocation per mapping and no hashing beat a hash table there. The one large mapping, the
//! services of a big project, is looked up by name a few times per service at most. The typed
//! model uses it for the small maps of a service (environment, labels, ...).
//! The API is the part of `indexmap`'s the loader uses, with the same meaning.

use std::cmp::Ordering;

use crate::json::{IntoKey, Key};

/// An ordered map from string keys (compose's own names static, others inline or shared).
#[derive(Clone, Debug, PartialEq)]
pub struct VecMap<V>(Vec<(Key, V)>);

impl<V> Default for VecMap<V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<V> VecMap<V> {
    pub fn new() -> Self {
        VecMap(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Self {
        VecMap(Vec::with_capacity(n))
    }

    /// A map of these entries, whose keys the caller knows are distinct.
    pub(crate) fn from_distinct(entries: Vec<(Key, V)>) -> Self {
        VecMap(entries)
    }

    /// Appends an entry whose key the caller knows is not in the map yet.
    pub(crate) fn push_distinct(&mut self, k: Key, v: V) {
        self.0.push((k, v));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }

    pub fn get_index_of(&self, k: &str) -> Option<usize> {
        self.0.iter().position(|(x, _)| x == k)
    }

    pub fn get(&self, k: &str) -> Option<&V> {
        self.0.iter().find(|(x, _)| x == k).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        self.0.iter_mut().find(|(x, _)| x == k).map(|(_, v)| v)
    }

    /// The value of the entry at `index` (panics past the end).
    pub fn value_at_mut(&mut self, index: usize) -> &mut V {
        &mut self.0[index].1
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.0.iter().any(|(x, _)| x == k)
    }

    /// Sets `k`, keeping its place when it is already there; returns the value it replaced.
    pub fn insert(&mut self, k: impl IntoKey, v: V) -> Option<V> {
        let k = k.into_key();
        match self.get_mut(&k) {
            Some(slot) => Some(std::mem::replace(slot, v)),
            None => {
                self.0.push((k, v));
                None
            }
        }
    }

    /// Removes `k`, keeping the order of the others.
    pub fn shift_remove(&mut self, k: &str) -> Option<V> {
        let i = self.get_index_of(k)?;
        Some(self.0.remove(i).1)
    }

    pub fn entry(&mut self, k: impl IntoKey) -> Entry<'_, V> {
        let k = k.into_key();
        match self.get_index_of(&k) {
            Some(i) => Entry::Occupied(OccupiedEntry {
                map: self,
                index: i,
            }),
            None => Entry::Vacant(VacantEntry { map: self, key: k }),
        }
    }

    pub fn retain(&mut self, mut f: impl FnMut(&Key, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| f(k, v));
    }

    pub fn first(&self) -> Option<(&Key, &V)> {
        self.0.first().map(|(k, v)| (k, v))
    }

    pub fn last(&self) -> Option<(&Key, &V)> {
        self.0.last().map(|(k, v)| (k, v))
    }

    pub fn truncate(&mut self, n: usize) {
        self.0.truncate(n);
    }

    pub fn drain(
        &mut self,
        range: impl std::ops::RangeBounds<usize>,
    ) -> std::vec::Drain<'_, (Key, V)> {
        self.0.drain(range)
    }

    pub fn sort_by(&mut self, mut f: impl FnMut(&Key, &V, &Key, &V) -> Ordering) {
        self.0.sort_by(|(k1, v1), (k2, v2)| f(k1, v1, k2, v2));
    }

    pub fn sort_keys(&mut self) {
        self.0.sort_by(|a, b| a.0.cmp(&b.0));
    }

    pub fn iter(&self) -> Iter<'_, V> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// The entries in order.
    pub fn as_slice(&self) -> &[(Key, V)] {
        &self.0
    }

    /// [`VecMap::insert`] for a map filled by many inserts in a row: see [`Bulk`].
    pub(crate) fn bulk_insert(&mut self, bulk: &mut Bulk, k: Key, v: V) {
        bulk.insert(&mut self.0, k, v);
    }
}

/// Inserts many entries into a vector of entries with `insert`'s meaning (a later duplicate
/// replaces the earlier value in its place). A small map is scanned, as `insert` does; once the
/// map outgrows [`Bulk::SCAN`] entries, a hash index of its keys is built and kept, so filling a
/// map of n entries (a 10 MB `environment:` mapping) costs O(n), not O(n²). The maps of real
/// projects stay under the limit and never pay for the index.
#[derive(Default)]
pub(crate) struct Bulk(Option<std::collections::HashMap<Key, usize, foldhash::fast::RandomState>>);

impl Bulk {
    const SCAN: usize = 64;

    pub(crate) fn insert<V>(&mut self, entries: &mut Vec<(Key, V)>, k: Key, v: V) {
        if self.0.is_none() && entries.len() < Self::SCAN {
            match entries.iter_mut().find(|(x, _)| *x == k) {
                Some(slot) => slot.1 = v,
                None => entries.push((k, v)),
            }
            return;
        }
        let index = self.0.get_or_insert_with(|| {
            entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect()
        });
        match index.entry(k) {
            std::collections::hash_map::Entry::Occupied(e) => entries[*e.get()].1 = v,
            std::collections::hash_map::Entry::Vacant(e) => {
                entries.push((e.key().clone(), v));
                e.insert(entries.len() - 1);
            }
        }
    }
}

pub type Iter<'a, V> =
    std::iter::Map<std::slice::Iter<'a, (Key, V)>, fn(&'a (Key, V)) -> (&'a Key, &'a V)>;
pub type IterMut<'a, V> =
    std::iter::Map<std::slice::IterMut<'a, (Key, V)>, fn(&'a mut (Key, V)) -> (&'a Key, &'a mut V)>;

impl<V> IntoIterator for VecMap<V> {
    type Item = (Key, V);
    type IntoIter = std::vec::IntoIter<(Key, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a VecMap<V> {
    type Item = (&'a Key, &'a V);
    type IntoIter = Iter<'a, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, V> IntoIterator for &'a mut VecMap<V> {
    type Item = (&'a Key, &'a mut V);
    type IntoIter = IterMut<'a, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<K: IntoKey, V> FromIterator<(K, V)> for VecMap<V> {
    /// Later duplicates replace earlier ones, in the earlier one's place.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = VecMap::new();
        m.extend(iter);
        m
    }
}

impl<K: IntoKey, V> Extend<(K, V)> for VecMap<V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.0.reserve(iter.size_hint().0);
        let mut bulk = Bulk::default();
        for (k, v) in iter {
            bulk.insert(&mut self.0, k.into_key(), v);
        }
    }
}

impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for VecMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<V>(std::marker::PhantomData<V>);
        impl<'de, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for Entries<V> {
            type Value = VecMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<VecMap<V>, A::Error> {
                let mut m = VecMap::with_capacity(a.size_hint().unwrap_or(0));
                let mut bulk = Bulk::default();
                while let Some((k, v)) = a.next_entry::<Key, V>()? {
                    m.bulk_insert(&mut bulk, k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

impl<V> std::ops::Index<&str> for VecMap<V> {
    type Output = V;
    /// Panics when `k` is missing, as `IndexMap` does.
    fn index(&self, k: &str) -> &V {
        self.get(k).expect("key is in the map")
    }
}

/// A key's place in a [`VecMap`].
pub enum Entry<'a, V> {
    Occupied(OccupiedEntry<'a, V>),
    Vacant(VacantEntry<'a, V>),
}

pub struct OccupiedEntry<'a, V> {
    map: &'a mut VecMap<V>,
    index: usize,
}

pub struct VacantEntry<'a, V> {
    map: &'a mut VecMap<V>,
    key: Key,
}

impl<'a, V> OccupiedEntry<'a, V> {
    pub fn get(&self) -> &V {
        &self.map.0[self.index].1
    }

    pub fn get_mut(&mut self) -> &mut V {
        &mut self.map.0[self.index].1
    }

    pub fn into_mut(self) -> &'a mut V {
        &mut self.map.0[self.index].1
    }

    pub fn insert(&mut self, v: V) -> V {
        std::mem::replace(self.get_mut(), v)
    }
}

impl<'a, V> VacantEntry<'a, V> {
    pub fn insert(self, v: V) -> &'a mut V {
        self.map.0.push((self.key, v));
        &mut self.map.0.last_mut().expect("just pushed").1
    }
}

impl<'a, V> Entry<'a, V> {
    pub fn or_insert_with(self, f: impl FnOnce() -> V) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(f()),
        }
    }

    pub fn or_insert(self, v: V) -> &'a mut V {
        self.or_insert_with(|| v)
    }

    pub fn and_modify(mut self, f: impl FnOnce(&mut V)) -> Self {
        if let Entry::Occupied(o) = &mut self {
            f(o.get_mut());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Below and past the scan limit, a bulk fill means what repeated `insert` means.
    #[test]
    fn bulk_inserts_mean_insert_on_both_sides_of_the_index() {
        let keys: Vec<String> = (0..300).map(|i| format!("k{}", (i * 7) % 200)).collect();
        let mut by_insert: VecMap<usize> = VecMap::new();
        let mut by_bulk: VecMap<usize> = VecMap::new();
        let mut bulk = Bulk::default();
        for (i, k) in keys.iter().enumerate() {
            by_insert.insert(Key::new(k), i);
            by_bulk.bulk_insert(&mut bulk, Key::new(k), i);
        }
        assert_eq!(by_bulk.len(), 200);
        assert_eq!(by_bulk, by_insert);
    }

    #[test]
    fn keeps_insertion_order_and_places() {
        let mut m: VecMap<u32> = VecMap::new();
        assert_eq!(m.insert("b", 1), None);
        assert_eq!(m.insert("a", 2), None);
        assert_eq!(m.insert("c", 3), None);
        assert_eq!(m.insert("b", 4), Some(1));
        assert_eq!(m.keys().map(|k| &**k).collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(m["b"], 4);
        assert_eq!(m.shift_remove("a"), Some(2));
        assert_eq!(m.shift_remove("a"), None);
        assert_eq!(m.keys().map(|k| &**k).collect::<Vec<_>>(), ["b", "c"]);
        *m.entry("d").or_insert(0) += 5;
        *m.entry("b").or_insert(0) += 5;
        m.entry("c").and_modify(|v| *v = 30).or_insert(0);
        let all: Vec<(&str, u32)> = m.iter().map(|(k, v)| (&**k, *v)).collect();
        assert_eq!(all, [("b", 9), ("c", 30), ("d", 5)]);
        m.retain(|k, _| k != "c");
        m.sort_by(|_, a, _, b| b.cmp(a));
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            [(Key::from("b"), 9), (Key::from("d"), 5)]
        );
    }

    #[test]
    fn collecting_keeps_the_first_place_and_the_last_value() {
        let m: VecMap<u32> = [("x", 1), ("y", 2), ("x", 3)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(m.as_slice(), [(Key::from("x"), 3), (Key::from("y"), 2)]);
    }
}
