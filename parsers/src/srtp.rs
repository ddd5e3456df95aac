//! Placeholder: filled in by the srtp parser work.
