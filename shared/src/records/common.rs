//! A row read straight from its text when it has the common shape: an object of at most
//! [`MAX_FIELDS`] fields whose every value is null, an integer, a text or a list of integers, each
//! name once, none of them serde_json's private names.
//!
//! Nearly every row the source serves has that shape, and reading it so skips the `Value` tree
//! (a map of owned names, a 32-byte value per list item) that was most of the cost of parsing a
//! row. Anything else (a float, a boolean, a nested value, an integer past `i64`, a repeated
//! name, a row that is not an object) is not read here: [`CommonRow::read`] gives `None` and the
//! row is parsed as a `Value`, whose checks then give their verdict. Both readers are driven by
//! the same JSON parser, so a row read here holds the names and values its `Value` would.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// Fields of a row read here at most: the search for a repeated name is quadratic, and a wider
/// row (a drifted one) is left to the `Value`'s map.
const MAX_FIELDS: usize = 64;

/// Names serde_json gives a meaning of its own (an object whose first name is its raw-value
/// marker is not an object to a `Value`): such a row is left to the `Value`.
const SERDE_JSON_PRIVATE: &str = "$serde_json::private::";

/// The fields of a row of the common shape, in the order served.
pub(crate) struct CommonRow<'a>(Vec<(Cow<'a, str>, Scalar<'a>)>);

/// A value of the common shape; texts borrow from the row's text when it holds no escape.
pub(crate) enum Scalar<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    Ints(Vec<i64>),
}

impl<'a> CommonRow<'a> {
    /// The row, when `text` is one JSON object of the common shape.
    pub(crate) fn read(text: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(text).ok()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Scalar<'a>> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_ref())
    }
}

/// Not the common shape: the row is parsed as a `Value` instead.
fn uncommon<E: de::Error>(what: &str) -> E {
    E::custom(format_args!("not the common shape: {what}"))
}

impl<'de: 'a, 'a> Deserialize<'de> for CommonRow<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Fields<'a> {
            type Value = CommonRow<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields: Vec<(Cow<'a, str>, Scalar<'a>)> = Vec::with_capacity(map.size_hint().unwrap_or(9));
                while let Some(Text(name)) = map.next_key::<Text<'a>>()? {
                    // A repeated name: a `Value` keeps the last, and decides.
                    if fields.iter().any(|(n, _)| *n == name) {
                        return Err(uncommon("a repeated name"));
                    }
                    if fields.len() == MAX_FIELDS || name.starts_with(SERDE_JSON_PRIVATE) {
                        return Err(uncommon("a wide row or a name of serde_json's own"));
                    }
                    fields.push((name, map.next_value()?));
                }
                Ok(CommonRow(fields))
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData))
    }
}

/// A text, borrowed when it holds no escape.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Texts<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Texts<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(Texts(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Scalars<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Scalars<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("null, an integer, a text or a list of integers")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<Self::Value, E> {
                i64::try_from(u).map(Scalar::Int).map_err(|_| uncommon("an integer past i64"))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(s.to_owned())))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                // serde's i64 refuses a float and an integer past i64, as `Value::as_i64` does.
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(16));
                while let Some(item) = seq.next_element::<i64>()? {
                    items.push(item);
                }
                Ok(Scalar::Ints(items))
            }
        }
        d.deserialize_any(Scalars(std::marker::PhantomData))
    }
}
