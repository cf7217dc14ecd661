//! The soak's attackers: one thread each, each in the style of its
//! single-attack test, looping at a fixed rate until the deadline and
//! counting what happened to it. They count failures instead of panicking:
//! what is asserted is what the legitimate clients saw.
//!
//! Two kinds of attacker. Outsiders hold no credential: half-open
//! handshakes, and name takeovers. Insiders hold one listed key (the same
//! key under every attacker name in the host's [`Auth`]): everything that
//! needs a connection past the handshake. Insiders may publish anywhere;
//! only the stalled readers may subscribe (to everything), so each attack
//! costs the host what its own test makes it cost.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, ErrorKind as IoKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey};
use socket2::{Domain, Socket, Type};
use socketengine::protocol::{
    Answer, AuthMethod, CHALLENGE_LEN, Header, Hello, ImageMeta, Kind, Proof, ResumeToken,
    WELCOME_LEN, WelcomeStatus, transcript,
};
use socketengine::{Action, Auth, Client, Credential, Error, Event, Permissions, PixelFormat};

/// The key every insider proves its name with.
const INSIDER_KEY: [u8; 32] = [0x1a; 32];

/// Names the memory attacker cycles through: each of its connections in a
/// 300 s soak has a name the host has not seen.
const MEMORY_NAMES: u64 = 4096;

/// The memory attacker's frame: one per fresh connection, on a fresh channel.
const MEMORY_FRAME: usize = 32 << 20;

/// Stalled readers held open at once (the oldest let go as new ones come).
const STALLED: usize = 64;

/// Connections announcing 64 MiB images held open at once.
const ANNOUNCERS: usize = 16;

/// Half-open handshakes held at once: more than the 256 handshake slots.
const HALF_OPEN: usize = 320;

/// Clients inventing channel names.
const INVENTORS: u64 = 8;

/// Names and text that would rewrite a log line or a terminal: an escape
/// sequence, a NUL, a forged log line, a right-to-left override.
const WEIRD: [&str; 4] = [
    "esc\u{1b}[31m",
    "nul\0",
    "nl\n[host] admin connected",
    "rtl\u{202e}txt.exe",
];

/// How long any one network step of an attacker may block.
const STEP: Duration = Duration::from_secs(2);

/// What one attacker did, by outcome.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) attack: &'static str,
    pub(crate) counts: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, what: impl Into<String>) {
        *self.counts.entry(what.into()).or_default() += 1;
    }

    /// Counts `err` by its kind's variant name.
    fn failed(&mut self, step: &str, err: &Error) {
        self.add(format!("{step} failed: {}", crate::variant(err.kind())));
    }

    fn io(&mut self, step: &str, err: &io::Error) {
        self.add(format!("{step} failed: {:?}", err.kind()));
    }
}

/// The host's list: the legitimate clients in `legit`, and every attacker
/// name with the insiders' key.
pub(crate) fn auth(legit: Auth) -> Auth {
    let key = Credential::ed25519(INSIDER_KEY).verifier();
    let publish = Permissions::none().allow(Action::Publish, "**").unwrap();
    let subscribe = Permissions::none().allow(Action::Subscribe, "**").unwrap();
    let mut names: Vec<String> = (0..MEMORY_NAMES).map(|i| format!("mem-{i}")).collect();
    names.extend((0..16).map(|i| format!("img-{i}")));
    names.extend((0..INVENTORS).map(|i| format!("chan-{i}")));
    names.extend((0..8).map(|i| format!("bad-{i}")));
    names.extend(WEIRD.map(String::from));
    let auth = (0..2 * STALLED).fold(legit, |auth, i| {
        auth.client(format!("stall-{i}"), key.clone(), subscribe.clone())
    });
    names.into_iter().fold(auth, |auth, name| {
        auth.client(name, key.clone(), publish.clone())
    })
}

/// An attacker: started against an address, it runs until a deadline.
type Attack = fn(SocketAddr, Instant) -> JoinHandle<Tally>;

/// Starts the attackers against `addr` whose names contain one of the
/// comma-separated words of `SOAK_ATTACKS` (all when it is unset); each
/// stops at `until`.
pub(crate) fn start(addr: SocketAddr, until: Instant) -> Vec<JoinHandle<Tally>> {
    let chosen = std::env::var("SOAK_ATTACKS").unwrap_or_default();
    let wanted = |name: &str| chosen.is_empty() || chosen.split(',').any(|w| name.contains(w));
    let all: [(&str, Attack); 8] = [
        ("memory", memory),
        ("stalled readers", stalled_readers),
        ("64 MiB images announced", announced_images),
        ("channel names", channel_names),
        ("half-open handshakes", half_open),
        ("impostors", impostors),
        ("log injection", log_injection),
        ("malformed frames", garbage),
    ];
    let chosen = all.into_iter().filter(|(name, _)| wanted(name));
    chosen.map(|(_, attack)| attack(addr, until)).collect()
}

