//! Trace and span ids: bytes inside, lowercase hex outside. A trace id whose
//! high half is zero (a 64-bit id) is written with 16 digits, as Jaeger does;
//! both lengths are accepted.

use periscope_model::{Error, Result};
use std::fmt;

/// A 128-bit trace id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit span id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// From OTLP bytes: exactly 16, not all zero.
    pub fn from_bytes(bytes: &[u8]) -> Option<TraceId> {
        let id: [u8; 16] = bytes.try_into().ok()?;
        (id != [0; 16]).then_some(TraceId(id))
    }

    /// From 1 to 32 hex digits (shorter ids are left-padded with zeros).
    pub fn parse(text: &str) -> Result<TraceId> {
        let bad = || {
            Error::bad_request(format!(
                "invalid trace id {text:?}: 1 to 32 hexadecimal digits"
            ))
        };
        if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let padded = format!("{text:0>32}");
        let mut id = [0u8; 16];
        hex::decode_to_slice(padded, &mut id).map_err(|_| bad())?;
        if id == [0; 16] {
            return Err(bad());
        }
        Ok(TraceId(id))
    }

    /// The 32-digit form, used as the stored key.
    pub fn to_hex32(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for TraceId {
    /// Jaeger's form: 16 digits when the high half is zero, 32 otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0[..8] == [0; 8] {
            f.write_str(&hex::encode(&self.0[8..]))
        } else {
            f.write_str(&hex::encode(self.0))
        }
    }
}

impl SpanId {
    /// From OTLP bytes: exactly 8, not all zero.
    pub fn from_bytes(bytes: &[u8]) -> Option<SpanId> {
        let id: [u8; 8] = bytes.try_into().ok()?;
        (id != [0; 8]).then_some(SpanId(id))
    }

    /// From 16 hex digits (the stored form).
    pub fn parse(text: &str) -> Option<SpanId> {
        let mut id = [0u8; 8];
        hex::decode_to_slice(text, &mut id).ok()?;
        Some(SpanId(id))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_take_both_lengths_and_print_like_jaeger() {
        let long = TraceId::parse("5B8EFFF798038103D269B633813FC60C").unwrap();
        assert_eq!(long.to_string(), "5b8efff798038103d269b633813fc60c");
        let short = TraceId::parse("d269b633813fc60c").unwrap();
        assert_eq!(short.to_string(), "d269b633813fc60c");
        assert_eq!(short.to_hex32(), "0000000000000000d269b633813fc60c");
        assert!(
            TraceId::parse("00000000000000000000000000000000abc").is_err(),
            "too long"
        );
        for bad in ["", "xyz", "0", "00000000000000000000000000000000", "g1"] {
            assert!(TraceId::parse(bad).is_err(), "{bad}");
        }
        assert!(TraceId::from_bytes(&[0; 16]).is_none());
        assert!(TraceId::from_bytes(&[1; 15]).is_none());
        assert!(SpanId::from_bytes(&[0; 8]).is_none());
        assert_eq!(
            SpanId::from_bytes(&[0xab; 8]).unwrap().to_string(),
            "abababababababab"
        );
    }
}
