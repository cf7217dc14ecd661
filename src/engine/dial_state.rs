//! What a client's handle can read of its loop's attempts to reach the
//! host: the last failure, and the refusal that ended them, if one did.

use parking_lot::Mutex;

use crate::{Error, ErrorKind, Refusal};

/// A client's attempts as its handle sees them (`Client::state`,
/// `Client::last_error`), in [`Shared`](super::Shared); unused on a host.
#[derive(Debug, Default)]
pub(crate) struct DialState {
    /// Written by the loop when an attempt fails or succeeds, read by any
    /// thread that asks: a mutex held for a copy.
    inner: Mutex<Attempts>,
}

#[derive(Debug, Default)]
struct Attempts {
    /// Why the last attempt failed, since the last connection.
    last_error: Option<Error>,
    /// The refusal after which the client stopped dialling.
    refused: Option<Refusal>,
}

impl DialState {
    /// An attempt failed with `error`.
    pub(crate) fn failed(&self, error: &Error) {
        self.inner.lock().last_error = Some(error.duplicate());
    }

    /// An attempt succeeded: no failure since.
    pub(crate) fn connected(&self) {
        self.inner.lock().last_error = None;
    }

    /// The client stopped dialling after `refusal`.
    pub(crate) fn gave_up(&self, refusal: Refusal) {
        self.inner.lock().refused = Some(refusal);
    }

    /// Why the last attempt failed, if one failed since the last connection.
    pub(crate) fn last_error(&self) -> Option<Error> {
        self.inner.lock().last_error.as_ref().map(Error::duplicate)
    }

    /// The refusal that ended the attempts, if one did.
    pub(crate) fn refused(&self) -> Option<Refusal> {
        self.inner.lock().refused
    }
}

/// The refusal in `error` if it is one that trying again will not change
/// (the host refuses this client's credential or protocol version until
/// someone changes one of them); a full host, an address limit, an
/// eviction or a name taken may clear, and are retried.
pub(crate) fn final_refusal(error: &Error) -> Option<Refusal> {
    match error.kind() {
        ErrorKind::Refused(refusal @ (Refusal::Unauthorized | Refusal::VersionMismatch)) => {
            Some(*refusal)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_that_cannot_clear_end_the_attempts() {
        let refused = |r| Error::new(ErrorKind::Refused(r));
        let table = [
            (refused(Refusal::Unauthorized), Some(Refusal::Unauthorized)),
            (
                refused(Refusal::VersionMismatch),
                Some(Refusal::VersionMismatch),
            ),
            (refused(Refusal::HostFull), None),
            (refused(Refusal::AddressLimit), None),
            (refused(Refusal::Evicted), None),
            (refused(Refusal::Unknown(9)), None),
            (
                Error::new(ErrorKind::NameTaken { name: "arm".into() }),
                None,
            ),
            (Error::new(ErrorKind::NotConnected), None),
        ];
        for (error, want) in table {
            assert_eq!(final_refusal(&error), want, "{error}");
        }
    }

    #[test]
    fn the_last_failure_is_kept_until_a_connection() {
        let state = DialState::default();
        assert!(state.last_error().is_none());
        state.failed(&Error::new(ErrorKind::NameTaken { name: "a".into() }));
        let kept = state.last_error().map(Error::into_kind);
        assert!(
            matches!(kept, Some(ErrorKind::NameTaken { .. })),
            "{kept:?}"
        );
        state.connected();
        assert!(state.last_error().is_none());
        assert_eq!(state.refused(), None);
        state.gave_up(Refusal::Unauthorized);
        assert_eq!(state.refused(), Some(Refusal::Unauthorized));
    }
}
