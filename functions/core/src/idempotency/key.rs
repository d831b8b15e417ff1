use tonic::metadata::MetadataMap;

use crate::error::{Error, Result};

/// The client's idempotency key: 1-128 printable ASCII characters, from the `idempotency-key`
/// gRPC metadata value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const HEADER: &'static str = "idempotency-key";
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(Error::invalid(
                Self::HEADER,
                format!("must be 1 to {} characters", Self::MAX_LEN),
            ));
        }
        if !raw.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(Error::invalid(Self::HEADER, "must be printable ASCII"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key of a request, `None` when the client sent none.
    pub fn from_metadata(metadata: &MetadataMap) -> Result<Option<Self>> {
        let Some(value) = metadata.get(Self::HEADER) else {
            return Ok(None);
        };
        let raw = value
            .to_str()
            .map_err(|_| Error::invalid(Self::HEADER, "must be printable ASCII"))?;
        Self::parse(raw).map(Some)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
        assert!(IdempotencyKey::parse("tab\tkey").is_err());
        assert_eq!(
            IdempotencyKey::parse("9f1c-ab 01").unwrap().as_str(),
            "9f1c-ab 01"
        );
    }

    #[test]
    fn from_metadata() {
        let mut md = MetadataMap::new();
        assert_eq!(IdempotencyKey::from_metadata(&md).unwrap(), None);
        md.insert("idempotency-key", "abc".parse().unwrap());
        assert_eq!(
            IdempotencyKey::from_metadata(&md)
                .unwrap()
                .unwrap()
                .as_str(),
            "abc"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any text: kept as sent (no trimming, no case folding: `k` and `k ` are two keys)
        /// when it is 1-128 printable ASCII, else an error naming the header.
        #[test]
        fn parses_or_names_the_header(raw in prop_oneof![any::<String>(), "[ -~]{0,140}", "[ -~]{120,130}"]) {
            let valid = (1..=IdempotencyKey::MAX_LEN).contains(&raw.len())
                && raw.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
            match IdempotencyKey::parse(&raw) {
                Ok(key) => {
                    prop_assert!(valid, "{raw:?} accepted");
                    prop_assert_eq!(key.as_str(), raw.as_str());
                }
                Err(err) => {
                    prop_assert!(!valid, "{raw:?} refused: {err}");
                    prop_assert!(matches!(err, Error::InvalidArgument { field: "idempotency-key", .. }), "{err:?}");
                }
            }
        }

        /// Any header value gRPC can carry (bytes, including obs-text above 0x7f): the key it
        /// spells, or an error naming the header.
        #[test]
        fn from_any_metadata_value(raw in proptest::collection::vec(any::<u8>(), 0..160)) {
            let Ok(value) = tonic::metadata::AsciiMetadataValue::try_from(raw.as_slice()) else {
                return Ok(()); // not a header value at all: HTTP/2 refuses it before us
            };
            let mut md = MetadataMap::new();
            md.insert(IdempotencyKey::HEADER, value);
            match IdempotencyKey::from_metadata(&md) {
                Ok(Some(key)) => prop_assert_eq!(key.as_str().as_bytes(), raw.as_slice()),
                Ok(None) => prop_assert!(false, "the key was sent"),
                Err(err) => prop_assert!(matches!(err, Error::InvalidArgument { field: "idempotency-key", .. }), "{err:?}"),
            }
        }
    }
}
