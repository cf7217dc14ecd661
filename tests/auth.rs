//! Authentication and permissions: only a listed name with its credential
//! gets in, no one else can take that name, a proof cannot be replayed, and
//! each client is held to what its permissions allow, with a typed error
//! for what it may not do and its connection kept.

#![allow(clippy::unwrap_used)]

mod util;

use std::io::{Read, Write};

use ed25519_dalek::{Signer, SigningKey};
use socketengine::protocol::{
    Answer, AuthMethod, CHALLENGE_LEN, Hello, Proof, WELCOME_LEN, WelcomeStatus, transcript,
};
use socketengine::{Action, Auth, Client, Credential, ErrorKind, Host, Permissions, Refusal};
use util::{TIMEOUT, client_with, host_with, next_undelivered, raw_connect, wait_until};

const SEED: [u8; 32] = [7; 32];

/// A host that admits `arm` (Ed25519 key from [`SEED`], everything
/// permitted), `ops` (token `s3cret`, everything) and `cam` (a key;
/// publishes `camera/**`, subscribes to `cmd/cam`, may join `cams/*`).
fn auth_host() -> (Host, Credential) {
    let arm = Credential::ed25519(SEED);
    let cam = Credential::generate().unwrap();
    let cam_may = Permissions::none()
        .allow(Action::Publish, "camera/**")
        .and_then(|p| p.allow(Action::Subscribe, "cmd/cam"))
        .and_then(|p| p.allow(Action::Join, "cams/*"))
        .unwrap();
    let auth = Auth::new()
        .client("arm", arm.verifier(), Permissions::all())
        .client(
            "ops",
            Credential::token("s3cret").verifier(),
            Permissions::all(),
        )
        .client("cam", cam.verifier(), cam_may);
    (host_with(|b| b.auth(auth)), cam)
}

fn connect(
    host: &Host,
    name: &str,
    credential: Option<Credential>,
) -> socketengine::Result<Client> {
    let builder = Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .reconnect(false);
    match credential {
        Some(c) => builder.credential(c).connect(),
        None => builder.connect(),
    }
}

fn refused(result: socketengine::Result<Client>) -> bool {
    matches!(
        result.map(|_| ()).unwrap_err().kind(),
        ErrorKind::Refused(Refusal::Unauthorized)
    )
}

#[test]
fn only_a_listed_name_with_its_credential_gets_in() {
    let (host, _) = auth_host();
    let arm = connect(&host, "arm", Some(Credential::ed25519(SEED))).unwrap();
    let ops = connect(&host, "ops", Some(Credential::token("s3cret"))).unwrap();
    arm.write_confirmed("pose", "1").unwrap();
    ops.write_confirmed("pose", "2").unwrap();
    let turned_away = [
        connect(&host, "arm", None),
        connect(&host, "arm", Some(Credential::generate().unwrap())),
        connect(&host, "arm", Some(Credential::token("s3cret"))),
        connect(&host, "ops", Some(Credential::token("S3cret"))),
        connect(&host, "stranger", Some(Credential::generate().unwrap())),
        connect(&host, "", Some(Credential::ed25519(SEED))),
        connect(&host, "", None),
    ];
    for (i, result) in turned_away.into_iter().enumerate() {
        assert!(
            refused(result),
            "attempt {i} was not refused as unauthorized"
        );
    }
    assert_eq!(host.admission_stats().unauthorized, 7);
    // Those who belong were not disturbed.
    assert_eq!(host.clients().len(), 2);
    arm.write_confirmed("pose", "3").unwrap();
    assert_eq!(&host.get("pose").unwrap().payload()[..], b"3");
}

#[test]
fn no_one_takes_a_connected_name_without_its_credential_and_its_holder_takes_it_back() {
    let (host, _) = auth_host();
    let arm = connect(&host, "arm", Some(Credential::ed25519(SEED))).unwrap();
    let id = arm.id();
    for _ in 0..20 {
        assert!(refused(connect(&host, "arm", None)));
        assert!(refused(connect(
            &host,
            "arm",
            Some(Credential::generate().unwrap())
        )));
    }
    // The victim keeps its connection and what is addressed to it.
    host.to(id).write_lock("cmd", "stay").unwrap();
    assert!(wait_until(TIMEOUT, || arm.get("cmd").is_some()));
    assert!(arm.is_connected());
    // The holder, proving its key on a new connection (its old one may be
    // half-open), takes the name and id over.
    let again = connect(&host, "arm", Some(Credential::ed25519(SEED))).unwrap();
    assert_eq!(again.id(), id);
    assert!(wait_until(TIMEOUT, || !arm.is_connected()));
}

