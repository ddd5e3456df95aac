//! Placeholder: filled in by the dns parser work.
