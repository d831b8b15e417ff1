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
mod quiet;
mod rules;
mod thresholds;
mod ticker;

pub use email::Email;
pub use limits::Count;
pub use quiet::{QuietHours, ZoneName, QUIET_HOURS_FIELD, TIME_ZONE_FIELD};
pub use rules::{Cooldown, MovePercent, WatchRules, COOLDOWN_FIELD, MOVE_FIELD};
pub use thresholds::{ThresholdChange, Thresholds};
pub use ticker::Ticker;
