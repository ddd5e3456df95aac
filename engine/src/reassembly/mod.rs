//! Reassembly: TCP byte streams per direction (filled in by the reassembly work).
