//! What the store adds to a received [`Message`]: its image, as an
//! [`Image`] over its payload, and its send time on the host's clock.

use std::time::SystemTime;

use super::Message;
use crate::image::Image;

impl Message {
    /// The image this message carries, if it arrived as one (an
    /// [`Image`] was sent); the image's pixels are the payload, not copied.
    pub fn image(&self) -> Option<Image> {
        let meta = self.image_meta()?;
        Image::from_wire(meta, self.payload.clone()).ok()
    }

    /// When it was sent, on the **host's** clock, if its sender said: a
    /// handle that [stamps its messages](crate::ClientBuilder::stamp_messages)
    /// puts its send time in every frame (a client converts its own clock to
    /// the host's with its [estimate](crate::Client::clock)), and relays,
    /// routes and latched values keep it. So on any peer, the host's own
    /// clock or a client's [`host_time`](crate::Client::host_time) minus
    /// this is how long the message took, within the clocks' uncertainty.
    ///
    /// # Examples
    ///
    /// ```
    /// use socketengine::{Client, Host};
    /// use std::time::Duration;
    ///
    /// let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let arm = Client::builder()
    ///     .addr(host.local_addr().to_string())
    ///     .stamp_messages(true)
    ///     .connect()?;
    /// let poses = host.subscribe("pose");
    /// arm.write_lock("pose", "x=1")?;
    /// let msg = poses.recv_timeout(Duration::from_secs(5)).unwrap();
    /// let sent = msg.sent_at().expect("a stamped message");
    /// let took = host.host_time().duration_since(sent).unwrap_or_default();
    /// assert!(took < Duration::from_secs(5));
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn sent_at(&self) -> Option<SystemTime> {
        self.sent_at_ns().map(crate::clock::from_ns)
    }
}
