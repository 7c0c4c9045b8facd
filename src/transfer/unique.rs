//! The strict reader's parts: a JSON value read as [`serde_json::Value`] does, recording
//! every key that appears twice in one object with the path to that object, so that an
//! import can refuse a repeated key by name and place.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// One step of a path into the document.
#[derive(Debug, Clone)]
pub(super) enum Segment {
    Key(String),
    Index(usize),
}

/// A key found twice in one object, and where that object is.
#[derive(Debug)]
pub(super) struct Duplicate {
    pub(super) path: Vec<Segment>,
    pub(super) key: String,
}

/// A link of the path from the root to the value being read (kept on the stack).
pub(super) struct Node<'p> {
    pub(super) parent: Option<&'p Node<'p>>,
    pub(super) segment: SegmentRef<'p>,
}

/// A [`Segment`] borrowed from the document being read.
#[derive(Clone, Copy)]
pub(super) enum SegmentRef<'p> {
    Key(&'p str),
    Index(usize),
}

/// The path from the root to `node`.
pub(super) fn path_of(node: Option<&Node<'_>>) -> Vec<Segment> {
    let mut path = Vec::new();
    let mut current = node;
    while let Some(n) = current {
        path.push(match n.segment {
            SegmentRef::Key(key) => Segment::Key(key.to_owned()),
            SegmentRef::Index(index) => Segment::Index(index),
        });
        current = n.parent;
    }
    path.reverse();
    path
}

/// Reads any JSON value as [`serde_json::Value`] does, recording every key that appears
/// twice in one object (with its path) instead of silently keeping the last. It reads only
/// text (`serde_json::Deserializer::from_str`), which hands a string over borrowed and a
/// `null` as a unit, so it has no `visit_string` or `visit_none`.
pub(super) struct UniqueKeys<'r, 'p> {
    pub(super) duplicates: &'r RefCell<Vec<Duplicate>>,
    pub(super) parent: Option<&'p Node<'p>>,
}

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let node = Node {
                parent: self.parent,
                segment: SegmentRef::Index(items.len()),
            };
            let seed = UniqueKeys {
                duplicates: self.duplicates,
                parent: Some(&node),
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> std::result::Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let node = Node {
                parent: self.parent,
                segment: SegmentRef::Key(&key),
            };
            let value = access.next_value_seed(UniqueKeys {
                duplicates: self.duplicates,
                parent: Some(&node),
            })?;
            if map.contains_key(&key) {
                self.duplicates.borrow_mut().push(Duplicate {
                    path: path_of(self.parent),
                    key,
                });
            } else {
                map.insert(key, value);
            }
        }
        Ok(Value::Object(map))
    }
}
