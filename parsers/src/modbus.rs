//! Placeholder: filled in by the modbus parser work.
