//! NumPy `.npy` files (format 1–3, C order, little-endian) as tract tensors: the inputs and outputs
//! of `oar infer` and `oar conform`, as numpy writes and reads them. Each element type of
//! [`DType`] but f16; the type is kept both ways.

use crate::manifest::DType;
use std::path::{Path, PathBuf};
use tract_nnef::prelude::{Datum, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";
/// An `.npy` file is read only up to this size.
pub const MAX_NPY_BYTES: u64 = 2 << 30;

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a NumPy .npy file this reader takes: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: cannot write a {dtype:?} tensor as .npy")]
    Type { path: PathBuf, dtype: String },
}

/// Reads an `.npy` file (a regular file of at most [`MAX_NPY_BYTES`]) into a tensor of its type.
pub fn read(path: &Path) -> Result<Tensor, NpyError> {
    // A regular file only: a FIFO or /dev/zero named .npy would block or never end.
    let bytes = oar_io::read_regular(path, MAX_NPY_BYTES).map_err(|source| NpyError::Io { path: path.into(), source })?;
    parse(&bytes).map_err(|reason| NpyError::Format { path: path.into(), reason })
}

/// Writes a tensor as a version-1 `.npy` file of its own type, atomically.
pub fn write(path: &Path, t: &Tensor) -> Result<(), NpyError> {
    let bytes = to_bytes(t).ok_or_else(|| NpyError::Type { path: path.into(), dtype: format!("{:?}", t.datum_type()) })?;
    oar_io::write_atomic(path, &bytes).map_err(|source| NpyError::Io { path: path.into(), source })
}

/// The `.npy` bytes of a tensor; `None` for a type numpy has no plain code for here.
pub fn to_bytes(t: &Tensor) -> Option<Vec<u8>> {
    let dtype = crate::dtype_of(t.datum_type())?;
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut bytes = header(descr(dtype), &shape);
    macro_rules! put {
        ($t:ty) => {
            for v in t.to_plain_array_view::<$t>().ok()?.iter() {
                bytes.extend(v.to_le_bytes());
            }
        };
    }
    match dtype {
        DType::F32 => put!(f32),
        DType::F64 => put!(f64),
        DType::I8 => put!(i8),
        DType::U8 => put!(u8),
        DType::I16 => put!(i16),
        DType::U16 => put!(u16),
        DType::I32 => put!(i32),
        DType::U32 => put!(u32),
        DType::I64 => put!(i64),
        DType::U64 => put!(u64),
        DType::Bool => bytes.extend(t.to_plain_array_view::<bool>().ok()?.iter().map(|&b| b as u8)),
        DType::F16 => return None,
    }
    Some(bytes)
}

/// A version-1 header for `descr` (`<f4`) and `shape` (`(1, 3)`), padded as numpy pads it:
/// magic, version, length, header and its newline make a multiple of 64 bytes.
fn header(descr: &str, shape: &str) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = MAGIC.to_vec();
    bytes.extend([1, 0]);
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes
}

fn descr(d: DType) -> &'static str {
    match d {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::F16 => "<f2",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I16 => "<i2",
        DType::U16 => "<u2",
        DType::I32 => "<i4",
        DType::U32 => "<u4",
        DType::I64 => "<i8",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
    }
}

/// Parses the bytes of an `.npy` file.
pub fn parse(bytes: &[u8]) -> Result<Tensor, String> {
    if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
        return Err("missing the \\x93NUMPY magic".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        2 | 3 => return Err("truncated header".into()),
        v => return Err(format!("format version {v} (this reader knows 1 to 3)")),
    };
    let header = bytes.get(start..start.saturating_add(header_len)).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let code = field(header, "descr")?.trim_matches(|c| c == '\'' || c == '"');
    if field(header, "fortran_order")? != "False" {
        return Err("Fortran order (save with np.ascontiguousarray)".into());
    }
    let shape = parse_shape(field(header, "shape")?)?;
    // '=' is native order: little-endian on every target oar builds for.
    let norm = code.replacen('=', "<", 1);
    let dtype = DType::ALL
        .into_iter()
        .find(|&d| descr(d) == norm || (d.size() == 1 && descr(d).get(1..) == norm.get(1..)))
        .filter(|&d| d != DType::F16)
        .ok_or_else(|| format!("dtype {code} (expected little-endian f4, f8, i1, u1, i2, u2, i4, u4, i8, u8 or b1)"))?;
    let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape too large")?;
    let data = &bytes[start + header_len..];
    if Some(data.len()) != len.checked_mul(dtype.size()) {
        return Err(format!("{} data bytes for shape {shape:?} of {dtype}", data.len()));
    }
    fn make<T: Datum + Copy, const N: usize>(shape: &[usize], data: &[u8], f: fn([u8; N]) -> T) -> Result<Tensor, String> {
        let v: Vec<T> = data.chunks_exact(N).map(|c| f(c.try_into().expect("N bytes"))).collect();
        Tensor::from_shape(shape, &v).map_err(|e| e.to_string())
    }
    match dtype {
        DType::F32 => make(&shape, data, f32::from_le_bytes),
        DType::F64 => make(&shape, data, f64::from_le_bytes),
        DType::I8 => make(&shape, data, i8::from_le_bytes),
        DType::U8 => make(&shape, data, u8::from_le_bytes),
        DType::I16 => make(&shape, data, i16::from_le_bytes),
        DType::U16 => make(&shape, data, u16::from_le_bytes),
        DType::I32 => make(&shape, data, i32::from_le_bytes),
        DType::U32 => make(&shape, data, u32::from_le_bytes),
        DType::I64 => make(&shape, data, i64::from_le_bytes),
        DType::U64 => make(&shape, data, u64::from_le_bytes),
        DType::Bool => make(&shape, data, |[b]: [u8; 1]| b != 0),
        DType::F16 => unreachable!("refused above"),
    }
}

