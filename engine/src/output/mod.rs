//! Output: EVE JSON records and the writer thread.
//!
//! Workers serialise their own records into line buffers (so formatting runs
//! in parallel) and hand whole buffers to the single writer thread.

pub mod eve;
pub mod json;
pub mod records;
pub mod writer;

pub use eve::FlowHeader;
pub use json::JsonWriter;
