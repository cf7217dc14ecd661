//! Unguessable bytes from the operating system's random source
//! (`getrandom`): resume tokens, host epochs, authentication nonces and new
//! keys.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// `N` bytes from the system's random source, or `None` if it fails (what
/// a new key needs: nothing less will do).
pub(crate) fn system_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).ok().map(|()| out)
}

/// `N` fresh random bytes: from the system's random source, or, in the
/// unlikely case it fails, from std's randomly keyed SipHash over a counter
/// and the clock (enough for a nonce or a token that must not repeat; not
/// for a key).
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    system_bytes().unwrap_or_else(|| {
        let mut out = [0u8; N];
        hashed(&mut out);
        out
    })
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
        assert!(
            system_bytes::<32>().is_some(),
            "this machine has a random source"
        );
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