/// Completes a raw handshake as `arm` up to the challenge; returns the
/// stream and the challenge's nonce.
fn challenged(host: &Host) -> (std::net::TcpStream, [u8; 32]) {
    let mut stream = raw_connect(host);
    let mut hello = Vec::new();
    let hello_msg = Hello::new("arm").with_auth(AuthMethod::Ed25519);
    hello_msg.encode(&mut hello).unwrap();
    stream.write_all(&hello).unwrap();
    let mut buf = [0u8; CHALLENGE_LEN];
    stream.read_exact(&mut buf).unwrap();
    match Answer::decode(&buf).unwrap() {
        Some((Answer::Challenge(c), _)) => (stream, c.nonce),
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn send_proof(stream: &mut std::net::TcpStream, proof: &[u8]) -> WelcomeStatus {
    let mut wire = Vec::new();
    Proof(proof.to_vec()).encode(&mut wire).unwrap();
    stream.write_all(&wire).unwrap();
    let mut buf = [0u8; WELCOME_LEN];
    stream.read_exact(&mut buf).unwrap();
    match Answer::decode(&buf).unwrap() {
        Some((Answer::Welcome(w), _)) => w.status,
        other => panic!("expected a welcome, got {other:?}"),
    }
}

#[test]
fn a_proof_seen_once_is_worth_nothing_on_another_connection() {
    let (host, _) = auth_host();
    let key = SigningKey::from_bytes(&SEED);
    let (mut first, nonce) = challenged(&host);
    let proof = key.sign(&transcript(&nonce, "arm", b"")).to_bytes();
    assert_eq!(send_proof(&mut first, &proof), WelcomeStatus::Accepted);
    drop(first);
    // Replayed on a fresh connection: that one has another nonce.
    let (mut second, other_nonce) = challenged(&host);
    assert_ne!(nonce, other_nonce);
    assert_eq!(send_proof(&mut second, &proof), WelcomeStatus::Unauthorized);
    // A proof of the right nonce for another name proves nothing either.
    let (mut third, nonce) = challenged(&host);
    let for_ops = key.sign(&transcript(&nonce, "ops", b"")).to_bytes();
    assert_eq!(
        send_proof(&mut third, &for_ops),
        WelcomeStatus::Unauthorized
    );
    // Garbage where the proof goes closes that connection only.
    let (mut fourth, _) = challenged(&host);
    fourth.write_all(&[0u8; 70]).unwrap();
    util::assert_closed_by_peer(&mut fourth);
    assert!(connect(&host, "arm", Some(Credential::ed25519(SEED))).is_ok());
}

#[test]
fn a_client_publishes_only_where_permitted_and_is_told_otherwise() {
    let (host, cam_key) = auth_host();
    let cam = connect(&host, "cam", Some(cam_key)).unwrap();
    let events = cam.events();
    cam.write("camera/left", "frame").unwrap();
    cam.write("cmd/arm", "move").unwrap();
    let (channel, kind) = next_undelivered(&events);
    assert_eq!(channel, "cmd/arm");
    assert!(
        matches!(&kind, ErrorKind::Forbidden { action: Action::Publish, channel, client: None } if channel == "cmd/arm"),
        "{kind:?}"
    );
    // Routed or confirmed, the same; the connection stays, the payload comes back.
    let err = cam.to("arm").write_confirmed("cmd/arm", "x").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Forbidden { .. }), "{err}");
    assert_eq!(err.payload().map(|p| &p[..]), Some(&b"x"[..]));
    let image = util::frame_1080p(1);
    cam.write_lock("cmd/image", &image).unwrap();
    // (The confirmed write's refusal is an event too.)
    let (channel, kind) = loop {
        let (channel, kind) = next_undelivered(&events);
        if channel != "cmd/arm" {
            break (channel, kind);
        }
    };
    assert_eq!(channel, "cmd/image");
    assert!(matches!(kind, ErrorKind::Forbidden { .. }), "{kind:?}");
    // Its bytes were let go as they came; the next, permitted, image is whole.
    cam.write_lock("camera/img", &image).unwrap();
    cam.write_confirmed("camera/right", "ok").unwrap();
    assert_eq!(
        host.get_image("camera/img").unwrap().data().len(),
        1920 * 1080 * 3
    );
    assert!(host.get("camera/left").is_some() && host.get("camera/right").is_some());
    assert!(host.get("cmd/arm").is_none() && host.get("cmd/image").is_none());
    assert!(cam.is_connected());
}

#[test]
fn a_client_receives_only_what_it_may_subscribe_to_and_senders_are_told() {
    let (host, cam_key) = auth_host();
    let cam = connect(&host, "cam", Some(cam_key)).unwrap();
    let arm = connect(&host, "arm", Some(Credential::ed25519(SEED))).unwrap();
    let arm_events = arm.events();
    host.write("secret", "no").unwrap();
    host.write("cmd/cam", "yes").unwrap();
    assert!(wait_until(TIMEOUT, || cam.get("cmd/cam").is_some()));
    // Routed by name to a client that may not have the channel: refused.
    arm.to("cam").write("secret", "no").unwrap();
    let (channel, kind) = next_undelivered(&arm_events);
    assert_eq!(channel, "secret");
    assert!(
        matches!(&kind, ErrorKind::Forbidden { action: Action::Subscribe, channel, client: Some(c) } if channel == "secret" && c == "cam"),
        "{kind:?}"
    );
    assert_eq!(
        kind.to_string(),
        "\"cam\" is not permitted to subscribe \"secret\""
    );
    arm.to("cam").write_confirmed("cmd/cam", "marker").unwrap();
    assert!(wait_until(TIMEOUT, || cam
        .get("cmd/cam")
        .is_some_and(|m| &m.payload()[..] == b"marker")));
    assert!(
        cam.get("secret").is_none(),
        "a forbidden channel reached the client"
    );
}

