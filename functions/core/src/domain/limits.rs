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

    #[test]
    fn bounds() {
        assert!(Count::parse("count", 0).is_err());
        assert_eq!(Count::parse("count", 1).unwrap().get(), 1);
        assert_eq!(Count::parse("count", 10_000).unwrap().get(), 10_000);
        let err = Count::parse("count", 10_001).unwrap_err();
        assert!(err.to_string().starts_with("count:"));
    }
}
