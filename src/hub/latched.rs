//! Latched channels (ROS 2's transient-local durability): a host sends a
//! client that joins the latest value of each latched channel, and one that
//! widens its interest the values it did not want before; it stores its own
//! writes on them so that there is one to send.

use std::time::Instant;

use bytes::Bytes;

use crate::ClientId;
use crate::protocol::{ChannelName, Encoding, ImageMeta, Pattern};
use crate::store::{Message, Store};

/// Records a host's own write (`payload`, an image if `image` is set, else
/// bytes of `encoding`; sent at `sent_at` if stamped) as `channel`'s latest
/// value when one of the `latched` names or patterns matches `channel`.
pub(crate) fn record_write(
    store: &Store,
    latched: &[Pattern],
    channel: &str,
    payload: &Bytes,
    image: Option<ImageMeta>,
    (encoding, sent_at): (Encoding, Option<u64>),
) {
    if !latched.iter().any(|p| p.matches(channel)) {
        return;
    }
    let Ok(name) = ChannelName::new(channel) else {
        return;
    };
    let msg = Message::new(
        name.clone(),
        payload.clone(),
        ClientId::HOST,
        Instant::now(),
    )
    .with_encoding(encoding)
    .with_sent_at(sent_at);
    let msg = match image {
        Some(meta) => msg.with_image(meta),
        None => msg,
    };
    store.slot(&name).record_own(msg);
}

/// The latest value of each latched channel that has one and that `wants`
/// takes: in the order the names and patterns were latched, the channels of
/// a pattern by name, each channel once. What a client that just joined is
/// sent (`wants` takes every channel), or one that widened its interest
/// (the channels it wants now and did not before).
pub(crate) fn latest_values(
    store: &Store,
    latched: &[Pattern],
    wants: impl Fn(&str) -> bool,
) -> Vec<Message> {
    let mut channels: Vec<String> = Vec::new();
    // Listed only when a pattern needs it.
    let mut known: Option<Vec<String>> = None;
    for pattern in latched {
        if !Pattern::is_pattern(pattern.as_str()) {
            channels.push(pattern.as_str().to_owned());
            continue;
        }
        let known = known.get_or_insert_with(|| store.channels());
        channels.extend(known.iter().filter(|c| pattern.matches(c)).cloned());
    }
    let mut seen = std::collections::HashSet::new();
    channels.retain(|c| seen.insert(c.clone()));
    let wanted = channels.iter().filter(|c| wants(c));
    wanted.filter_map(|c| store.get(c)).collect()
}

/// Whether a client whose interest was `old` (`None`: every channel) wants
/// `channel` now that it is `new`, and did not before.
pub(crate) fn newly_wanted(old: Option<&[Pattern]>, new: &[Pattern], channel: &str) -> bool {
    let wanted = |patterns: &[Pattern]| patterns.iter().any(|p| p.matches(channel));
    wanted(new) && old.is_some_and(|old| !wanted(old))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn patterns(texts: &[&str]) -> Vec<Pattern> {
        texts
            .iter()
            .map(|t| Pattern::new(t).expect("a pattern"))
            .collect()
    }

    #[test]
    fn only_writes_on_latched_channels_become_latest_values() {
        let store = Store::new(8, HashMap::new());
        let latched = patterns(&["mode", "map/**", "unset"]);
        // (channel written, payload)
        let writes = [
            ("mode", "auto"),
            ("plain", "x"),
            ("map/b", "b1"),
            ("map/a", "a1"),
            ("map/b", "b2"),
        ];
        for (channel, payload) in writes {
            let payload = Bytes::from(payload);
            let marks = (Encoding::Bytes, None);
            record_write(&store, &latched, channel, &payload, None, marks);
        }
        let got: Vec<_> = latest_values(&store, &latched, |_| true)
            .iter()
            .map(|m| (m.channel().to_owned(), m.payload().clone(), m.from()))
            .collect();
        let want = [("mode", "auto"), ("map/a", "a1"), ("map/b", "b2")]
            .map(|(c, p)| (c.to_owned(), Bytes::from(p), ClientId::HOST));
        assert_eq!(got, want);
        assert_eq!(store.get("plain"), None);
        assert!(store.get_all("mode").is_empty(), "not queued for get_all");
        let only_maps = latest_values(&store, &latched, |c| c.starts_with("map"));
        assert_eq!(only_maps.len(), 2);
        // A channel two entries latch is sent once.
        let twice = patterns(&["mode", "**"]);
        assert_eq!(latest_values(&store, &twice, |_| true).len(), 3);
    }

    #[test]
    fn a_wider_interest_wants_only_what_the_last_did_not() {
        let old = patterns(&["pose"]);
        let new = patterns(&["pose", "map/**"]);
        // (old interest, channel, newly wanted)
        let table: &[(Option<&[Pattern]>, &str, bool)] = &[
            (Some(&old), "map/floor", true),
            (Some(&old), "pose", false),
            (Some(&old), "camera", false),
            // A client that declared nothing was sent every latched value.
            (None, "map/floor", false),
        ];
        for &(old, channel, want) in table {
            assert_eq!(newly_wanted(old, &new, channel), want, "{old:?} {channel}");
        }
    }
}
