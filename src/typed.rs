//! Typed values (feature `serde`): serialising a value as JSON or
//! MessagePack, and reading a payload back as a type, by the [`Encoding`]
//! its frame declares.
//!
//! The two wrappers, [`Json`] and [`MsgPack`], are payload kinds: sending
//! one serialises the value and declares its encoding in the frame's flags
//! (see the wire format in `src/protocol/mod.rs`), so a receiver in any
//! language knows how to read it. [`encode`] and [`decode`] are the same
//! two steps as functions, for a layer (requests and replies) that has
//! bytes and an encoding in hand.
//!
//! MessagePack is written with field names (a struct is a map, as in
//! JSON), so a Python or JavaScript peer reads it without a schema; it
//! reads structs written either as maps or as arrays.
//!
//! Both decoders nest at most `MAX_DEPTH` (128) arrays and maps deep,
//! serde_json's own limit: a hostile payload nested deeper is a `Decode`
//! error, not a stack overflow of the reading thread.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::protocol::Encoding;
use crate::{ErrorKind, Result};

/// How deep arrays and maps may nest in a payload [`decode`] reads:
/// serde_json's limit, applied to MessagePack too (rmp-serde's own is
/// 1,024, deep enough to overflow a thread's stack on a recursive type).
pub(crate) const MAX_DEPTH: usize = 128;

/// A value sent as JSON: `client.write("pose", Json(&pose))`. The frame
/// declares [`Encoding::Json`]. Works wherever a payload does
/// ([`Outgoing`](crate::Outgoing)); a value that cannot be serialised
/// fails the write with [`ErrorKind::Encode`] before anything is sent.
///
/// # Examples
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use socketengine::{Client, Encoding, Host, Json};
/// use std::time::Duration;
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Pose { x: f64, y: f64 }
///
/// let host = Host::builder().addr("127.0.0.1:0").start()?;
/// let arm = Client::builder().addr(host.local_addr().to_string()).connect()?;
/// let poses = arm.subscribe_as::<Pose>("pose");
/// host.to(arm.id()).write_lock("pose", Json(&Pose { x: 1.0, y: 2.0 }))?;
/// assert_eq!(poses.recv_timeout(Duration::from_secs(5))?, Pose { x: 1.0, y: 2.0 });
/// assert_eq!(arm.get("pose").unwrap().encoding(), Encoding::Json);
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Json<T>(pub T);

/// A value sent as MessagePack: `client.write("pose", MsgPack(&pose))`.
/// The frame declares [`Encoding::MsgPack`]; structs are written as maps
/// with their field names, so any MessagePack reader (Python's `msgpack`,
/// JavaScript's `@msgpack/msgpack`) gets the same shape JSON would give it.
/// Smaller than JSON and quicker to read and write (figures in
/// `docs/PERFORMANCE.md`). As [`Json`] otherwise.
///
/// # Examples
///
/// ```
/// use socketengine::{Encoding, MsgPack, Outgoing};
///
/// let payload = MsgPack(&[1u8, 2, 3]).into_outgoing()?;
/// assert_eq!(payload.encoding(), Encoding::MsgPack);
/// assert_eq!(payload.len(), 4); // a 3-element array: 0x93 01 02 03
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MsgPack<T>(pub T);

/// Serialises `value` as `encoding` (JSON or MessagePack).
///
/// # Errors
///
/// [`ErrorKind::Encode`] when the serialiser fails (a map whose keys JSON
/// cannot have, a failing `Serialize` impl), or for [`Encoding::Bytes`],
/// which is no serialisation.
///
/// # Examples
///
/// ```
/// use socketengine::{Encoding, encode};
///
/// assert_eq!(&encode(Encoding::Json, &[1, 2])?[..], b"[1,2]");
/// # Ok::<(), socketengine::Error>(())
/// ```
pub fn encode<T: Serialize + ?Sized>(encoding: Encoding, value: &T) -> Result<Bytes> {
    // Room for a small message from the start: growing from empty costs a
    // few reallocations per message.
    let mut bytes = Vec::with_capacity(ENCODE_START);
    let written = match encoding {
        Encoding::Json => serde_json::to_writer(&mut bytes, value).map_err(|e| e.to_string()),
        Encoding::MsgPack => {
            rmp_serde::encode::write_named(&mut bytes, value).map_err(|e| e.to_string())
        }
        _ => Err("not a serialisation format".to_owned()),
    };
    match written {
        Ok(()) => Ok(Bytes::from(bytes)),
        Err(message) => Err(ErrorKind::Encode { encoding, message }.into()),
    }
}

/// Bytes reserved for a value before serialising it.
const ENCODE_START: usize = 128;

