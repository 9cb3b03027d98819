//! oar-stream (being written)
