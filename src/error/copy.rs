//! A copy of an error, for the hooks that see an event its reader of
//! `events()` sees too. `ErrorKind` is not `Clone` (an `io::Error` is not):
//! an I/O error is copied as its kind and its words.

use std::io;

use super::{Error, ErrorKind};

/// The kinds whose data are all `Clone`, by shape: unit variants, one-field
/// tuple variants and struct variants with their fields.
macro_rules! copy_kind {
    ($kind:expr;
     units: $($unit:ident),*;
     tuples: $($tuple:ident),*;
     structs: $($name:ident { $($field:ident),* }),*;
     $($other:pat => $copy:expr),* $(,)?) => {
        match $kind {
            $(ErrorKind::$unit => ErrorKind::$unit,)*
            $(ErrorKind::$tuple(value) => ErrorKind::$tuple(Clone::clone(value)),)*
            $(ErrorKind::$name { $($field),* } => ErrorKind::$name { $($field: Clone::clone($field)),* },)*
            $($other => $copy,)*
        }
    };
}

impl Error {
    /// A copy of this error, its payload included; an I/O error inside is
    /// copied as its kind and its message (its source chain is not).
    pub(crate) fn duplicate(&self) -> Error {
        let kind = copy_kind!(&self.kind;
            units: NotConnected, Closed;
            tuples: TimedOut, Refused, UnknownClient, UnknownName, UnknownRoom, UnknownGroup,
                HostLimit, RouteRefused, NoResponder, Remote, InvalidTarget, Unsupported,
                Protocol, HandshakeTimeout, FrameTimeout, Image, Credential, Tls,
                UnknownCommand, Busy, ResponderGone, DuplicateHost, UnknownHost;
            structs: Full { queued, budget }, AddrInUse { addr }, NameTaken { name },
                RoomLimit { max }, InvalidChannel { name, reason }, FrameTooLarge { len, max },
                ChannelLimit { max }, ChannelQuota { max }, Truncated { received, expected },
                AllocFailed { bytes }, Forbidden { action, channel, client },
                Encode { encoding, message }, Decode { channel, encoding, message },
                CommandFailed { name, message }, TooManyRequests { max },
                ReplyTooLarge { len, max };
            ErrorKind::Connect { addr, source } => ErrorKind::Connect {
                addr: addr.clone(),
                source: copy_io(source),
            },
            ErrorKind::Io(err) => ErrorKind::Io(copy_io(err)),
        );
        Error {
            kind,
            handed: self.handed.clone(),
        }
    }
}

fn copy_io(err: &io::Error) -> io::Error {
    io::Error::new(err.kind(), err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, ClientId};

    #[test]
    fn a_copy_says_the_same_and_keeps_the_payload() {
        let kinds = [
            ErrorKind::Closed,
            ErrorKind::UnknownClient(ClientId(3)),
            ErrorKind::Forbidden {
                action: Action::Publish,
                channel: "pose".into(),
                client: Some("arm".into()),
            },
            ErrorKind::Io(io::Error::new(io::ErrorKind::BrokenPipe, "pipe")),
            ErrorKind::Connect {
                addr: "127.0.0.1:1".into(),
                source: io::ErrorKind::ConnectionRefused.into(),
            },
        ];
        for kind in kinds {
            let error = Error::new(kind).with_payload("abc".into());
            let copy = error.duplicate();
            assert_eq!(copy.to_string(), error.to_string());
            assert_eq!(copy.payload(), error.payload());
        }
        let io = Error::new(ErrorKind::Io(io::ErrorKind::TimedOut.into())).duplicate();
        assert!(matches!(io.kind(), ErrorKind::Io(e) if e.kind() == io::ErrorKind::TimedOut));
    }
}
