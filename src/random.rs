//! Unguessable bytes from the system's random source, without a dependency:
//! resume tokens, host epochs, authentication nonces and new keys.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

/// Fills `buf` from `/dev/urandom` where it exists, else (or if reading it
/// fails) from std's randomly keyed SipHash over a counter and the clock.
pub(crate) fn fill(buf: &mut [u8]) {
    if !read_urandom(buf) {
        hashed(buf);
    }
}

/// `N` fresh random bytes.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill(&mut out);
    out
}

fn read_urandom(buf: &mut [u8]) -> bool {
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(buf))
        .is_ok()
}

/// The fallback: each 8 bytes from their own `RandomState`, whose keys std
/// draws from the system's random source once per thread and then varies.
fn hashed(buf: &mut [u8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = crate::time::unix_ns();
    for part in buf.chunks_mut(8) {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u64(nanos);
        part.copy_from_slice(&hasher.finish().to_le_bytes()[..part.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ() {
        let draws: Vec<[u8; 16]> = (0..64).map(|_| bytes()).collect();
        for (i, a) in draws.iter().enumerate() {
            assert!(draws[i + 1..].iter().all(|b| a != b), "draw {i} repeats");
        }
    }

    #[test]
    fn the_fallback_differs_too_and_fills_odd_lengths() {
        let (mut a, mut b) = ([0u8; 19], [0u8; 19]);
        hashed(&mut a);
        hashed(&mut b);
        assert_ne!(a, b);
        assert_ne!(a[..8], a[8..16]);
        assert_ne!(a[16..], [0, 0, 0]);
    }
}
