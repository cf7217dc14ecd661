//! Resume tokens: 128 unguessable bits per accepted connection, from the
//! system's random source, without a dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::{ResumeToken, TOKEN_LEN};

/// A fresh token: 16 bytes of `/dev/urandom` where it exists, else (or if
/// reading it fails) std's randomly keyed SipHash over a counter and the clock.
pub(crate) fn fresh_token() -> ResumeToken {
    let mut bytes = [0u8; TOKEN_LEN];
    if !read_urandom(&mut bytes) {
        hashed(&mut bytes);
    }
    ResumeToken(bytes)
}

/// A host's epoch: 64 bits from a fresh token.
pub(crate) fn fresh_epoch() -> u64 {
    let token = fresh_token();
    let mut half = [0u8; 8];
    half.copy_from_slice(&token.0[..8]);
    u64::from_le_bytes(half)
}

fn read_urandom(buf: &mut [u8; TOKEN_LEN]) -> bool {
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(buf))
        .is_ok()
}

/// The fallback: each half from its own `RandomState`, whose keys std draws
/// from the system's random source once per thread and then varies.
fn hashed(buf: &mut [u8; TOKEN_LEN]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = crate::time::unix_ns();
    for half in buf.chunks_mut(8) {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u64(nanos);
        half.copy_from_slice(&hasher.finish().to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_from_each_other_and_from_none() {
        let tokens: Vec<ResumeToken> = (0..64).map(|_| fresh_token()).collect();
        for (i, a) in tokens.iter().enumerate() {
            assert_ne!(*a, ResumeToken::NONE);
            assert!(tokens[i + 1..].iter().all(|b| a != b), "token {i} repeats");
        }
    }

    #[test]
    fn the_fallback_differs_too() {
        let (mut a, mut b) = ([0u8; TOKEN_LEN], [0u8; TOKEN_LEN]);
        hashed(&mut a);
        hashed(&mut b);
        assert_ne!(a, b);
        assert_ne!(a[..8], a[8..]);
    }
}
