//! The hello and the welcome.

use super::*;

// ---------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------

fn hello_names() -> [String; 4] {
    [
        String::new(),
        "robot-1".into(),
        "日本é".into(),
        "n".repeat(255),
    ]
}

#[test]
fn hello_round_trips_and_leaves_following_bytes() {
    for name in hello_names() {
        let hello = Hello::new(name.clone());
        let mut wire = Vec::new();
        hello.encode(&mut wire).unwrap();
        let expected = cat(&[
            b"SKEN",
            &VERSION.to_le_bytes(),
            &[name.len() as u8],
            name.as_bytes(),
        ]);
        assert_eq!(wire, expected);
        assert_eq!(
            Hello::decode(&wire),
            Ok(Some((hello.clone(), 7 + name.len())))
        );
        wire.extend_from_slice(&encode(&frame(Kind::Data, "a", None, b"")));
        assert_eq!(Hello::decode(&wire), Ok(Some((hello, 7 + name.len()))));
    }
}

#[test]
fn partial_hello_needs_more_at_every_split() {
    for name in hello_names() {
        let mut wire = Vec::new();
        Hello::new(name).encode(&mut wire).unwrap();
        for i in 0..wire.len() {
            assert_eq!(Hello::decode(&wire[..i]), Ok(None), "{i} of {}", wire.len());
        }
    }
}

#[test]
fn http_request_is_bad_magic_from_its_first_byte() {
    let http = b"GET / HTTP/1.1\r\n";
    for i in 1..=http.len() {
        assert_eq!(Hello::decode(&http[..i]), Err(DecodeError::BadMagic), "{i}");
        assert_eq!(
            Welcome::decode(&http[..i]),
            Err(DecodeError::BadMagic),
            "{i}"
        );
    }
}

#[test]
fn any_wrong_magic_byte_is_caught_as_it_arrives() {
    let mut good = Vec::new();
    Hello::new("x").encode(&mut good).unwrap();
    for pos in 0..MAGIC.len() {
        let mut wire = good.clone();
        wire[pos] ^= 0x20;
        assert_eq!(Hello::decode(&wire[..pos]), Ok(None), "{pos}");
        assert_eq!(
            Hello::decode(&wire[..=pos]),
            Err(DecodeError::BadMagic),
            "{pos}"
        );
        assert_eq!(Hello::decode(&wire), Err(DecodeError::BadMagic), "{pos}");
    }
}

#[test]
fn hello_with_another_version_is_unsupported() {
    for version in [0, 2, u16::MAX] {
        let mut wire = Vec::new();
        Hello {
            version,
            name: "a".into(),
        }
        .encode(&mut wire)
        .unwrap();
        assert_eq!(
            Hello::decode(&wire),
            Err(DecodeError::UnsupportedVersion(version))
        );
    }
}

#[test]
fn hello_name_must_be_utf8_and_short() {
    let wire = cat(&[b"SKEN", &VERSION.to_le_bytes(), &[2, 0xc3, 0x28]]);
    assert_eq!(
        Hello::decode(&wire),
        Err(DecodeError::BadUtf8("client name"))
    );
    let mut dst = Vec::new();
    let err = Hello::new("n".repeat(256)).encode(&mut dst);
    assert_eq!(
        err,
        Err(DecodeError::FieldTooLong {
            field: "client name",
            len: 256
        })
    );
    assert!(dst.is_empty());
}

#[test]
fn welcome_round_trips_every_status() {
    let statuses = [
        WelcomeStatus::Accepted,
        WelcomeStatus::VersionMismatch,
        WelcomeStatus::HostFull,
        WelcomeStatus::Unknown(3),
        WelcomeStatus::Unknown(255),
    ];
    for (code, status) in [0u8, 1, 2, 3, 255].into_iter().zip(statuses) {
        let welcome = Welcome {
            version: VERSION,
            status,
            client_id: 0x0102_0304_0506_0708,
            host_time_ns: u64::MAX - 7,
        };
        let wire = welcome.encode();
        let expected = cat(&[
            b"SKEN",
            &VERSION.to_le_bytes(),
            &[code],
            &0x0102_0304_0506_0708u64.to_le_bytes(),
            &(u64::MAX - 7).to_le_bytes(),
        ]);
        assert_eq!(wire.len(), WELCOME_LEN);
        assert_eq!(wire.to_vec(), expected, "{status:?}");
        assert_eq!(Welcome::decode(&wire), Ok(Some(welcome)));
        let with_more = cat(&[&wire, b"\x09\x00"]);
        assert_eq!(Welcome::decode(&with_more), Ok(Some(welcome)));
        for i in 0..WELCOME_LEN {
            assert_eq!(Welcome::decode(&wire[..i]), Ok(None), "{status:?} at {i}");
        }
    }
}
