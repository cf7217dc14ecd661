//! The sender's image flow: how many image bytes may be unacknowledged (the
//! window), and which locked images (tickets) have gone out.
//!
//! Sans-IO like the rest of the module: time is a [`Duration`] since any fixed
//! epoch the caller picks, passed in; nothing here reads a clock.

use std::time::Duration;

use super::window::{DEFAULT_QUEUE_DELAY, LinkWindow, piece_limit};

/// How long after the last control or data frame the image window stays
/// halved (see [`ImageFlow::window`]).
pub const FRAMES_LINGER: Duration = Duration::from_millis(100);

/// Where a locked image's ticket stands, from [`ImageFlow::poll_ticket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    /// Its last byte is written; reported once, as the record is then forgotten.
    Written,
    /// Dropped with the connection it was queued on.
    Lost,
    /// Not yet taken whole, or taken and not yet written.
    Pending,
}

/// The image window and the locked-image tickets of one connection's sender.
///
/// Window: the sender records the image payload bytes it takes
/// ([`record_sent`](Self::record_sent)) and the peer's cumulative
/// acknowledgements ([`ack`](Self::ack)), each with the time; it takes more
/// only while fewer than the [window](Self::window) are unacknowledged. The
/// window follows the link ([`LinkWindow`]: about the delivery rate × (base
/// delay + a target queueing delay)), so a control frame sent behind images
/// waits for about the target, whatever the link's speed; the ceiling it
/// never passes is the configured window. For [`FRAMES_LINGER`] after
/// control or data frames went out the ceiling is halved (on a fast link,
/// where the ceiling is the window, a frame queued behind images then finds
/// less image data ahead of it in the kernels' buffers), while a stream of
/// images alone keeps its throughput.
///
/// Tickets: a locked image is offered with a [ticket](Self::issue_ticket); when
/// its last chunk is taken the sender [records](Self::finish) the byte count
/// its write must reach, and the writer [polls](Self::poll_ticket) for it.
/// A writer that gives up [abandons](Self::abandon) its ticket, and a closed
/// connection [loses](Self::close) the tickets not written whole.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use socketengine::protocol::{ImageFlow, TicketStatus};
///
/// let mut flow = ImageFlow::new(100_000);
/// let ticket = flow.issue_ticket();
/// flow.record_sent(100_000, Duration::ZERO);
/// // No estimate of the link yet, no frames went out: the full ceiling.
/// let window = flow.window(Duration::ZERO);
/// assert_eq!(window, 100_000);
/// assert!(!flow.may_send(window));
/// flow.ack(60_000, Duration::from_millis(1));
/// assert!(flow.may_send(window));
/// flow.finish(ticket, 100_020); // its last byte is the 100,020th of the stream
/// assert_eq!(flow.poll_ticket(ticket, 100_019), TicketStatus::Pending);
/// assert_eq!(flow.poll_ticket(ticket, 100_020), TicketStatus::Written);
/// ```
#[derive(Debug, Clone)]
pub struct ImageFlow {
    /// Image payload bytes that may be unacknowledged at most (at least one).
    window: u64,
    /// The window that follows the link, below `window`.
    link: LinkWindow,
    /// Image payload bytes taken on this connection.
    sent: u64,
    /// The most of `sent` the peer has acknowledged.
    acked: u64,
    /// When control or data frames last went out, while that halves the window.
    frames_sent_at: Option<Duration>,
    next_ticket: u64,
    /// Locked images taken whole: ticket and the byte count that covers it.
    done: Vec<(u64, u64)>,
    /// Tickets below this were issued before the connection last closed.
    lost_below: u64,
    /// Tickets given up before their image was taken whole.
    abandoned: Vec<u64>,
}

impl ImageFlow {
    /// A flow letting at most `window` image payload bytes be unacknowledged
    /// (at least one), aiming at [`DEFAULT_QUEUE_DELAY`] of queueing.
    pub fn new(window: u64) -> ImageFlow {
        ImageFlow::with_queue_delay(window, DEFAULT_QUEUE_DELAY)
    }

