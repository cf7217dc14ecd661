//! The builders' image settings, written once for both: the image lane
//! (chunks, window, queue delay), images received in part, and images
//! through shared memory between processes of one machine.

use std::time::Duration;

use super::{ClientBuilder, HostBuilder};

/// Default length of a shared-memory segment: ten 1080p RGB frames.
pub(crate) const DEFAULT_SHM_SEGMENT: usize = 64 << 20;

/// Default most bytes of all a handle's segments at once: eight of the
/// default length.
pub(crate) const DEFAULT_SHM_LIMIT: usize = 512 << 20;

/// Default time a frame or an image may take to arrive whole.
pub(crate) const DEFAULT_PARTIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Default most bytes of one connection's images in progress.
pub(crate) const DEFAULT_MAX_PARTIAL_IMAGE_BYTES: usize = 128 << 20;

/// Default image window: image payload bytes sent and not yet acknowledged.
pub(crate) const DEFAULT_IMAGE_WINDOW: usize = 1 << 20;

/// Default time an offer of a segment waits for the peer's answer: the
/// answer is one round trip behind the welcome, on one machine; this is
/// past any such round trip on a loaded one, yet bounds how long a peer
/// that never answers keeps a segment of ours (its memory) alive.
pub(crate) const DEFAULT_SHM_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The image setters of both builders, written once.
macro_rules! image_setters {
    () => {
        /// Queue capacity of channels that carry images, once the first image
        /// arrives on them (a camera's queue of 1024 1080p frames would hold
        /// 6 GB); a channel given its own [`channel_capacity`](Self::channel_capacity)
        /// keeps that. Default: 8.
        pub fn image_queue_capacity(mut self, images: usize) -> Self {
            self.config.image_queue_capacity = images;
            self
        }

        /// Payload bytes per chunk of an image, or `None` for plain FIFO sending.
        ///
        /// With chunks (the default, 256 KiB), images travel on their own lane per
        /// connection: they are cut into chunks, control and data frames go out
        /// between chunks and first, and an image not yet started is replaced by
        /// a newer one on its channel (conflation, counted in
        /// [`ImageStats::dropped`](crate::ImageStats::dropped)). With `None`,
        /// an image is one frame queued in order with every other frame: no
        /// priority, no conflation, and unlocked image writes fail with
        /// [`ErrorKind::Full`](crate::ErrorKind::Full) over the outbox budget.
        pub fn image_chunk(mut self, bytes: Option<usize>) -> Self {
            self.config.image_chunk = bytes.map(|b| b.max(1));
            self
        }

        /// Image payload bytes that may be on their way to a peer, sent but not yet
        /// acknowledged by it, before the next chunk waits (with chunking on).
        ///
        /// The receiver acknowledges image bytes as it reads them, so this
        /// bounds the image data queued in the kernels' buffers (on loopback the
        /// receive buffer alone may grow to tens of megabytes). What cannot be
        /// sent waits on the image lane, where newer images replace older ones
        /// and control frames go first: a control frame never waits behind more
        /// than this much image data.
        ///
        /// This is the ceiling: the window in force follows the link, about
        /// its delivery rate × (base delay + [`image_queue_delay`](Self::image_queue_delay)),
        /// measured by this side from when the acknowledgements come (the
        /// rate they acknowledge at, and the least delay from a chunk to its
        /// acknowledgement), so on a slow link a control frame waits for about the target,
        /// not for this much. While control or data frames flow (for
        /// 100 ms after the last one) the ceiling is halved; a stream of images
        /// alone may use all of it. Keep it above the fastest link's
        /// bandwidth-delay product plus the target (1 MiB is 1 Gbit/s at 8 ms).
        /// Default: 1 MiB.
        pub fn image_window(mut self, bytes: usize) -> Self {
            self.config.image_window = bytes.max(1);
            self
        }

        /// The image data a control frame may find queued ahead of it on the
        /// link, in time: the [image window](Self::image_window) is kept at
        /// about the link's delivery rate × (its base delay + this). Longer
        /// keeps the link busier through hiccups in acknowledgements; shorter
        /// keeps control frames closer to the front. Default: 1 ms.
        pub fn image_queue_delay(mut self, target: Duration) -> Self {
            self.config.image_queue_delay = target;
            self
        }

        /// How long a frame may take to arrive whole from its first byte, and
        /// an image from its first frame to its last chunk. A frame that
        /// takes longer (a body sent slowly to hold a buffer open) closes its
        /// connection with [`ErrorKind::FrameTimeout`](crate::ErrorKind::FrameTimeout);
        /// an image that takes longer is dropped, its memory given back, and
        /// counted in [`ImageStats::incomplete`](crate::ImageStats::incomplete)
        /// (the rest of its chunks are read and let go; the connection stays).
        /// Checked a few times per timeout, so a late one goes within a
        /// quarter of it (and at most a second) past it. Keep it above the
        /// time the largest frame takes on the link, and, with several image
        /// channels on one connection, all their images in flight together.
        /// `Duration::MAX` turns it off. Default: 10 s.
        pub fn partial_timeout(mut self, timeout: Duration) -> Self {
            self.config.partial_timeout = timeout;
            self
        }

        /// Most bytes one connection's images in progress (received in part;
        /// the wire format allows 16 at once) may hold together. An image's
        /// buffer grows as its bytes arrive, charged to the [memory limit](Self::memory_limit); a
        /// growth past either is refused, and the image dropped and counted in
        /// [`ImageStats::incomplete`](crate::ImageStats::incomplete) (its
        /// connection stays). A connection's one image in progress is held
        /// whatever this says, up to [`max_frame`](Self::max_frame).
        /// Default: 128 MiB.
        pub fn max_partial_image_bytes(mut self, bytes: usize) -> Self {
            self.config.max_partial_image_bytes = bytes;
            self
        }

        /// Sends images to a peer on this machine through shared memory
        /// instead of the socket, and takes its images that way, when the
        /// peer has this on too: the sender writes each image into a
        /// segment of its own, a sealed memory file named in no directory
        /// (one copy), and sends a small
        /// frame pointing at it; the receiver's [`Image`](crate::Image)
        /// is its bytes in place, with no copy, and its slot is the
        /// sender's again once every clone of it is dropped. Only between
        /// loopback addresses, on Linux; a peer without it, or one that
        /// cannot map the segment (another user's process, another process
        /// namespace), gets images over the socket as before (nothing
        /// changes on the wire for it), and so do routed images and images
        /// larger than the segment. With every slot held by the receiver,
        /// an image goes over the socket too, counted (the lane keeps the
        /// newest, as a full window conflates; a locked one never waits
        /// for a slot). The sender can still write the bytes of an image
        /// it sent (the segment is its memory): a receiver that checks an
        /// image's pixels and then acts on them copies them first. The wire
        /// format and the design: the protocol's "Shared-memory images" and
        /// `docs/ARCHITECTURE.md`. Default: off.
        pub fn shared_memory_images(mut self, on: bool) -> Self {
            self.config.shm_images = on;
            self
        }

        /// Bytes of the segment offered to each local peer this end sends
        /// images to (see [`shared_memory_images`](Self::shared_memory_images)):
        /// at least a few images, since the receiver holds its latest and
        /// its queue's. Its pages are reserved when it is made (no memory
        /// then: images stay on the socket, counted as a fallback; no room
        /// in [`shared_memory_limit`](Self::shared_memory_limit): the same,
        /// until room comes back), on a
        /// thread of its own at the first image for the peer (about 14 ms
        /// for 64 MiB on a 2-core machine; the event loop does not wait, and
        /// images go over the socket until the peer has mapped it), so a
        /// peer that gets no images is offered none.
        /// 0: no segment is offered (this end's images go over the socket;
        /// a peer's offer is still taken). Default: 64 MiB.
        pub fn shared_memory_segment(mut self, bytes: usize) -> Self {
            self.config.shm_segment = bytes;
            self
        }

        /// Most bytes of all this handle's shared-memory segments at once
        /// (see [`shared_memory_images`](Self::shared_memory_images)): a
        /// segment is memory reserved for the connection's life, one per
        /// local peer this handle sends images to, so a handle that sends
        /// images to many local peers would otherwise reserve it for each.
        /// A peer that would take the handle past it gets images over the
        /// socket, counted in
        /// [`SharedMemoryStats::fallbacks`](crate::SharedMemoryStats::fallbacks),
        /// until a segment's bytes return (its connection ended, its offer
        /// was declined or not answered): its next image then tries again. The peers'
        /// segments this handle maps count against the same number, apart
        /// (a peer whose segment would pass it has it refused, counted in
        /// [`SharedMemoryStats::refused`](crate::SharedMemoryStats::refused)),
        /// so no peer makes it hold more, not even by offering one of this
        /// handle's own segments back. Default: 512 MiB (eight segments of
        /// the default length).
        pub fn shared_memory_limit(mut self, bytes: usize) -> Self {
            self.config.shm_limit = bytes;
            self
        }

        /// How long an offer of a shared-memory segment (see
        /// [`shared_memory_images`](Self::shared_memory_images)) waits for
        /// the peer's answer. A peer that does not take part (an older
        /// build) never answers; once this is past, the offer is withdrawn:
        /// the segment's file is closed, images to that peer stay on
        /// the socket, and it is counted in
        /// [`SharedMemoryStats::unanswered`](crate::SharedMemoryStats::unanswered)
        /// (an answer that comes later changes nothing). `Duration::MAX`
        /// waits as long as the connection lasts. Default: 5 s.
        pub fn shared_memory_answer_timeout(mut self, timeout: Duration) -> Self {
            self.config.shm_answer_timeout = timeout;
            self
        }
    };
}

impl HostBuilder {
    image_setters!();
}

impl ClientBuilder {
    image_setters!();
}
