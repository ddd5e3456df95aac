//! Output: EVE JSON records and the writer thread.
