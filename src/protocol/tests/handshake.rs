//! The hello and the welcome.

use super::*;
use crate::protocol::{
    Answer, AuthMethod, CHALLENGE_LEN, Challenge, MAX_PROOF, NONCE_LEN, Proof, transcript,
};

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

/// Every hello of the table: each name without a token and with one, under
/// each authentication method.
fn hellos() -> Vec<Hello> {
    let token = ResumeToken(*b"0123456789abcdef");
    let methods = [AuthMethod::None, AuthMethod::Token, AuthMethod::Ed25519];
    let mut out = Vec::new();
    for name in hello_names() {
        for t in [None, Some(token)] {
            for m in methods {
                out.push(Hello::new(name.clone()).with_resume(t).with_auth(m));
            }
        }
    }
    out
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
            &[hello.auth.code()],
        ]);
        assert_eq!(wire, expected);
        let used = 9 + name.len() + token.len();
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
    for version in [0, 1, 2, 3, 4, 6, u16::MAX] {
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
        WelcomeStatus::Unauthorized,
        WelcomeStatus::Unknown(8),
        WelcomeStatus::Unknown(255),
    ];
    for (code, status) in [0u8, 1, 2, 3, 4, 5, 6, 8, 255].into_iter().zip(statuses) {
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

#[test]
fn an_unknown_auth_method_is_an_error_once_its_byte_is_in() {
    for code in [3u8, 7, 255] {
        let wire = cat(&[b"SKEN", &VERSION.to_le_bytes(), &[1, b'a', 0, code]]);
        assert_eq!(Hello::decode(&wire[..9]), Ok(None));
        assert_eq!(Hello::decode(&wire), Err(DecodeError::BadAuthMethod(code)));
    }
    assert_eq!(AuthMethod::None.proof_len(), 0);
    assert_eq!(AuthMethod::Token.proof_len(), 32);
    assert_eq!(AuthMethod::Ed25519.proof_len(), MAX_PROOF);
}

#[test]
fn an_answer_is_a_challenge_or_a_welcome_decided_at_every_split() {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let challenge = Challenge {
        version: VERSION,
        nonce,
    };
    let wire = challenge.encode();
    let expected = cat(&[b"SKEN", &VERSION.to_le_bytes(), &[7], &nonce]);
    assert_eq!(wire.to_vec(), expected);
    assert_eq!(wire.len(), CHALLENGE_LEN);
    let with_more = cat(&[&wire, &[1, 2, 3]]);
    let want = Ok(Some((Answer::Challenge(challenge), CHALLENGE_LEN)));
    assert_eq!(Answer::decode(&with_more), want);
    for i in 0..CHALLENGE_LEN {
        assert_eq!(Answer::decode(&wire[..i]), Ok(None), "challenge at {i}");
    }
    let welcome = Welcome {
        version: VERSION,
        status: WelcomeStatus::Unauthorized,
        client_id: 0,
        host_time_ns: 5,
        resume: ResumeToken::NONE,
        epoch: 0,
    };
    let wire = welcome.encode();
    let want = Ok(Some((Answer::Welcome(welcome), WELCOME_LEN)));
    assert_eq!(Answer::decode(&wire), want);
    for i in 0..WELCOME_LEN {
        assert_eq!(Answer::decode(&wire[..i]), Ok(None), "welcome at {i}");
    }
    assert_eq!(Answer::decode(b"HTTP"), Err(DecodeError::BadMagic));
}

#[test]
fn proofs_round_trip_and_bad_lengths_are_errors() {
    for len in [1usize, 32, MAX_PROOF] {
        let proof = Proof(vec![0xab; len]);
        let mut wire = Vec::new();
        proof.encode(&mut wire).unwrap();
        assert_eq!(wire[0] as usize, len);
        wire.push(0x55);
        assert_eq!(Proof::decode(&wire), Ok(Some((proof.clone(), 1 + len))));
        for i in 0..=len {
            assert_eq!(Proof::decode(&wire[..i]), Ok(None), "{len} at {i}");
        }
        assert_eq!(format!("{proof:?}"), format!("Proof({len} bytes)"));
    }
    for len in [0u8, 65, 255] {
        assert_eq!(
            Proof::decode(&[len]),
            Err(DecodeError::BadProofLen(len.into()))
        );
    }
    let mut dst = Vec::new();
    for len in [0, MAX_PROOF + 1] {
        let err = Proof(vec![0; len]).encode(&mut dst);
        assert_eq!(err, Err(DecodeError::BadProofLen(len)));
    }
    assert!(dst.is_empty());
}

#[test]
fn a_transcript_covers_the_nonce_the_name_and_the_binding() {
    let base = transcript(&[1; NONCE_LEN], "arm", b"");
    assert!(base.starts_with(b"socketengine auth v4\0"));
    let others = [
        transcript(&[2; NONCE_LEN], "arm", b""),
        transcript(&[1; NONCE_LEN], "arm2", b""),
        transcript(&[1; NONCE_LEN], "ar", b"m"),
        transcript(&[1; NONCE_LEN], "arm", b"x"),
    ];
    for (i, other) in others.iter().enumerate() {
        assert_ne!(&base, other, "{i}");
    }
}
