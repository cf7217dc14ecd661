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

/// Every hello of the table: each name without a token and with one.
fn hellos() -> Vec<Hello> {
    let token = ResumeToken(*b"0123456789abcdef");
    hello_names()
        .into_iter()
        .flat_map(|name| [None, Some(token)].map(|t| Hello::new(name.clone()).with_resume(t)))
        .collect()
}

#[test]
fn hello_round_trips_and_leaves_following_bytes() {
    for hello in hellos() {
        let name = &hello.name;
        let mut wire = Vec::new();
        hello.encode(&mut wire).unwrap();
        let token: &[u8] = match &hello.resume {
            Some(t) => &t.0,
            None => &[],
        };
        let expected = cat(&[
            b"SKEN",
            &VERSION.to_le_bytes(),
            &[name.len() as u8],
            name.as_bytes(),
            &[token.len() as u8],
            token,
        ]);
        assert_eq!(wire, expected);
        let used = 8 + name.len() + token.len();
        assert_eq!(Hello::decode(&wire), Ok(Some((hello.clone(), used))));
        wire.extend_from_slice(&encode(&frame(Kind::Data, "a", None, b"")));
        assert_eq!(Hello::decode(&wire), Ok(Some((hello, used))));
    }
}

#[test]
fn partial_hello_needs_more_at_every_split() {
    for hello in hellos() {
        let mut wire = Vec::new();
        hello.encode(&mut wire).unwrap();
        for i in 0..wire.len() {
            assert_eq!(Hello::decode(&wire[..i]), Ok(None), "{i} of {}", wire.len());
        }
    }
}

#[test]
fn hello_token_length_is_0_or_16() {
    for len in [1u8, 15, 17, 255] {
        let wire = cat(&[b"SKEN", &VERSION.to_le_bytes(), &[1, b'a', len], &[0; 32]]);
        assert_eq!(Hello::decode(&wire), Err(DecodeError::BadTokenLen(len)));
        assert_eq!(
            Hello::decode(&wire[..9]),
            Err(DecodeError::BadTokenLen(len))
        );
        assert_eq!(Hello::decode(&wire[..8]), Ok(None));
    }
}

#[test]
fn tokens_compare_by_every_byte_and_do_not_show_in_debug() {
    let a = ResumeToken([7; TOKEN_LEN]);
    for i in 0..TOKEN_LEN {
        let mut b = a;
        b.0[i] ^= 1;
        assert_ne!(a, b, "byte {i}");
    }
    assert_eq!(a, ResumeToken([7; TOKEN_LEN]));
    assert_eq!(format!("{a:?}"), "ResumeToken(..)");
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
    for version in [0, 1, 2, 4, u16::MAX] {
        let mut wire = Vec::new();
        Hello {
            version,
            ..Hello::new("a")
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
        WelcomeStatus::NameTaken,
        WelcomeStatus::AddressLimit,
        WelcomeStatus::Evicted,
        WelcomeStatus::Unknown(6),
        WelcomeStatus::Unknown(255),
    ];
    for (code, status) in [0u8, 1, 2, 3, 4, 5, 6, 255].into_iter().zip(statuses) {
        let welcome = Welcome {
            version: VERSION,
            status,
            client_id: 0x0102_0304_0506_0708,
            host_time_ns: u64::MAX - 7,
            resume: ResumeToken(*b"fedcba9876543210"),
            epoch: 0x1122_3344_5566_7788,
        };
        let wire = welcome.encode();
        let expected = cat(&[
            b"SKEN",
            &VERSION.to_le_bytes(),
            &[code],
            &0x0102_0304_0506_0708u64.to_le_bytes(),
            &(u64::MAX - 7).to_le_bytes(),
            b"fedcba9876543210",
            &0x1122_3344_5566_7788u64.to_le_bytes(),
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