/// Runs `round` every `period` until `until` (and at most a day's worth of
/// rounds), on a thread of its own.
fn every(
    attack: &'static str,
    period: Duration,
    until: Instant,
    mut round: impl FnMut(u64, &mut Tally) + Send + 'static,
) -> JoinHandle<Tally> {
    std::thread::spawn(move || {
        let mut tally = Tally {
            attack,
            ..Tally::default()
        };
        let mut next = Instant::now();
        for n in 0..86_400_000 {
            if Instant::now() >= until {
                break;
            }
            crate::pace(&mut next, period);
            round(n, &mut tally);
        }
        tally
    })
}

/// A library client proving `name` with the insiders' key; it does not redial.
fn insider(addr: SocketAddr, name: &str) -> socketengine::Result<Client> {
    Client::builder()
        .addr(addr.to_string())
        .name(name)
        .credential(Credential::ed25519(INSIDER_KEY))
        .reconnect(false)
        .connect()
}

/// A library client without a credential, or with `credential`.
fn outsider(addr: SocketAddr, name: &str, credential: Option<Credential>) -> Result<Client, Error> {
    let builder = Client::builder().addr(addr.to_string()).name(name);
    let builder = builder.reconnect(false);
    match credential {
        Some(c) => builder.credential(c).connect(),
        None => builder.connect(),
    }
}

/// A raw connection with bounded blocking steps.
fn raw(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, STEP)?;
    stream.set_read_timeout(Some(STEP))?;
    stream.set_write_timeout(Some(STEP))?;
    Ok(stream)
}

/// A raw connection that proved `name` with the insiders' key by hand.
fn raw_insider(addr: SocketAddr, name: &str) -> io::Result<TcpStream> {
    let mut stream = raw(addr)?;
    let mut wire = Vec::new();
    let hello = Hello::new(name).with_auth(AuthMethod::Ed25519);
    hello.encode(&mut wire).map_err(io::Error::other)?;
    stream.write_all(&wire)?;
    let mut buf = [0u8; WELCOME_LEN];
    stream.read_exact(&mut buf[..CHALLENGE_LEN])?;
    let Ok(Some((Answer::Challenge(challenge), _))) = Answer::decode(&buf[..CHALLENGE_LEN]) else {
        return Err(io::Error::other("no challenge"));
    };
    let key = SigningKey::from_bytes(&INSIDER_KEY);
    let proof = key.sign(&transcript(&challenge.nonce, name, b""));
    wire.clear();
    let proof = Proof(proof.to_bytes().to_vec());
    proof.encode(&mut wire).map_err(io::Error::other)?;
    stream.write_all(&wire)?;
    stream.read_exact(&mut buf)?;
    match Answer::decode(&buf) {
        Ok(Some((Answer::Welcome(w), _))) if w.status == WelcomeStatus::Accepted => Ok(stream),
        other => Err(io::Error::other(format!("not welcomed: {other:?}"))),
    }
}

/// Memory: a connection under a fresh name every 100 ms, each sending one
/// 32 MiB frame on a fresh channel and leaving.
fn memory(addr: SocketAddr, until: Instant) -> JoinHandle<Tally> {
    let junk = Bytes::from(vec![0xee; MEMORY_FRAME]);
    every(
        "memory",
        Duration::from_millis(100),
        until,
        move |n, t| match insider(addr, &format!("mem-{}", n % MEMORY_NAMES)) {
            Ok(client) => {
                match client.write_lock(&format!("junk/{n}"), &junk) {
                    Ok(()) => t.add("32 MiB frames sent"),
                    Err(e) => t.failed("write", &e),
                }
                client.close();
            }
            Err(e) => t.failed("connect", &e),
        },
    )
}

/// Slow consumers: a reader that proves its name, subscribes to everything
/// and never reads, every 100 ms; each pings once a second.
fn stalled_readers(addr: SocketAddr, until: Instant) -> JoinHandle<Tally> {
    let ping = Header::new(Kind::Ping { sent_ns: 1 }, "ping").to_bytes(&[]);
    let ping = ping.unwrap();
    let mut held = VecDeque::new();
    every(
        "stalled readers",
        Duration::from_millis(100),
        until,
        move |n, t| {
            let name = format!("stall-{}", n % (2 * STALLED as u64));
            match raw_insider(addr, &name).and_then(|s| s.set_nonblocking(true).map(|()| s)) {
                Ok(stream) => {
                    t.add("opened");
                    held.push_back(stream);
                }
                Err(e) => t.io("open", &e),
            }
            if held.len() > STALLED {
                held.pop_front();
            }
            if n % 10 == 0 {
                for stream in &mut held {
                    let _ = stream.write(&ping);
                }
            }
        },
    )
}