    /// As [`new`](Self::new), aiming at `target` of queueing delay.
    pub fn with_queue_delay(window: u64, target: Duration) -> ImageFlow {
        ImageFlow {
            window: window.max(1),
            link: LinkWindow::new(window, target),
            sent: 0,
            acked: 0,
            frames_sent_at: None,
            next_ticket: 0,
            done: Vec::new(),
            lost_below: 0,
            abandoned: Vec::new(),
        }
    }

    /// Records that control or data frames went out at `now`.
    pub fn frames_sent(&mut self, now: Duration) {
        self.frames_sent_at = Some(now);
    }

    /// Whether frames went out recently enough that [`window`](Self::window)
    /// depends on the time; when not, a sender need not read its clock.
    pub fn is_narrowed(&self) -> bool {
        self.frames_sent_at.is_some()
    }

    /// The window in force at `now`: the [link's](LinkWindow), under a
    /// ceiling that is the full window, or half of it within
    /// [`FRAMES_LINGER`] of the last [`frames_sent`](Self::frames_sent); never
    /// less than one byte.
    pub fn window(&mut self, now: Duration) -> u64 {
        self.link.window(now).min(self.ceiling(now))
    }

    /// The configured window, halved while frames flow.
    fn ceiling(&mut self, now: Duration) -> u64 {
        let Some(at) = self.frames_sent_at else {
            return self.window;
        };
        if now.saturating_sub(at) >= FRAMES_LINGER {
            self.frames_sent_at = None;
            return self.window;
        }
        (self.window / 2).max(1)
    }

    /// The most payload bytes the next image piece may carry under `window`
    /// (see [`piece_limit`]).
    pub fn piece_limit(&self, window: u64) -> usize {
        let limit = piece_limit(window, self.sent - self.acked);
        usize::try_from(limit).unwrap_or(usize::MAX)
    }

    /// The estimate of the link the window follows.
    pub fn link(&self) -> &LinkWindow {
        &self.link
    }

    /// Whether another chunk may be taken under `window`.
    pub fn may_send(&self, window: u64) -> bool {
        self.sent - self.acked < window
    }

    /// Records `payload` image bytes taken to send at `now`.
    pub fn record_sent(&mut self, payload: usize, now: Duration) {
        self.sent += payload as u64;
        self.link.on_send(self.sent, now);
    }

    /// Records the peer's acknowledgement of `total` image payload bytes,
    /// arrived at `now`; never more than was sent, so a lying peer cannot
    /// widen the window, and never less than before.
    pub fn ack(&mut self, total: u64, now: Duration) {
        self.acked = total.clamp(self.acked, self.sent);
        self.link.on_ack(self.acked, self.sent - self.acked, now);
    }

    /// The ticket [`issue_ticket`](Self::issue_ticket) returns next.
    pub fn next_ticket(&self) -> u64 {
        self.next_ticket
    }

