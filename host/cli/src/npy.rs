//! Reads NumPy `.npy` files of little-endian f32 or f64 (C order), as numpy and the zoo tools
//! write them: the inputs and reference outputs of conformance runs; writes f32 ones (a plan's
//! outputs, to look at where they differ).

use anyhow::{bail, ensure, Context, Result};
use oar_plan::tract::Tensor;
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads an `.npy` file into an f32 tensor (f64 data is narrowed).
pub fn read(path: &Path) -> Result<Tensor> {
    // A regular file only (a FIFO or /dev/zero named .npy would block or never end).
    let bytes = oar_io::read_regular(path, oar_plan::MAX_PLAN_BYTES).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&bytes).with_context(|| format!("{}: not a NumPy .npy file of f32/f64 in C order", path.display()))
}

/// Writes a tensor (cast to f32) as a version-1 `.npy` file.
pub fn write(path: &Path, t: &Tensor) -> Result<()> {
    let t = t.cast_to::<f32>()?;
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic, version, length, header and its newline: a multiple of 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = MAGIC.to_vec();
    bytes.extend([1, 0]);
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in t.to_plain_array_view::<f32>()?.iter() {
        bytes.extend(v.to_le_bytes());
    }
    oar_io::write_atomic(path, &bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Parses the bytes of an `.npy` file.
pub fn parse(bytes: &[u8]) -> Result<Tensor> {
    ensure!(bytes.len() >= 10 && bytes.starts_with(MAGIC), "missing the \\x93NUMPY magic");
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            ensure!(bytes.len() >= 12, "truncated header");
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => bail!("format version {v} (this reader knows 1 to 3)"),
    };
    let header = bytes.get(start..start + header_len).context("truncated header")?;
    let header = std::str::from_utf8(header).context("header is not text")?;
    let descr = field(header, "descr")?.trim_matches(|c| c == '\'' || c == '"');
    ensure!(field(header, "fortran_order")? == "False", "Fortran order is not supported");
    let shape = parse_shape(field(header, "shape")?)?;
    let len: usize = shape.iter().product();
    let data = &bytes[start + header_len..];
    let values: Vec<f32> = match descr {
        "<f4" => {
            ensure!(data.len() == len * 4, "{} data bytes for shape {shape:?} of f32", data.len());
            data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
        "<f8" => {
            ensure!(data.len() == len * 8, "{} data bytes for shape {shape:?} of f64", data.len());
            data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
        }
        d => bail!("dtype {d} (expected <f4 or <f8)"),
    };
    Ok(Tensor::from_shape(&shape, &values)?)
}

/// The text of a key's value in the header dict, e.g. `'<f4'`, `False`, `(1, 3)`.
fn field<'a>(header: &'a str, key: &str) -> Result<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .with_context(|| format!("header has no `{key}`: {header}"))?;
    let rest = header[at + key.len() + 2..].trim_start().strip_prefix(':').context("malformed header")?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')').map(|i| i + 1) } else { rest.find([',', '}']) };
    Ok(rest[..end.context("malformed header")?].trim())
}

fn parse_shape(text: &str) -> Result<Vec<usize>> {
    let inner = text.trim_start_matches('(').trim_end_matches(')');
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().with_context(|| format!("bad dimension `{s}` in shape {text}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn reads_f32_and_f64() {
        let f32s: Vec<u8> = [1.0f32, -2.5, 3.0, 0.25, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = parse(&npy("<f4", "(2, 3)", &f32s)).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.to_plain_array_view::<f32>().unwrap().iter().copied().collect::<Vec<_>>(), [1.0, -2.5, 3.0, 0.25, 5.0, 6.0]);
        let f64s: Vec<u8> = [1.5f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = parse(&npy("<f8", "(2,)", &f64s)).unwrap();
        assert_eq!(t.shape(), &[2]);
        assert_eq!(t.to_plain_array_view::<f32>().unwrap().iter().copied().collect::<Vec<_>>(), [1.5, 2.0]);
    }

    #[test]
    fn writes_what_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        for shape in [vec![2, 3], vec![4], vec![1, 2, 1, 2]] {
            let n: usize = shape.iter().product();
            let t = Tensor::from_shape(&shape, &(0..n).map(|i| i as f32 * 0.5 - 1.0).collect::<Vec<_>>()).unwrap();
            let path = dir.path().join("t.npy");
            write(&path, &t).unwrap();
            assert_eq!(read(&path).unwrap(), t);
            // The header as numpy writes it: 64-byte aligned data.
            assert_eq!((std::fs::read(&path).unwrap().len() - 4 * n) % 64, 0);
        }
    }

    #[test]
    fn rejects_bad_files_with_a_reason() {
        let err = |b: &[u8]| format!("{:#}", parse(b).unwrap_err());
        assert!(err(b"PK\x03\x04 not npy").contains("magic"));
        assert!(err(&npy("<i8", "(1,)", &[0; 8])).contains("dtype <i8"));
        assert!(err(&npy("<f4", "(2, 2)", &[0; 12])).contains("12 data bytes"));
    }
}
