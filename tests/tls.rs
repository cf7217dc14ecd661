//! TLS below the handshake (the `tls` feature): round trips of data and a
//! 1080p image, mismatched ends (plain against TLS, both ways), a host
//! certificate from another authority, mutual TLS, garbage after the TLS
//! handshake, and a slow reader's bounded buffers.
#![allow(clippy::unwrap_used)]

#[path = "util/pki.rs"]
mod pki;
mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use socketengine::protocol::{Header, Hello, Kind, WELCOME_LEN, Welcome, WelcomeStatus};
use socketengine::{
    Client, ClientBuilder, ErrorKind, Event, Host, HostBuilder, IMAGE_CHANNEL, TlsClient, TlsError,
    TlsServer,
};

use pki::{Authority, Pem};
use util::{TIMEOUT, client, frame_1080p, host, next_error, wait_received, wait_until};

/// An authority, its host certificate, and a host speaking TLS with it.
struct Setup {
    ca: Authority,
    host: Host,
}

fn tls_host(f: impl FnOnce(TlsServer) -> TlsServer) -> Setup {
    tls_host_with(f, |b| b)
}

fn tls_host_with(
    f: impl FnOnce(TlsServer) -> TlsServer,
    builder: impl FnOnce(HostBuilder) -> HostBuilder,
) -> Setup {
    let ca = Authority::new("test ca");
    let Pem { cert, key } = ca.host();
    let server = f(TlsServer::from_pem(cert.as_bytes(), key.as_bytes()).unwrap());
    let host = builder(Host::builder().addr("127.0.0.1:0").tls(server))
        .start()
        .unwrap();
    Setup { ca, host }
}

fn trusting(ca: &Authority) -> TlsClient {
    TlsClient::from_ca_pem(ca.cert_pem().as_bytes()).unwrap()
}

fn builder(host: &Host, name: &str) -> ClientBuilder {
    Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .reconnect(false)
}

fn tls_client(setup: &Setup, name: &str) -> Client {
    builder(&setup.host, name)
        .tls(trusting(&setup.ca))
        .connect()
        .unwrap()
}

#[test]
fn data_and_a_1080p_image_round_trip_over_tls() {
    let setup = tls_host(|s| s);
    let client = tls_client(&setup, "camera");
    client.write_lock("pose", &b"x=1"[..]).unwrap();
    client.write("pose", &b"x=2"[..]).unwrap();
    wait_received(&setup.host, "pose", 2);
    assert_eq!(&setup.host.get("pose").unwrap().payload()[..], b"x=2");

    setup.host.write_lock("cmd", &b"go"[..]).unwrap();
    assert!(wait_until(TIMEOUT, || client.get("cmd").is_some()));

    for seq in 1..=3 {
        client.write_lock(IMAGE_CHANNEL, frame_1080p(seq)).unwrap();
    }
    let arrived = wait_until(TIMEOUT, || {
        setup
            .host
            .get_image(IMAGE_CHANNEL)
            .is_some_and(|img| img.seq() == 3)
    });
    assert!(arrived, "the third frame arrived");
    let img = setup.host.get_image(IMAGE_CHANNEL).unwrap();
    assert_eq!((img.width(), img.height()), (1920, 1080));
    assert!(img.data().iter().all(|&b| b == 3), "frame intact");
}

#[test]
fn a_large_message_round_trips_both_ways_over_tls() {
    let setup = tls_host(|s| s);
    let client = tls_client(&setup, "bulk");
    let big: Bytes = util::noise(7, 5 << 20).into();
    client.write_lock("bulk", big.clone()).unwrap();
    wait_received(&setup.host, "bulk", 1);
    assert_eq!(setup.host.get("bulk").unwrap().payload(), &big);
    setup.host.write_lock("bulk", big.clone()).unwrap();
    assert!(wait_until(TIMEOUT, || client.get("bulk").is_some()));
    assert_eq!(client.get("bulk").unwrap().payload(), &big);
}

#[test]
fn a_plain_client_at_a_tls_host_fails_clearly_and_the_host_serves_others() {
    let setup = tls_host(|s| s);
    let events = setup.host.events();
    let err = builder(&setup.host, "plain").connect().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Tls(TlsError::Mismatch(_))),
        "{err}"
    );
    let (_, _, host_err) = next_error(&events);
    assert!(
        matches!(host_err.kind(), ErrorKind::Tls(TlsError::Mismatch(_))),
        "{host_err}"
    );
    assert_eq!(setup.host.admission_stats().bad_hello, 1);

    let client = tls_client(&setup, "good");
    client.write_lock("after", &b"ok"[..]).unwrap();
    wait_received(&setup.host, "after", 1);
}

