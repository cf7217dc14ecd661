//! Channel names: 1..=255 bytes of UTF-8, stored inline when short.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use super::{DecodeError, MAX_CHANNEL_LEN};

/// Longest name kept inline, without a heap allocation.
const INLINE: usize = 30;

/// A validated channel name.
///
/// Names up to 30 bytes live inside the value itself, so decoding a frame,
/// storing its message and dropping it on another thread touch no shared
/// counter and no allocator; longer names share one `Arc<str>`.
///
/// # Examples
///
/// ```
/// use socketengine::protocol::ChannelName;
///
/// let name = ChannelName::new("pose").unwrap();
/// assert_eq!(name.as_str(), "pose");
/// assert!(ChannelName::new("").is_err());
/// ```
#[derive(Clone)]
pub struct ChannelName(Repr);

#[derive(Clone)]
enum Repr {
    /// `bytes[len..]` are zero, so whole arrays compare equal exactly when names do.
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Arc<str>),
}

impl ChannelName {
    /// Checks `name` (1..=255 bytes) and stores it.
    ///
    /// # Errors
    ///
    /// [`DecodeError::EmptyChannel`] or [`DecodeError::ChannelTooLong`].
    pub fn new(name: &str) -> Result<ChannelName, DecodeError> {
        match name.len() {
            0 => Err(DecodeError::EmptyChannel),
            len if len > MAX_CHANNEL_LEN => Err(DecodeError::ChannelTooLong(len)),
            _ => Ok(ChannelName::from_valid(name)),
        }
    }

    /// Checks raw bytes from the wire: non-empty UTF-8 of at most 255 bytes.
    pub(crate) fn from_utf8(bytes: &[u8]) -> Result<ChannelName, DecodeError> {
        let name = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadUtf8("channel"))?;
        ChannelName::new(name)
    }

    fn from_valid(name: &str) -> ChannelName {
        let len = name.len();
        if len > INLINE {
            return ChannelName(Repr::Heap(Arc::from(name)));
        }
        let mut bytes = [0; INLINE];
        bytes[..len].copy_from_slice(name.as_bytes());
        ChannelName(Repr::Inline {
            len: len as u8,
            bytes,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // The bytes were copied from a `str`, so this never falls back.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or_default()
            }
            Repr::Heap(name) => name,
        }
    }
}

impl Deref for ChannelName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ChannelName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for ChannelName {
    fn eq(&self, other: &ChannelName) -> bool {
        match (&self.0, &other.0) {
            (Repr::Inline { len: a, bytes: x }, Repr::Inline { len: b, bytes: y }) => {
                a == b && x == y
            }
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for ChannelName {}

impl PartialEq<str> for ChannelName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ChannelName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Hash for ChannelName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_str().fmt(f)
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_every_storage_read_back_and_compare() {
        let long = "l".repeat(INLINE + 1);
        let multibyte = "é".repeat(127);
        let edge = "s".repeat(INLINE);
        for name in ["c", edge.as_str(), long.as_str(), multibyte.as_str()] {
            let a = ChannelName::new(name).expect("valid");
            assert_eq!((a.as_str(), format!("{a:?}")), (name, format!("{name:?}")));
            assert_eq!(a, ChannelName::from_utf8(name.as_bytes()).expect("valid"));
            assert_eq!(a, *name);
        }
        let pose = ChannelName::new("pose").expect("valid");
        assert_ne!(pose, ChannelName::new("pos").expect("valid"));
    }

    #[test]
    fn invalid_names_are_refused() {
        let cases: [(&[u8], DecodeError); 3] = [
            (b"", DecodeError::EmptyChannel),
            (&[b'x'; 256], DecodeError::ChannelTooLong(256)),
            (&[0xc3, 0x28], DecodeError::BadUtf8("channel")),
        ];
        for (bytes, err) in cases {
            assert_eq!(ChannelName::from_utf8(bytes), Err(err));
        }
    }
}
