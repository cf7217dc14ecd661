//! Resume tokens and host epochs: unguessable bits from [`crate::random`].

use crate::protocol::{ResumeToken, TOKEN_LEN};

/// A fresh token: 16 random bytes.
pub(crate) fn fresh_token() -> ResumeToken {
    ResumeToken(crate::random::bytes::<TOKEN_LEN>())
}

/// A host's epoch: 64 random bits.
pub(crate) fn fresh_epoch() -> u64 {
    u64::from_le_bytes(crate::random::bytes())
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
}
