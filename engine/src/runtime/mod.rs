//! Runtime: the reader, worker and output threads.
