//! oar-io: what comes into oar from files and cameras, within bounds. Input files are read only
//! when they are regular files of bounded size, outputs appear whole or not at all, images decode
//! with pixel limits. No engine: the stream core and the plan file both build on it.

pub mod file;
pub mod image;

pub use file::{oar_home, open_regular, read_regular, read_regular_text, write_atomic};
pub use image::{ImageError, Rgb, MAX_FILE_BYTES, MAX_PIXELS};

/// The largest image side oar handles: a source's frames, and a plan's input (resize limit, fixed
/// height or width, crop). A 4096×4096 float input is already 200 MB.
pub const MAX_SIDE: u32 = 4096;
