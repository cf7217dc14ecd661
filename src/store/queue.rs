//! A channel's bounded queue. Small frames received together are kept as one
//! run over their receive buffer and become [`Message`]s only when read, so the
//! event loop does per-frame work of a few comparisons and the reader's thread
//! does the rest.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::Message;
use crate::ClientId;
use crate::protocol::{ChannelName, Encoding};

/// Payloads from one read, one sender and one channel: `chunk[start..end]` for
/// each span.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) chunk: Bytes,
    pub(crate) spans: Vec<(u32, u32)>,
    pub(crate) channel: ChannelName,
    pub(crate) from: ClientId,
    pub(crate) received: Instant,
    /// The encoding every frame of the run declared.
    pub(crate) encoding: Encoding,
    /// Whether every frame carried a send time (before its payload).
    pub(crate) stamped: bool,
}

impl Run {
    /// The message of span `i`.
    #[inline]
    pub(crate) fn message(&self, i: usize) -> Message {
        let (start, end) = self.spans[i];
        let payload = self.chunk.slice(start as usize..end as usize);
        let msg = Message::new(self.channel.clone(), payload, self.from, self.received)
            .with_encoding(self.encoding);
        match self.stamped {
            false => msg,
            true => msg.with_sent_at(Some(crate::protocol::sent_at_before(
                &self.chunk,
                start as usize,
            ))),
        }
    }

    /// Payload bytes of all spans.
    pub(crate) fn bytes(&self) -> u64 {
        self.spans.iter().map(|(s, e)| u64::from(e - s)).sum()
    }
}

#[derive(Debug)]
enum Entry {
    One(Message),
    /// Spans before `next` were dropped.
    Run {
        run: Run,
        next: usize,
    },
}

/// Messages in arrival order, at most a capacity of them and (beyond the
/// newest) at most a byte cap of payload.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    entries: VecDeque<Entry>,
    /// Messages held, counting every remaining span of every run.
    len: usize,
    /// Payload bytes held, counting every remaining span of every run.
    bytes: usize,
}

/// The most a queue holds: messages, and payload bytes beyond its newest.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
}

