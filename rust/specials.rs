//! The byte searches the scan's strings need, once per CPU family: where the next `"`, `\` or
//! control byte is, the same as a 64-byte mask, and whether a line's bytes are UTF-8.
//!
//! These are the only places the scan's speed comes from the CPU's vector unit, so they are the
//! only code that differs between machines. Every implementation gives the same answers (the
//! non-ASCII note may differ only in how far past the hit it looked, which is a hint, never a
//! verdict), and the scanner is generic over them: `Kernel::Native` picks the best one this build
//! has (SSE2 on x86_64, part of its baseline, with `simdutf8`'s own run-time choice of AVX2 or
//! SSE4.2 for UTF-8), `Kernel::Portable` the byte-at-a-time one every other target runs. Tests
//! and `_core.decide_lines` run both, so the portable path is checked here too, not only on the
//! machines that need it. A `target-cpu=native` build (AVX2, AVX-512) scanned no faster on this
//! data, so there is no wider path to choose at run time.

/// Which byte searches a scan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernel {
    /// The best this build has for this CPU.
    #[default]
    Native,
    /// A byte at a time, with the standard library's UTF-8 check: what targets without a vector
    /// path run, and the reference the vector path is tested against.
    Portable,
}

/// One implementation of the searches (see the module comment).
pub(crate) trait Specials {
    /// Index of the first byte at or after `from` that a string body must look at: `"`, `\` or
    /// a control byte (< 0x20); `buf.len()` when there is none. Also nonzero when a byte it
    /// looked at is non-ASCII: every one before the index, and maybe some after it (which
    /// belong to the same line, or to the next): a conservative hint that the line needs a
    /// UTF-8 check.
    fn string_special(buf: &[u8], from: usize) -> (usize, u32);

    /// The bytes of `buf[base..base + 64]` a string body must look at, one bit each, and the
    /// non-ASCII note of that block. Needs `base + 64 <= buf.len()`.
    fn mask64(buf: &[u8], base: usize) -> (u64, u32);

    fn is_utf8(bytes: &[u8]) -> bool;
}

/// A byte at a time.
pub(crate) struct Bytewise;

#[inline(always)]
fn is_special(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

impl Bytewise {
    /// The search from `index` on, with the non-ASCII note gathered so far.
    #[inline(always)]
    fn search_from(buf: &[u8], mut index: usize, mut high: u32) -> (usize, u32) {
        while let Some(&byte) = buf.get(index) {
            if is_special(byte) {
                return (index, high);
            }
            high |= u32::from(byte >= 0x80);
            index += 1;
        }
        (buf.len(), high)
    }
}

impl Specials for Bytewise {
    #[inline(always)]
    fn string_special(buf: &[u8], from: usize) -> (usize, u32) {
        Bytewise::search_from(buf, from, 0)
    }

    fn mask64(buf: &[u8], base: usize) -> (u64, u32) {
        let mut mask = 0u64;
        let mut high = 0u32;
        for (i, &byte) in buf[base..base + 64].iter().enumerate() {
            mask |= u64::from(is_special(byte)) << i;
            high |= u32::from(byte >= 0x80);
        }
        (mask, high)
    }

    fn is_utf8(bytes: &[u8]) -> bool {
        std::str::from_utf8(bytes).is_ok()
    }
}

/// 16 bytes per compare, SSE2 (always there on x86_64).
#[cfg(target_arch = "x86_64")]
pub(crate) struct Sse2;

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8};
    use std::arch::x86_64::{_mm_or_si128, _mm_set1_epi8};

    /// 0xFF in each byte of `chunk` that a string body must look at: `"`, `\\`, or a control
    /// byte, which is one that min(byte, 0x1F) leaves unchanged (unsigned).
    #[inline(always)]
    fn special_bytes(chunk: __m128i) -> __m128i {
        // SAFETY: SSE2 is part of the x86_64 baseline; these are register-only operations.
        unsafe {
            let quote = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8));
            let control = _mm_cmpeq_epi8(_mm_min_epu8(chunk, _mm_set1_epi8(0x1F)), chunk);
            _mm_or_si128(_mm_or_si128(quote, backslash), control)
        }
    }

    #[inline(always)]
    fn bits(vector: __m128i) -> u32 {
        // SAFETY: SSE2 is part of the x86_64 baseline; a register-only operation.
        unsafe { _mm_movemask_epi8(vector) as u32 }
    }

    /// The 16 bytes at `buf[at..at + 16]`.
    ///
    /// # Safety
    /// `at + 16 <= buf.len()`. (Each caller's loop condition checks it already; an assert here
    /// cost 2% more instructions in the scan.)
    #[inline(always)]
    unsafe fn load(buf: &[u8], at: usize) -> __m128i {
        // SAFETY: SSE2 is part of the x86_64 baseline; the unaligned load reads
        // buf[at..at + 16], inside `buf` (the caller's promise), and has no alignment requirement.
        unsafe { _mm_loadu_si128(buf.as_ptr().add(at).cast::<__m128i>()) }
    }

    /// The 64 bytes at `buf[at..at + 64]`, as four vectors.
    ///
    /// # Safety
    /// `at + 64 <= buf.len()`.
    #[inline(always)]
    unsafe fn load4(buf: &[u8], at: usize) -> (__m128i, __m128i, __m128i, __m128i) {
        // SAFETY: each load reads 16 bytes inside buf[at..at + 64] (the caller's promise).
        unsafe { (load(buf, at), load(buf, at + 16), load(buf, at + 32), load(buf, at + 48)) }
    }

    #[inline(always)]
    fn or4(a: __m128i, b: __m128i, c: __m128i, d: __m128i) -> __m128i {
        // SAFETY: SSE2 is part of the x86_64 baseline; register-only operations.
        unsafe { _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d)) }
    }

    /// Four blocks' hits (from `special_bytes`) as one mask.
    #[inline(always)]
    fn mask_of(a: __m128i, b: __m128i, c: __m128i, d: __m128i) -> u64 {
        let bits64 = |hits| u64::from(bits(hits));
        bits64(a) | bits64(b) << 16 | bits64(c) << 32 | bits64(d) << 48
    }

    impl super::Specials for super::Sse2 {
        #[inline(always)]
        fn string_special(buf: &[u8], from: usize) -> (usize, u32) {
            let mut index = from;
            let mut high = 0;
            // Most strings are short: one look at the first 16 bytes settles them.
            if index + 16 <= buf.len() {
                // SAFETY: index + 16 <= buf.len(), checked just above.
                let chunk = unsafe { load(buf, index) };
                let mask = bits(special_bytes(chunk));
                high = bits(chunk);
                if mask != 0 {
                    return (index + mask.trailing_zeros() as usize, high);
                }
                index += 16;
            }
            // Long text: 64 bytes per step, locating the hit only once there is one.
            while index + 64 <= buf.len() {
                // SAFETY: index + 64 <= buf.len(), the loop's condition.
                let (a, b, c, d) = unsafe { load4(buf, index) };
                high |= bits(or4(a, b, c, d));
                let (ha, hb, hc, hd) = (special_bytes(a), special_bytes(b), special_bytes(c), special_bytes(d));
                if bits(or4(ha, hb, hc, hd)) != 0 {
                    return (index + mask_of(ha, hb, hc, hd).trailing_zeros() as usize, high);
                }
                index += 64;
            }
            while index + 16 <= buf.len() {
                // SAFETY: index + 16 <= buf.len(), the loop's condition.
                let chunk = unsafe { load(buf, index) };
                let mask = bits(special_bytes(chunk));
                high |= bits(chunk);
                if mask != 0 {
                    return (index + mask.trailing_zeros() as usize, high);
                }
                index += 16;
            }
            super::Bytewise::search_from(buf, index, high)
        }

        #[inline(always)]
        fn mask64(buf: &[u8], base: usize) -> (u64, u32) {
            assert!(base + 64 <= buf.len());
            // SAFETY: base + 64 <= buf.len(), asserted above.
            let (a, b, c, d) = unsafe { load4(buf, base) };
            (mask_of(special_bytes(a), special_bytes(b), special_bytes(c), special_bytes(d)), bits(or4(a, b, c, d)))
        }

        #[inline(always)]
        fn is_utf8(bytes: &[u8]) -> bool {
            simdutf8::basic::from_utf8(bytes).is_ok()
        }
    }
}