/// The first frame of a JPEG image of `total` bytes on `channel`, carrying
/// `first` bytes of it.
fn image_start(channel: &str, seq: u64, total: usize, first: usize) -> Vec<u8> {
    let meta = ImageMeta {
        width: 1,
        height: 1,
        format: PixelFormat::Jpeg.code(),
        stride: 0,
        seq,
        timestamp_ns: 0,
        total_len: total as u64,
    };
    let frame = Header::new(Kind::Image(meta), channel).to_bytes(&vec![7; first]);
    frame.map(|f| f.to_vec()).unwrap_or_default()
}

/// Allocation: once a second a connection that starts 16 images announcing
/// 64 MiB each, sends 1 KiB of each and nothing more (16 held at once, each
/// past the partial timeout).
fn announced_images(addr: SocketAddr, until: Instant) -> JoinHandle<Tally> {
    let mut held = VecDeque::new();
    every(
        "64 MiB images announced",
        Duration::from_secs(1),
        until,
        move |n, t| {
            let headers: Vec<u8> = (0..16)
                .flat_map(|cam| image_start(&format!("cam{cam}"), n, 64 << 20, 1024))
                .collect();
            let sent = raw_insider(addr, &format!("img-{}", n % 16))
                .and_then(|mut s| s.write_all(&headers).map(|()| s));
            match sent {
                Ok(stream) => {
                    *t.counts.entry("images announced".into()).or_default() += 16;
                    held.push_back(stream);
                }
                Err(e) => t.io("announce", &e),
            }
            if held.len() > ANNOUNCERS {
                held.pop_front();
            }
        },
    )
}

/// Channel slots: eight clients, each writing to a channel name never used
/// before, 4,000 names a second in all; the refusals are counted.
fn channel_names(addr: SocketAddr, until: Instant) -> JoinHandle<Tally> {
    let mut clients: Vec<Option<Client>> = (0..INVENTORS).map(|_| None).collect();
    every(
        "channel names",
        Duration::from_millis(2),
        until,
        move |n, t| {
            let k = n % INVENTORS;
            let slot = &mut clients[k as usize];
            if slot.is_none() {
                match insider(addr, &format!("chan-{k}")) {
                    Ok(c) => *slot = Some(c),
                    Err(e) => return t.failed("connect", &e),
                }
            }
            let Some(client) = slot.as_ref() else { return };
            for i in 0..8 {
                match client.write(&format!("slot/{k}/{n}/{i}"), &b"x"[..]) {
                    Ok(()) => t.add("names written"),
                    Err(e) => t.failed("write", &e),
                }
            }
            for event in client.events().try_iter() {
                if let Event::Undelivered { error, .. } = event {
                    t.failed("undelivered", &error);
                }
            }
        },
    )
}

/// A raw connection to `addr` from `127.0.0.{2 + n % 250}`: each source
/// address has its own ports, so a flood of short connections does not run
/// out of them.
fn connect_from(addr: SocketAddr, n: u64) -> io::Result<TcpStream> {
    let local = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2 + (n % 250) as u8), 0));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&local.into())?;
    socket.connect_timeout(&addr.into(), STEP)?;
    Ok(TcpStream::from(socket))
}

/// Admission: every 10 ms a silent connection and a slowloris (the first
/// five bytes of a hello, then nothing), 320 held at once.
fn half_open(addr: SocketAddr, until: Instant) -> JoinHandle<Tally> {
    let mut hello = Vec::new();
    let _ = Hello::new("slow").encode(&mut hello);
    let mut held = VecDeque::new();
    every(
        "half-open handshakes",
        Duration::from_millis(10),
        until,
        move |n, t| {
            for slowloris in [false, true] {
                match connect_from(addr, 2 * n + u64::from(slowloris)) {
                    Ok(mut stream) => {
                        let _ = stream.set_nonblocking(true);
                        if slowloris {
                            let _ = stream.write(&hello[..5]);
                        }
                        t.add(if slowloris { "slowloris" } else { "silent" });
                        held.push_back(stream);
                    }
                    Err(e) => t.io("connect", &e),
                }
            }
            while held.len() > HALF_OPEN {
                held.pop_front();
            }
        },
    )
}

