//! Values parsed once at the edge: a handler that holds one of these holds a valid value.

mod email;
mod limits;
mod thresholds;
mod ticker;

pub use email::Email;
pub use limits::Count;
pub use thresholds::{ThresholdChange, Thresholds};
pub use ticker::Ticker;
