//! The handshake that opens every connection: the client's [`Hello`] and the
//! host's [`Welcome`]. Layouts are in the [wire format](super).

use bytes::BufMut;

use super::DecodeError;

/// The four bytes that open every connection, in both directions.
pub const MAGIC: [u8; 4] = *b"SKEN";

/// The protocol version this build speaks (2: resume tokens in the
/// handshake; 3: the host's epoch in the welcome; 4: authentication; 5:
/// payload encodings and send times in the frame flags). See the
/// [wire format](super)'s versions.
pub const VERSION: u16 = 5;

/// Bytes of an encoded [`Welcome`].
pub const WELCOME_LEN: usize = 47;

/// Bytes of a [`ResumeToken`].
pub const TOKEN_LEN: usize = 16;

/// Bytes of a [`Hello`] before its name.
const HELLO_FIXED: usize = 7;

/// Longest encoded [`Hello`]: a 255-byte name, a token and the auth method.
pub const MAX_HELLO: usize = HELLO_FIXED + 255 + 1 + TOKEN_LEN + 1;

/// Bytes of a [`Challenge`]'s nonce.
pub const NONCE_LEN: usize = 32;

/// Bytes of an encoded [`Challenge`].
pub const CHALLENGE_LEN: usize = 7 + NONCE_LEN;

/// The status byte that marks a [`Challenge`] where a [`Welcome`] could be.
const CHALLENGE_STATUS: u8 = 7;

/// Longest proof a [`Proof`] carries (an Ed25519 signature).
pub const MAX_PROOF: usize = 64;

/// What a [`transcript`] starts with: the purpose and the protocol version,
/// so a proof made for this handshake means nothing anywhere else.
const TRANSCRIPT_TAG: &[u8] = b"socketengine auth v4\0";

/// How a client proves who it is, as named in its [`Hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// No credential: a host that requires one refuses the client (status 6).
    None,
    /// A shared secret: the proof is HMAC-SHA-256 of the [`transcript`],
    /// keyed with the SHA-256 of the secret.
    Token,
    /// An Ed25519 key: the proof is a signature of the [`transcript`].
    Ed25519,
}

impl AuthMethod {
    /// The method's byte in a hello.
    pub fn code(self) -> u8 {
        match self {
            AuthMethod::None => 0,
            AuthMethod::Token => 1,
            AuthMethod::Ed25519 => 2,
        }
    }

    /// The method of a hello's byte.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadAuthMethod`] for a code above 2.
    pub fn from_code(code: u8) -> Result<AuthMethod, DecodeError> {
        match code {
            0 => Ok(AuthMethod::None),
            1 => Ok(AuthMethod::Token),
            2 => Ok(AuthMethod::Ed25519),
            other => Err(DecodeError::BadAuthMethod(other)),
        }
    }

    /// Bytes of this method's proof (0 for none).
    pub fn proof_len(self) -> usize {
        match self {
            AuthMethod::None => 0,
            AuthMethod::Token => 32,
            AuthMethod::Ed25519 => 64,
        }
    }
}

/// A secret the host gives a client in its [`Welcome`], which the client
/// presents in its next [`Hello`] to prove it is the same client and take its
/// connected name back. Compared in constant time; its `Debug` hides it.
#[derive(Clone, Copy, Eq)]
pub struct ResumeToken(pub [u8; TOKEN_LEN]);

impl ResumeToken {
    /// The all-zero token a refusing welcome carries (never issued).
    pub const NONE: ResumeToken = ResumeToken([0; TOKEN_LEN]);
}

impl PartialEq for ResumeToken {
    /// Constant time: how many bytes match does not show in how long it takes.
    fn eq(&self, other: &ResumeToken) -> bool {
        let diff = (self.0.iter().zip(&other.0)).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl std::fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeToken(..)")
    }
}

/// The client's opening message: who it is and which protocol it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Protocol version the client speaks.
    pub version: u16,
    /// The client's name, 0..=255 bytes of UTF-8; empty asks the host to pick one.
    pub name: String,
    /// The token of the client's previous connection, if it had one: lets it
    /// take its name back from a connection the host still thinks is open.
    pub resume: Option<ResumeToken>,
    /// How the client will prove who it is, if the host asks.
    pub auth: AuthMethod,
}

impl Hello {
    /// A hello for this build's protocol version.
    pub fn new(name: impl Into<String>) -> Hello {
        Hello {
            version: VERSION,
            name: name.into(),
            resume: None,
            auth: AuthMethod::None,
        }
    }

