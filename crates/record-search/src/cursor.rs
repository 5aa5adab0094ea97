//! An opaque position in a sorted result: the sort values of the last record
//! returned, so paging has no depth limit.

use crate::params::SortOrder;
use base64::Engine;
use periscope_model::{Error, Result};
use serde::{Deserialize, Serialize};

/// Where the next page starts: after the record with this time and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The order the cursor was made for; it is only valid in it.
    #[serde(rename = "o")]
    pub order: SortOrder,
    /// Unix ns of the last record returned.
    #[serde(rename = "t")]
    pub time: i64,
    /// Its key (what breaks ties between records of the same time).
    #[serde(rename = "k")]
    pub key: String,
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
            time: 17,
            key: "c/uid".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("not a cursor").is_err());
        assert!(Cursor::decode("e30").is_err());
    }
}
