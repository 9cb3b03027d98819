//! Files: input read without trusting it (only regular files — a FIFO, a device or a socket
//! named like a plan or an image is refused by name, without reading it — and never more bytes
//! than a stated bound), outputs written whole or not at all, and where oar's cache lives.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What a non-regular file is, for messages.
fn kind(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading when it is (or links to) a regular file. Opened with `O_NONBLOCK`,
/// so that a FIFO does not block the open, then checked on the open descriptor (no race with a
/// swap after the check).
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let ft = file.metadata()?.file_type();
    if !ft.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} (expected a regular file); not read", kind(&ft)),
        ));
    }
    Ok(file)
}

/// Reads a whole regular file of at most `max` bytes; larger files are refused before reading.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(too_big(len, max));
    }
    let mut data = Vec::with_capacity(len as usize);
    // The file may grow while read: never read past the bound.
    file.take(max + 1).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Err(too_big(data.len() as u64, max));
    }
    Ok(data)
}

/// [`read_regular`] for UTF-8 text.
pub fn read_regular_text(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, max)?).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Writes `bytes` to `path` so that the file appears only complete: to a temporary file beside
/// it, synced, then renamed into place. A failure leaves no file (and the old one, if any).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".part").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Where oar keeps what it fetches and builds (plans in `plans/`): `$OAR_HOME`, else
/// `$XDG_CACHE_HOME/oar`, else `~/.cache/oar`, else `./.oar-cache`.
pub fn oar_home() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    match (var("OAR_HOME"), var("XDG_CACHE_HOME"), var("HOME")) {
        (Some(h), _, _) => h,
        (None, Some(x), _) => x.join("oar"),
        (None, None, Some(h)) => h.join(".cache/oar"),
        (None, None, None) => PathBuf::from(".oar-cache"),
    }
}

fn too_big(len: u64, max: u64) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{len} bytes, more than the {max}-byte limit for this file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_devices_and_directories_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.oar");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let link = dir.path().join("zero.png");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for (path, what) in [(&fifo, "a FIFO"), (&link, "a character device"), (&dir.path().to_path_buf(), "a directory")] {
            // Must return at once: a blocking open or an endless read would hang the test.
            let e = read_regular(path, 1 << 20).unwrap_err().to_string();
            assert!(e.contains(what) && e.contains("regular file"), "{}: {e}", path.display());
        }
    }

    #[test]
    fn atomic_writes_leave_only_the_complete_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("gt.txt");
        write_atomic(&f, b"old").unwrap();
        write_atomic(&f, b"new\n").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"new\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        assert!(write_atomic(&dir.path().join("missing/gt.txt"), b"x").is_err());
    }

    #[test]
    fn bounds_the_size_and_reads_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_regular(&f, 10).unwrap(), b"0123456789");
        let e = read_regular(&f, 9).unwrap_err().to_string();
        assert!(e.contains("10 bytes") && e.contains("9-byte limit"), "{e}");
        assert_eq!(read_regular_text(&f, 10).unwrap(), "0123456789");
    }
}