#[test]
fn a_tls_client_at_a_plain_host_fails_clearly_and_the_host_serves_others() {
    let ca = Authority::new("test ca");
    let host = host();
    let err = builder(&host, "secure")
        .tls(trusting(&ca))
        .connect()
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Tls(TlsError::Mismatch(_))),
        "{err}"
    );
    let plain = client(&host, "plain");
    plain.write_lock("after", &b"ok"[..]).unwrap();
    wait_received(&host, "after", 1);
}

#[test]
fn a_host_certificate_from_another_authority_fails_with_a_tls_error() {
    let setup = tls_host(|s| s);
    let stranger = Authority::new("another ca");
    let err = builder(&setup.host, "wary")
        .tls(trusting(&stranger))
        .connect()
        .unwrap_err();
    let ErrorKind::Tls(TlsError::Session(why)) = err.kind() else {
        panic!("expected a TLS session error, got {err}");
    };
    assert!(why.contains("certificate"), "{why}");
}

#[test]
fn a_host_certificate_for_another_name_fails_unless_the_name_is_given() {
    let setup = tls_host(|s| s);
    let wrong = trusting(&setup.ca).server_name("camera.example").unwrap();
    let err = builder(&setup.host, "named")
        .tls(wrong)
        .connect()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Tls(_)), "{err}");
    let right = trusting(&setup.ca).server_name("localhost").unwrap();
    let client = builder(&setup.host, "named").tls(right).connect().unwrap();
    client.write_lock("ok", &b"1"[..]).unwrap();
}

#[test]
fn mutual_tls_refuses_a_client_without_a_certificate_and_admits_one_with() {
    let clients_ca = Authority::new("clients ca");
    let ca_pem = clients_ca.cert_pem();
    let setup = tls_host(|s| s.require_client_certs_pem(ca_pem.as_bytes()).unwrap());
    let events = setup.host.events();

    let err = builder(&setup.host, "anonymous")
        .tls(trusting(&setup.ca))
        .connect()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Tls(_)), "{err}");
    let (_, _, host_err) = next_error(&events);
    assert!(matches!(host_err.kind(), ErrorKind::Tls(_)), "{host_err}");

    // A certificate from an authority the host does not trust.
    let forged = Authority::new("forger").issue(&["robot"]);
    let err = builder(&setup.host, "forged")
        .tls(
            trusting(&setup.ca)
                .client_cert_pem(forged.cert.as_bytes(), forged.key.as_bytes())
                .unwrap(),
        )
        .connect()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Tls(_)), "{err}");

    let id = clients_ca.issue(&["robot"]);
    let tls = trusting(&setup.ca)
        .client_cert_pem(id.cert.as_bytes(), id.key.as_bytes())
        .unwrap();
    let client = builder(&setup.host, "robot").tls(tls).connect().unwrap();
    client.write_lock("pose", &b"1"[..]).unwrap();
    wait_received(&setup.host, "pose", 1);
}