    /// The same hello, presenting `token` (or none).
    pub fn with_resume(self, token: Option<ResumeToken>) -> Hello {
        Hello {
            resume: token,
            ..self
        }
    }

    /// The same hello, offering to prove itself by `auth`.
    pub fn with_auth(self, auth: AuthMethod) -> Hello {
        Hello { auth, ..self }
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
        match &self.resume {
            Some(token) => {
                dst.put_u8(TOKEN_LEN as u8);
                dst.put_slice(&token.0);
            }
            None => dst.put_u8(0),
        }
        dst.put_u8(self.auth.code());
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
    /// [`DecodeError::BadMagic`], [`DecodeError::UnsupportedVersion`],
    /// [`DecodeError::BadUtf8`], [`DecodeError::BadTokenLen`] or
    /// [`DecodeError::BadAuthMethod`].
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
        let Some(&token_len) = buf.get(end) else {
            return Ok(None);
        };
        let (resume, end) = match usize::from(token_len) {
            0 => (None, end + 1),
            TOKEN_LEN => match buf.get(end + 1..end + 1 + TOKEN_LEN) {
                Some(bytes) => {
                    let mut token = [0u8; TOKEN_LEN];
                    token.copy_from_slice(bytes);
                    (Some(ResumeToken(token)), end + 1 + TOKEN_LEN)
                }
                None => return Ok(None),
            },
            _ => return Err(DecodeError::BadTokenLen(token_len)),
        };
        let Some(&auth) = buf.get(end) else {
            return Ok(None);
        };
        let hello = Hello::new(name)
            .with_resume(resume)
            .with_auth(AuthMethod::from_code(auth)?);
        Ok(Some((hello, end + 1)))
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
    /// Another connection holds the client's name, and the hello did not
    /// present that client's [`ResumeToken`].
    NameTaken,
    /// The host holds its most connections from the client's address.
    AddressLimit,
    /// The host dropped the connection before its handshake was done (its
    /// hello, or its proof), to give its handshake slot to a newer
    /// connection (the oldest unfinished handshake makes way when all slots
    /// are taken, silent ones before challenged ones).
    Evicted,
    /// The host requires a credential, and the client offered none, or its
    /// proof did not hold for the name it asked for.
    Unauthorized,
    /// A status code this build does not know (8 and above; codes 0 to 6 encode
    /// as the statuses above, and 7 marks a [`Challenge`]).
    Unknown(u8),
}

impl WelcomeStatus {
    fn code(self) -> u8 {
        match self {
            WelcomeStatus::Accepted => 0,
            WelcomeStatus::VersionMismatch => 1,
            WelcomeStatus::HostFull => 2,
            WelcomeStatus::NameTaken => 3,
            WelcomeStatus::AddressLimit => 4,
            WelcomeStatus::Evicted => 5,
            WelcomeStatus::Unauthorized => 6,
            WelcomeStatus::Unknown(code) => code,
        }
    }

    fn from_code(code: u8) -> WelcomeStatus {
        match code {
            0 => WelcomeStatus::Accepted,
            1 => WelcomeStatus::VersionMismatch,
            2 => WelcomeStatus::HostFull,
            3 => WelcomeStatus::NameTaken,
            4 => WelcomeStatus::AddressLimit,
            5 => WelcomeStatus::Evicted,
            6 => WelcomeStatus::Unauthorized,
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
    /// What the client presents to take its name back when it reconnects
    /// ([`ResumeToken::NONE`] when not accepted).
    pub resume: ResumeToken,
    /// The host's epoch: drawn at random when the host started (0 when not
    /// accepted). A client that reconnects and finds another one knows the
    /// host restarted, and lost what it held.
    pub epoch: u64,
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
        dst.put_slice(&self.resume.0);
        dst.put_u64_le(self.epoch);
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
        let mut token = [0u8; TOKEN_LEN];
        token.copy_from_slice(&buf[23..23 + TOKEN_LEN]);
        Ok(Some(Welcome {
            version: u16::from_le_bytes([buf[4], buf[5]]),
            status: WelcomeStatus::from_code(buf[6]),
            client_id: u64_at(7),
            host_time_ns: u64_at(15),
            resume: ResumeToken(token),
            epoch: u64_at(23 + TOKEN_LEN),
        }))
    }
}

/// The host's demand that a client prove who it is: a fresh random nonce,
/// which the client's [`Proof`] covers (through the [`transcript`]), so a
/// proof seen once is worth nothing on any other connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// Protocol version the host speaks.
    pub version: u16,
    /// Random bytes, new for every connection.
    pub nonce: [u8; NONCE_LEN],
}

impl Challenge {
    /// Encodes the challenge as its fixed [`CHALLENGE_LEN`] bytes.
    pub fn encode(&self) -> [u8; CHALLENGE_LEN] {
        let mut out = [0u8; CHALLENGE_LEN];
        let mut dst = &mut out[..];
        dst.put_slice(&MAGIC);
        dst.put_u16_le(self.version);
        dst.put_u8(CHALLENGE_STATUS);
        dst.put_slice(&self.nonce);
        out
    }
}

/// What a host answers a [`Hello`] with: a welcome (accepted or refused), or,
/// when it requires a credential and the hello offered one, a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The handshake's end.
    Welcome(Welcome),
    /// Prove it: a [`Proof`] goes back, then a welcome comes.
    Challenge(Challenge),
}

