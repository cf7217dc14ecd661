//! What the store adds to a received [`Message`]: its image, as an
//! [`Image`] over its payload.

use super::Message;
use crate::image::Image;

impl Message {
    /// The image this message carries, if it arrived as one (an
    /// [`Image`] was sent); the image's pixels are the payload, not copied.
    pub fn image(&self) -> Option<Image> {
        let meta = self.image.as_deref()?;
        Image::from_wire(meta, self.payload.clone()).ok()
    }
}
