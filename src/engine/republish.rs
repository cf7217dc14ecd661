//! A client's own latest writes on the channels it republishes: kept so
//! that, when it reconnects to a host that restarted (and lost what it
//! held), it sends them again before anything else
//! ([`ClientBuilder::republish`](crate::ClientBuilder::republish)).

use bytes::Bytes;
use parking_lot::Mutex;

use super::Peer;
use crate::protocol::{Header, ImageMeta, Kind, Pattern};

/// The patterns to republish and the latest value written on each channel
/// they match, in the order the channels were first written.
#[derive(Debug, Default)]
pub(crate) struct Republish {
    patterns: Vec<Pattern>,
    values: Mutex<Vec<(String, Bytes, Option<ImageMeta>)>>,
}

impl Republish {
    pub(crate) fn new(patterns: Vec<Pattern>) -> Republish {
        Republish {
            patterns,
            values: Mutex::default(),
        }
    }

    /// Keeps `payload` as `channel`'s latest own value if a pattern matches
    /// it (a clone of the handle, no copy of the bytes).
    pub(crate) fn record(&self, channel: &str, payload: &Bytes, image: Option<ImageMeta>) {
        if !self.patterns.iter().any(|p| p.matches(channel)) {
            return;
        }
        let mut values = self.values.lock();
        match values.iter_mut().find(|(c, _, _)| c == channel) {
            Some(value) => (value.1, value.2) = (payload.clone(), image),
            None => values.push((channel.to_owned(), payload.clone(), image)),
        }
    }

    /// Queues every kept value to `peer` (a fresh connection's outbox); a
    /// value that does not fit is counted by the peer, like any write.
    pub(crate) fn send_all(&self, peer: &Peer) {
        for (channel, payload, image) in self.values.lock().iter() {
            let kind = image.map_or(Kind::Data, Kind::Image);
            let header = Header::new(kind, channel);
            let _ = match kind {
                Kind::Image(_) => peer.queue_image(&header, payload.clone()),
                _ => peer.queue(&header, payload.clone()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_of_matching_channels_in_first_written_order() {
        let patterns = ["config/**", "mode"].map(|p| Pattern::new(p).expect("valid"));
        let republish = Republish::new(patterns.to_vec());
        for (channel, value) in [
            ("config/a", "1"),
            ("pose", "x"),
            ("mode", "auto"),
            ("config/a", "2"),
        ] {
            republish.record(channel, &Bytes::from(value), None);
        }
        let values = republish.values.lock();
        let kept: Vec<(&str, &[u8])> = values
            .iter()
            .map(|(c, b, _)| (c.as_str(), &b[..]))
            .collect();
        assert_eq!(kept, [("config/a", &b"2"[..]), ("mode", b"auto")]);
    }
}
