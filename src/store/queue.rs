//! A channel's bounded queue. Small frames received together are kept as one
//! run over their receive buffer and become [`Message`]s only when read, so the
//! event loop does per-frame work of a few comparisons and the reader's thread
//! does the rest.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::Message;
use crate::ClientId;
use crate::protocol::ChannelName;

/// Payloads from one read, one sender and one channel: `chunk[start..end]` for
/// each span.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) chunk: Bytes,
    pub(crate) spans: Vec<(u32, u32)>,
    pub(crate) channel: ChannelName,
    pub(crate) from: ClientId,
    pub(crate) received: Instant,
}

impl Run {
    /// The message of span `i`.
    pub(crate) fn message(&self, i: usize) -> Message {
        let (start, end) = self.spans[i];
        let payload = self.chunk.slice(start as usize..end as usize);
        Message::new(self.channel.clone(), payload, self.from, self.received)
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

/// Messages in arrival order, at most a capacity of them.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    entries: VecDeque<Entry>,
    /// Messages held, counting every remaining span of every run.
    len: usize,
}

impl Queue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends messages, then drops the oldest beyond `capacity`; returns how
    /// many were dropped.
    pub(crate) fn push_messages(&mut self, batch: &mut Vec<Message>, capacity: usize) -> u64 {
        self.len += batch.len();
        self.entries.extend(batch.drain(..).map(Entry::One));
        self.trim(capacity)
    }

    /// Appends a run, then drops the oldest beyond `capacity`.
    pub(crate) fn push_run(&mut self, run: Run, capacity: usize) -> u64 {
        self.len += run.spans.len();
        self.entries.push_back(Entry::Run { run, next: 0 });
        self.trim(capacity)
    }

    fn trim(&mut self, capacity: usize) -> u64 {
        let excess = self.len.saturating_sub(capacity);
        let mut left = excess;
        while left > 0 {
            let Some(front) = self.entries.front_mut() else {
                break;
            };
            let dropped = match front {
                Entry::One(_) => 1,
                Entry::Run { run, next } => {
                    let k = left.min(run.spans.len() - *next);
                    *next += k;
                    if *next < run.spans.len() {
                        left -= k;
                        continue;
                    }
                    k
                }
            };
            self.entries.pop_front();
            left -= dropped;
        }
        self.len -= excess;
        excess as u64
    }

    /// Empties the queue, keeping room for as many entries as it had.
    pub(crate) fn take(&mut self) -> Queue {
        let fresh = Queue {
            entries: VecDeque::with_capacity(self.entries.len()),
            len: 0,
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

    #[test]
    fn runs_and_single_messages_keep_arrival_order() {
        let mut queue = Queue::default();
        assert_eq!(queue.push_run(run("abc"), 10), 0);
        assert_eq!(queue.push_messages(&mut vec![one("d")], 10), 0);
        assert_eq!(queue.push_run(run("ef"), 10), 0);
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
            let total: u64 = runs.iter().map(|r| queue.push_run(run(r), capacity)).sum();
            assert_eq!(total, dropped, "{runs:?} cap {capacity}");
            assert_eq!(queue.len(), left.len());
            assert_eq!(payloads(queue), left, "{runs:?} cap {capacity}");
        }
    }
}
