//! Counters gathered into the final `stats` record.