#[test]
fn requests_and_rooms_are_held_to_permissions_too() {
    let (host, cam_key) = auth_host();
    let cam = connect(&host, "cam", Some(cam_key)).unwrap();
    let err = cam.clients().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Forbidden { action: Action::Request, channel, .. } if channel == "$clients"),
        "{err}"
    );
    // `$sync` (confirmed writes) is always allowed.
    cam.write_confirmed("camera/x", "1").unwrap();
    let events = cam.events();
    cam.join("ops").unwrap();
    let (channel, kind) = next_undelivered(&events);
    assert_eq!(channel, "rooms");
    assert!(
        matches!(&kind, ErrorKind::Forbidden { action: Action::Join, channel, .. } if channel == "ops"),
        "{kind:?}"
    );
    cam.join("cams/left").unwrap();
    assert!(wait_until(TIMEOUT, || cam.rooms() == ["cams/left"]));
    let arm = connect(&host, "arm", Some(Credential::ed25519(SEED))).unwrap();
    assert_eq!(arm.clients().unwrap().len(), 2);
}

#[test]
fn a_host_without_auth_admits_clients_with_credentials() {
    let host = host_with(|b| b);
    let c = client_with(&host, "arm", |b| b.credential(Credential::ed25519(SEED)));
    c.write_confirmed("x", "y").unwrap();
    assert_eq!(host.admission_stats().unauthorized, 0);
}

#[test]
fn what_the_host_writes_reaches_only_clients_that_may_subscribe_whatever_the_target() {
    let (host, cam_key) = auth_host();
    let cam = connect(&host, "cam", Some(cam_key)).unwrap();
    let arm = connect(&host, "arm", Some(Credential::ed25519(SEED))).unwrap();
    // The camera declares an interest in what it may not have, and joins a room.
    cam.interest(["secret/**", "cmd/cam"]).unwrap();
    cam.join("cams/left").unwrap();
    arm.join("cams/left").unwrap();
    assert!(wait_until(TIMEOUT, || host.members("cams/left").len() == 2));
    arm.interest(["secret/**", "cmd/cam"]).unwrap();
    cam.sync().unwrap();
    arm.sync().unwrap();
    // A batch to all, to a group and to a room: the camera gets none of the secrets.
    let mut batch = host.lock();
    batch.write("secret/a", "batch").unwrap();
    batch.write("cmd/cam", "batch").unwrap();
    batch.finish().unwrap();
    host.to(socketengine::To::Group("secret/**".into()))
        .write("secret/b", "group")
        .unwrap();
    host.to(socketengine::To::Room("cams/left".into()))
        .write_lock("secret/c", "room")
        .unwrap();
    // By name: refused, with the payload back.
    let err = host.to("cam").write("secret/d", "named").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Forbidden { action: Action::Subscribe, client: Some(c), .. } if c == "cam"),
        "{err}"
    );
    assert_eq!(err.payload().map(|p| &p[..]), Some(&b"named"[..]));
    let mut batch = host.to("cam").lock();
    batch.write("cmd/cam", "x").unwrap();
    batch.write("secret/e", "x").unwrap();
    assert!(matches!(
        batch.finish().unwrap_err().kind(),
        ErrorKind::Forbidden { .. }
    ));
    // The one that may has them all; then a marker the camera may have.
    for c in ["secret/a", "secret/b", "secret/c"] {
        assert!(wait_until(TIMEOUT, || arm.get(c).is_some()), "{c}");
    }
    host.to("cam").write_lock("cmd/cam", "marker").unwrap();
    assert!(wait_until(TIMEOUT, || cam
        .get("cmd/cam")
        .is_some_and(|m| &m.payload()[..] == b"marker")));
    for c in ["secret/a", "secret/b", "secret/c", "secret/d", "secret/e"] {
        assert!(
            cam.get(c).is_none(),
            "{c} reached a client that may not have it"
        );
    }
}

#[test]
fn a_client_answers_one_challenge_and_no_more() {
    let challenge = |n: u8| {
        socketengine::protocol::Challenge {
            version: socketengine::protocol::VERSION,
            nonce: [n; 32],
        }
        .encode()
    };
    let twice = [challenge(1), challenge(2)].concat();
    let (addr, fake) = util::fake_peer(twice);
    let err = Client::builder()
        .addr(addr.to_string())
        .name("arm")
        .credential(Credential::ed25519(SEED))
        .reconnect(false)
        .connect()
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Protocol(_)), "{err}");
    // It sent one proof (65 bytes), and closed.
    let mut stream = fake.join().unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    assert_eq!(got.len(), 65, "one proof");
}
