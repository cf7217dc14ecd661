//! A client and a host session on a loopback pair of non-blocking sockets,
//! driven by hand: the handshake, the client certificate's digest, and the
//! taken / flushed accounting of writes.

use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mio::net::TcpStream;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use super::Session;
use crate::tls::{TlsClient, TlsServer};

/// Most turns of any loop here, whatever the clock says.
const MAX_TURNS: usize = 1_000_000;
const TIMEOUT: Duration = Duration::from_secs(30);

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("ca key");
        let ca = CertifiedIssuer::self_signed(params, key).expect("ca");
        Pki { ca }
    }

    /// A certificate for `name`: its PEM, its key's PEM and its DER.
    fn issue(&self, name: &str) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(vec![name.to_owned()]).expect("params");
        let cert = params.signed_by(&key, &self.ca).expect("certificate");
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

/// A connected pair of non-blocking sockets: (client's, host's).
fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client =
        std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (host, _) = listener.accept().expect("accept");
    for s in [&client, &host] {
        s.set_nonblocking(true).expect("non-blocking");
    }
    (TcpStream::from_std(client), TcpStream::from_std(host))
}

/// Runs `step` until it returns true, bounded in turns and time.
fn until(mut step: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    for _ in 0..MAX_TURNS {
        if step() {
            return;
        }
        assert!(Instant::now() < deadline, "not done within {TIMEOUT:?}");
        std::thread::yield_now();
    }
    panic!("not done within {MAX_TURNS} turns");
}

/// Sessions of both ends over `pair`, their handshakes done.
fn handshake(
    server: &TlsServer,
    client: &TlsClient,
    pair: &(TcpStream, TcpStream),
) -> (Session, Session) {
    let mut client_tls = client.clone();
    client_tls.name_from("localhost:1").expect("a name");
    let c = Session::client(client_tls.config(), client_tls.name().expect("name")).expect("client");
    let h = Session::server(server.config()).expect("server");
    let (mut c_done, mut h_done) = (false, false);
    until(|| {
        c_done = c_done || c.handshake(&pair.0).expect("client handshake");
        h_done = h_done || h.handshake(&pair.1).expect("host handshake");
        c_done && h_done
    });
    (c, h)
}

#[test]
fn the_host_keeps_the_digest_of_the_client_certificate_it_verified() {
    let pki = Pki::new();
    let (host_pem, host_key, _) = pki.issue("localhost");
    let (client_pem, client_key, client_der) = pki.issue("robot");
    let ca = pki.ca.pem();
    let server = TlsServer::from_pem(host_pem.as_bytes(), host_key.as_bytes())
        .and_then(|s| s.require_client_certs_pem(ca.as_bytes()))
        .expect("server settings");
    let client = TlsClient::from_ca_pem(ca.as_bytes())
        .and_then(|c| c.client_cert_pem(client_pem.as_bytes(), client_key.as_bytes()))
        .expect("client settings");
    let pair = socket_pair();
    let (c, h) = handshake(&server, &client, &pair);
    let want = ring::digest::digest(&ring::digest::SHA256, &client_der);
    assert_eq!(
        h.peer_cert_sha256().as_ref().map(|d| &d[..]),
        Some(want.as_ref())
    );
    // The client sees the host's certificate; without client certificates
    // asked for, a host sees none.
    assert!(c.peer_cert_sha256().is_some());
}

#[test]
fn written_counts_only_what_reached_the_kernel_and_reads_drain_everything() {
    let pki = Pki::new();
    let (host_pem, host_key, _) = pki.issue("localhost");
    let server = TlsServer::from_pem(host_pem.as_bytes(), host_key.as_bytes()).expect("server");
    let client = TlsClient::from_ca_pem(pki.ca.pem().as_bytes()).expect("client");
    let pair = socket_pair();
    let (c, h) = handshake(&server, &client, &pair);
    assert_eq!(h.peer_cert_sha256(), None);
    // Write far more than the kernel and rustls hold while nobody reads.
    let chunk = vec![7u8; 256 << 10];
    let (mut taken, mut written) = (0usize, 0usize);
    for _ in 0..MAX_TURNS {
        match c.write_vectored(&mut &pair.0, &[IoSlice::new(&chunk)]) {
            Ok(n) => taken += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        written += c.take_flushed();
    }
    written += c.take_flushed();
    assert!(
        written < taken,
        "ciphertext waits in rustls: {written} of {taken}"
    );
    assert!(taken - written <= crate::tls::SESSION_BUFFER, "bounded");
    // The reader drains; the writer flushes what waits; every byte arrives.
    let mut got = 0usize;
    let mut buf = BytesMut::with_capacity(64 << 10);
    until(|| {
        if let Ok(done) = c.flush(&mut &pair.0) {
            written += c.take_flushed();
            let _ = done;
        }
        loop {
            buf.clear();
            match h.recv_into(&pair.1, &mut buf, 64 << 10) {
                Ok(0) => panic!("end of stream"),
                Ok(n) => {
                    assert!(buf.iter().all(|&b| b == 7));
                    got += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        got == taken
    });
    assert_eq!(written, taken, "all of it counted written once flushed");
}
