//! A client's own latest writes on the channels it republishes: kept so
//! that, when it reconnects to a host that restarted (and lost what it
//! held), it sends them again before anything else
//! ([`ClientBuilder::republish`](crate::ClientBuilder::republish)).

use bytes::Bytes;
use parking_lot::Mutex;

use super::Peer;
use crate::protocol::{Encoding, Header, ImageMeta, Kind, Pattern};

/// The patterns to republish and the latest value written on each channel
/// they match, in the order the channels were first written.
#[derive(Debug, Default)]
pub(crate) struct Republish {
    patterns: Vec<Pattern>,
    values: Mutex<Vec<Kept>>,
}

/// A channel's latest own value.
#[derive(Debug)]
struct Kept {
    channel: String,
    payload: Bytes,
    /// Set for an image: its wire fields.
    image: Option<ImageMeta>,
    /// The encoding bytes declared.
    encoding: Encoding,
}

impl Republish {
    pub(crate) fn new(patterns: Vec<Pattern>) -> Republish {
        Republish {
            patterns,
            values: Mutex::default(),
        }
    }

    /// Keeps `payload` (an image if `image` is set, else bytes of
    /// `encoding`) as `channel`'s latest own value if a pattern matches it
    /// (a clone of the handle, no copy of the bytes).
    pub(crate) fn record(
        &self,
        channel: &str,
        payload: &Bytes,
        image: Option<ImageMeta>,
        encoding: Encoding,
    ) {
        if !self.patterns.iter().any(|p| p.matches(channel)) {
            return;
        }
        let mut values = self.values.lock();
        let kept = Kept {
            channel: channel.to_owned(),
            payload: payload.clone(),
            image,
            encoding,
        };
        match values.iter_mut().find(|k| k.channel == channel) {
            Some(old) => *old = kept,
            None => values.push(kept),
        }
    }

    /// Queues every kept value to `peer` (a fresh connection's outbox); a
    /// value that does not fit is counted by the peer, like any write.
    pub(crate) fn send_all(&self, peer: &Peer) {
        for kept in self.values.lock().iter() {
            let kind = kept.image.map_or(Kind::Data, Kind::Image);
            let header = Header::new(kind, &kept.channel).with_encoding(kept.encoding);
            let payload = kept.payload.clone();
            let _ = match kind {
                Kind::Image(_) => peer.queue_image(&header, payload),
                _ => peer.queue(&header, payload),
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
            republish.record(channel, &Bytes::from(value), None, Encoding::Bytes);
        }
        let values = republish.values.lock();
        let kept: Vec<(&str, &[u8])> = values
            .iter()
            .map(|k| (k.channel.as_str(), &k.payload[..]))
            .collect();
        assert_eq!(kept, [("config/a", &b"2"[..]), ("mode", b"auto")]);
    }
}
