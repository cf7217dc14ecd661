//! The read side shared by [`Host`](crate::Host) and [`Client`](crate::Client),
//! written once.

/// Expands to the store and event readers of a handle whose `self.inner.shared`
/// is the engine's [`Shared`](crate::engine::Shared).
macro_rules! store_readers {
    () => {
        /// The latest message on `channel`, without consuming it: calling again
        /// returns the same message until a newer one arrives. `None` if nothing
        /// has arrived on it yet.
        ///
        /// Never blocks on the network; takes the channel's lock for a clone.
        pub fn get(&self, channel: &str) -> Option<Message> {
            self.inner.shared.store.get(channel)
        }

        /// The newest image received whole on `channel`, without consuming it
        /// (as [`get`](Self::get)). `None` if no image has arrived on it. A torn
        /// image is never returned: an image is stored only once its last byte
        /// is in. Its pixels point into the buffer the socket read them into.
        ///
        /// Never blocks on the network.
        pub fn get_image(&self, channel: &str) -> Option<Image> {
            self.inner.shared.store.get_image(channel)
        }

        /// Every message queued on `channel` since the last call, oldest first;
        /// afterwards the queue is empty. On an image channel these are the
        /// images in order ([`Message::image`]). The queue holds at most the channel's
        /// [capacity](crate::HostBuilder::queue_capacity); older messages were
        /// dropped and counted in [`ChannelStats::dropped`].
        ///
        /// Never blocks on the network; takes the channel's lock for a swap.
        pub fn get_all(&self, channel: &str) -> Vec<Message> {
            self.inner.shared.store.get_all(channel)
        }

        /// As [`get_all`](Self::get_all), but when nothing is queued waits up to
        /// `timeout` for the next batch instead of returning at once; returns an
        /// empty `Vec` if none arrives, or at once if this handle is closed. For
        /// a consumer that wants every message without spinning.
        pub fn get_all_timeout(&self, channel: &str, timeout: Duration) -> Vec<Message> {
            self.inner.shared.store.get_all_timeout(channel, timeout)
        }

        /// The latest message on `channel` from each sender, ordered by sender id.
        pub fn get_by_client(&self, channel: &str) -> Vec<Message> {
            self.inner.shared.store.get_by_client(channel)
        }

        /// A [`Subscription`]: every message arriving on `channel` from now
        /// on, for a thread that prefers to block (`recv`, `recv_timeout`).
        /// It buffers as many messages as the channel's queue capacity (at
        /// least one); when it is full, further messages skip it and are
        /// counted as dropped. Dropping it unsubscribes; closing this handle
        /// ends it.
        pub fn subscribe(&self, channel: &str) -> Subscription {
            self.inner.shared.store.subscribe(channel)
        }

        /// Counters of `channel`, or `None` if nothing has arrived on it.
        pub fn channel_stats(&self, channel: &str) -> Option<ChannelStats> {
            self.inner.shared.store.stats(channel)
        }

        /// Names of the channels that have received messages or subscribers, sorted.
        pub fn channels(&self) -> Vec<String> {
            self.inner.shared.store.channels()
        }

        /// Connection events (connected, disconnected, errors). All clones of the
        /// handle share one stream: each event goes to one receiver. Up to 4096
        /// undelivered events are kept; later ones are dropped and counted in
        /// [`events_dropped`](Self::events_dropped).
        pub fn events(&self) -> Receiver<Event> {
            self.inner.shared.events()
        }

        /// Events dropped because nobody drained [`events`](Self::events).
        pub fn events_dropped(&self) -> u64 {
            self.inner.shared.events_dropped()
        }
    };
}

pub(crate) use store_readers;
