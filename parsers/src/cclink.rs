//! Placeholder: filled in by the cclink parser work.
