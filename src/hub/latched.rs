//! Latched channels (ROS 2's transient-local durability): a host sends a
//! client that joins the latest value of each latched channel, and stores its
//! own writes on them so that there is one to send.

use std::time::Instant;

use bytes::Bytes;

use crate::ClientId;
use crate::protocol::{ChannelName, ImageMeta};
use crate::store::{Message, Store};

/// Records a host's own write (`payload`, an image if `image` is set) as
/// `channel`'s latest value when `channel` is one of `latched`.
pub(crate) fn record_write(
    store: &Store,
    latched: &[String],
    channel: &str,
    payload: &Bytes,
    image: Option<ImageMeta>,
) {
    if !latched.iter().any(|c| c == channel) {
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
    );
    let msg = match image {
        Some(meta) => msg.with_image(meta),
        None => msg,
    };
    store.slot(&name).record_own(msg);
}

/// The latest value of each of the `latched` channels that has one, in the
/// order they were latched: what a client that just joined is sent.
pub(crate) fn latest_values(store: &Store, latched: &[String]) -> Vec<Message> {
    latched.iter().filter_map(|c| store.get(c)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn only_writes_on_latched_channels_become_latest_values() {
        let store = Store::new(8, HashMap::new());
        let latched = ["mode".to_owned(), "map".to_owned(), "unset".to_owned()];
        // (channel written, payload)
        let writes = [
            ("mode", "auto"),
            ("plain", "x"),
            ("map", "m1"),
            ("map", "m2"),
        ];
        for (channel, payload) in writes {
            record_write(&store, &latched, channel, &Bytes::from(payload), None);
        }
        let got: Vec<_> = latest_values(&store, &latched)
            .iter()
            .map(|m| (m.channel().to_owned(), m.payload().clone(), m.from()))
            .collect();
        let want = [("mode", "auto"), ("map", "m2")]
            .map(|(c, p)| (c.to_owned(), Bytes::from(p), ClientId::HOST));
        assert_eq!(got, want);
        assert_eq!(store.get("plain"), None);
        assert!(store.get_all("mode").is_empty(), "not queued for get_all");
    }
}
