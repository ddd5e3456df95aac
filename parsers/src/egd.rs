//! Placeholder: filled in by the egd parser work.
