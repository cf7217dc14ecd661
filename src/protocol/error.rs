//! The pure layer's error: why bytes could not be decoded.

/// Why bytes could not be decoded. Small and `Copy`, so the pure layer can return it
/// freely; the engine wraps it in [`crate::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The declared body length exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Declared body length.
        len: u64,
        /// Configured maximum.
        max: u64,
    },
    /// The declared body length cannot hold even the fixed header fields.
    #[error("frame of {len} bytes is shorter than its header")]
    FrameTooShort {
        /// Declared body length.
        len: u32,
    },
    /// The kind byte names no known frame kind.
    #[error("unknown frame kind {0:#04x}")]
    UnknownKind(u8),
    /// The flags byte sets a reserved bit.
    #[error("unknown flags {0:#04x}")]
    UnknownFlags(u8),
    /// The channel name is empty.
    #[error("empty channel name")]
    EmptyChannel,
    /// The channel name is longer than 255 bytes.
    #[error("channel name of {0} bytes exceeds 255")]
    ChannelTooLong(usize),
    /// A length-limited field (a client name, a room name, a client list) is too long.
    #[error("{field} of {len} exceeds 255")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length (bytes, or ids for a client list).
        len: usize,
    },
    /// A text field is not valid UTF-8.
    #[error("{0} is not valid utf-8")]
    BadUtf8(&'static str),
    /// A field runs past the end of the frame body.
    #[error("frame truncated in its {0} field")]
    Truncated(&'static str),
    /// A channel pattern is malformed.
    #[error("bad channel pattern: {0}")]
    BadPattern(&'static str),
    /// A client name in a route is empty.
    #[error("empty client name in a route")]
    EmptyName,
    /// A control frame's payload does not fit its operation.
    #[error("malformed control payload: {0}")]
    BadControl(&'static str),
    /// A shared-memory operation's payload is malformed, or an image it
    /// points to lies outside the segment ([wire format](super#shared-memory-images)).
    #[error("malformed shared-memory operation: {0}")]
    BadShm(&'static str),
    /// The route tag is unknown.
    #[error("unknown route tag {0}")]
    BadRoute(u8),
    /// An image chunk that does not continue the image being received on its
    /// channel (no such image, another sequence number, a gap or overlap, or
    /// bytes past the image's end), or an image that starts over an unfinished one.
    #[error("image chunk out of place: {0}")]
    BadChunk(&'static str),
    /// The handshake did not start with the protocol's magic tag.
    #[error("peer is not speaking the socketengine protocol")]
    BadMagic,
    /// The peer speaks a protocol version this build does not.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// A hello's resume token length is neither 0 nor 16.
    #[error("resume token of {0} bytes (0 or 16 expected)")]
    BadTokenLen(u8),
    /// A hello named an authentication method this build does not know.
    #[error("unknown authentication method {0}")]
    BadAuthMethod(u8),
    /// A proof was empty or longer than 64 bytes.
    #[error("proof of {0} bytes (1 to 64 allowed)")]
    BadProofLen(usize),
    /// A frame declared the reserved payload encoding (3).
    #[error("unknown payload encoding {0}")]
    UnknownEncoding(u8),
    /// A frame of a kind whose payload is not the application's (an image,
    /// a ping, a control frame, ...) declared a payload encoding.
    #[error("frame kind {0:#04x} carries no payload encoding")]
    EncodingNotCarried(u8),
    /// A frame of a kind that carries no send time (an image chunk, a
    /// ping, a control frame, ...) set the send-time flag.
    #[error("frame kind {0:#04x} carries no send time")]
    SentAtNotCarried(u8),
}
