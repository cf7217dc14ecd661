//! The host's own services, asked with a request frame on a reserved `$`
//! channel, and the answers they send back in a reply frame: the client list,
//! a name's id, the channel list. Pure encode and decode; layouts in the
//! [wire format](super#services).

use bytes::{BufMut, Bytes, BytesMut};

use super::DecodeError;

/// Channels starting with this character are reserved for a host's services.
pub const SYSTEM_PREFIX: char = '$';
/// The service answering with the client list ([`ClientEntry`]s).
pub const SERVICE_CLIENTS: &str = "$clients";
/// The service answering with the id of the connected client whose name is
/// the request's payload.
pub const SERVICE_LOOKUP: &str = "$lookup";
/// The service answering with the host's channels ([`ChannelEntry`]s).
pub const SERVICE_CHANNELS: &str = "$channels";
/// The service answering at once with nothing: a host reads and acts on a
/// connection's frames in order, so its answer means every frame the
/// client sent before the request has been stored, delivered, or refused
/// with a notice (a confirmed write's barrier).
pub const SERVICE_SYNC: &str = "$sync";

/// Bit of [`ClientEntry`]'s flags: the client is connected.
const FLAG_CONNECTED: u8 = 0x01;

/// Whether `channel` is reserved for a host's services.
pub fn is_system(channel: &str) -> bool {
    channel.starts_with(SYSTEM_PREFIX)
}

/// One client in the answer of [`SERVICE_CLIENTS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEntry {
    /// The client's id.
    pub id: u64,
    /// Whether it is connected.
    pub connected: bool,
    /// Milliseconds since it connected, as the host answered.
    pub since_ms: u64,
    /// Milliseconds since the host last received bytes from it.
    pub seen_ms: u64,
    /// Its name (at most 255 bytes).
    pub name: String,
    /// Its address, as text (at most 255 bytes).
    pub addr: String,
    /// The rooms it is in (each name at most 255 bytes).
    pub rooms: Vec<String>,
    /// Writes to it the host gave up.
    pub dropped: u64,
}

/// One channel in the answer of [`SERVICE_CHANNELS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEntry {
    /// The channel's name.
    pub name: String,
    /// Messages the host received on it.
    pub received: u64,
    /// Payload bytes the host received on it.
    pub bytes: u64,
    /// Messages dropped from its queue.
    pub dropped: u64,
    /// Messages waiting in its queue.
    pub queued: u32,
    /// Its queue's capacity.
    pub capacity: u32,
}

/// Encodes the client list.
///
/// # Errors
///
/// [`DecodeError::FieldTooLong`] for a name, address or room over 255 bytes,
/// or more than 65535 rooms.
pub fn encode_clients(entries: &[ClientEntry]) -> Result<Bytes, DecodeError> {
    let mut out = BytesMut::new();
    out.put_u32_le(entries.len() as u32);
    for e in entries {
        out.put_u64_le(e.id);
        out.put_u8(if e.connected { FLAG_CONNECTED } else { 0 });
        out.put_u64_le(e.since_ms);
        out.put_u64_le(e.seen_ms);
        put_str(&mut out, "client name", &e.name)?;
        put_str(&mut out, "client address", &e.addr)?;
        let rooms = u16::try_from(e.rooms.len()).map_err(|_| DecodeError::FieldTooLong {
            field: "room list",
            len: e.rooms.len(),
        })?;
        out.put_u16_le(rooms);
        for room in &e.rooms {
            put_str(&mut out, "room name", room)?;
        }
        out.put_u64_le(e.dropped);
    }
    Ok(out.freeze())
}

/// Decodes the client list.
///
/// # Errors
///
/// [`DecodeError::Truncated`], [`DecodeError::BadUtf8`], or
/// [`DecodeError::BadControl`] for bytes left over or unknown flags.
pub fn decode_clients(payload: &[u8]) -> Result<Vec<ClientEntry>, DecodeError> {
    let mut r = Reader(payload);
    let count = r.u32("client count")?;
    // Each entry takes at least 44 bytes: no reservation beyond what is there.
    let mut entries = Vec::with_capacity((count as usize).min(payload.len() / 44));
    for _ in 0..count {
        let id = r.u64("client id")?;
        let flags = r.u8("client flags")?;
        if flags & !FLAG_CONNECTED != 0 {
            return Err(DecodeError::BadControl("unknown client flags"));
        }
        let (since_ms, seen_ms) = (r.u64("connected since")?, r.u64("last seen")?);
        let (name, addr) = (r.str("client name")?, r.str("client address")?);
        let rooms = (0..r.u16("room count")?)
            .map(|_| r.str("room name"))
            .collect::<Result<_, _>>()?;
        entries.push(ClientEntry {
            id,
            connected: flags & FLAG_CONNECTED != 0,
            since_ms,
            seen_ms,
            name,
            addr,
            rooms,
            dropped: r.u64("dropped")?,
        });
    }
    r.end()?;
    Ok(entries)
}

