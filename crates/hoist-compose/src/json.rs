//! The tree `hoist config --format json` prints, and the typed model is read from.
//!
//! Like `serde_json::Value` with its key order kept, but cheaper to build for hundreds of
//! services: a mapping is one vector of entries, found by a scan (compose's objects have a few
//! dozen keys at most; the services mapping is built by [`Map::push`]), and keys compose defines
//! are static strings instead of one allocation each; short strings live inline and long ones
//! are shared, so copying a tree allocates only its vectors. Strings hold the values themselves:
//! print the tree through [`Printed`], which writes `$` as `$$` as compose does. It serialises
//! with serde and deserialises into any serde type, consuming itself.

use std::fmt;

use serde::de::{self, IntoDeserializer, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserializer, Serialize, Serializer};
use serde_json::Number;

/// A string of the trees: up to 23 bytes inline, static (compose's own names), or shared.
pub type Str = smol_str::SmolStr;

/// A mapping key.
pub type Key = Str;

/// What a map key is made from: literal names are kept as static text (no copy), strings are
/// moved or shared. (A borrowed `&str` that is not `'static` is turned into a key with
/// [`Str::new`].)
pub trait IntoKey {
    fn into_key(self) -> Key;
}

impl IntoKey for &'static str {
    fn into_key(self) -> Key {
        Key::new_static(self)
    }
}

impl IntoKey for Str {
    fn into_key(self) -> Key {
        self
    }
}

impl IntoKey for &Str {
    fn into_key(self) -> Key {
        self.clone()
    }
}

impl IntoKey for String {
    fn into_key(self) -> Key {
        Key::from(self)
    }
}

/// One node of the printed tree.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Str),
    Array(Vec<Value>),
    Object(Map),
}

/// A mapping in insertion order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(Vec<(Key, Value)>);

impl Map {
    pub fn new() -> Map {
        Map(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Map {
        Map(Vec::with_capacity(n))
    }

    /// A map of these entries, whose keys the caller knows are distinct.
    pub fn from_distinct(entries: Vec<(Key, Value)>) -> Map {
        Map(entries)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn index_of(&self, k: &str) -> Option<usize> {
        self.0.iter().position(|(x, _)| x == k)
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.0.iter().find(|(x, _)| x == k).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(x, _)| x == k).map(|(_, v)| v)
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.index_of(k).is_some()
    }

    /// Sets `k`, keeping its place when it is already there; returns the value it replaced.
    pub fn insert(&mut self, k: impl IntoKey, v: Value) -> Option<Value> {
        let k = k.into_key();
        match self.index_of(&k) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            None => {
                self.0.push((k, v));
                None
            }
        }
    }

    /// [`Map::insert`] for a map filled by many inserts in a row: see
    /// [`crate::vecmap::Bulk`].
    pub(crate) fn bulk_insert(&mut self, bulk: &mut crate::vecmap::Bulk, k: Key, v: Value) {
        bulk.insert(&mut self.0, k, v);
    }

    /// Appends an entry whose key the caller knows is not in the map yet.
    pub fn push(&mut self, k: impl IntoKey, v: Value) {
        let k = k.into_key();
        // The check scans the map: only small maps are checked, so that a debug build stays
        // linear on a project of thousands of services.
        debug_assert!(
            self.0.len() > 256 || !self.contains_key(&k),
            "duplicate key {k}"
        );
        self.0.push((k, v));
    }

    /// Removes `k`, keeping the order of the others.
    pub fn remove(&mut self, k: &str) -> Option<Value> {
        let i = self.index_of(k)?;
        Some(self.0.remove(i).1)
    }

    /// Moves out the entries whose key `f` selects, keeping the order of both.
    pub fn extract(&mut self, mut f: impl FnMut(&str) -> bool) -> Vec<(Key, Value)> {
        self.0.extract_if(.., |(k, _)| f(k)).collect()
    }

    pub fn retain(&mut self, mut f: impl FnMut(&Key, &mut Value) -> bool) {
        self.0.retain_mut(|(k, v)| f(k, v));
    }

    pub fn entry(&mut self, k: impl IntoKey) -> Entry<'_> {
        Entry {
            map: self,
            key: k.into_key(),
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Key, &Value)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&Key, &mut Value)> + ExactSizeIterator {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// Sorts the entries by key.
    pub fn sort_keys(&mut self) {
        self.0.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Sorts the entries by the rank `f` gives their keys (stable; `f` runs once per entry).
    /// Sorts the entries with `compare` (stable).
    pub fn sort_by(
        &mut self,
        compare: impl FnMut(&(Key, Value), &(Key, Value)) -> std::cmp::Ordering,
    ) {
        self.0.sort_by(compare);
    }

    pub fn sort_by_key(&mut self, mut f: impl FnMut(&str) -> usize) {
        const SMALL: usize = 32;
        let n = self.0.len();
        if n > SMALL {
            self.0.sort_by_cached_key(|(k, _)| f(k));
            return;
        }
        // A compose object has a few dozen keys at most: insertion sort with the ranks on the
        // stack, no allocation.
        let mut ranks = [0usize; SMALL];
        for (r, (k, _)) in ranks.iter_mut().zip(&self.0) {
            *r = f(k);
        }
        for i in 1..n {
            let mut j = i;
            while j > 0 && ranks[j - 1] > ranks[j] {
                ranks.swap(j - 1, j);
                self.0.swap(j - 1, j);
                j -= 1;
            }
        }
    }
}

impl IntoIterator for Map {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Key, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Key, Value)>,
        fn(&'a (Key, Value)) -> (&'a Key, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<K: IntoKey> FromIterator<(K, Value)> for Map {
    /// Later duplicates replace earlier ones, in the earlier one's place.
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Map {
        let mut m = Map::new();
        m.extend(iter);
        m
    }
}

impl<K: IntoKey> Extend<(K, Value)> for Map {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        let mut bulk = crate::vecmap::Bulk::default();
        for (k, v) in iter {
            bulk.insert(&mut self.0, k.into_key(), v);
        }
    }
}

/// A place in a [`Map`], filled on demand.
pub struct Entry<'a> {
    map: &'a mut Map,
    key: Key,
}

impl<'a> Entry<'a> {
    pub fn or_insert_with(self, f: impl FnOnce() -> Value) -> &'a mut Value {
        let i = match self.map.index_of(&self.key) {
            Some(i) => i,
            None => {
                self.map.0.push((self.key, f()));
                self.map.0.len() - 1
            }
        };
        &mut self.map.0[i].1
    }

