//! Values parsed once at the edge: a handler that holds one of these holds a valid value.

/// What a string newtype shows of itself: its text (`as_str`, `Display`). Its only
/// constructor is its own `parse`.
macro_rules! text_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

mod email;
mod limits;
mod thresholds;
mod ticker;

pub use email::Email;
pub use limits::Count;
pub use thresholds::{ThresholdChange, Thresholds};
pub use ticker::Ticker;