/// Sends a raw hello for `name` with a made-up resume token and no
/// credential; returns the host's answer.
fn forged_resume(addr: SocketAddr, name: &str) -> io::Result<WelcomeStatus> {
    let mut stream = raw(addr)?;
    let mut wire = Vec::new();
    let hello = Hello::new(name).with_resume(Some(ResumeToken([0x5a; 16])));
    hello.encode(&mut wire).map_err(io::Error::other)?;
    stream.write_all(&wire)?;
    let mut buf = [0u8; WELCOME_LEN];
    stream.read_exact(&mut buf)?;
    match Answer::decode(&buf) {
        Ok(Some((Answer::Welcome(w), _))) => Ok(w.status),
        other => Err(io::Error::other(format!("no welcome: {other:?}"))),
    }
}

/// Identity: every 50 ms an attempt on a legitimate client's name without
/// a credential, with a wrong key, with a guessed token, with a forged
/// resume token, or a name nobody listed. Any admission is counted as
/// `ADMITTED`.
fn impostors(addr: SocketAddr, until: Instant) -> JoinHandle<Tally> {
    let legit = ["camera", "viewer", "arm"];
    every(
        "impostors",
        Duration::from_millis(50),
        until,
        move |n, t| {
            let name = legit[(n / 5 % 3) as usize];
            let attempt = match n % 5 {
                0 => outsider(addr, name, None),
                1 => outsider(addr, name, Some(Credential::generate().expect("a key"))),
                2 => outsider(addr, name, Some(Credential::token("guess"))),
                3 => {
                    match forged_resume(addr, name) {
                        Ok(WelcomeStatus::Accepted) => t.add("ADMITTED"),
                        Ok(status) => t.add(format!("forged resume: {status:?}")),
                        Err(e) => t.io("forged resume", &e),
                    }
                    return;
                }
                _ => outsider(addr, &format!("stranger-{n}"), None),
            };
            match attempt {
                Ok(_) => t.add("ADMITTED"),
                Err(e) => t.failed("connect", &e),
            }
        },
    )
}

/// Log injection: every 100 ms an insider whose listed name carries an
/// escape, a NUL, a newline or a right-to-left override writes on channels
/// named likewise; and an outsider asks for a name made of all of them.
fn log_injection(addr: SocketAddr, until: Instant) -> JoinHandle<Tally> {
    every(
        "log injection",
        Duration::from_millis(100),
        until,
        move |n, t| {
            match insider(addr, WEIRD[(n % 4) as usize]) {
                Ok(client) => {
                    for weird in WEIRD {
                        match client.write_lock(&format!("log/{weird}"), weird) {
                            Ok(()) => t.add("written"),
                            Err(e) => t.failed("write", &e),
                        }
                    }
                    client.close();
                }
                Err(e) => t.failed("connect", &e),
            }
            let name = format!("\u{1b}]0;{n}\u{7}\n\0\u{202e}");
            match outsider(addr, &name, None) {
                Ok(_) => t.add("ADMITTED"),
                Err(e) => t.failed("unlisted", &e),
            }
        },
    )
}

/// The bytes of a malformed frame: noise behind a plausible length, a
/// length past any maximum, or an unknown kind.
fn malformed(n: u64) -> Vec<u8> {
    match n % 3 {
        0 => {
            let mut noise = crate::util::noise(n, 4096);
            noise[..4].copy_from_slice(&4092u32.to_le_bytes());
            noise
        }
        1 => vec![0xff, 0xff, 0xff, 0xff, 0, 0, 1, b'x'],
        _ => vec![4, 0, 0, 0, 0xee, 0, 1, b'x'],
    }
}

/// Whether the host closes `stream` within [`STEP`] (what it sends first
/// is read and let go).
fn closed_by_host(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    for _ in 0..256 {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return matches!(
                    e.kind(),
                    IoKind::ConnectionReset | IoKind::ConnectionAborted
                );
            }
        }
    }
    false
}

/// Malformed frames: every 50 ms an insider that completes the handshake
/// and sends garbage, and checks the host closes it.
fn garbage(addr: SocketAddr, until: Instant) -> JoinHandle<Tally> {
    every(
        "malformed frames",
        Duration::from_millis(50),
        until,
        move |n, t| match raw_insider(addr, &format!("bad-{}", n % 8)) {
            Ok(mut stream) => {
                let _ = stream.write_all(&malformed(n));
                t.add(match closed_by_host(&mut stream) {
                    true => "closed by the host",
                    false => "LEFT OPEN",
                });
            }
            Err(e) => t.io("open", &e),
        },
    )
}
