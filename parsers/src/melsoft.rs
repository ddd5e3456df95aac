//! Placeholder: filled in by the melsoft parser work.
