use crate::error::Error;

/// A bounded count from a request (N for averages, history limits): 1..=10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(u32);

impl Count {
    pub const MAX: u32 = 10_000;

    pub fn parse(field: &'static str, raw: u32) -> Result<Self, Error> {
        if raw == 0 || raw > Self::MAX {
            return Err(Error::invalid(
                field,
                format!("must be between 1 and {}, got {raw}", Self::MAX),
            ));
        }
        Ok(Self(raw))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds() {
        assert!(Count::parse("count", 0).is_err());
        assert_eq!(Count::parse("count", 1).unwrap().get(), 1);
        assert_eq!(Count::parse("count", 10_000).unwrap().get(), 10_000);
        let err = Count::parse("count", 10_001).unwrap_err();
        assert!(err.to_string().starts_with("count:"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Every u32: the same number when in 1..=MAX, else an error naming the field.
        #[test]
        fn in_bounds_or_names_the_field(raw in prop_oneof![any::<u32>(), 0u32..=10_001]) {
            match Count::parse("limit", raw) {
                Ok(c) => prop_assert!((1..=Count::MAX).contains(&raw) && c.get() == raw),
                Err(err) => {
                    prop_assert!(raw == 0 || raw > Count::MAX);
                    prop_assert!(matches!(err, Error::InvalidArgument { field: "limit", .. }), "{err:?}");
                }
            }
        }
    }
}