/// Encodes the channel list.
///
/// # Errors
///
/// None in practice (channel names are at most 255 bytes); the check is kept.
pub fn encode_channels(entries: &[ChannelEntry]) -> Result<Bytes, DecodeError> {
    let mut out = BytesMut::new();
    out.put_u32_le(entries.len() as u32);
    for e in entries {
        put_str(&mut out, "channel", &e.name)?;
        out.put_u64_le(e.received);
        out.put_u64_le(e.bytes);
        out.put_u64_le(e.dropped);
        out.put_u32_le(e.queued);
        out.put_u32_le(e.capacity);
    }
    Ok(out.freeze())
}

/// Decodes the channel list.
///
/// # Errors
///
/// As [`decode_clients`].
pub fn decode_channels(payload: &[u8]) -> Result<Vec<ChannelEntry>, DecodeError> {
    let mut r = Reader(payload);
    let count = r.u32("channel count")?;
    let mut entries = Vec::with_capacity((count as usize).min(payload.len() / 33));
    for _ in 0..count {
        entries.push(ChannelEntry {
            name: r.str("channel")?,
            received: r.u64("received")?,
            bytes: r.u64("bytes")?,
            dropped: r.u64("dropped")?,
            queued: r.u32("queued")?,
            capacity: r.u32("capacity")?,
        });
    }
    r.end()?;
    Ok(entries)
}

/// The answer of [`SERVICE_LOOKUP`]: the id, or nothing for no such client.
pub fn encode_lookup(id: Option<u64>) -> Bytes {
    id.map_or_else(Bytes::new, |id| Bytes::copy_from_slice(&id.to_le_bytes()))
}

/// Decodes the answer of [`SERVICE_LOOKUP`].
///
/// # Errors
///
/// [`DecodeError::BadControl`] for a payload of neither 0 nor 8 bytes.
pub fn decode_lookup(payload: &[u8]) -> Result<Option<u64>, DecodeError> {
    match <[u8; 8]>::try_from(payload) {
        Ok(id) => Ok(Some(u64::from_le_bytes(id))),
        Err(_) if payload.is_empty() => Ok(None),
        Err(_) => Err(DecodeError::BadControl(
            "lookup answer of neither 0 nor 8 bytes",
        )),
    }
}

/// Writes a `u8` length and the bytes of `s`.
fn put_str(out: &mut BytesMut, field: &'static str, s: &str) -> Result<(), DecodeError> {
    let len = u8::try_from(s.len()).map_err(|_| DecodeError::FieldTooLong {
        field,
        len: s.len(),
    })?;
    out.put_u8(len);
    out.put_slice(s.as_bytes());
    Ok(())
}

