//! An opaque position in a sorted result: the sort values of the last line
//! returned (`search_after`), so paging has no depth limit.

use crate::request::SortOrder;
use base64::Engine;
use periscope_model::{Error, Result};
use serde::{Deserialize, Serialize};

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The order the cursor was made for; a cursor is only valid in it.
    #[serde(rename = "o")]
    pub order: SortOrder,
    /// The sort values of the last line returned (backend-specific).
    #[serde(rename = "a")]
    pub after: Vec<serde_json::Value>,
}

impl Cursor {
    /// The opaque text form.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor serialises");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses the text form.
    pub fn decode(text: &str) -> Result<Cursor> {
        let bad = || Error::bad_request("parameter \"cursor\" is not a cursor this API returned");
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad())?;
        serde_json::from_slice(&json).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let c = Cursor {
            order: SortOrder::Desc,
            after: vec![serde_json::json!(17), serde_json::json!(4)],
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("not a cursor").is_err());
        assert!(Cursor::decode("e30").is_err());
    }
}
