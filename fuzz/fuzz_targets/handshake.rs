//! The handshake: `Hello::decode`, `Welcome::decode`, `Answer::decode` and
//! `Proof::decode` on arbitrary bytes, and arbitrary hellos and welcomes
//! encoded and decoded back.
//!
//! On raw bytes: no panic; a decoded hello re-encodes to exactly the bytes it
//! consumed, a decoded welcome to its 47 bytes, an answer and a proof to the
//! bytes they used; and over the prefixes of the input
//! the answer is `Ok(None)` until it is decided, then the same for every longer
//! prefix (a wrong magic byte is an error as soon as it arrives, and no error ever
//! turns into a hello). Structured: a hello under this version decodes back with
//! trailing bytes left alone and every prefix of it is `Ok(None)`, with or
//! without a resume token; another version
//! is refused once the seven fixed bytes are in; a name over 255 bytes
//! is refused by `encode`, which writes nothing; a welcome decodes back with its
//! status code and resume token kept.
#![no_main]

use std::fmt::Debug;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use socketengine::protocol::{
    Answer, AuthMethod, CHALLENGE_LEN, DecodeError, Hello, MAX_HELLO, MAX_PROOF, Proof,
    ResumeToken, TOKEN_LEN, VERSION, WELCOME_LEN, Welcome, WelcomeStatus,
};

/// Longest hello: magic, version, name length, a 255-byte name, token length,
/// token, authentication method.
const HELLO_MAX: usize = MAX_HELLO;

type Decoded<T> = Result<Option<T>, DecodeError>;

/// Decodes every prefix of `data` up to `longest` bytes: `Ok(None)` until the
/// answer is decided, then that same answer, which is also `data`'s. Returns it.
fn check_prefixes<T: PartialEq + Debug>(
    data: &[u8],
    longest: usize,
    decode: impl Fn(&[u8]) -> Decoded<T>,
) -> Decoded<T> {
    let full = decode(data);
    let mut decided: Option<Decoded<T>> = None;
    for k in 0..=data.len().min(longest) {
        let answer = decode(&data[..k]);
        match &decided {
            Some(d) => assert_eq!(*d, answer, "a prefix of {k} bytes changed the answer"),
            None if answer != Ok(None) => decided = Some(answer),
            None => {}
        }
    }
    assert_eq!(
        decided.unwrap_or(Ok(None)),
        full,
        "undecided by {longest} bytes"
    );
    full
}

fn encode_hello(hello: &Hello) -> Vec<u8> {
    let mut wire = Vec::new();
    hello
        .encode(&mut wire)
        .expect("a name of at most 255 bytes");
    wire
}

fn status_code(status: WelcomeStatus) -> u8 {
    match status {
        WelcomeStatus::Accepted => 0,
        WelcomeStatus::VersionMismatch => 1,
        WelcomeStatus::HostFull => 2,
        WelcomeStatus::NameTaken => 3,
        WelcomeStatus::AddressLimit => 4,
        WelcomeStatus::Evicted => 5,
        WelcomeStatus::Unauthorized => 6,
        WelcomeStatus::Unknown(code) => code,
        other => panic!("a status this target does not know: {other:?}"),
    }
}

fn check_raw(data: &[u8]) {
    let hello = check_prefixes(data, HELLO_MAX, Hello::decode);
    if let Ok(Some((hello, used))) = hello {
        assert_eq!(hello.version, VERSION, "accepted another version");
        assert_eq!(
            encode_hello(&hello),
            data[..used],
            "hello re-encodes differently"
        );
    }
    let welcome = check_prefixes(data, WELCOME_LEN, Welcome::decode);
    if let Ok(Some(welcome)) = welcome {
        assert_eq!(
            welcome.encode(),
            data[..WELCOME_LEN],
            "welcome re-encodes differently"
        );
    }
    let answer = check_prefixes(data, WELCOME_LEN.max(CHALLENGE_LEN), Answer::decode);
    match answer {
        Ok(Some((Answer::Challenge(c), used))) => {
            assert_eq!(used, CHALLENGE_LEN);
            assert_eq!(c.encode(), data[..used], "challenge re-encodes differently");
        }
        Ok(Some((Answer::Welcome(w), used))) => {
            assert_eq!(used, WELCOME_LEN);
            assert_eq!(
                w.encode(),
                data[..used],
                "answer's welcome re-encodes differently"
            );
        }
        Ok(None) | Err(_) => {}
    }
    if let Ok(Some((proof, used))) = check_prefixes(data, 1 + MAX_PROOF, Proof::decode) {
        let mut wire = Vec::new();
        proof.encode(&mut wire).expect("a decoded proof encodes");
        assert_eq!(wire, data[..used], "proof re-encodes differently");
    }
}

