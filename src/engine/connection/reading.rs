//! An open connection's read pass: decode what the read buffer holds,
//! read more as the decoder asks (an image's payload straight into the
//! image), until the socket runs dry or the turn's [`Budget`] is spent.

use std::io;
use std::time::Instant;

use bytes::BytesMut;

use super::super::Shared;
use super::super::image_rx::Filled;
use super::super::read_buf::ReadBuf;
use super::super::turn::Budget;
use super::super::wire::Source;
use super::super::would_block;
use super::{IMAGE_HEAD_READ, Open, ReadEnd};
use crate::protocol::{Decoded, Decoder, Need};
use crate::{ErrorKind, Result};

/// The read loop of an open connection: one match on the decoder's step, until
/// a step ends the pass.
pub(super) fn read_open(
    source: Source<'_>,
    rbuf: &mut ReadBuf,
    open: &mut Open,
    shared: &Shared,
    now: Instant,
    budget: Budget,
) -> Result<ReadEnd> {
    let mut read = 0;
    loop {
        let end = match open.step(&mut rbuf.buf)? {
            Decoded::Frame(frame) => {
                open.frame_done(rbuf);
                open.on_frame(frame, rbuf, shared, now)?;
                None
            }
            Decoded::Run {
                chunk,
                spans,
                encoding,
                stamped,
            } => {
                open.frame_done(rbuf);
                open.store_run(chunk, spans, (encoding, stamped), shared, now);
                None
            }
            Decoded::Large { frame, payload_len } => {
                open.start_image(frame, payload_len, rbuf, shared, now)?
            }
            Decoded::NeedMore(Need::Payload { left }) => {
                let turn = (&mut read, budget);
                fill_image(source, rbuf, open, left, turn, shared, now)?
            }
            Decoded::NeedMore(need) => {
                fill_buf(source, rbuf, open, need, (&mut read, budget), shared)?
            }
        };
        if let Some(end) = end {
            return Ok(end);
        }
    }
}

/// Reads the rest of an image's payload (`left` bytes) straight into the
/// image, adding the bytes read to the turn's count; `Some` ends the read
/// pass.
fn fill_image(
    source: Source<'_>,
    rbuf: &mut ReadBuf,
    open: &mut Open,
    left: usize,
    (read, budget): (&mut usize, Budget),
    shared: &Shared,
    now: Instant,
) -> Result<Option<ReadEnd>> {
    if budget.spent(*read) {
        return Ok(Some(ReadEnd::More));
    }
    let most = budget.most(*read);
    let (n, image) = match open.images.fill(source, left, most, rbuf, shared, now) {
        Ok(Filled::Starved) => return Ok(Some(ReadEnd::Starved)),
        Ok(Filled::Read(0, _)) => return Err(open.images.truncated().into()),
        Ok(Filled::Read(n, image)) => (n, image),
        Err(e) => return read_failed(e),
    };
    *read += n;
    open.decoder.consume_payload(n);
    if n == left {
        open.frame_done(rbuf);
    }
    if let Some(image) = image {
        open.store_image(image, shared, now)?;
    }
    // A chunk is in: read just the next header, so that the next chunk's
    // payload, too, goes straight into its image.
    open.after_chunk |= n == left;
    // The sender waits for acknowledgements to send more: let the loop write
    // this one now, then read on.
    Ok(open.ack_images().then_some(ReadEnd::More))
}

/// Reads into the read buffer, sized by what the decoder needs, adding the
/// bytes read to the turn's count; `Some` ends the read pass.
fn fill_buf(
    source: Source<'_>,
    rbuf: &mut ReadBuf,
    open: &mut Open,
    need: Need,
    (read, budget): (&mut usize, Budget),
    shared: &Shared,
) -> Result<Option<ReadEnd>> {
    // Store what this pass decoded now, not when the socket runs dry: on a
    // connection that never runs dry (a saturating image stream) a control
    // message must not wait for the stream to pause.
    open.store_batch();
    if open.ack_images() || budget.spent(*read) {
        return Ok(Some(ReadEnd::More));
    }
    let after_chunk = std::mem::take(&mut open.after_chunk);
    let want = match need {
        Need::Frame { frame_len } if !after_chunk => rbuf.prepare(frame_len, &shared.memory)?,
        _ => rbuf.prepare_small(IMAGE_HEAD_READ),
    };
    match rbuf.fill(source, want.min(budget.most(*read))) {
        Ok(0) => eof(&rbuf.buf, &open.decoder).map(Some),
        Ok(n) => {
            *read += n;
            Ok(None)
        }
        Err(e) => read_failed(e),
    }
}

/// A failed read: the end of the pass when the socket is drained, nothing when
/// interrupted (read again), the connection's error otherwise.
fn read_failed(e: io::Error) -> Result<Option<ReadEnd>> {
    match e {
        e if would_block(&e) => Ok(Some(ReadEnd::Drained)),
        e if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        e => Err(e.into()),
    }
}

/// End of stream: clean between frames, `Truncated` inside one.
fn eof(rbuf: &BytesMut, decoder: &Decoder) -> Result<ReadEnd> {
    if rbuf.is_empty() {
        return Ok(ReadEnd::Eof);
    }
    let expected = decoder.frame_len().unwrap_or(0);
    Err(ErrorKind::Truncated {
        received: rbuf.len(),
        expected,
    }
    .into())
}