impl Queue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Payload bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The newest message's payload, where it lies.
    pub(crate) fn newest(&self) -> Option<&[u8]> {
        match self.entries.back()? {
            Entry::One(msg) => Some(&msg.payload[..]),
            Entry::Run { run, .. } => {
                let &(start, end) = run.spans.last()?;
                run.chunk.get(start as usize..end as usize)
            }
        }
    }

    /// Appends messages, then drops the oldest beyond `limits`; returns how
    /// many were dropped.
    pub(crate) fn push_messages(&mut self, batch: &mut Vec<Message>, limits: Limits) -> u64 {
        self.len += batch.len();
        self.bytes += batch.iter().map(|m| m.payload.len()).sum::<usize>();
        self.entries.extend(batch.drain(..).map(Entry::One));
        self.trim(limits)
    }

    /// Appends a run, then drops the oldest beyond `limits`.
    pub(crate) fn push_run(&mut self, run: Run, limits: Limits) -> u64 {
        self.len += run.spans.len();
        self.bytes += run.bytes() as usize;
        self.entries.push_back(Entry::Run { run, next: 0 });
        self.trim(limits)
    }

    /// Drops the oldest messages while more than `limits.messages` are held,
    /// or more than `limits.bytes` of payload and more than one message;
    /// returns how many it dropped.
    pub(crate) fn trim(&mut self, limits: Limits) -> u64 {
        let over = |q: &Queue| q.len > limits.messages || (q.bytes > limits.bytes && q.len > 1);
        let mut dropped = 0;
        while over(self) {
            let Some(front) = self.entries.front_mut() else {
                break;
            };
            // Whole entries while the count alone is over; span by span
            // inside a run, so the bytes are checked after each.
            let (gone, bytes, whole) = match front {
                Entry::One(msg) => (1, msg.payload.len(), true),
                Entry::Run { run, next } => {
                    let by_count = self.len.saturating_sub(limits.messages).max(1);
                    let k = by_count.min(run.spans.len() - *next);
                    let bytes = run.spans[*next..*next + k]
                        .iter()
                        .map(|(s, e)| (e - s) as usize)
                        .sum();
                    *next += k;
                    (k, bytes, *next == run.spans.len())
                }
            };
            if whole {
                self.entries.pop_front();
            }
            self.len -= gone;
            self.bytes -= bytes;
            dropped += gone as u64;
        }
        dropped
    }

    /// Empties the queue, keeping room for as many entries as it had.
    pub(crate) fn take(&mut self) -> Queue {
        let fresh = Queue {
            entries: VecDeque::with_capacity(self.entries.len()),
            len: 0,
            bytes: 0,
        };
        std::mem::replace(self, fresh)
    }

    /// The messages, oldest first.
    pub(crate) fn into_messages(self) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.len);
        for entry in self.entries {
            match entry {
                Entry::One(msg) => out.push(msg),
                Entry::Run { run, next } => {
                    out.extend((next..run.spans.len()).map(|i| run.message(i)))
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A run of one-byte payloads "a", "b", ... taken from `letters`.
    fn run(letters: &'static str) -> Run {
        Run {
            chunk: Bytes::from(letters),
            spans: (0..letters.len() as u32).map(|i| (i, i + 1)).collect(),
            channel: ChannelName::new("ch").unwrap(),
            from: ClientId(1),
            received: Instant::now(),
            encoding: Encoding::Bytes,
            stamped: false,
        }
    }

    fn one(payload: &'static str) -> Message {
        let channel = ChannelName::new("ch").unwrap();
        Message::new(channel, Bytes::from(payload), ClientId(2), Instant::now())
    }

    fn payloads(queue: Queue) -> String {
        let msgs = queue.into_messages();
        msgs.iter()
            .map(|m| std::str::from_utf8(m.payload()).unwrap())
            .collect()
    }

    /// Limits of `messages` messages and no byte cap.
    fn count(messages: usize) -> Limits {
        Limits {
            messages,
            bytes: usize::MAX,
        }
    }

    #[test]
    fn a_stamped_run_gives_each_message_its_send_time() {
        // Each frame's tail: its send time, then a one-byte payload.
        let mut chunk = Vec::new();
        for (sent_at, payload) in [(7u64, b'a'), (9, b'b')] {
            chunk.extend_from_slice(&sent_at.to_le_bytes());
            chunk.push(payload);
        }
        let stamped = Run {
            chunk: Bytes::from(chunk),
            spans: vec![(8, 9), (17, 18)],
            stamped: true,
            ..run("")
        };
        let times: Vec<_> = (0..2).map(|i| stamped.message(i).sent_at_ns()).collect();
        assert_eq!(times, [Some(7), Some(9)]);
        assert_eq!(&stamped.message(1).payload()[..], b"b");
        assert_eq!(run("a").message(0).sent_at_ns(), None);
    }

    #[test]
    fn runs_and_single_messages_keep_arrival_order() {
        let mut queue = Queue::default();
        assert_eq!(queue.push_run(run("abc"), count(10)), 0);
        assert_eq!(queue.push_messages(&mut vec![one("d")], count(10)), 0);
        assert_eq!(queue.push_run(run("ef"), count(10)), 0);
        assert_eq!(queue.bytes(), 6);
        assert_eq!(queue.len(), 6);
        let msgs = queue.take().into_messages();
        assert_eq!(
            msgs.iter().map(|m| m.from().0).collect::<Vec<_>>(),
            [1, 1, 1, 2, 1, 1]
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn trimming_drops_the_oldest_even_inside_a_run() {
        // (runs pushed, capacity, what is left, dropped in total)
        let cases: &[(&[&'static str], usize, &str, u64)] = &[
            (&["abcde"], 3, "cde", 2),
            (&["ab", "cde"], 3, "cde", 2),
            (&["abcd", "e"], 3, "cde", 2),
            (&["a", "b", "c", "d", "e"], 2, "de", 3),
            (&["abc", "de"], 0, "", 5),
            (&["abc"], 3, "abc", 0),
        ];
        for &(runs, capacity, left, dropped) in cases {
            let mut queue = Queue::default();
            let total: u64 = runs
                .iter()
                .map(|r| queue.push_run(run(r), count(capacity)))
                .sum();
            assert_eq!(total, dropped, "{runs:?} cap {capacity}");
            assert_eq!((queue.len(), queue.bytes()), (left.len(), left.len()));
            assert_eq!(payloads(queue), left, "{runs:?} cap {capacity}");
        }
    }

    #[test]
    fn a_byte_cap_drops_the_oldest_but_keeps_the_newest() {
        // (pushed: runs, or single messages as "=x"; byte cap; left; dropped)
        let cases: &[(&[&'static str], usize, &str, u64)] = &[
            (&["abcde"], 3, "cde", 2),
            (&["ab", "cd", "e"], 2, "de", 3),
            (&["=abcdef"], 2, "abcdef", 0),
            (&["ab", "=cdefg"], 2, "cdefg", 2),
            (&["=ab", "=c", "de"], 3, "cde", 1),
        ];
        for &(pushed, cap, left, dropped) in cases {
            let mut queue = Queue::default();
            let limits = Limits {
                messages: 100,
                bytes: cap,
            };
            let total: u64 = pushed
                .iter()
                .map(|p| match p.strip_prefix('=') {
                    Some(text) => queue.push_messages(&mut vec![one(text)], limits),
                    None => queue.push_run(run(p), limits),
                })
                .sum();
            assert_eq!(total, dropped, "{pushed:?} cap {cap}");
            assert_eq!(queue.bytes(), left.len(), "{pushed:?} cap {cap}");
            assert_eq!(payloads(queue), left, "{pushed:?} cap {cap}");
        }
    }
}