/// A cursor over an answer; every read names its field for the error.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated(field));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::Truncated(field))
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    fn str(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = self.u8(field)? as usize;
        let bytes = self.take(len, field)?;
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadUtf8(field))?;
        Ok(s.to_owned())
    }

    fn end(&self) -> Result<(), DecodeError> {
        match self.0.is_empty() {
            true => Ok(()),
            false => Err(DecodeError::BadControl("bytes after the answer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Header, Kind};

    fn arm() -> ClientEntry {
        ClientEntry {
            id: 3,
            connected: true,
            since_ms: 1500,
            seen_ms: 20,
            name: "arm".into(),
            addr: "127.0.0.1:9".into(),
            rooms: vec!["lab".into()],
            dropped: 2,
        }
    }

    #[test]
    fn the_service_examples_of_the_spec_are_exact() {
        let request = Header::new(Kind::Request { id: 7 }, SERVICE_LOOKUP);
        assert_eq!(
            &request.to_bytes(b"arm").expect("a valid frame")[..],
            b"\x15\x00\x00\x00\x04\x00\x07$lookup\x07\x00\x00\x00\x00\x00\x00\x00arm"
        );
        let answer = encode_lookup(Some(3));
        let reply = Header::new(Kind::Reply { id: 7, status: 0 }, SERVICE_LOOKUP);
        assert_eq!(
            &reply.to_bytes(&answer).expect("a valid frame")[..],
            b"\x1b\x00\x00\x00\x05\x00\x07$lookup\x07\x00\x00\x00\x00\x00\x00\x00\x00\
              \x03\x00\x00\x00\x00\x00\x00\x00"
        );
        let unknown = Header::new(Kind::Reply { id: 8, status: 1 }, "$time");
        assert_eq!(
            &unknown.to_bytes(b"$time").expect("a valid frame")[..],
            b"\x16\x00\x00\x00\x05\x00\x05$time\x08\x00\x00\x00\x00\x00\x00\x00\x01$time"
        );
    }

    #[test]
    fn a_client_entry_has_exact_bytes() {
        let wire = encode_clients(&[arm()]).expect("encodes");
        let want: &[u8] = b"\x01\x00\x00\x00\
            \x03\x00\x00\x00\x00\x00\x00\x00\
            \x01\
            \xdc\x05\x00\x00\x00\x00\x00\x00\
            \x14\x00\x00\x00\x00\x00\x00\x00\
            \x03arm\
            \x0b127.0.0.1:9\
            \x01\x00\x03lab\
            \x02\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(&wire[..], want);
    }

    #[test]
    fn a_channel_entry_has_exact_bytes() {
        let entry = ChannelEntry {
            name: "pose".into(),
            received: 5,
            bytes: 300,
            dropped: 1,
            queued: 4,
            capacity: 64,
        };
        let wire = encode_channels(&[entry]).expect("encodes");
        let want: &[u8] = b"\x01\x00\x00\x00\
            \x04pose\
            \x05\x00\x00\x00\x00\x00\x00\x00\
            \x2c\x01\x00\x00\x00\x00\x00\x00\
            \x01\x00\x00\x00\x00\x00\x00\x00\
            \x04\x00\x00\x00\x40\x00\x00\x00";
        assert_eq!(&wire[..], want);
    }

    #[test]
    fn answers_round_trip() {
        let gone = ClientEntry {
            connected: false,
            rooms: Vec::new(),
            name: String::new(),
            ..arm()
        };
        let lists = [vec![], vec![arm()], vec![arm(), gone]];
        for list in lists {
            let wire = encode_clients(&list).expect("encodes");
            assert_eq!(decode_clients(&wire), Ok(list));
        }
        let channels = vec![ChannelEntry {
            name: "é".repeat(100),
            received: u64::MAX,
            bytes: 0,
            dropped: 7,
            queued: 0,
            capacity: 1,
        }];
        let wire = encode_channels(&channels).expect("encodes");
        assert_eq!(decode_channels(&wire), Ok(channels));
        for id in [None, Some(0), Some(u64::MAX)] {
            assert_eq!(decode_lookup(&encode_lookup(id)), Ok(id));
        }
    }

    #[test]
    fn every_cut_of_an_answer_is_an_error_and_so_are_leftovers() {
        let wire = encode_clients(&[arm(), arm()]).expect("encodes");
        for cut in 0..wire.len() {
            assert!(decode_clients(&wire[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = wire.to_vec();
        long.push(0);
        assert_eq!(
            decode_clients(&long),
            Err(DecodeError::BadControl("bytes after the answer"))
        );
        let bad: [(&[u8], DecodeError); 3] = [
            (b"\x01\x00\x00", DecodeError::Truncated("channel count")),
            (b"\x01\x00\x00\x00\x01\xff", DecodeError::BadUtf8("channel")),
            (b"", DecodeError::Truncated("channel count")),
        ];
        for (payload, want) in bad {
            assert_eq!(decode_channels(payload), Err(want), "{payload:?}");
        }
        assert!(decode_lookup(b"\x01\x02").is_err());
    }

    #[test]
    fn oversized_fields_are_refused() {
        let long = ClientEntry {
            name: "x".repeat(256),
            ..arm()
        };
        assert!(matches!(
            encode_clients(&[long]),
            Err(DecodeError::FieldTooLong {
                field: "client name",
                len: 256
            })
        ));
        assert!(is_system("$clients") && !is_system("pose"));
    }
}