    pub fn or_insert(self, v: Value) -> &'a mut Value {
        self.or_insert_with(|| v)
    }
}

impl Value {
    /// An empty mapping.
    pub fn object() -> Value {
        Value::Object(Map::new())
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.get(k),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        match self {
            Value::Object(m) => m.get_mut(k),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The same tree from a `serde_json::Value`.
    pub fn from_serde(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n),
            serde_json::Value::String(s) => Value::String(Str::from(s)),
            serde_json::Value::Array(a) => {
                Value::Array(a.into_iter().map(Value::from_serde).collect())
            }
            serde_json::Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| (Key::from(k), Value::from_serde(v)))
                    .collect(),
            ),
        }
    }

    /// The same tree as a `serde_json::Value`.
    pub fn to_serde(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_serde).collect()),
            Value::Object(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_serde()))
                    .collect(),
            ),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(Str::new(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Str::from(s))
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Number(Number::from(n))
            }
        }
    )*};
}
from_int!(i32, i64, u16, u32, u64, usize);

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Value {
        Value::Array(a)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Object(m)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;
    /// `Null` for a missing key or a non-mapping, as `serde_json::Value` does.
    fn index(&self, k: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(k).unwrap_or(&NULL)
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;
    /// `Null` for a missing key.
    fn index(&self, k: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(k).unwrap_or(&NULL)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(x) => s.serialize_str(x),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(m) => m.serialize(s),
        }
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(&**k, v)?;
        }
        map.end()
    }
}

/// A string value as compose prints it: every literal `$` doubled.
pub fn printed_str(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('$') {
        std::borrow::Cow::Owned(s.replace('$', "$$"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The tree as compose prints it: the tree holds the values the engine receives, compose prints
/// every `$` of a string value as `$$` (keys are printed as they are).
pub struct Printed<'a>(pub &'a Value);

impl Serialize for Printed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::String(x) => s.serialize_str(&printed_str(x)),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&Printed(v))?;
                }
                seq.end()
            }
            Value::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in &m.0 {
                    map.serialize_entry(&**k, &Printed(v))?;
                }
                map.end()
            }
            other => other.serialize(s),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

// Reading a typed value out of the tree, consuming it. Errors are `serde_json`'s, as when the
// tree was a `serde_json::Value`.

type Error = serde_json::Error;

