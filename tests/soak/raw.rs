//! The soak's yardstick: a 1 kHz, 64-byte ping-pong over a plain loopback
//! TCP connection (std sockets, `TCP_NODELAY`, an echo thread), run beside
//! the engine's control loop in both phases. It meets what the machine does
//! to any round trip — the scheduler, the attackers' and the camera's use
//! of the two cores — without the engine, so the engine's control loop is
//! judged against it in the same run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{CONTROL_PERIOD, Control, LOST_AFTER, pace};

/// The bytes of a ping and of its pong.
const LEN: usize = 64;

/// A connected pair: this end pings, an echo thread answers on the other.
pub(crate) struct RawPair {
    stream: TcpStream,
    echo: JoinHandle<()>,
    next_seq: u64,
}

impl RawPair {
    pub(crate) fn new() -> RawPair {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        for end in [&stream, &peer] {
            end.set_nodelay(true).unwrap();
        }
        stream.set_read_timeout(Some(LOST_AFTER)).unwrap();
        // Answers until this end closes (its read then ends).
        let echo = std::thread::spawn(move || {
            let mut buf = [0u8; LEN];
            while peer.read_exact(&mut buf).is_ok() && peer.write_all(&buf).is_ok() {}
        });
        RawPair {
            stream,
            echo,
            next_seq: 0,
        }
    }

    /// Pings at 1 kHz for `run`, timing each round trip.
    pub(crate) fn control_loop(&mut self, run: Duration) -> Control {
        let mut control = Control::default();
        let (start, mut next) = (Instant::now(), Instant::now());
        while start.elapsed() < run {
            pace(&mut next, CONTROL_PERIOD);
            let seq = self.next_seq;
            self.next_seq += 1;
            let mut ping = [0x5a; LEN];
            ping[..8].copy_from_slice(&seq.to_le_bytes());
            let sent = Instant::now();
            if let Err(e) = self.stream.write_all(&ping) {
                control.errors.push(e.to_string());
                break;
            }
            match self.pong(seq) {
                Ok(true) => {
                    control.rtts.push(sent.elapsed());
                    control.sent.push((seq, sent));
                }
                Ok(false) => control.lost += 1,
                Err(e) => {
                    control.errors.push(e.to_string());
                    break;
                }
            }
        }
        control
    }

    /// Reads pongs until the one numbered `seq` (skipping late ones);
    /// `false` once it is [`LOST_AFTER`] late.
    fn pong(&mut self, seq: u64) -> std::io::Result<bool> {
        let deadline = Instant::now() + LOST_AFTER;
        let mut buf = [0u8; LEN];
        // Each pong is at most one lost ping behind, so this loop is short.
        for _ in 0..1_000_000 {
            match self.stream.read_exact(&mut buf) {
                Ok(()) if buf[..8] == seq.to_le_bytes() => return Ok(true),
                Ok(()) if Instant::now() < deadline => continue,
                Ok(()) => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Closes the pair and joins its echo thread.
    pub(crate) fn close(self) {
        drop(self.stream);
        self.echo.join().unwrap();
    }
}
