//! [`StrMap`]: a map from string keys, kept as two sorted vectors, and [`StrSet`] over it.
//!
//! The maps of an object's state hold a handful of entries (its sessions, forwards, running
//! prompts). A `BTreeMap` compiles its node code (insert, split, merge, steal, drop) once per
//! value type, about 8 KB of module each; here the key search and the key vector are one
//! piece of code for every value type, and only the value vector is per type. Iteration is in
//! key order and the serde form is a JSON object, both as a `BTreeMap`'s, so stored state
//! keeps its shape. A room's members (up to 10,000) are one too: an insert there moves at
//! most that many entries, a few hundred KB of memory, once per join.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};

#[derive(Clone, PartialEq, Eq)]
pub struct StrMap<V> {
    /// Sorted, without duplicates; `vals[i]` belongs to `keys[i]`.
    keys: Vec<String>,
    vals: Vec<V>,
}

/// Where `key` is, or where it would go.
fn find(keys: &[String], key: &str) -> Result<usize, usize> {
    keys.binary_search_by(|k| k.as_str().cmp(key))
}

impl<V> StrMap<V> {
    pub const fn new() -> Self {
        StrMap {
            keys: Vec::new(),
            vals: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        find(&self.keys, key).is_ok()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        find(&self.keys, key).ok().map(|i| &self.vals[i])
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        find(&self.keys, key).ok().map(|i| &mut self.vals[i])
    }

    /// As `BTreeMap::insert`: a key already present keeps its place and gets the new value.
    pub fn insert(&mut self, key: String, val: V) -> Option<V> {
        match find(&self.keys, &key) {
            Ok(i) => Some(std::mem::replace(&mut self.vals[i], val)),
            Err(i) => {
                self.keys.insert(i, key);
                self.vals.insert(i, val);
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = find(&self.keys, key).ok()?;
        self.keys.remove(i);
        Some(self.vals.remove(i))
    }

    /// Keeps the entries `keep` says yes to, in order, in one pass.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut V) -> bool) {
        let mut kept = 0;
        for i in 0..self.keys.len() {
            if keep(&self.keys[i], &mut self.vals[i]) {
                self.keys.swap(kept, i);
                self.vals.swap(kept, i);
                kept += 1;
            }
        }
        self.keys.truncate(kept);
        self.vals.truncate(kept);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.keys.iter().zip(&self.vals)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.keys.iter()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.vals.iter()
    }

    pub fn into_keys(self) -> impl Iterator<Item = String> {
        self.keys.into_iter()
    }
}

impl<V> Default for StrMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// As `BTreeMap`'s (and `HashMap`'s): a repeated key keeps its last value.
impl<V> FromIterator<(String, V)> for StrMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut map = StrMap::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl<V: fmt::Debug> fmt::Debug for StrMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Serialize> Serialize for StrMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for StrMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = StrMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            // As `BTreeMap`'s: a repeated key keeps its last value.
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrMap<V>, A::Error> {
                let mut map = StrMap::new();
                while let Some((k, v)) = access.next_entry()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// A set of strings in order; its serde form is a JSON array, as a `BTreeSet`'s.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StrSet(StrMap<()>);

impl StrSet {
    pub const fn new() -> Self {
        StrSet(StrMap::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Whether `key` was new.
    pub fn insert(&mut self, key: String) -> bool {
        self.0.insert(key, ()).is_none()
    }

    /// Whether `key` was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.0.remove(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }
}

impl Extend<String> for StrSet {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        for k in iter {
            self.insert(k);
        }
    }
}

impl FromIterator<String> for StrSet {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut set = StrSet::new();
        set.extend(iter);
        set
    }
}

impl IntoIterator for StrSet {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.keys.into_iter()
    }
}

impl fmt::Debug for StrSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for StrSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for StrSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor;

        impl<'de> Visitor<'de> for SeqVisitor {
            type Value = StrSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<StrSet, A::Error> {
                let mut set = StrSet::new();
                while let Some(k) = access.next_element()? {
                    set.insert(k);
                }
                Ok(set)
            }
        }

        deserializer.deserialize_seq(SeqVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::{StrMap, StrSet};

    #[test]
    fn behaves_as_a_btreemap() {
        let mut m = StrMap::new();
        let mut b = BTreeMap::new();
        for (k, v) in [("b", 1), ("a", 2), ("c", 3), ("b", 4), ("d", 5)] {
            assert_eq!(m.insert(k.to_string(), v), b.insert(k.to_string(), v));
        }
        assert_eq!(m.remove("c"), b.remove("c"));
        assert_eq!(m.remove("zz"), b.remove("zz"));
        m.retain(|k, v| {
            *v += 1;
            k != "d"
        });
        b.retain(|k, v| {
            *v += 1;
            k != "d"
        });
        assert_eq!(m.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
        for k in ["e", "f", "g"] {
            m.insert(k.into(), 0);
            b.insert(k.into(), 0);
        }
        m.retain(|k, _| k != "a" && k != "f");
        b.retain(|k, _| k != "a" && k != "f");
        assert_eq!(m.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
        assert_eq!(m.get("b"), b.get("b"));
        assert!(m.contains_key("b") && !m.contains_key("c"));
        assert_eq!(format!("{m:?}"), format!("{b:?}"));
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
    }

    #[test]
    fn reads_what_a_btreemap_wrote() {
        let json = r#"{"z":1,"a":2,"m":3,"a":4}"#;
        let m: StrMap<u32> = serde_json::from_str(json).unwrap();
        let b: BTreeMap<String, u32> = serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert!(serde_json::from_str::<StrMap<u32>>("[1]").is_err());
    }

    #[test]
    fn set_behaves_as_a_btreeset() {
        let words = ["b", "a", "c", "b"].map(String::from);
        let mut m: StrSet = words.iter().cloned().collect();
        let mut b: BTreeSet<String> = words.iter().cloned().collect();
        assert_eq!(m.insert("a".into()), b.insert("a".into()));
        assert_eq!(m.insert("d".into()), b.insert("d".into()));
        assert_eq!(m.remove("c"), b.remove("c"));
        assert_eq!(m.remove("c"), b.remove("c"));
        assert_eq!(format!("{m:?}"), format!("{b:?}"));
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, serde_json::to_string(&b).unwrap());
        let back: StrSet = serde_json::from_str(r#"["z","a","z"]"#).unwrap();
        assert_eq!(back.into_iter().collect::<Vec<_>>(), ["a", "z"]);
    }
}
