//! The close frame's reason codes and message: what a peer says as it hangs
//! up. Layout and codes are in the [wire format](super).

use bytes::Bytes;

use super::{DecodeError, Header, Kind};

/// The channel close frames are sent on (a receiver ignores it).
pub const CLOSE_CHANNEL: &str = "close";

/// Longest close message, in bytes; longer ones are cut at a character boundary.
pub const MAX_CLOSE_MESSAGE: usize = 1024;

/// Reason code: the peer closes normally (a client's `close`).
pub const CLOSE_NORMAL: u8 = 0;
/// Reason code: the host disconnected this client on purpose.
pub const CLOSE_KICKED: u8 = 1;
/// Reason code: another connection proved it is this client and took its name.
pub const CLOSE_REPLACED: u8 = 2;
/// Reason code: the host is shutting down.
pub const CLOSE_SHUTTING_DOWN: u8 = 3;
/// Reason code: a slow consumer: bytes waited for the peer to read them
/// longer than the sender's write deadline.
pub const CLOSE_SLOW_CONSUMER: u8 = 4;

/// Encodes a close frame with `reason` and `message`, cut to [`MAX_CLOSE_MESSAGE`].
///
/// # Errors
///
/// None in practice (the channel is valid and the frame small); the encoder's
/// error is passed on rather than unwrapped.
pub fn close_frame(reason: u8, message: &str) -> Result<Bytes, DecodeError> {
    let message = truncate(message, MAX_CLOSE_MESSAGE);
    Header::new(Kind::Close { reason }, CLOSE_CHANNEL).to_bytes(message.as_bytes())
}

/// A received close frame's message: at most [`MAX_CLOSE_MESSAGE`] bytes of
/// it, invalid UTF-8 replaced (the connection ends anyway, so it is not an error).
pub fn close_message(payload: &[u8]) -> String {
    let cut = &payload[..payload.len().min(MAX_CLOSE_MESSAGE)];
    String::from_utf8_lossy(cut).into_owned()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary: how close messages and failure texts are cut.
pub(super) fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Decoded, Decoder};

    #[test]
    fn close_frames_carry_reason_and_message_cut_at_a_character() {
        let long = "é".repeat(MAX_CLOSE_MESSAGE);
        let table: [(u8, &str, &str); 4] = [
            (CLOSE_KICKED, "bye", "bye"),
            (CLOSE_SLOW_CONSUMER, "slow", "slow"),
            (CLOSE_NORMAL, "", ""),
            (CLOSE_REPLACED, &long, &long[..MAX_CLOSE_MESSAGE]),
        ];
        for (reason, message, want) in table {
            let wire = close_frame(reason, message).expect("a close frame encodes");
            let mut buf = bytes::BytesMut::from(&wire[..]);
            let Ok(Decoded::Frame(frame)) = Decoder::new(1 << 20).step(&mut buf, None) else {
                panic!("a close frame decodes");
            };
            assert_eq!(frame.kind, Kind::Close { reason });
            assert_eq!(close_message(&frame.payload), want);
        }
    }

    #[test]
    fn received_messages_are_bounded_and_lossy() {
        assert_eq!(close_message(&[b'a'; 2000]).len(), MAX_CLOSE_MESSAGE);
        assert_eq!(close_message(b"\xffok"), "\u{fffd}ok");
    }
}
