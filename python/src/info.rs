//! What handles report, as small read-only objects: channel and image
//! counters, the client list, the callbacks' counts, a client's clock
//! estimate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::message::unix_seconds;

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

/// This handle's images through shared memory (`shared_memory_stats`).
#[pyclass(frozen, get_all, module = "socketengine")]
pub(crate) struct SharedMemoryStats {
    /// Connected peers that mapped this handle's segment.
    mapped: usize,
    /// Images sent through a peer's mapping of this handle's segment.
    sent: u64,
    /// Images sent over the socket because every slot was held.
    full: u64,
    /// Times a connection on loopback had its images go over the socket
    /// instead (declined, no segment made, or not answered in time).
    fallbacks: u64,
    /// Of the fallbacks, offers the peer did not answer in time.
    unanswered: u64,
    /// Offers of peers this handle refused.
    refused: u64,
}

impl From<socketengine::SharedMemoryStats> for SharedMemoryStats {
    fn from(s: socketengine::SharedMemoryStats) -> Self {
        SharedMemoryStats {
            mapped: s.mapped,
            sent: s.sent,
            full: s.full,
            fallbacks: s.fallbacks,
            unanswered: s.unanswered,
            refused: s.refused,
        }
    }
}

#[pymethods]
impl SharedMemoryStats {
    fn __repr__(&self) -> String {
        let s = self;
        format!(
            "SharedMemoryStats(mapped={}, sent={}, full={}, fallbacks={}, unanswered={}, refused={})",
            s.mapped, s.sent, s.full, s.fallbacks, s.unanswered, s.refused
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

/// A client's estimate of its host's clock (`Client.clock()`): the offset
/// between the two, how sure it is, and conversions of times (Unix
/// seconds) from one clock to the other.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct ClockEstimate {
    estimate: socketengine::ClockEstimate,
}

impl From<socketengine::ClockEstimate> for ClockEstimate {
    fn from(estimate: socketengine::ClockEstimate) -> Self {
        ClockEstimate { estimate }
    }
}

#[pymethods]
impl ClockEstimate {
    /// The host's clock minus this client's, in nanoseconds (positive when
    /// the host's is ahead).
    #[getter]
    fn offset_ns(&self) -> i64 {
        self.estimate.offset_ns()
    }

    /// The round trip, in seconds, of the exchange the estimate rests on.
    #[getter]
    fn rtt(&self) -> f64 {
        self.estimate.rtt().as_secs_f64()
    }

    /// How far the true offset may be from `offset_ns`, in seconds.
    #[getter]
    fn uncertainty(&self) -> f64 {
        self.estimate.uncertainty().as_secs_f64()
    }

    /// Exchanges the estimate chose from (at most eight).
    #[getter]
    fn samples(&self) -> usize {
        self.estimate.samples()
    }

    /// Seconds since the exchange it rests on ended.
    #[getter]
    fn age(&self) -> f64 {
        self.estimate.age().as_secs_f64()
    }

    /// Exchanges rejected since the last (re)connection.
    #[getter]
    fn rejected(&self) -> u64 {
        self.estimate.rejected()
    }

    /// `local` (Unix seconds on this machine's clock) on the host's clock.
    fn to_host(&self, local: f64) -> PyResult<f64> {
        Ok(unix_seconds(self.estimate.to_host(system_time(local)?)))
    }

    /// `host` (Unix seconds on the host's clock, as `Message.sent_at`) on
    /// this machine's clock.
    fn to_local(&self, host: f64) -> PyResult<f64> {
        Ok(unix_seconds(self.estimate.to_local(system_time(host)?)))
    }

    fn __repr__(&self) -> String {
        let e = &self.estimate;
        format!(
            "ClockEstimate(offset_ns={}, uncertainty={:?}, samples={})",
            e.offset_ns(),
            e.uncertainty(),
            e.samples()
        )
    }
}

/// Unix seconds as a `SystemTime`.
fn system_time(secs: f64) -> PyResult<SystemTime> {
    let since = Duration::try_from_secs_f64(secs.abs())
        .map_err(|_| PyValueError::new_err(format!("not a time in Unix seconds: {secs}")))?;
    let time = if secs >= 0.0 {
        UNIX_EPOCH.checked_add(since)
    } else {
        UNIX_EPOCH.checked_sub(since)
    };
    time.ok_or_else(|| PyValueError::new_err(format!("a time out of range: {secs}")))
}
