//! The handshake that opens every connection: the client's [`Hello`] and the
//! host's [`Welcome`]. Layouts are in the [wire format](super).

use bytes::BufMut;

use super::DecodeError;

/// The four bytes that open every connection, in both directions.
pub const MAGIC: [u8; 4] = *b"SKEN";

/// The protocol version this build speaks.
pub const VERSION: u16 = 1;

/// Bytes of an encoded [`Welcome`].
pub const WELCOME_LEN: usize = 23;

/// Bytes of a [`Hello`] before its name.
const HELLO_FIXED: usize = 7;

/// The client's opening message: who it is and which protocol it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Protocol version the client speaks.
    pub version: u16,
    /// The client's name, 0..=255 bytes of UTF-8; empty asks the host to pick one.
    pub name: String,
}

impl Hello {
    /// A hello for this build's protocol version.
    pub fn new(name: impl Into<String>) -> Hello {
        Hello {
            version: VERSION,
            name: name.into(),
        }
    }

    /// Appends the encoded hello to `dst`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::FieldTooLong`] when the name exceeds 255 bytes.
    pub fn encode(&self, dst: &mut impl BufMut) -> Result<(), DecodeError> {
        let len = u8::try_from(self.name.len()).map_err(|_| DecodeError::FieldTooLong {
            field: "client name",
            len: self.name.len(),
        })?;
        dst.put_slice(&MAGIC);
        dst.put_u16_le(self.version);
        dst.put_u8(len);
        dst.put_slice(self.name.as_bytes());
        Ok(())
    }

    /// Decodes a hello from the start of `buf`, returning it and the bytes used, or
    /// `Ok(None)` if more bytes are needed.
    ///
    /// A wrong magic byte is reported as soon as it arrives, so a peer speaking
    /// another protocol is turned away after its first bytes.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadMagic`], [`DecodeError::UnsupportedVersion`] or
    /// [`DecodeError::BadUtf8`].
    pub fn decode(buf: &[u8]) -> Result<Option<(Hello, usize)>, DecodeError> {
        check_magic(buf)?;
        if buf.len() < HELLO_FIXED {
            return Ok(None);
        }
        let version = u16::from_le_bytes([buf[4], buf[5]]);
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let end = HELLO_FIXED + buf[6] as usize;
        let Some(name) = buf.get(HELLO_FIXED..end) else {
            return Ok(None);
        };
        let name = std::str::from_utf8(name).map_err(|_| DecodeError::BadUtf8("client name"))?;
        Ok(Some((Hello::new(name), end)))
    }
}

/// Whether the host accepted a client, as sent in [`Welcome::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WelcomeStatus {
    /// The client is connected under [`Welcome::client_id`].
    Accepted,
    /// The host does not speak the client's protocol version.
    VersionMismatch,
    /// The host has reached its connection limit.
    HostFull,
    /// A status code this build does not know (3 and above; codes 0 to 2 encode
    /// as the statuses above).
    Unknown(u8),
}

impl WelcomeStatus {
    fn code(self) -> u8 {
        match self {
            WelcomeStatus::Accepted => 0,
            WelcomeStatus::VersionMismatch => 1,
            WelcomeStatus::HostFull => 2,
            WelcomeStatus::Unknown(code) => code,
        }
    }

    fn from_code(code: u8) -> WelcomeStatus {
        match code {
            0 => WelcomeStatus::Accepted,
            1 => WelcomeStatus::VersionMismatch,
            2 => WelcomeStatus::HostFull,
            other => WelcomeStatus::Unknown(other),
        }
    }
}

/// The host's answer to a [`Hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    /// Protocol version the host speaks.
    pub version: u16,
    /// Whether the client was accepted.
    pub status: WelcomeStatus,
    /// The id the host gave the client (0 when not accepted).
    pub client_id: u64,
    /// The host's clock when it answered, nanoseconds since the Unix epoch.
    pub host_time_ns: u64,
}

impl Welcome {
    /// Encodes the welcome as its fixed [`WELCOME_LEN`] bytes.
    pub fn encode(&self) -> [u8; WELCOME_LEN] {
        let mut out = [0u8; WELCOME_LEN];
        let mut dst = &mut out[..];
        dst.put_slice(&MAGIC);
        dst.put_u16_le(self.version);
        dst.put_u8(self.status.code());
        dst.put_u64_le(self.client_id);
        dst.put_u64_le(self.host_time_ns);
        out
    }

    /// Decodes a welcome from the start of `buf`, or `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadMagic`] when the peer is not a socketengine host.
    pub fn decode(buf: &[u8]) -> Result<Option<Welcome>, DecodeError> {
        check_magic(buf)?;
        if buf.len() < WELCOME_LEN {
            return Ok(None);
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[i..i + 8]);
            u64::from_le_bytes(b)
        };
        Ok(Some(Welcome {
            version: u16::from_le_bytes([buf[4], buf[5]]),
            status: WelcomeStatus::from_code(buf[6]),
            client_id: u64_at(7),
            host_time_ns: u64_at(15),
        }))
    }
}

/// Fails as soon as any received byte differs from the magic tag.
fn check_magic(buf: &[u8]) -> Result<(), DecodeError> {
    let n = buf.len().min(MAGIC.len());
    match buf[..n] == MAGIC[..n] {
        true => Ok(()),
        false => Err(DecodeError::BadMagic),
    }
}