#[derive(Debug, Arbitrary)]
struct Structured {
    version: u16,
    /// Keep the hello's version as it is instead of this build's.
    other_version: bool,
    name: String,
    /// Pad the name past 255 bytes.
    long_name: bool,
    /// The hello's resume token, if it has one.
    token: Option<[u8; TOKEN_LEN]>,
    /// The hello's authentication method (its code, modulo 3).
    auth: u8,
    status: u8,
    client_id: u64,
    host_time_ns: u64,
    /// The welcome's resume token.
    resume: [u8; TOKEN_LEN],
    epoch: u64,
    tail: Vec<u8>,
}

fn check_structured(s: Structured) {
    let version = if s.other_version { s.version } else { VERSION };
    let mut name = s.name;
    if s.long_name {
        while name.len() <= 255 {
            name.push('n');
        }
    }
    let hello = Hello {
        version,
        ..Hello::new(name)
    }
    .with_resume(s.token.map(ResumeToken))
    .with_auth(AuthMethod::from_code(s.auth % 3).expect("codes 0 to 2 are methods"));
    let token_len = s.token.map_or(0, |t| t.len());
    let mut wire = vec![0xaa];
    match hello.encode(&mut wire) {
        Err(err) => {
            assert!(hello.name.len() > 255, "refused {hello:?}: {err}");
            let too_long = DecodeError::FieldTooLong {
                field: "client name",
                len: hello.name.len(),
            };
            assert_eq!(err, too_long);
            assert_eq!(wire, [0xaa], "a refused hello wrote bytes");
        }
        Ok(()) => {
            wire.remove(0);
            let size = 9 + hello.name.len() + token_len;
            assert_eq!(wire.len(), size, "hello size");
            let expected = match version {
                VERSION => Ok(Some((hello.clone(), wire.len()))),
                other => Err(DecodeError::UnsupportedVersion(other)),
            };
            for k in 0..wire.len() {
                let want = if k >= 7 && version != VERSION {
                    expected.clone()
                } else {
                    Ok(None)
                };
                assert_eq!(Hello::decode(&wire[..k]), want, "hello prefix of {k} bytes");
            }
            wire.extend_from_slice(&s.tail);
            assert_eq!(Hello::decode(&wire), expected, "hello with trailing bytes");
        }
    }

    // Codes 0 to 6 are named; the rest (7, 15, ...: never below 7) unknown.
    let status = match s.status % 8 {
        0 => WelcomeStatus::Accepted,
        1 => WelcomeStatus::VersionMismatch,
        2 => WelcomeStatus::HostFull,
        3 => WelcomeStatus::NameTaken,
        4 => WelcomeStatus::AddressLimit,
        5 => WelcomeStatus::Evicted,
        6 => WelcomeStatus::Unauthorized,
        _ => WelcomeStatus::Unknown(s.status),
    };
    let welcome = Welcome {
        version: s.version,
        status,
        client_id: s.client_id,
        host_time_ns: s.host_time_ns,
        resume: ResumeToken(s.resume),
        epoch: s.epoch,
    };
    let mut wire = welcome.encode().to_vec();
    for k in 0..WELCOME_LEN {
        assert_eq!(
            Welcome::decode(&wire[..k]),
            Ok(None),
            "welcome prefix of {k} bytes"
        );
    }
    wire.extend_from_slice(&s.tail);
    let back = Welcome::decode(&wire)
        .expect("a welcome starts with the magic")
        .expect("a whole welcome");
    assert_eq!(
        status_code(back.status),
        status_code(welcome.status),
        "status code"
    );
    assert_eq!(
        (back.version, back.client_id, back.host_time_ns, back.resume),
        (
            welcome.version,
            welcome.client_id,
            welcome.host_time_ns,
            welcome.resume
        ),
        "welcome fields"
    );
    if !matches!(status, WelcomeStatus::Unknown(0..=6)) {
        assert_eq!(back, welcome, "welcome round trip");
    }
}

fuzz_target!(|data: &[u8]| {
    check_raw(data);
    if let Ok(s) = Structured::arbitrary(&mut Unstructured::new(data)) {
        check_structured(s);
    }
});
