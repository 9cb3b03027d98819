//! The ELF auxiliary vector (`/proc/self/auxv`): where Linux reports the CPU features that std
//! cannot detect on every target (armv7's NEON, riscv64's ISA letters). The one reader of it.

/// `AT_HWCAP`: the CPU feature bits.
pub const AT_HWCAP: u64 = 16;
/// `AT_HWCAP2`: more feature bits (arm, aarch64).
pub const AT_HWCAP2: u64 = 26;

/// Value of `key` in an auxiliary vector: pairs of native words, as `/proc/self/auxv` holds
/// them, up to the `AT_NULL` pair.
pub fn find(auxv: &[u8], key: u64) -> Option<u64> {
    let w = std::mem::size_of::<usize>();
    let word = |b: &[u8]| -> u64 {
        if w == 4 {
            u32::from_ne_bytes(b.try_into().unwrap_or([0; 4])) as u64
        } else {
            u64::from_ne_bytes(b.try_into().unwrap_or([0; 8]))
        }
    };
    auxv.chunks_exact(2 * w)
        .map(|e| (word(&e[..w]), word(&e[w..])))
        .take_while(|e| e.0 != 0)
        .find(|e| e.0 == key)
        .map(|e| e.1)
}

/// Value of `key` in this process's auxiliary vector; None when it cannot be read (a sandbox) or
/// holds no such key.
pub fn get(key: u64) -> Option<u64> {
    find(&std::fs::read("/proc/self/auxv").ok()?, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_up_to_the_null_pair() {
        let w = std::mem::size_of::<usize>();
        let mut auxv = vec![];
        for (k, v) in [(6usize, 4096usize), (16, 0x1234), (0, 0), (26, 7)] {
            auxv.extend_from_slice(&k.to_ne_bytes()[..w]);
            auxv.extend_from_slice(&v.to_ne_bytes()[..w]);
        }
        assert_eq!(find(&auxv, AT_HWCAP), Some(0x1234));
        assert_eq!(find(&auxv, AT_HWCAP2), None, "after AT_NULL");
        assert_eq!(find(&auxv[..w + 3], 6), None, "a torn pair");
    }
}
