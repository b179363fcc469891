//! Rendering: `report.html` (self-contained, inline SVG, no scripts), `report.md` and the
//! headline lines the pipeline prints.
//!
//! What every report shares (escaping, interval and evidence text, the findings lines of the
//! headline) is in `text`; the generic analysis is rendered by `markdown` and `html` from the
//! text both take from `lines` ([`headline_lines`], the risk–coverage table); [`multilabel`]
//! renders a multi-label analysis and [`plots`] draws the figures. Every report opens with
//! the verdict ([`verdict_lines`]: trust it or not, the findings that matter, what improve
//! would try), then the evidence.

mod html;
mod lines;
mod markdown;
pub mod multilabel;
pub mod plots;
mod text;
mod verdict;

pub use html::html;
pub use lines::headline_lines;
pub use markdown::markdown;
pub use text::esc;
pub use verdict::verdict_lines;
