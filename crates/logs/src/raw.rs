//! Reading a JSON object's members without building a tree: keys borrowed
//! where they have no escapes, values kept as their raw text. Ingest maps
//! documents with this, and copies the members it does not interpret into
//! the record's `fields` as they came.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A key, borrowed from the input unless it had escapes.
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// Members of a JSON object: names and raw values, in order.
pub type MemberList<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// The members of a JSON object, in order.
pub struct Members<'a>(pub MemberList<'a>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Members<'de>, A::Error> {
                Members::visit(map)
            }
        }
        d.deserialize_map(V)
    }
}

/// A shipped document's members in one pass: the `kubernetes` object's
/// members are read while the document is (not re-parsed from raw text).
pub struct Document<'a> {
    pub members: MemberList<'a>,
    /// `Ok(members)` of the `kubernetes` object, or `Err(kind)` of what it was instead.
    pub kubernetes: Option<Result<MemberList<'a>, &'static str>>,
}

/// The `kubernetes` member: an object, or what it was instead.
struct Kubernetes<'a>(Result<MemberList<'a>, &'static str>);

impl<'de> Deserialize<'de> for Kubernetes<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Kubernetes<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Kubernetes<'de>, A::Error> {
                Ok(Kubernetes(Ok(Members::visit(map)?.0)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Kubernetes<'de>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Kubernetes(Err("an array")))
            }
            fn visit_str<E>(self, _: &str) -> Result<Kubernetes<'de>, E> {
                Ok(Kubernetes(Err("a string")))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Kubernetes<'de>, E> {
                Ok(Kubernetes(Err("a boolean")))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Kubernetes<'de>, E> {
                Ok(Kubernetes(Err("a number")))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Kubernetes<'de>, E> {
                Ok(Kubernetes(Err("a number")))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Kubernetes<'de>, E> {
                Ok(Kubernetes(Err("a number")))
            }
            fn visit_unit<E>(self) -> Result<Kubernetes<'de>, E> {
                Ok(Kubernetes(Err("null")))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Document<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Document<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document<'de>, A::Error> {
                let mut members = Vec::with_capacity(8);
                let mut kubernetes = None;
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    if k == "kubernetes" {
                        kubernetes = Some(map.next_value::<Kubernetes<'de>>()?.0);
                    } else {
                        members.push((k, map.next_value::<&'de RawValue>()?));
                    }
                }
                Ok(Document {
                    members,
                    kubernetes,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Members<'de> {
    fn visit<A: MapAccess<'de>>(mut map: A) -> Result<Members<'de>, A::Error> {
        let mut members = Vec::with_capacity(8);
        while let Some((k, v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            members.push((k.0, v));
        }
        Ok(Members(members))
    }
}

/// What kind of JSON value a raw value is, for messages.
pub fn kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Appends `"key":raw` members as a JSON object to `out`.
pub fn write_object(out: &mut String, members: &[(Cow<'_, str>, &RawValue)]) {
    out.push('{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if k.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.push('"');
            out.push_str(k);
            out.push('"');
        } else {
            out.push_str(&serde_json::to_string(k.as_ref()).expect("a string serialises"));
        }
        out.push(':');
        out.push_str(v.get());
    }
    out.push('}');
}
