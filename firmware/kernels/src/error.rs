use std::fmt;

/// Why a kernel refused its arguments. Kernels never panic on bad sizes; they return this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// A buffer does not have the length its dimensions imply.
    BufferSize { buffer: &'static str, expected: usize, actual: usize },
    /// A dimension or parameter is out of range (zero size, channels outside 1..=4, odd YUYV width…).
    BadParam { param: &'static str, reason: &'static str },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::BufferSize { buffer, expected, actual } => write!(
                f,
                "buffer `{buffer}` has {actual} elements, expected {expected} from its dimensions"
            ),
            KernelError::BadParam { param, reason } => write!(f, "parameter `{param}`: {reason}"),
        }
    }
}

impl std::error::Error for KernelError {}

pub(crate) fn check_len(buffer: &'static str, expected: usize, actual: usize) -> Result<(), KernelError> {
    if expected == actual {
        Ok(())
    } else {
        Err(KernelError::BufferSize { buffer, expected, actual })
    }
}

pub(crate) fn bad(param: &'static str, reason: &'static str) -> KernelError {
    KernelError::BadParam { param, reason }
}

/// Product of dimensions, as an error instead of an overflow.
pub(crate) fn area(param: &'static str, dims: &[usize]) -> Result<usize, KernelError> {
    let mut n = 1usize;
    for &d in dims {
        if d == 0 {
            return Err(bad(param, "dimensions must be at least 1"));
        }
        n = n.checked_mul(d).ok_or_else(|| bad(param, "size overflows usize"))?;
    }
    // Row offsets inside the resize tables are i32/u32.
    if n > i32::MAX as usize {
        return Err(bad(param, "image larger than 2^31 elements"));
    }
    Ok(n)
}
