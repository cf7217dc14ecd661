//! What handles report, as small read-only objects: channel and image
//! counters, the client list, the callbacks' counts.

use pyo3::prelude::*;

/// Counters of one channel (`channel_stats`).
#[pyclass(frozen, get_all, module = "socketengine")]
pub(crate) struct ChannelStats {
    /// Messages received on the channel.
    received: u64,
    /// Payload bytes received on it.
    bytes: u64,
    /// Messages dropped from its full queue, or that skipped a full
    /// subscription or callback.
    dropped: u64,
    /// Messages waiting in the queue for `get_all`.
    queued: usize,
    /// The queue's capacity.
    capacity: usize,
}

impl From<socketengine::ChannelStats> for ChannelStats {
    fn from(s: socketengine::ChannelStats) -> Self {
        let (received, bytes, dropped, queued, capacity) =
            (s.received, s.bytes, s.dropped, s.queued, s.capacity);
        ChannelStats {
            received,
            bytes,
            dropped,
            queued,
            capacity,
        }
    }
}

#[pymethods]
impl ChannelStats {
    fn __repr__(&self) -> String {
        let s = self;
        format!(
            "ChannelStats(received={}, bytes={}, dropped={}, queued={}, capacity={})",
            s.received, s.bytes, s.dropped, s.queued, s.capacity
        )
    }
}

/// Image counters of one channel (`image_stats`).
#[pyclass(frozen, get_all, module = "socketengine")]
pub(crate) struct ImageStats {
    /// Images whose last byte was queued for the kernel, per peer.
    sent: u64,
    /// Images dropped whole before they were sent (replaced by a newer one).
    dropped: u64,
    /// Images received whole.
    received: u64,
    /// Gaps in the senders' sequence numbers.
    skipped: u64,
    /// Images that began to arrive and were dropped before their last byte.
    incomplete: u64,
    /// How old images were when a reader got them, median, in seconds
    /// (`None` before a read).
    age_p50: Option<f64>,
    /// The same, 99th percentile.
    age_p99: Option<f64>,
}

impl From<socketengine::ImageStats> for ImageStats {
    fn from(s: socketengine::ImageStats) -> Self {
        let (sent, dropped, received, skipped, incomplete) =
            (s.sent, s.dropped, s.received, s.skipped, s.incomplete);
        ImageStats {
            sent,
            dropped,
            received,
            skipped,
            incomplete,
            age_p50: s.age_p50.map(|d| d.as_secs_f64()),
            age_p99: s.age_p99.map(|d| d.as_secs_f64()),
        }
    }
}

#[pymethods]
impl ImageStats {
    fn __repr__(&self) -> String {
        let s = self;
        format!(
            "ImageStats(sent={}, dropped={}, received={}, skipped={}, incomplete={})",
            s.sent, s.dropped, s.received, s.skipped, s.incomplete
        )
    }
}

/// One of a host's clients (`clients()`).
#[pyclass(frozen, get_all, module = "socketengine")]
pub(crate) struct ClientInfo {
    /// Its id.
    id: u64,
    /// Its name (`client-N` if it gave none).
    name: String,
    /// Its address, `ip:port`.
    addr: String,
    /// Whether it is connected now.
    connected: bool,
    /// The rooms it is in, sorted.
    rooms: Vec<String>,
    /// Bytes queued to it (0 in a client's list).
    queued_bytes: usize,
    /// Writes to it given up.
    dropped: u64,
    /// Images to it dropped whole (0 in a client's list).
    images_dropped: u64,
}

impl From<socketengine::ClientInfo> for ClientInfo {
    fn from(c: socketengine::ClientInfo) -> Self {
        ClientInfo {
            id: c.id.0,
            name: c.name,
            addr: c.addr.to_string(),
            connected: c.connected,
            rooms: c.rooms,
            queued_bytes: c.queued_bytes,
            dropped: c.dropped,
            images_dropped: c.images_dropped,
        }
    }
}

#[pymethods]
impl ClientInfo {
    fn __repr__(&self) -> String {
        format!(
            "ClientInfo(id={}, name={:?}, addr={:?}, connected={})",
            self.id, self.name, self.addr, self.connected
        )
    }
}

/// A handle's message callbacks and hooks (`callback_stats`).
#[pyclass(frozen, get_all, module = "socketengine")]
pub(crate) struct CallbackStats {
    /// Callbacks and hooks registered.
    registered: usize,
    /// Messages and events waiting for them.
    queued: usize,
    /// Messages and events they missed (their queue full).
    dropped: u64,
    /// Calls that raised (or panicked).
    panicked: u64,
}

impl From<socketengine::CallbackStats> for CallbackStats {
    fn from(s: socketengine::CallbackStats) -> Self {
        let (registered, queued, dropped, panicked) =
            (s.registered, s.queued, s.dropped, s.panicked);
        CallbackStats {
            registered,
            queued,
            dropped,
            panicked,
        }
    }
}

#[pymethods]
impl CallbackStats {
    fn __repr__(&self) -> String {
        let s = self;
        format!(
            "CallbackStats(registered={}, queued={}, dropped={}, panicked={})",
            s.registered, s.queued, s.dropped, s.panicked
        )
    }
}
