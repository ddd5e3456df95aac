//! Placeholder: filled in by the tls parser work.