impl Answer {
    /// Decodes an answer from the start of `buf`, returning it and the bytes
    /// used, or `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadMagic`] when the peer is not a socketengine host.
    pub fn decode(buf: &[u8]) -> Result<Option<(Answer, usize)>, DecodeError> {
        check_magic(buf)?;
        match buf.get(6) {
            None => Ok(None),
            Some(&CHALLENGE_STATUS) => {
                let Some(nonce) = buf.get(7..CHALLENGE_LEN) else {
                    return Ok(None);
                };
                let mut challenge = Challenge {
                    version: u16::from_le_bytes([buf[4], buf[5]]),
                    nonce: [0; NONCE_LEN],
                };
                challenge.nonce.copy_from_slice(nonce);
                Ok(Some((Answer::Challenge(challenge), CHALLENGE_LEN)))
            }
            Some(_) => Ok(Welcome::decode(buf)?.map(|w| (Answer::Welcome(w), WELCOME_LEN))),
        }
    }
}

/// A client's answer to a [`Challenge`]: the proof its [`AuthMethod`]
/// makes of the [`transcript`]. On the wire: `len: u8` (1..=64), then the
/// proof.
#[derive(Clone, PartialEq, Eq)]
pub struct Proof(pub Vec<u8>);

impl Proof {
    /// Appends the encoded proof to `dst`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadProofLen`] for an empty proof or one over [`MAX_PROOF`] bytes.
    pub fn encode(&self, dst: &mut impl BufMut) -> Result<(), DecodeError> {
        let len = check_proof_len(self.0.len())?;
        dst.put_u8(len);
        dst.put_slice(&self.0);
        Ok(())
    }

    /// Decodes a proof from the start of `buf`, returning it and the bytes
    /// used, or `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadProofLen`] for a length of 0 or over [`MAX_PROOF`].
    pub fn decode(buf: &[u8]) -> Result<Option<(Proof, usize)>, DecodeError> {
        let Some(&len) = buf.first() else {
            return Ok(None);
        };
        let len = usize::from(check_proof_len(len.into())?);
        Ok(buf.get(1..1 + len).map(|p| (Proof(p.to_vec()), 1 + len)))
    }
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proof({} bytes)", self.0.len())
    }
}

fn check_proof_len(len: usize) -> Result<u8, DecodeError> {
    match len {
        1..=MAX_PROOF => Ok(len as u8),
        _ => Err(DecodeError::BadProofLen(len)),
    }
}

/// The bytes a client's proof covers: a fixed tag, the host's nonce, the
/// name the client asks for, and `binding` (what ties the proof to the
/// channel it travels on: empty over plain TCP). Covering the name binds
/// the proof to it, so a proof for one name is no proof for another.
pub fn transcript(nonce: &[u8; NONCE_LEN], name: &str, binding: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TRANSCRIPT_TAG.len() + NONCE_LEN + 2 + name.len() + 64);
    out.extend_from_slice(TRANSCRIPT_TAG);
    out.extend_from_slice(nonce);
    out.push(name.len().min(255) as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(binding.len().min(255) as u8);
    out.extend_from_slice(binding);
    out
}

/// Fails as soon as any received byte differs from the magic tag.
fn check_magic(buf: &[u8]) -> Result<(), DecodeError> {
    let n = buf.len().min(MAGIC.len());
    match buf[..n] == MAGIC[..n] {
        true => Ok(()),
        false => Err(DecodeError::BadMagic),
    }
}
