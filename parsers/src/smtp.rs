//! Placeholder: filled in by the smtp parser work.