impl<'de> Deserializer<'de> for Value {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => n.deserialize_any(visitor),
            Value::String(s) => visitor.visit_str(&s),
            Value::Array(a) => {
                let mut seq = de::value::SeqDeserializer::new(a.into_iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Object(m) => visitor.visit_map(MapAccess {
                iter: m.0.into_iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        drop(self);
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
    }
}

/// Reading a tree from any serde format (used for the model's `extra` maps).
impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                serde::Deserialize::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
                Ok(Value::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
                Ok(Value::Number(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
                Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::String(Str::new(s)))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::String(Str::from(s)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Value::Array(out))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut out = Map::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<Str, Value>()? {
                    out.insert(k, v);
                }
                Ok(Value::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> IntoDeserializer<'de, Error> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

struct MapAccess {
    iter: std::vec::IntoIter<(Key, Value)>,
    value: Option<Value>,
}

impl<'de> de::MapAccess<'de> for MapAccess {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(KeyDeserializer(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(v),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct KeyDeserializer(Key);

impl<'de> Deserializer<'de> for KeyDeserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(&self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn sample() -> Value {
        let mut inner = Map::new();
        inner.insert("b", Value::from(2u32));
        inner.insert("a", Value::Null);
        let mut m = Map::new();
        m.insert("z", Value::from("x"));
        m.insert(String::from("inner"), Value::Object(inner));
        m.insert(
            "list",
            Value::from(vec![Value::from(true), Value::from("$$")]),
        );
        Value::Object(m)
    }

    #[test]
    fn prints_in_insertion_order_like_serde_json() {
        let v = sample();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"z":"x","inner":{"b":2,"a":null},"list":[true,"$$"]}"#
        );
        let back: serde_json::Value = serde_json::to_value(&v).unwrap();
        assert_eq!(back, v.to_serde());
    }

    #[test]
    fn sorting_by_rank_is_stable_for_small_and_large_maps() {
        for n in [0usize, 1, 5, 32, 33, 80] {
            let mut m = Map::new();
            for i in 0..n {
                m.push(format!("k{i}"), Value::from(i));
            }
            let rank = |k: &str| k[1..].parse::<usize>().unwrap() % 3;
            let mut want: Vec<String> = m.keys().map(|k| k.to_string()).collect();
            want.sort_by_key(|k| rank(k));
            m.sort_by_key(rank);
            let got: Vec<String> = m.keys().map(|k| k.to_string()).collect();
            assert_eq!(got, want, "{n} entries");
        }
    }

    #[test]
    fn printing_doubles_dollars_in_values_only() {
        let mut m = Map::new();
        m.insert("a$b", Value::from("$HOME and $$"));
        m.insert("n", Value::from(vec![Value::from("x$"), Value::from(1u32)]));
        let text = serde_json::to_string(&Printed(&Value::Object(m))).unwrap();
        assert_eq!(text, r#"{"a$b":"$$HOME and $$$$","n":["x$$",1]}"#);
    }

    #[test]
    fn insert_keeps_the_first_place_and_remove_keeps_order() {
        let mut m = Map::new();
        m.insert("a", Value::from(1u32));
        m.insert("b", Value::from(2u32));
        m.insert("c", Value::from(3u32));
        assert_eq!(m.insert("a", Value::from(4u32)), Some(Value::from(1u32)));
        assert_eq!(m.keys().map(|k| &**k).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(m.remove("a"), Some(Value::from(4u32)));
        assert_eq!(m.keys().map(|k| &**k).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(m.remove("a"), None);
        *m.entry("d").or_insert_with(Value::object) = Value::from(5u32);
        m.entry("b").or_insert(Value::Null);
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"b":2,"c":3,"d":5}"#);
    }

    #[test]
    fn deserialises_like_serde_json_value() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Inner {
            b: u32,
            a: Option<String>,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct Outer {
            z: String,
            inner: Inner,
            list: serde_json::Value,
        }
        let ours = Outer::deserialize(sample()).unwrap();
        let back: Value = serde_json::from_str(&serde_json::to_string(&sample()).unwrap()).unwrap();
        assert_eq!(back, sample());
        let theirs: Outer = serde_json::from_value(sample().to_serde()).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours.inner, Inner { b: 2, a: None });
        let err = Inner::deserialize(Value::from("x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type"), "{err}");
    }
}

/// serde_json's pretty printer, escaping as Go's `encoding/json` does (Compose is a Go program):
/// `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`, and the line and paragraph separators
/// U+2028 and U+2029, so that `config --format json` prints Compose's bytes.
pub struct GoFormatter(serde_json::ser::PrettyFormatter<'static>);

impl Default for GoFormatter {
    fn default() -> Self {
        GoFormatter(serde_json::ser::PrettyFormatter::new())
    }
}

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Writes `value` as Compose's `config --format json` does: pretty, Go's escaping.
pub fn write_go_json<W: std::io::Write>(writer: W, value: &Value) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(writer, GoFormatter::default());
    Printed(value).serialize(&mut ser)
}

#[cfg(test)]
mod go_json_tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped_as_go_does() {
        let v = Value::from_serde(serde_json::json!({"cmd": "a < b && c > d\u{2028}é", "n": [1]}));
        let mut out = Vec::new();
        write_go_json(&mut out, &v).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n  \"cmd\": \"a \\u003c b \\u0026\\u0026 c \\u003e d\\u2028é\",\n  \"n\": [\n    1\n  ]\n}"
        );
    }
}