/// A raw TLS connection to `host` that finished the TLS handshake by hand
/// (blocking, with bounded waits).
fn raw_tls(
    host: &Host,
    ca: &Authority,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let ca_pem = ca.cert_pem();
    let ca_der: rustls::pki_types::CertificateDer<'static> =
        PemObject::from_pem_slice(ca_pem.as_bytes()).unwrap();
    roots.add(ca_der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = util::raw_connect(host);
    let mut stream = rustls::StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    stream
}

/// Sends the hello over `stream` and reads an accepting welcome.
fn raw_hello(stream: &mut impl ReadWrite, name: &str) {
    let mut hello = Vec::new();
    Hello::new(name).encode(&mut hello).unwrap();
    stream.write_all(&hello).unwrap();
    stream.flush().unwrap();
    let mut buf = [0u8; WELCOME_LEN];
    stream.read_exact(&mut buf).unwrap();
    let welcome = Welcome::decode(&buf).unwrap().unwrap();
    assert_eq!(welcome.status, WelcomeStatus::Accepted);
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[test]
fn garbage_after_the_tls_handshake_closes_one_connection() {
    let setup = tls_host(|s| s);
    let events = setup.host.events();
    let good = tls_client(&setup, "good");
    let mut raw = raw_tls(&setup.host, &setup.ca);
    raw_hello(&mut raw, "mallory");
    // An application-data record that does not decrypt, straight onto the socket.
    let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
    record.extend(util::noise(3, 0x40));
    raw.sock.write_all(&record).unwrap();
    let (_, _, err) = next_error(&events);
    let ErrorKind::Tls(TlsError::Session(why)) = err.kind() else {
        panic!("expected a TLS session error, got {err}");
    };
    assert!(why.contains("decrypt"), "{why}");
    util::assert_closed_by_peer(&mut raw.sock);
    good.write_lock("still", &b"here"[..]).unwrap();
    wait_received(&setup.host, "still", 1);
}

#[test]
fn a_slow_reader_over_tls_holds_a_bounded_outbox_then_gets_every_byte() {
    const BUDGET: usize = 1 << 20;
    const PAYLOAD: usize = 64 << 10;
    let setup = tls_host_with(|s| s, |b| b.outbox_budget(BUDGET).write_deadline(None));
    let mut raw = raw_tls(&setup.host, &setup.ca);
    raw_hello(&mut raw, "slow");
    assert!(wait_until(TIMEOUT, || setup.host.clients().len() == 1));
    // Write until the outbox refuses: the kernel's buffers, rustls's and the
    // outbox's budget are full, and nothing grows past them.
    let mut sent = 0u64;
    let mut refused = false;
    for seq in 0..10_000u64 {
        let payload = Bytes::from(util::noise(seq, PAYLOAD));
        // A broadcast skips (and counts) a client whose outbox is full.
        if setup.host.write("bulk", payload).unwrap() == 0 {
            refused = true;
            break;
        }
        sent += 1;
    }
    assert!(refused, "the outbox filled");
    let queued = setup.host.clients()[0].queued_bytes;
    assert!(queued <= BUDGET + PAYLOAD + 64, "queued {queued}");
    // Now read everything: every frame arrives whole and in order.
    let frame_len = Header::new(Kind::Data, "bulk")
        .to_bytes(&[0u8; PAYLOAD])
        .unwrap()
        .len();
    let mut total = vec![0u8; frame_len * sent as usize];
    raw.sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    raw.read_exact(&mut total).unwrap();
    let last = &total[total.len() - PAYLOAD..];
    assert_eq!(last, &util::noise(sent - 1, PAYLOAD)[..]);
    assert!(wait_until(TIMEOUT, || setup.host.clients()[0].queued_bytes == 0));
}

#[test]
fn credentials_are_never_shown() {
    let ca = Authority::new("test ca");
    let Pem { cert, key } = ca.host();
    let server = TlsServer::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let shown = format!("{server:?}");
    let key_body = key.lines().nth(1).unwrap();
    assert!(!shown.contains(key_body), "{shown}");
    let host = Host::builder().addr("127.0.0.1:0").tls(server);
    assert!(!format!("{host:?}").contains(key_body));
    let err = TlsServer::from_pem(cert.as_bytes(), cert.as_bytes()).unwrap_err();
    assert!(!err.to_string().contains(key_body), "{err}");
}

#[test]
fn a_tls_client_turned_away_before_its_tls_handshake_learns_why() {
    let setup = tls_host_with(|s| s, |b| b.max_connections(1));
    let _first = tls_client(&setup, "first");
    let err = builder(&setup.host, "second")
        .tls(trusting(&setup.ca))
        .connect()
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Refused(socketengine::Refusal::HostFull)
        ),
        "{err}"
    );
}

#[test]
fn a_kicked_tls_client_redials_over_tls_and_is_served_again() {
    let setup = tls_host(|s| s);
    let host_events = setup.host.events();
    let cam = Client::builder()
        .addr(setup.host.local_addr().to_string())
        .name("camera")
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .redial_after_kick(true)
        .tls(trusting(&setup.ca))
        .connect()
        .unwrap();
    for round in 0..2 {
        util::next_event(&host_events, |e| {
            matches!(e, Event::Connected { .. }).then_some(())
        });
        setup
            .host
            .disconnect(cam.id(), format!("kick {round}"))
            .unwrap();
    }
    util::next_event(&host_events, |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    });
    cam.write_confirmed("after", "x").unwrap();
    assert_eq!(&setup.host.get("after").unwrap().payload()[..], b"x");
}

