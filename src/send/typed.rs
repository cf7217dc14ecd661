//! Typed payloads (feature `serde`): a value serialised on the caller's
//! thread, its encoding declared in the frame.

use super::{Outgoing, Payload};
use crate::Result;
use crate::command::Command;
use crate::protocol::Encoding;
use crate::typed::{Json, MsgPack, encode};

/// Serialised as JSON; the frame declares [`Encoding::Json`].
impl<T: serde::Serialize> Outgoing for Json<T> {
    fn into_outgoing(self) -> Result<Payload> {
        let bytes = encode(Encoding::Json, &self.0)?;
        Ok(Payload::encoded(bytes, Encoding::Json))
    }
}

/// Serialised as MessagePack; the frame declares [`Encoding::MsgPack`].
impl<T: serde::Serialize> Outgoing for MsgPack<T> {
    fn into_outgoing(self) -> Result<Payload> {
        let bytes = encode(Encoding::MsgPack, &self.0)?;
        Ok(Payload::encoded(bytes, Encoding::MsgPack))
    }
}

/// A command goes as JSON, as the seed's `cmd` messages do.
impl Outgoing for &Command {
    fn into_outgoing(self) -> Result<Payload> {
        Json(self).into_outgoing()
    }
}

impl Outgoing for Command {
    fn into_outgoing(self) -> Result<Payload> {
        Json(&self).into_outgoing()
    }
}