    /// A new ticket for a locked image.
    pub fn issue_ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket - 1
    }

    /// Records that `ticket`'s image was taken whole, its last byte being the
    /// `target`th of the stream; forgotten at once if it was abandoned.
    pub fn finish(&mut self, ticket: u64, target: u64) {
        match self.abandoned.iter().position(|&t| t == ticket) {
            Some(i) => {
                self.abandoned.swap_remove(i);
            }
            None => self.done.push((ticket, target)),
        }
    }

    /// Where `ticket` stands with `written` bytes of the stream written;
    /// [`Written`](TicketStatus::Written) forgets it.
    pub fn poll_ticket(&mut self, ticket: u64, written: u64) -> TicketStatus {
        match self.done.iter().position(|&(t, _)| t == ticket) {
            Some(i) if self.done[i].1 <= written => {
                self.done.swap_remove(i);
                TicketStatus::Written
            }
            Some(_) => TicketStatus::Pending,
            None if ticket < self.lost_below => TicketStatus::Lost,
            None => TicketStatus::Pending,
        }
    }

    /// Whether some finished ticket is written with `written` bytes out (a
    /// writer waiting for it may go on).
    pub fn any_written(&self, written: u64) -> bool {
        self.done.iter().any(|&(_, target)| target <= written)
    }

    /// Gives `ticket` up (its writer stopped waiting): its record, or the
    /// record to come, is forgotten.
    pub fn abandon(&mut self, ticket: u64) {
        match self.done.iter().position(|&(t, _)| t == ticket) {
            Some(i) => {
                self.done.swap_remove(i);
            }
            None => self.abandoned.push(ticket),
        }
    }

    /// The connection closed with `written` bytes written: tickets written
    /// whole still count as written, every other one issued so far is lost.
    pub fn close(&mut self, written: u64) {
        self.done.retain(|&(_, target)| target <= written);
        self.lost_below = self.next_ticket;
        self.abandoned.clear();
    }

    /// A new connection: nothing sent or acknowledged on it yet.
    pub fn reopen(&mut self) {
        (self.sent, self.acked) = (0, 0);
        self.link.reopen();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_image_window_halves_while_frames_flow() {
        // (full window, time since frames went out, window in force)
        let cases = [
            (1 << 20, None, 1 << 20),
            (1 << 20, Some(ms(0)), 1 << 19),
            (1 << 20, Some(FRAMES_LINGER - ms(1)), 1 << 19),
            (1 << 20, Some(FRAMES_LINGER), 1 << 20),
            (1 << 20, Some(ms(10_000)), 1 << 20),
            // Never shut: a window of one byte stays one byte.
            (1, Some(ms(0)), 1),
        ];
        let start = ms(5_000);
        for (full, since, want) in cases {
            let mut flow = ImageFlow::new(full);
            if since.is_some() {
                flow.frames_sent(start);
            }
            let now = start + since.unwrap_or_default();
            assert_eq!(flow.window(now), want, "{full} {since:?}");
        }
    }

    #[test]
    fn the_window_stays_full_once_frames_stop_lingering() {
        let mut flow = ImageFlow::new(1 << 20);
        assert!(!flow.is_narrowed());
        flow.frames_sent(ms(0));
        assert!(flow.is_narrowed());
        assert_eq!(flow.window(ms(50)), 1 << 19);
        assert_eq!(flow.window(FRAMES_LINGER), 1 << 20);
        assert!(!flow.is_narrowed(), "the mark is cleared after the linger");
        // A clock that goes back (another epoch) never narrows it again.
        assert_eq!(flow.window(ms(0)), 1 << 20);
        flow.frames_sent(ms(500));
        assert_eq!(flow.window(ms(520)), 1 << 19, "new frames halve it again");
    }

    #[test]
    fn a_zero_window_still_lets_one_byte_out() {
        let mut flow = ImageFlow::new(0);
        let window = flow.window(ms(0));
        assert_eq!(window, 1);
        assert!(flow.may_send(window));
        flow.record_sent(1, ms(0));
        assert!(!flow.may_send(window));
    }

    #[test]
    fn more_may_be_sent_while_less_than_the_window_is_unacknowledged() {
        // (sent, acked, window, may send)
        let cases = [
            (0, 0, 10, true),
            (9, 0, 10, true),
            (10, 0, 10, false),
            (25, 15, 10, false),
            (25, 16, 10, true),
            (25, 25, 1, true),
        ];
        for (sent, acked, window, want) in cases {
            let mut flow = ImageFlow::new(window);
            flow.record_sent(sent, ms(0));
            flow.ack(acked, ms(1));
            assert_eq!(flow.may_send(window), want, "{sent} {acked} {window}");
        }
    }

    #[test]
    fn acknowledgements_never_exceed_what_was_sent_nor_go_back() {
        // (acks in order, acked after each)
        let cases: [(&[u64], &[u64]); 4] = [
            (&[10, 30], &[10, 30]),
            (&[u64::MAX], &[100]),
            (&[50, 20], &[50, 50]),
            (&[0, 100, 101], &[0, 100, 100]),
        ];
        for (acks, want) in cases {
            let mut flow = ImageFlow::new(1);
            flow.record_sent(100, ms(0));
            for (&ack, &acked) in acks.iter().zip(want) {
                flow.ack(ack, ms(1));
                assert_eq!(flow.acked, acked, "{acks:?}");
            }
        }
    }

    #[test]
    fn tickets_are_issued_in_order_and_peeked_without_issuing() {
        let mut flow = ImageFlow::new(1);
        assert_eq!(flow.next_ticket(), 0);
        assert_eq!(flow.next_ticket(), 0, "peeking issues nothing");
        assert_eq!(flow.issue_ticket(), 0);
        assert_eq!(flow.issue_ticket(), 1);
        assert_eq!(flow.next_ticket(), 2);
    }

    #[test]
    fn a_finished_ticket_is_written_once_its_target_is_reached() {
        // (target, written, status)
        let cases = [
            (100, 0, TicketStatus::Pending),
            (100, 99, TicketStatus::Pending),
            (100, 100, TicketStatus::Written),
            (100, 500, TicketStatus::Written),
        ];
        for (target, written, want) in cases {
            let mut flow = ImageFlow::new(1);
            let ticket = flow.issue_ticket();
            flow.finish(ticket, target);
            let any = flow.any_written(written);
            assert_eq!(any, want == TicketStatus::Written, "{target} {written}");
            assert_eq!(
                flow.poll_ticket(ticket, written),
                want,
                "{target} {written}"
            );
        }
    }

    #[test]
    fn a_written_ticket_is_reported_once() {
        let mut flow = ImageFlow::new(1);
        let ticket = flow.issue_ticket();
        flow.finish(ticket, 10);
        assert!(flow.any_written(10));
        assert_eq!(flow.poll_ticket(ticket, 10), TicketStatus::Written);
        assert!(!flow.any_written(10));
        assert_eq!(flow.poll_ticket(ticket, 10), TicketStatus::Pending);
    }

    #[test]
    fn an_abandoned_ticket_leaves_no_record_whenever_it_finishes() {
        for finished_first in [false, true] {
            let mut flow = ImageFlow::new(1);
            let (gone, kept) = (flow.issue_ticket(), flow.issue_ticket());
            if finished_first {
                flow.finish(gone, 10);
                flow.abandon(gone);
            } else {
                flow.abandon(gone);
                flow.finish(gone, 10);
            }
            flow.finish(kept, 20);
            assert!(
                flow.done == [(kept, 20)],
                "{finished_first}: {:?}",
                flow.done
            );
            assert!(flow.abandoned.is_empty(), "{finished_first}");
        }
    }

    #[test]
    fn closing_loses_the_tickets_not_written_whole() {
        let mut flow = ImageFlow::new(1);
        let written = flow.issue_ticket();
        let unwritten = flow.issue_ticket();
        let untaken = flow.issue_ticket();
        let abandoned = flow.issue_ticket();
        flow.finish(written, 10);
        flow.finish(unwritten, 20);
        flow.abandon(abandoned);
        flow.close(15);
        let after = flow.issue_ticket();
        // (ticket, status at 15 bytes written)
        let cases = [
            (written, TicketStatus::Written),
            (unwritten, TicketStatus::Lost),
            (untaken, TicketStatus::Lost),
            (after, TicketStatus::Pending),
        ];
        for (ticket, want) in cases {
            assert_eq!(flow.poll_ticket(ticket, 15), want, "ticket {ticket}");
        }
        assert!(flow.abandoned.is_empty(), "abandoned tickets are forgotten");
    }

    #[test]
    fn reopening_starts_the_window_afresh_and_keeps_the_tickets() {
        let mut flow = ImageFlow::new(10);
        let ticket = flow.issue_ticket();
        flow.record_sent(10, ms(0));
        flow.ack(4, ms(1));
        flow.close(0);
        flow.reopen();
        assert_eq!((flow.sent, flow.acked), (0, 0));
        assert!(flow.may_send(10));
        assert_eq!(flow.issue_ticket(), ticket + 1, "tickets keep counting");
        assert_eq!(flow.poll_ticket(ticket, 0), TicketStatus::Lost);
    }
}
