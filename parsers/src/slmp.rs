//! Placeholder: filled in by the slmp parser work.