/// Reads `bytes`, which arrived on `channel` declaring `encoding`, as a
/// `T`. A payload that declares no encoding ([`Encoding::Bytes`]: a peer
/// that sent plain bytes) is read as JSON, the one text a plain peer is
/// likely to send. `T` may borrow from `bytes` (a `&str` field).
///
/// # Errors
///
/// [`ErrorKind::Decode`] with `channel`, the declared encoding and the
/// decoder's message: not valid JSON or MessagePack, or valid but of
/// another shape than `T` (a missing field, a string where a number is
/// expected), or arrays and maps nested more than 128 deep (a hostile
/// payload's way to overflow the stack).
///
/// # Examples
///
/// ```
/// use socketengine::{Encoding, ErrorKind, decode};
///
/// let xs: Vec<u32> = decode(Encoding::Json, b"[1,2]", "xs")?;
/// assert_eq!(xs, [1, 2]);
/// let wrong = decode::<Vec<u32>>(Encoding::Json, br#"{"x":1}"#, "xs").unwrap_err();
/// assert!(matches!(wrong.kind(), ErrorKind::Decode { channel, .. } if channel == "xs"));
/// # Ok::<(), socketengine::Error>(())
/// ```
pub fn decode<'de, T: Deserialize<'de>>(
    encoding: Encoding,
    bytes: &'de [u8],
    channel: &str,
) -> Result<T> {
    let decoded = match encoding {
        Encoding::MsgPack => {
            let mut decoder = rmp_serde::Deserializer::from_read_ref(bytes);
            decoder.set_max_depth(MAX_DEPTH);
            T::deserialize(&mut decoder).map_err(|e| e.to_string())
        }
        // JSON, and bytes that declared nothing.
        _ => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
    };
    decoded.map_err(|message| {
        let channel = channel.to_owned();
        let kind = ErrorKind::Decode {
            channel,
            encoding,
            message,
        };
        kind.into()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pose {
        x: f64,
        name: String,
    }

    #[test]
    fn values_round_trip_through_both_encodings() {
        let pose = Pose {
            x: 1.5,
            name: "arm".into(),
        };
        for encoding in [Encoding::Json, Encoding::MsgPack] {
            let bytes = encode(encoding, &pose).unwrap();
            assert_eq!(decode::<Pose>(encoding, &bytes, "p").unwrap(), pose);
        }
    }

    #[test]
    fn msgpack_structs_are_maps_with_their_field_names() {
        let bytes = encode(
            Encoding::MsgPack,
            &Pose {
                x: 0.0,
                name: "a".into(),
            },
        )
        .unwrap();
        // fixmap of 2, then "x" as a fixstr.
        assert_eq!(&bytes[..3], &[0x82, 0xa1, b'x']);
        // A struct written as an array (rmp's compact form) reads too.
        let compact = rmp_serde::to_vec(&Pose {
            x: 0.0,
            name: "a".into(),
        })
        .unwrap();
        assert_eq!(compact[0], 0x92);
        assert_eq!(
            decode::<Pose>(Encoding::MsgPack, &compact, "p")
                .unwrap()
                .name,
            "a"
        );
    }

    /// `depth` arrays, each holding the next, in MessagePack.
    fn nested_msgpack(depth: usize) -> Vec<u8> {
        let mut bytes = vec![0x91; depth - 1];
        bytes.push(0x90);
        bytes
    }

    #[test]
    fn msgpack_nested_past_the_depth_limit_is_a_decode_error() {
        type Tree = serde_json::Value;
        let deep = decode::<Tree>(Encoding::MsgPack, &nested_msgpack(MAX_DEPTH + 72), "t");
        let err = deep.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Decode { message, .. } if message.contains("depth")),
            "{err}"
        );
        let json = format!(
            "{}{}",
            "[".repeat(MAX_DEPTH + 72),
            "]".repeat(MAX_DEPTH + 72)
        );
        assert!(decode::<Tree>(Encoding::Json, json.as_bytes(), "t").is_err());
        // Within the limit, both read.
        let fine = decode::<Tree>(Encoding::MsgPack, &nested_msgpack(MAX_DEPTH - 8), "t");
        assert!(fine.unwrap().is_array());
    }

    #[test]
    fn bytes_are_read_as_json() {
        let xs: Vec<i32> = decode(Encoding::Bytes, b"[1, -2]", "xs").unwrap();
        assert_eq!(xs, [1, -2]);
    }

    #[test]
    fn payloads_that_do_not_fit_the_type_name_channel_encoding_and_why() {
        let cases: [(Encoding, &[u8], &str); 4] = [
            (Encoding::Json, b"{\"x\": 1", "EOF"),
            (
                Encoding::Json,
                br#"{"x": "one", "name": "a"}"#,
                "invalid type",
            ),
            (Encoding::Bytes, b"\xff\xfe", "expected value"),
            (Encoding::MsgPack, b"\x93\x01", ""),
        ];
        for (encoding, bytes, says) in cases {
            let err = decode::<Pose>(encoding, bytes, "pose").unwrap_err();
            let ErrorKind::Decode {
                channel,
                encoding: declared,
                message,
            } = err.kind()
            else {
                panic!("{err:?}");
            };
            assert_eq!((channel.as_str(), *declared), ("pose", encoding));
            assert!(message.contains(says), "{message}");
        }
    }

    #[test]
    fn bytes_is_no_encoding_to_serialise_with() {
        let err = encode(Encoding::Bytes, &1).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::Encode {
                encoding: Encoding::Bytes,
                ..
            }
        ));
        // JSON keys must be strings.
        let map = std::collections::HashMap::from([(vec![1u8], 1)]);
        let err = encode(Encoding::Json, &map).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::Encode {
                encoding: Encoding::Json,
                ..
            }
        ));
    }
}