/// What `Kernel::Native` is on this target.
#[cfg(target_arch = "x86_64")]
pub(crate) type Native = Sse2;
#[cfg(not(target_arch = "x86_64"))]
pub(crate) type Native = Bytewise;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_mask_marks_exactly_the_bytes_a_string_must_look_at() {
        let bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).chain(*b"a\\\"\n\\u00e9 \x7f").collect();
        for base in 0..=bytes.len() - 64 {
            let (mask, high) = Native::mask64(&bytes, base);
            let (portable_mask, portable_high) = Bytewise::mask64(&bytes, base);
            assert_eq!((mask, high != 0), (portable_mask, portable_high != 0));
            for (i, &byte) in bytes[base..base + 64].iter().enumerate() {
                assert_eq!(mask >> i & 1 == 1, byte == b'"' || byte == b'\\' || byte < 0x20, "{base} {i}");
            }
        }
    }

    fn finds_specials_at_every_offset<S: Specials>() {
        for len in 0..160 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x01, 0x1f] {
                    let mut buf = vec![b'a'; len];
                    buf[at] = special;
                    assert_eq!(S::string_special(&buf, 0), (at, 0));
                    // A non-ASCII byte before the special byte is always noted.
                    for high in (0..at).filter(|_| special == b'"') {
                        let mut marked = buf.clone();
                        marked[high] = 0xC3;
                        let (found, seen) = S::string_special(&marked, 0);
                        assert_eq!(found, at);
                        assert_ne!(seen, 0, "{len} {at} {high}");
                    }
                }
            }
            // Space, DEL and non-ASCII bytes are ordinary string content.
            let ordinary: Vec<u8> = (0..len).map(|i| [b' ', 0x7f, 0x80, 0xff, b'a'][i % 5]).collect();
            let (found, seen) = S::string_special(&ordinary, 0);
            assert_eq!((found, seen != 0), (len, len > 2));
        }
    }

    #[test]
    fn the_native_string_search_finds_specials_at_every_offset() {
        finds_specials_at_every_offset::<Native>();
    }

    #[test]
    fn the_portable_string_search_finds_specials_at_every_offset() {
        finds_specials_at_every_offset::<Bytewise>();
    }

    #[test]
    fn both_utf8_checks_agree() {
        let cases: [&[u8]; 7] =
            [b"", b"plain", "Zürich 李雷".as_bytes(), b"\xC3", b"\xED\xA0\x80", b"\xF4\x90\x80\x80", b"a\xFFb"];
        for case in cases {
            assert_eq!(Native::is_utf8(case), Bytewise::is_utf8(case), "{case:?}");
            assert_eq!(Bytewise::is_utf8(case), std::str::from_utf8(case).is_ok());
        }
    }
}