#[test]
fn locked_and_unlocked_writes_from_many_threads_arrive_whole_and_in_order_over_tls() {
    const THREADS: usize = 4;
    const EACH: usize = 300;
    let setup = tls_host(|s| s);
    // A small send buffer, so writes often leave ciphertext in rustls.
    let client = builder(&setup.host, "busy")
        .send_buffer(64 << 10)
        .tls(trusting(&setup.ca))
        .connect()
        .unwrap();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let client = &client;
            scope.spawn(move || {
                for n in 0..EACH {
                    // Some large enough to leave ciphertext in rustls.
                    let len = if n % 50 == 0 { 256 << 10 } else { 16 };
                    let mut payload = format!("{n:06}").into_bytes();
                    payload.resize(len, b'.');
                    let channel = format!("c{t}");
                    match t % 2 {
                        0 => client.write_lock(&channel, payload).unwrap(),
                        _ => loop {
                            match client.write(&channel, payload.clone()) {
                                Ok(()) => break,
                                Err(err) if err.is_full() => std::thread::yield_now(),
                                Err(err) => panic!("{err}"),
                            }
                        },
                    }
                }
            });
        }
    });
    client.flush().unwrap();
    for t in 0..THREADS {
        let channel = format!("c{t}");
        wait_received(&setup.host, &channel, EACH as u64);
        let got: Vec<usize> = setup
            .host
            .get_all(&channel)
            .iter()
            .map(|m| {
                std::str::from_utf8(&m.payload()[..6])
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(got, (0..EACH).collect::<Vec<_>>(), "{channel}");
    }
}

#[test]
fn a_client_certificate_listed_in_the_auth_file_proves_its_name() {
    use rustls::pki_types::CertificateDer;
    use sha2::Digest;
    let clients_ca = Authority::new("clients ca");
    let ca_pem = clients_ca.cert_pem();
    let robot = clients_ca.issue(&["robot"]);
    let other = clients_ca.issue(&["other"]);
    let der = CertificateDer::from_pem_slice(robot.cert.as_bytes()).unwrap();
    let fingerprint: Vec<String> = sha2::Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    // As `openssl x509 -fingerprint -sha256` prints it.
    let line = format!("robot x509-sha256:{} publish=pose", fingerprint.join(":"));
    let auth = socketengine::Auth::parse(&line).unwrap();
    let setup = tls_host_with(
        |s| s.require_client_certs_pem(ca_pem.as_bytes()).unwrap(),
        |b| b.auth(auth),
    );
    let with = |pem: &Pem| {
        trusting(&setup.ca)
            .client_cert_pem(pem.cert.as_bytes(), pem.key.as_bytes())
            .unwrap()
    };
    let client = builder(&setup.host, "robot")
        .tls(with(&robot))
        .connect()
        .unwrap();
    client.write_confirmed("pose", &b"1"[..]).unwrap();
    let err = client.write_confirmed("cmd", &b"1"[..]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Forbidden { .. }), "{err}");
    // Another certificate of the same authority does not prove the name,
    // nor does the right one prove another.
    for (name, pem) in [("robot", &other), ("other", &robot)] {
        let err = builder(&setup.host, name)
            .tls(with(pem))
            .connect()
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Refused(socketengine::Refusal::Unauthorized)
            ),
            "{name}: {err}"
        );
    }
}

#[test]
fn over_tls_a_proof_is_bound_to_its_session_and_one_made_for_another_is_refused() {
    use ed25519_dalek::{Signer, SigningKey};
    use socketengine::protocol::{Answer, AuthMethod, CHALLENGE_LEN, Proof, transcript};
    let seed = [3u8; 32];
    let key = socketengine::Credential::ed25519(seed);
    let auth =
        socketengine::Auth::new().client("arm", key.verifier(), socketengine::Permissions::all());
    let setup = tls_host_with(|s| s, |b| b.auth(auth));
    // The library's client binds its proof to its session: it gets in.
    let client = builder(&setup.host, "arm")
        .tls(trusting(&setup.ca))
        .credential(key)
        .connect()
        .unwrap();
    client.write_confirmed("pose", &b"1"[..]).unwrap();
    // A proof of the right nonce and name, but bound to no session (as one
    // relayed from a plain connection would be), is refused.
    let mut stream = raw_tls(&setup.host, &setup.ca);
    let mut hello = Vec::new();
    Hello::new("arm")
        .with_auth(AuthMethod::Ed25519)
        .encode(&mut hello)
        .unwrap();
    stream.write_all(&hello).unwrap();
    stream.flush().unwrap();
    let mut buf = [0u8; CHALLENGE_LEN];
    stream.read_exact(&mut buf).unwrap();
    let Some((Answer::Challenge(challenge), _)) = Answer::decode(&buf).unwrap() else {
        panic!("a challenge");
    };
    let unbound = SigningKey::from_bytes(&seed).sign(&transcript(&challenge.nonce, "arm", b""));
    let mut wire = Vec::new();
    Proof(unbound.to_bytes().to_vec())
        .encode(&mut wire)
        .unwrap();
    stream.write_all(&wire).unwrap();
    stream.flush().unwrap();
    let mut buf = [0u8; WELCOME_LEN];
    stream.read_exact(&mut buf).unwrap();
    let welcome = Welcome::decode(&buf).unwrap().unwrap();
    assert_eq!(welcome.status, WelcomeStatus::Unauthorized);
}