/// The text of a key's value in the header dict, e.g. `'<f4'`, `False`, `(1, 3)`.
fn field<'a>(header: &'a str, key: &str) -> Result<&'a str, String> {
    let at = header.find(&format!("'{key}'")).ok_or_else(|| format!("header has no `{key}`: {header}"))?;
    let rest = header[at + key.len() + 2..].trim_start().strip_prefix(':').ok_or("malformed header")?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')').map(|i| i + 1) } else { rest.find([',', '}']) };
    Ok(rest[..end.ok_or("malformed header")?].trim())
}

fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    let inner = text.trim_start_matches('(').trim_end_matches(')');
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad dimension `{s}` in shape {text}")))
        .collect::<Result<Vec<_>, _>>()?;
    if shape.len() > crate::manifest::MAX_RANK {
        return Err(format!("rank {} (at most {})", shape.len(), crate::manifest::MAX_RANK));
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut out = header(descr, shape);
        out.extend(data);
        out
    }

    #[test]
    fn reads_each_type_as_itself() {
        let f32s: Vec<u8> = [1.0f32, -2.5, 3.0, 0.25, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = parse(&npy("<f4", "(2, 3)", &f32s)).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.to_plain_array_view::<f32>().unwrap().iter().copied().collect::<Vec<_>>(), [1.0, -2.5, 3.0, 0.25, 5.0, 6.0]);
        let f64s: Vec<u8> = [1.5f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(parse(&npy("<f8", "(2,)", &f64s)).unwrap().to_plain_array_view::<f64>().unwrap().iter().copied().collect::<Vec<_>>(), [1.5, 2.0]);
        let ids: Vec<u8> = [101i64, 7, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(parse(&npy("<i8", "(1, 3)", &ids)).unwrap().to_plain_array_view::<i64>().unwrap().iter().copied().collect::<Vec<_>>(), [101, 7, -1]);
        assert_eq!(parse(&npy("=i8", "(3,)", &ids)).unwrap().to_plain_array_view::<i64>().unwrap().iter().copied().collect::<Vec<_>>(), [101, 7, -1]);
        assert_eq!(parse(&npy("|b1", "(3,)", &[1, 0, 2])).unwrap().to_plain_array_view::<bool>().unwrap().iter().copied().collect::<Vec<_>>(), [true, false, true]);
        assert_eq!(parse(&npy("|u1", "(2,)", &[3, 250])).unwrap().to_plain_array_view::<u8>().unwrap().iter().copied().collect::<Vec<_>>(), [3, 250]);
        assert_eq!(parse(&npy("<f4", "()", &1f32.to_le_bytes())).unwrap().shape(), &[] as &[usize]);
    }

    #[test]
    fn writes_what_it_reads_in_each_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.npy");
        let tensors = [
            Tensor::from_shape(&[2, 3], &[0.5f32, -1.0, 2.0, 3.0, 4.0, 5.0]).unwrap(),
            Tensor::from_shape(&[4], &[1i64, 2, 3, i64::MAX]).unwrap(),
            Tensor::from_shape(&[1, 2, 1, 2], &[1i32, -2, 3, 4]).unwrap(),
            Tensor::from_shape(&[2], &[true, false]).unwrap(),
            Tensor::from_shape(&[3], &[1u8, 2, 255]).unwrap(),
        ];
        for t in tensors {
            write(&path, &t).unwrap();
            assert_eq!(read(&path).unwrap(), t);
            // As numpy writes it: 64-byte aligned data.
            let n = t.len() * t.datum_type().size_of();
            assert_eq!((std::fs::read(&path).unwrap().len() - n) % 64, 0);
        }
    }

    #[test]
    fn rejects_bad_files_with_a_reason() {
        let err = |b: &[u8]| parse(b).unwrap_err();
        assert!(err(b"PK\x03\x04 not npy").contains("magic"));
        assert!(err(&npy(">i8", "(1,)", &[0; 8])).contains("dtype >i8"));
        assert!(err(&npy("<c8", "(1,)", &[0; 8])).contains("dtype <c8"));
        assert!(err(&npy("<f4", "(2, 2)", &[0; 12])).contains("12 data bytes"));
        assert!(err(&npy("<f4", "(4294967296, 4294967296, 4294967296)", &[0; 12])).contains("too large"));
        assert!(err(&npy("<f4", "(1, 1, 1, 1, 1, 1, 1, 1, 1)", &[0; 4])).contains("rank 9"));
        assert!(err(&npy("<f4", "(2, x)", &[0; 8])).contains("bad dimension `x`"));
        let mut truncated = npy("<f4", "(2,)", &[0; 8]);
        truncated.truncate(20);
        assert!(err(&truncated).contains("truncated"));
        let e = read(Path::new("/nonexistent/x.npy")).unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/x.npy"), "{e}");
    }
}
