//! A generated row, and its serialisation in the source's field order.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// A generated row: ordered fields (served in this order, like the source) and a key that
/// identifies the row's current version (stable across requests and days while unchanged).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GenRow {
    pub(crate) fields: Vec<(&'static str, Value)>,
    pub(crate) key: u64,
}

impl GenRow {
    pub(crate) fn into_value(self) -> Value {
        Value::Object(
            self.fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }
}

/// Serialises fields in their order (a `serde_json::Map` would sort them).
pub(crate) struct OrderedFields<'a>(pub(crate) &'a [(&'static str, Value)]);

impl Serialize for OrderedFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
