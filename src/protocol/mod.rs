//! The wire format (v5), sans-IO: bytes in, frames or `IoSlice`s out.
//!
//! Nothing in this module touches a socket, a thread or a clock, so all of it can
//! be fuzzed and tested by table. This page is the one specification of the wire
//! format; everything else links here.
//!
//! # Handshake
//!
//! A connection opens with the client's hello; the host answers with a welcome.
//! Integers are little-endian.
//!
//! ```text
//! client -> host  Hello (9 + n + t bytes)
//! +--------+---------+-------+-----------------+-------+-------------------+-------+
//! | "SKEN" | version | n: u8 | name: n bytes   | t: u8 | resume token      | m: u8 |
//! | 4 B    | u16     |       | UTF-8, may be 0 | 0, 16 | t bytes           | auth  |
//! +--------+---------+-------+-----------------+-------+-------------------+-------+
//!
//! host -> client  Welcome (47 bytes)
//! +--------+---------+--------+---------------+----------------+--------------+-----------+
//! | "SKEN" | version | status | client id u64 | host clock u64 | resume token | epoch u64 |
//! | 4 B    | u16     | u8     | 0 if refused  | ns since 1970  | 16 B, 0 if   | 0 if      |
//! |        |         |        |               |                | refused      | refused   |
//! +--------+---------+--------+---------------+----------------+--------------+-----------+
//! status: 0 accepted, 1 version mismatch, 2 host full, 3 name taken,
//!         4 address limit, 5 evicted, 6 unauthorized
//! ```
//!
//! | field          | in      | meaning                                                        |
//! |----------------|---------|----------------------------------------------------------------|
//! | `version`      | both    | 5 ([`VERSION`]); a host refuses any other with status 1, and a client stops redialling a host that does |
//! | `name`         | hello   | the client's name; empty asks the host for `client-N`          |
//! | `t`, token     | hello   | `t` = 0: no token; `t` = 16: the token of the client's last welcome; other values are an error |
//! | `m`            | hello   | how the client can prove its name ([`AuthMethod`]): 0 it cannot, 1 a shared token, 2 an Ed25519 key; other values are an error |
//! | `status`       | welcome | 0 accepted; 1 version mismatch; 2 host full; 3 name taken; 4 address limit; 5 evicted; 6 unauthorized (status 7 marks a challenge, below) |
//! | `client id`    | welcome | the id the host gave the client; a known name keeps its id      |
//! | `resume token` | welcome | 16 random bytes, new on every accepted connection ([`ResumeToken`]) |
//! | `epoch`        | welcome | 64 random bits drawn when the host started: a client that reconnects and finds another epoch knows the host restarted and lost what it held |
//!
//! **Names are identities.** While a client is connected under a name, the host
//! refuses that name to any other connection (status 3) unless its hello
//! presents the token of the name's latest welcome: then it is the same client
//! coming back (its old connection may be half-open), it takes the name over,
//! and the old connection is closed with reason 2 (replaced). A token is bound
//! to one name and replaced by every accepted connection under it, so a
//! made-up token, another name's token, or one from before the name last
//! connected anew is refused. A name that is not connected is free, token or
//! not. A host may be configured to let the newer connection win regardless.
//!
//! The host checks the magic tag byte by byte as it arrives, so a peer speaking
//! anything else (an HTTP request, random bytes) is dropped after its first
//! differing byte; a peer that stays silent is dropped after the handshake timeout.
//! A host keeps a bounded number of connections in the handshake; when all
//! those slots are taken, a new connection displaces the oldest one that has
//! not sent its hello (or, if every one has and was challenged, the one
//! challenged longest ago), which is told so with status 5 (best effort) and
//! closed.
//! A host refuses a connection with status 2 when its clients fill every
//! connection slot, and with status 4 when the connection's source address
//! holds its share already; these refusals may come before the hello is read.
//!
//! **Versions.** A peer of another version is refused at the hello (status
//! 1), before any frame, because frames change between versions: a frame
//! with a flag its receiver does not know closes the connection. What each
//! version added: 2, resume tokens in the handshake; 3, the host's epoch in
//! the welcome; 4, authentication (`m`, challenges, status 6); 5, the
//! payload encoding in flag bits 4–5 (`0x30`) of data, request and reply
//! frames, and a send time (flag `0x08`) on data and image frames.
//! After the welcome both sides send only frames.
//!
//! ## Authentication
//!
//! A host that requires credentials answers a hello whose `m` is not 0 with
//! a challenge instead of a welcome; the client answers with a proof, and
//! the host then sends the welcome (accepted, or status 6). A hello with
//! `m` = 0 is refused with status 6 at once. A host without credentials
//! answers every hello with a welcome, whatever its `m`.
//!
//! ```text
//! host -> client  Challenge (39 bytes)
//! +--------+---------+-----------+--------------------+
//! | "SKEN" | version | 7: u8     | nonce              |
//! | 4 B    | u16     | challenge | 32 random bytes    |
//! +--------+---------+-----------+--------------------+
//!
//! client -> host  Proof (1 + p bytes)
//! +-------------+-------------------------------------------+
//! | p: u8 1..64 | proof: 32 B (m = 1) or 64 B (m = 2)       |
//! +-------------+-------------------------------------------+
//! ```
//!
//! The proof covers the [`transcript`]: the 21 bytes `socketengine auth v4`
//! and a zero byte, the nonce, the name (`n: u8` and its bytes) and a
//! channel binding (`b: u8` and its bytes): over TLS, the 32 bytes of
//! keying material the session exports (RFC 5705/8446, label
//! `EXPORTER-socketengine-auth`, no context), so a proof made on one TLS
//! session (a malicious host relaying another's challenge) proves nothing
//! on another; over plain TCP, empty (`b` = 0).
//! For `m` = 1 the proof is HMAC-SHA-256 of the transcript keyed with the
//! SHA-256 of the shared token; for `m` = 2, the Ed25519 signature of the
//! transcript (checked strictly, RFC 8032 with no malleable encodings). The
//! host checks it against the credential it lists for the name; a name it
//! does not list, a proof of another method or length, or a wrong proof
//! get status 6 alike. The nonce is new on every connection, so a proof
//! seen once proves nothing again; the name is covered, so a proof for one
//! name proves no other. A client that proves its name takes it over from
//! a connection the host still thinks is open (it is that name's holder,
//! token or not). The host's slot and deadline for the handshake cover the
//! proof.
//! # Over TLS
//!
//! With TLS configured on both ends, a TLS 1.3 handshake follows the TCP
//! connect, and everything on this page (hello, welcome, frames) is then sent
//! byte for byte inside the TLS stream: nothing in the format changes. The
//! TLS handshake counts as part of the handshake (its slot and timeout). A
//! host that refuses a connection before its TLS handshake (status 2 or 4)
//! sends the plain welcome, which a TLS client recognises by its magic tag.
//! One end with TLS and the other without fails at the first bytes.
//!
//! # Frames
//!
//! ```text
//!  0        4      5       6        7              7+n
//! +--------+------+-------+--------+--------------+-------+--------+---------+-------------+---------+
//! | len    | kind | flags | n: u8  | channel      | route | origin | sent at | kind fields | payload |
//! | u32 LE | u8   | u8    | 1..255 | n bytes UTF-8| flag  | flag   | flag    | per kind    | rest    |
//! +--------+------+-------+--------+--------------+-------+--------+---------+-------------+---------+
//!          |<------------------------------- len bytes (the body) ------------------------------>|
//! ```
//!
//! * `len` counts the body: every byte after the length prefix. A receiver checks
//!   it against its configured maximum as soon as the first six bytes are in,
//!   before it reserves any memory, together with `kind` and `flags`.
//! * `flags`: bit 0 (`0x01`) a route follows the channel; bit 1 (`0x02`) an origin
//!   client id (`u64`) follows the route; bit 2 (`0x04`) mirror: the host also
//!   delivers a routed frame back to its sender; bit 3 (`0x08`,
//!   [`FLAG_SENT_AT`]) a send time (`u64`, nanoseconds since the Unix epoch on
//!   the **host's** clock) follows the origin, on data and image frames only
//!   ([`Time`](#time), below); bits 4–5 (`0x30`, [`FLAG_ENCODING`])
//!   the payload's [`Encoding`]: `0` bytes (none declared), `1` JSON, `2`
//!   MessagePack, `3` reserved (below). Other bits must be zero.
//! * `route`: one tag byte, then `0` host, `1` all clients, `2` clients
//!   (`count: u8`, then `count` ids as `u64`), `3` room (`n: u8`, `n` bytes of
//!   UTF-8), `4` clients by name (`count: u8`, then per name `n: u8` (1..=255)
//!   and `n` bytes of UTF-8), `5` group (`n: u8` (1..=255), `n` bytes of
//!   UTF-8: a channel pattern, below).
//!
//! | kind | code | kind fields (in order)                                                           |
//! |------|------|----------------------------------------------------------------------------------|
//! | data        | `0x01` | none                                                                     |
//! | image       | `0x02` | width u32, height u32, format u8, stride u32, seq u64, capture ns u64, total payload u64 (37 B) |
//! | image chunk | `0x03` | seq u64, byte offset u64 (16 B)                                          |
//! | request     | `0x04` | id u64                                                                   |
//! | reply       | `0x05` | id u64, status u8                                                        |
//! | ping        | `0x06` | sender clock ns u64                                                      |
//! | pong        | `0x07` | ping's clock ns u64, responder clock ns u64                              |
//! | control     | `0x08` | op u8 (payload: its argument; op `0x01` image acknowledgement, below)   |
//! | close       | `0x09` | reason u8 (payload: UTF-8 message, at most 1 KiB)                        |
//!
//! The codes are defined once in code, as [`KindCode`].
//!
//! ## Payload encodings
//!
//! Bits 4–5 of the flags say how the payload is encoded, so a receiver in
//! any language knows how to read it without a schema: `0` declares nothing
//! (plain bytes, as every frame before typed messages), `1` JSON (UTF-8,
//! RFC 8259), `2` MessagePack (this crate writes a struct as a map keyed by
//! its field names, as JSON would have it). Data, request and reply frames
//! may declare one; on every other kind the bits are `0`. Code `3` is
//! reserved, and a frame with it, or with a code other than `0` on another
//! kind, is malformed ([`DecodeError::UnknownEncoding`],
//! [`DecodeError::EncodingNotCarried`]): the receiver closes that
//! connection. The bits describe the payload only: nothing on the wire
//! checks that the payload is what they declare (a receiver that cannot read
//! it reports that to its application and keeps the connection). A host that
//! relays or routes a frame keeps its encoding bits on every copy, and a
//! stored value keeps them when it is sent again (a latched value, a
//! republished one).
//!
//! A data frame on `pose` carrying the JSON `{"x":1}`:
//!
//! ```text
//! 0e 00 00 00            len = 14
//! 01                     kind: data
//! 10                     flags: encoding 1 (JSON)
//! 04 70 6f 73 65         channel "pose"
//! 7b 22 78 22 3a 31 7d   payload {"x":1}
//! ```
//!
//! The same value in MessagePack (a map of one entry, `"x"`, then 1): flags
//! `20`, payload `81 a1 78 01`, so `len` = 11.
//!
//! ## Time
//!
//! Every time on the wire is nanoseconds since the Unix epoch. The host's
//! clock is the one every peer's times are written on: the welcome carries
//! it, a pong carries it, and send times and image capture times are on it.
//!
//! * **Ping and pong.** A ping carries its sender's clock; its receiver
//!   answers at once with a pong carrying that value back and its own clock.
//!   Either side pings: a host a client silent for a heartbeat, a client its
//!   host every heartbeat (and four times in a row, each on the last one's
//!   pong, right after a welcome). Pings and pongs travel on channel
//!   `heartbeat` and never reach a store.
//! * **Clock estimate.** A client makes an exchange of each of its pings
//!   and of its hello and the welcome: its clock when the question left, the
//!   host's in the answer, its clock when the answer came. The host read its
//!   clock in between, so the offset lies within half the round trip of
//!   the midpoint. The client keeps the last [`CLOCK_SAMPLES`] (8) and uses
//!   the one whose bound, half its round trip plus [`DRIFT_PPM`] (50 ppm) of
//!   its age, is tightest ([`ClockFilter`]). A pong that answers no ping in
//!   flight, or whose times are impossible (a host clock of 0, an answer
//!   before its question, a round trip over 10 s, a host clock outside the
//!   estimate's bounds by more than 1 ms), is rejected ([`Rejected`]) and
//!   changes nothing, unless [`STEP_SAMPLES`] (4) in a row agree with each
//!   other (a clock was stepped). Nothing about this is a protocol error.
//! * **Send time.** A data or image frame with flag `0x08` carries, after
//!   its origin, when its message was sent, on the host's clock: a client
//!   converts its own clock with its estimate before writing it. A host that
//!   relays or routes the frame keeps it on every copy, and a stored value
//!   keeps it when sent again. `0` means none. Requests and replies carry
//!   none (the flag on them is an error): a request's round trip is timed by
//!   its requester.
//! * **Capture time.** An image's `capture ns` is on the host's clock too:
//!   a client converts its own images' capture times with its estimate
//!   before sending them (a received image sent on is on it already).
//!
//! A data frame on `pose` sent at 1 700 000 000 000 000 000 ns (host clock)
//! carrying `hi`:
//!
//! ```text
//! 11 00 00 00               len = 17
//! 01                        kind: data
//! 08                        flags: send time
//! 04 70 6f 73 65            channel "pose"
//! 00 00 2a 36 fe 9c 97 17   send time
//! 68 69                     payload "hi"
//! ```
//!
//! A client's ping sent at that time on its clock, and the host's pong: the
//! host's clock runs 5 s ahead of the client's, and the host read it 75 µs
//! after the ping left (halfway through a 150 µs round trip), so the pong
//! carries the ping's time and that time plus 5 s 75 µs:
//!
//! ```text
//! 14 00 00 00 06 00 09 68 65 61 72 74 62 65 61 74   len = 20, ping, "heartbeat"
//! 00 00 2a 36 fe 9c 97 17                           sender clock
//! 1c 00 00 00 07 00 09 68 65 61 72 74 62 65 61 74   len = 28, pong, "heartbeat"
//! 00 00 2a 36 fe 9c 97 17                           the ping's clock
//! f8 16 31 60 ff 9c 97 17                           responder clock (+5 s 75 µs)
//! ```
//!
//! ## Close
//!
//! A peer that hangs up on purpose first sends a close frame (on channel
//! `close`, which the receiver ignores), then closes its socket. Reason codes:
//!
//! | code | meaning                                         | sent by                     |
//! |------|-------------------------------------------------|-----------------------------|
//! | 0    | normal: the peer is closing                     | a client's `close`          |
//! | 1    | kicked: the host disconnected this client       | `Host::disconnect`          |
//! | 2    | replaced: a connection with the token took the name | the host                |
//! | 3    | shutting down: the host is stopping             | the host's `close`          |
//! | 4    | slow consumer: bytes waited for the peer to read them past the sender's write deadline | either side |
//!
//! Other codes are reported as they are. The message is for people: at most
//! [`MAX_CLOSE_MESSAGE`] (1024) bytes of UTF-8, cut at a character boundary by
//! the sender; a receiver cuts longer ones and replaces invalid UTF-8. A
//! client told 1 or 2 does not redial (unless configured to after 1); told
//! 4, it redials.
//!
//! Code 4 is best effort by nature: it goes out behind whatever the peer has
//! not read, so a peer that reads again soon after sees it, and one that
//! never does sees only the connection end.
//!
//! A close frame of code 4 with the message `slow`:
//!
//! ```text
//! 0d 00 00 00   len = 13
//! 09 00         kind: close, flags: none
//! 05 63 6c 6f 73 65   channel "close"
//! 04            reason: slow consumer
//! 73 6c 6f 77   message "slow"
//! ```
//!
//! ## Images
//!
//! An image travels as an image frame followed by zero or more image-chunk
//! frames on the same channel. The image frame's `total payload` is the length
//! of the whole image's pixels (or encoded file); its own payload is the first
//! chunk of them. Each chunk frame carries the image's sequence number and the
//! byte offset of its payload within the image; chunks of one image come in
//! order, without gaps or overlap, and carry no route or origin. Images of
//! different channels may interleave chunk by chunk, at most
//! [`MAX_IMAGES_IN_PROGRESS`] (16) started and unfinished at once per
//! connection, and any other frame may come between two chunks. A receiver holds an image until its last byte is in;
//! a chunk that does not continue its channel's image, or an image frame that
//! starts before the previous one on its channel ended, is an error
//! ([`DecodeError::BadChunk`]). `format` codes: 1 Gray8, 2 Gray16 (little-endian),
//! 3 Rgb8, 4 Bgr8, 5 Rgba8, 16 JPEG, 17 PNG; for raw formats the total payload
//! is `stride × height`, for encoded ones `stride` is 0.
//!
//! Flow control: a receiver acknowledges image bytes with a control frame of op
//! [`OP_IMAGE_ACK`] (`0x01`) whose payload is the total of image and chunk
//! payload bytes it has received on the connection, a `u64` little-endian, sent
//! at least after every frame whose payload completes (only the newest count
//! matters, so a sender may coalesce them). A sender keeps at most its window
//! of image bytes unacknowledged ([`ImageFlow`]): a peer that never
//! acknowledges receives images until the window is spent and then no more
//! (its other frames still flow). A receiver must acknowledge, and should
//! acknowledge promptly: the sender sizes its window from the
//! acknowledgements' timing ([`LinkWindow`]: the delivery rate and the least
//! delay from sending a chunk to its acknowledgement, both measured by the
//! sender on its own clock, so acknowledgements carry no timestamp and
//! nothing on the wire changed for it). Chunks may be of any size, and a
//! sender cuts them to fit its window.
//!
//! A receiver need not reserve what a header announces before the bytes come:
//! it may refuse an image it has no memory for, or one not whole within its
//! own timeout, part way. It then drops the image and still reads and
//! acknowledges the rest of its chunks, which the sender keeps sending as
//! before; nothing on the wire tells the sender. A frame not whole within a
//! receiver's timeout, or one it cannot allocate, closes the connection.
//!
//! ## Shared-memory images
//!
//! Two processes of one machine may pass images through memory instead of
//! the socket, so neither kernel copy of a large image is made. Everything
//! about it is control operations (kind `0x08`), which a peer that does
//! not take part drops unread, so the handshake, the frames and the TCP
//! image path above are unchanged for it. Each direction is negotiated on
//! its own: the end that sends images owns a segment; the other maps it.
//!
//! * **Offer.** An end with shared-memory images on (a setting of both
//!   handles, off by default) whose peer's address is a loopback address
//!   (an IPv4-mapped IPv6 one included) makes its *segment*: an anonymous
//!   memory file (Linux `memfd_create`, named in no directory) of `len`
//!   bytes of slots followed by the segment's name ([`SegmentName`]:
//!   [`SEGMENT_PREFIX`] and 16 random bytes in lowercase hex, 45 bytes),
//!   its pages reserved, sealed against shrinking, growing and writes by
//!   any later route (`F_SEAL_FUTURE_WRITE`: its own mapping, made first,
//!   stays writable; no hole can be punched), and against further seals. It keeps the file's descriptor open while the
//!   segment is offered or mapped, and sends [`OP_SHM_OFFER`] (`0x07`) on
//!   channel [`SHM_CHANNEL`] (`shm`) after the welcome, once the segment
//!   is made (this crate makes it at its first image for the peer, so a
//!   peer that gets none is offered none; other frames, images among them,
//!   may come first): version `u8`
//!   ([`SHM_VERSION`], 2), `len` `u64`, its process id `u32`, the
//!   descriptor `u32`, the name (`n: u8`, `n` bytes) ([`ShmOffer`]).
//! * **Answer.** The receiver answers with [`OP_SHM_ANSWER`] (`0x08`) on
//!   `shm`: status `u8`, then the offer's name ([`ShmAnswer`]). Status 0:
//!   it opened `/proc/<pid>/fd/<descriptor>` read-only without waiting,
//!   found a regular file on tmpfs of at least `len` + 45 bytes, every page
//!   backed, sealed against shrinking and later writes, within its limit of
//!   mapped bytes, mapped it and read the offer's name right after the `len`
//!   bytes; 1 its setting is off; 2 the sender's address is not a
//!   loopback one; 3 it could not open, map or check it (another user's
//!   process, another process namespace, not a sealed memory file, too
//!   short, another name: a segment not offered on this connection). A
//!   peer that does not know the operations, or an offer's version (1
//!   named a file in `/dev/shm`), never answers. The sender closes the
//!   file on any answer but 0, when the connection ends, or when it stops
//!   waiting for the answer (a deadline of its own choosing: an answer
//!   after it changes nothing, and images go as above); the memory lives
//!   while either end maps it. One offer a connection: a second is
//!   [`DecodeError::BadShm`].
//!   Until an answer of status 0, and after any other, images go as above.
//! * **Images.** The sender copies an image into a free range of its
//!   segment (its *slot*) and sends [`OP_SHM_IMAGE`] (`0x09`) on the
//!   image's channel, with no route (a host's copy of a client's image
//!   carries the origin flag and id, as an image frame would): the image
//!   frame's 37 bytes of fields
//!   (`total payload` is the image's length), the slot's offset `u64`, the
//!   send time `u64` (0: none) ([`ShmImage`], [`SHM_IMAGE_LEN`] = 53 bytes).
//!   It does not write the slot again until the receiver releases it. An
//!   image with a route, one larger than the segment, one while no slot is
//!   free, and one of a channel whose earlier image went as above and is
//!   not yet all sent go as above (where a newer one of its channel may
//!   replace it, as a full window has it; none overtakes an older one).
//! * **Release.** The receiver sends [`OP_SHM_RELEASE`] (`0x0a`) on `shm`
//!   with the offsets of images it no longer holds, `u64` each, 1 to
//!   [`MAX_RELEASES`] (512) per frame, each image released once (releases
//!   made together may go in one frame). Shared
//!   images take no part in the window: the release is their
//!   acknowledgement.
//!
//! An offer or answer that does not parse, an image operation from a
//! sender whose segment is not mapped, with a route, or whose bytes lie
//! outside the segment ([`ShmImage::range`]), and a release of an offset
//! that starts no slot in use, are [`DecodeError::BadShm`]: the receiver
//! closes that connection only. A sender may still write a slot while the
//! receiver reads it (a broken or hostile peer): the receiver then sees
//! torn pixels, never memory outside the mapping; the seals keep every
//! page of the mapping backed, so reading it never faults.
//!
//! A client (process 4242) offers a 64 MiB segment, its descriptor 9, the
//! host maps it, and an image of 2 × 1 RGB pixels (6 bytes, sequence 7) on
//! `cam` goes at offset 4096, then is released (name bytes elided: 45
//! bytes, `socketengine-` and 32 hex digits):
//!
//! ```text
//! 46 00 00 00 08 00 03 73 68 6d 07   len = 70, control, "shm", op: offer
//! 02                                 version 2
//! 00 00 00 04 00 00 00 00            len 64 MiB
//! 92 10 00 00                        process id 4242
//! 09 00 00 00                        descriptor 9
//! 2d ..                              name of 45 bytes
//! 36 00 00 00 08 00 03 73 68 6d 08   len = 54, control, "shm", op: answer
//! 00 2d ..                           status 0 (mapped), the name
//! 3c 00 00 00 08 00 03 63 61 6d 09   len = 60, control, "cam", op: image
//! 02 00 00 00 01 00 00 00 03         width 2, height 1, format 3 (Rgb8)
//! 06 00 00 00                        stride 6
//! 07 00 00 00 00 00 00 00            seq 7
//! 00 00 00 00 00 00 00 00            capture time: none
//! 06 00 00 00 00 00 00 00            length 6
//! 00 10 00 00 00 00 00 00            offset 4096
//! 00 00 00 00 00 00 00 00            send time: none
//! 0f 00 00 00 08 00 03 73 68 6d 0a   len = 15, control, "shm", op: release
//! 00 10 00 00 00 00 00 00            offset 4096
//! ```
//!
//! ## Routing
//!
//! A client sets a route on a data frame, or on the first frame of an image,
//! to have its host deliver it to other clients: `1` every other client, `2`
//! by id, `3` the members of a room (below), `4` by name, `5` the members of
//! a group (below; `0`, or no route, is the host itself). The host delivers each copy without a route and with the
//! origin flag set to the sender's id, so receivers see who sent it; with the
//! mirror flag the sender gets a copy too. A client never routes what it
//! receives. For each id or name that names no connected client, and for a
//! route it refuses, the host sends the sender a control frame of op
//! [`OP_UNDELIVERED`] (`0x02`) on the frame's channel, whose payload is a reason
//! code `u8` (1 unknown id, 2 unknown name, 3 refused, 4 unsupported, 5
//! unknown room, 6 unknown group, 7 over a limit of the host's, 8 forbidden
//! by permissions: the detail is the action, a space and what it was tried
//! on: the sender's own, such as `publish` and the channel, or a
//! receiver's, `subscribe` and the receiver's name, for a copy or a
//! forwarded request that receiver may not have) and UTF-8 detail
//! ([`Undelivered`]), at most [`MAX_FAILURE_TEXT`] (1024) bytes, cut at a
//! character boundary: the other targets still get their copies. A copy is
//! never longer than the maximum frame: the origin (8 bytes) takes the
//! route's place, and a copy it would take past the host's maximum (an
//! unrouted frame relayed, or a route by a short name) goes to nobody, the
//! sender told with code 7.
//!
//! A data frame on `cmd`, routed to the client named `arm`, carrying `go`:
//!
//! ```text
//! 0e 00 00 00   len = 14
//! 01            kind: data
//! 01            flags: route
//! 03 63 6d 64   channel "cmd"
//! 04 01 03      route: by name, one name of 3 bytes
//! 61 72 6d      "arm"
//! 67 6f         payload "go"
//! ```
//!
//! The host's notice that no client is named `arm`: a control frame on `cmd`
//! of op `0x02` with payload `02` "arm":
//!
//! ```text
//! 0b 00 00 00 08 00 03 63 6d 64 02 02 61 72 6d
//! ```
//!
//! A host may also relay frames that carry no route (a setting of the host,
//! not of the wire): it delivers them to every other client as it delivers a
//! route to all, origin flag set, and may echo them to their sender.
//!
//! ## Interest
//!
//! A client declares which channels it wants from its host's broadcasts,
//! relays and routes to all with a control frame of op [`OP_INTEREST`]
//! (`0x06`) on channel `interest`: payload `count: u8` (at most
//! [`MAX_INTEREST`], 32), then per pattern `n: u8` and `n` bytes of UTF-8. A
//! pattern names channels by segment (between `/`): `*` one segment, `**` any
//! number, none included ([`Pattern`]). The host then skips the client for
//! every other channel; frames sent to it by id, name, room or group are
//! not filtered. A declaration replaces the last; a client that declared nothing
//! gets every channel; a client declares again on each new connection. A
//! malformed declaration closes the connection.
//!
//! ```text
//! 19 00 00 00 08 00 08 69 6e 74 65 72 65 73 74 06 02 04 70 6f 73 65 06 61 72 6d 2f 2a 2a
//! control, no flags, "interest", op 0x06, 2 patterns: "pose", "arm/**"
//! ```
//!
//! ## Groups
//!
//! A group is a channel pattern; its members are the connected clients whose
//! declared interest overlaps it (some channel matches both one of the
//! client's patterns and the group's: `arm/**` takes a client interested in
//! `arm/left/*`, in `**` or in `arm`). A client that declared nothing is in
//! no group. A frame routed to a group (tag `5`) goes to its members other
//! than its sender (the sender too with mirror), whatever its channel; a
//! group without members is unknown, and the sender gets an
//! [`OP_UNDELIVERED`] notice of code 6 with the group's pattern. A group
//! that is not a valid pattern is a malformed frame.
//!
//! A data frame on `cmd` to the group `arm/**`, carrying `go`, and the host's
//! notice when no client's interest overlaps `arm/**`:
//!
//! ```text
//! 10 00 00 00 01 01 03 63 6d 64 05 06 61 72 6d 2f 2a 2a 67 6f
//! data, route, "cmd", route: group of 6 bytes "arm/**", payload "go"
//! 0e 00 00 00 08 00 03 63 6d 64 02 06 61 72 6d 2f 2a 2a
//! control, "cmd", op 0x02 (undelivered), code 6, "arm/**"
//! ```
//!
//! ## Rooms
//!
//! A room is a named set of clients that the host keeps (names 1..=255 bytes
//! of UTF-8). A frame routed to a room (tag `3`) goes to the room's connected
//! members other than its sender (the sender too with mirror); a room with no
//! members is unknown, and the sender gets an [`OP_UNDELIVERED`] notice of
//! code 5 with the room's name. The host's application adds and removes
//! members; a client asks with control frames on the channel
//! [`ROOMS_CHANNEL`] (`rooms`) whose payload is the room's name: op
//! [`OP_JOIN`] (`0x03`) or [`OP_LEAVE`] (`0x04`). The host answers a request
//! it accepts, and tells the client of every change the host itself makes,
//! with op [`OP_ROOMS`] (`0x05`) on the same channel: the client's rooms, in
//! order, each `n: u8` and `n` bytes of UTF-8 (an empty payload: none). It
//! sends that list right after the welcome too, when the client is in any
//! room, so a client that reconnects learns its rooms again. A request the
//! host refuses (its policy, a limit on rooms per client, a bad name) is
//! answered with an [`OP_UNDELIVERED`] notice of code 3 on `rooms`.
//!
//! A data frame on `cmd` to the room `arm`, carrying `go`:
//!
//! ```text
//! 0d 00 00 00   len = 13
//! 01 01         kind: data, flags: route
//! 03 63 6d 64   channel "cmd"
//! 03 03         route: room, name of 3 bytes
//! 61 72 6d      "arm"
//! 67 6f         payload "go"
//! ```
//!
//! A client joins `arm`, then the host lists its rooms `arm` and `cam`:
//!
//! ```text
//! 0c 00 00 00 08 00 05 72 6f 6f 6d 73 03 61 72 6d
//!             |     |  "rooms"        |  "arm"
//!             |     channel length    op: join
//!             control, no flags
//! 11 00 00 00 08 00 05 72 6f 6f 6d 73 05 03 61 72 6d 03 63 61 6d
//!                                     |  3 "arm"     3 "cam"
//!                                     op: rooms
//! ```
//!
//! ## Requests and replies
//!
//! A request is a request frame whose `id` the requester chooses, unique
//! among its requests in flight on that connection (many may be in flight
//! at once); it is answered by one reply frame with the same `id` on the
//! same channel, from the connection the request went to. A reply to an id
//! never sent, or answered already, or from another connection, is ignored.
//! A requester that stops waiting (its timeout) forgets the id; a
//! connection that closes ends every request sent on it.
//!
//! A request for the host itself (no route, or route `0`) goes to one of
//! the host's services if its channel starts with `$` (below), else to the
//! host application's responder on that channel. A request a host sends a
//! client goes to the client's responder. A client may route a request to
//! **one other client** (route `2` with one id, or `4` with one name): the
//! host forwards it under an id of its own on that client's connection,
//! with the origin flag set to the requester's id, and remembers both ids;
//! the responder answers the host's id, and the host sends the answer back
//! under the requester's id, with the origin set to the responder's id; both
//! keep the encoding bits they came with. A route to more than one client
//! is refused (status 5, code 4), and so is a request the origin in place
//! of its route would take past the host's maximum frame (status 8). A
//! failure's payload declares no encoding, and its text (the detail of
//! statuses 1–4, 6 and 7, status 5's notice detail) is at most
//! [`MAX_FAILURE_TEXT`] (1024) bytes of UTF-8, cut at a character boundary
//! by its sender (a receiver reads no more). A reply goes back on the
//! connection its request came on: a responder whose connection dropped
//! meanwhile drops its answer, even once connected again (the new
//! connection's ids are not the old one's).
//!
//! Status `0` ([`STATUS_OK`]): the payload is the answer. Otherwise the
//! payload says why ([`Failure`]):
//!
//! | status | meaning                                                      | payload                         |
//! |--------|--------------------------------------------------------------|---------------------------------|
//! | 1      | no responder: no service or responder on the channel         | the channel, UTF-8              |
//! | 2      | malformed request                                            | UTF-8 detail                    |
//! | 3      | the responder failed: its own error text, or a panic's message | UTF-8 detail                  |
//! | 4      | forbidden by the requester's permissions                     | the channel, UTF-8              |
//! | 5      | not forwarded: the route names no connected client, names several, the host's policy refused it, or the client named may not receive the channel | an [`OP_UNDELIVERED`] notice's payload: code u8, UTF-8 detail |
//! | 6      | busy: the responder has no room for the request (its queue, the bytes or memory it may hold, the requester's share), or its answer found no room in the outbox back | the channel, UTF-8 |
//! | 7      | gone: the client the request was forwarded to disconnected before it answered (sent at once, with its id as origin) | its name or `#id`, UTF-8 |
//! | 8      | the answer would not fit the responder's (or forwarding host's) maximum frame, or the request as forwarded would not fit the host's | len u64, max u64 |
//! | 9      | the host holds its most forwarded requests in flight, in all or for this requester | the limit, u64 |
//! | 10     | timed out: the host forwarded the request and stopped waiting for its answer | the host's forward timeout in milliseconds, u64 |
//! | 11     | unknown command: a request on the command channel (`cmd`) names no command handler | the name, UTF-8 |
//!
//! A receiver reads a status it does not know as 3, with the payload as
//! text. A host keeps a forwarded request for a bounded time and number
//! (in all and per requester); when it lets go of one unanswered it tells
//! the requester (status 10), and a reply after that is ignored. A host
//! passes a forwarded failure on with its status (an unknown one as 3).
//!
//! The client `planner` (id 2) asks the client `arm` (id 3) on `grip` with
//! `open`, its request `7`; the host forwards it as its request `12`; `arm`
//! answers `ok`, and the host passes the answer back:
//!
//! ```text
//! planner -> host
//! 19 00 00 00 04 01     len = 25, kind: request, flags: route
//! 04 67 72 69 70        channel "grip"
//! 04 01 03 61 72 6d     route: by name, one name of 3 bytes, "arm"
//! 07 00 00 00 00 00 00 00   id 7
//! 6f 70 65 6e           payload "open"
//!
//! host -> arm
//! 1b 00 00 00 04 02     len = 27, kind: request, flags: origin
//! 04 67 72 69 70        channel "grip"
//! 02 00 00 00 00 00 00 00   origin: client 2
//! 0c 00 00 00 00 00 00 00   id 12 (the host's)
//! 6f 70 65 6e           payload "open"
//!
//! arm -> host
//! 12 00 00 00 05 00     len = 18, kind: reply, flags: none
//! 04 67 72 69 70        channel "grip"
//! 0c 00 00 00 00 00 00 00   id 12
//! 00                    status: ok
//! 6f 6b                 answer "ok"
//!
//! host -> planner
//! 1a 00 00 00 05 02     len = 26, kind: reply, flags: origin
//! 04 67 72 69 70        channel "grip"
//! 03 00 00 00 00 00 00 00   origin: client 3
//! 07 00 00 00 00 00 00 00   id 7 (the planner's)
//! 00                    status: ok
//! 6f 6b                 answer "ok"
//! ```
//!
//! Had `arm` disconnected before answering, the host's reply to the
//! planner would have been status 7 with its name:
//! `1b 00 00 00 05 02 04 67 72 69 70 03 00 00 00 00 00 00 00 07 00 00 00 00 00 00 00 07 61 72 6d`.
//! Had it never answered, the host would have told the planner once its
//! forward timeout (60 s, 60,000 ms) passed: status 10, no origin:
//! `18 00 00 00 05 00 04 67 72 69 70 07 00 00 00 00 00 00 00 0a 60 ea 00 00 00 00 00 00`.
//!
//! ## Services
//!
//! Channels whose name starts with `$` are reserved for the host's own
//! services: the handles refuse to write data on them, to request them
//! other than through their own calls, or to register responders on them
//! (`ErrorKind::InvalidChannel`). A client asks a service with a request
//! frame on the service's channel, and the host answers as above (a
//! service it does not have with status 1; a client answers every request
//! on a `$` channel with status 1).
//!
//! | channel      | request payload | answer                                                                                   |
//! |--------------|-----------------|------------------------------------------------------------------------------------------|
//! | `$clients`   | none            | count u32, then per client ([`ClientEntry`]): id u64, flags u8 (bit 0 connected), connected since u64 and last seen u64 (milliseconds ago), name and address (`n: u8`, n bytes UTF-8 each), rooms (count u16, then `n: u8` and a name each), dropped u64 |
//! | `$lookup`    | a name, UTF-8   | the id u64 of the connected client of that name, or nothing (0 bytes) if none            |
//! | `$channels`  | none            | count u32, then per channel ([`ChannelEntry`]): name (`n: u8`, n bytes), received u64, bytes u64, dropped u64, queued u32, capacity u32 |
//! | `$sync`      | none            | none: answered once the host has acted on every frame the client sent before the request (stored it, delivered it, or sent its notice) |
//!
//! Request `7` for the id of `arm`, and the host's answer (id 3):
//!
//! ```text
//! 15 00 00 00 04 00     len = 21, kind: request, flags: none
//! 07 24 6c 6f 6f 6b 75 70   channel "$lookup"
//! 07 00 00 00 00 00 00 00   id 7
//! 61 72 6d              payload "arm"
//!
//! 1b 00 00 00 05 00     len = 27, kind: reply, flags: none
//! 07 24 6c 6f 6f 6b 75 70   channel "$lookup"
//! 07 00 00 00 00 00 00 00   id 7
//! 00                    status: ok
//! 03 00 00 00 00 00 00 00   answer: id 3
//! ```
//!
//! A request on `$time`, which nothing answers: the reply has status 1 and
//! the detail `$time`.
//!
//! A frame that breaks any rule (too long, unknown kind or flag, the reserved
//! encoding or an encoding on a kind without one, a send time on a kind
//! without one, empty channel, invalid
//! UTF-8, a field running past the body) is a [`DecodeError`]: the receiver
//! closes that connection, and only that one.
//!
//! ## Worked example
//!
//! A data frame on channel `pose` carrying the two bytes `hi`:
//!
//! ```text
//! 09 00 00 00   len = 9: kind + flags + n + "pose" + "hi"
//! 01            kind: data
//! 00            flags: none
//! 04            channel length
//! 70 6f 73 65   "pose"
//! 68 69         payload "hi"
//! ```
//!
//! And the hello of a client named `cam` without a token:
//!
//! ```text
//! 53 4b 45 4e   "SKEN"
//! 05 00         version 5
//! 03            name length
//! 63 61 6d      "cam"
//! 00            no resume token
//! 00            no credential
//! ```
//!
//! ```
//! use socketengine::protocol::{Header, Hello};
//!
//! let mut hello = Vec::new();
//! Hello::new("cam").encode(&mut hello).unwrap();
//! assert_eq!(hello, b"SKEN\x05\x00\x03cam\x00\x00");
//!
//! let wire = Header::data("pose").to_bytes(b"hi").unwrap();
//! assert_eq!(&wire[..], b"\x09\x00\x00\x00\x01\x00\x04pose\x68\x69");
//!
//! // The JSON data frame, from the Payload encodings section.
//! use socketengine::protocol::Encoding;
//! let json = Header::data("pose").with_encoding(Encoding::Json);
//! let wire = json.to_bytes(br#"{"x":1}"#).unwrap();
//! assert_eq!(&wire[..], b"\x0e\x00\x00\x00\x01\x10\x04pose{\"x\":1}");
//! let msgpack = Header::data("pose").with_encoding(Encoding::MsgPack);
//! let wire = msgpack.to_bytes(b"\x81\xa1x\x01").unwrap();
//! assert_eq!(&wire[..6], b"\x0b\x00\x00\x00\x01\x20");
//!
//! // The stamped data frame, the ping and the pong, from the Time section.
//! let t = 1_700_000_000_000_000_000;
//! let t_wire = b"\x00\x00\x2a\x36\xfe\x9c\x97\x17";
//! let wire = Header::data("pose").with_sent_at(Some(t)).to_bytes(b"hi").unwrap();
//! assert_eq!(&wire[..], [&b"\x11\x00\x00\x00\x01\x08\x04pose"[..], t_wire, b"hi"].concat());
//! use socketengine::protocol::Kind;
//! let ping = Header::new(Kind::Ping { sent_ns: t }, "heartbeat").to_bytes(b"").unwrap();
//! assert_eq!(&ping[..], [&b"\x14\x00\x00\x00\x06\x00\x09heartbeat"[..], t_wire].concat());
//! let pong = Kind::Pong { ping_sent_ns: t, sent_ns: t + 5_000_075_000 };
//! let pong = Header::new(pong, "heartbeat").to_bytes(b"").unwrap();
//! let answer = b"\xf8\x16\x31\x60\xff\x9c\x97\x17";
//! assert_eq!(&pong[..], [&b"\x1c\x00\x00\x00\x07\x00\x09heartbeat"[..], t_wire, answer].concat());
//!
//! // The shared-memory image and its release, from that section.
//! use socketengine::protocol::{ImageMeta, OP_SHM_IMAGE, OP_SHM_RELEASE, ShmImage};
//! let meta = ImageMeta { width: 2, height: 1, format: 3, stride: 6, seq: 7, timestamp_ns: 0, total_len: 6 };
//! let image = ShmImage { meta, offset: 4096, sent_at: None }.encode();
//! let wire = Header::new(Kind::Control { op: OP_SHM_IMAGE }, "cam").to_bytes(&image).unwrap();
//! assert_eq!(&wire[..11], b"\x3c\x00\x00\x00\x08\x00\x03cam\x09");
//! assert_eq!(&wire[11..24], b"\x02\0\0\0\x01\0\0\0\x03\x06\0\0\0");
//! assert_eq!(&wire[48..56], b"\x00\x10\0\0\0\0\0\0");
//! let release = socketengine::protocol::encode_release(&[4096]).unwrap();
//! let wire = Header::new(Kind::Control { op: OP_SHM_RELEASE }, "shm").to_bytes(&release).unwrap();
//! assert_eq!(&wire[..], b"\x0f\0\0\0\x08\0\x03shm\x0a\x00\x10\0\0\0\0\0\0");
//!
//! // The slow consumer's close frame, from the Close section.
//! let close = socketengine::protocol::close_frame(4, "slow").unwrap();
//! assert_eq!(&close[..], b"\x0d\x00\x00\x00\x09\x00\x05close\x04slow");
//! ```

mod channel;
mod clock;
mod close;
mod control;
mod decoder;
mod encoding;
mod error;
mod flow;
mod frame;
mod handshake;
mod lane;
mod listing;
mod outbox;
mod pattern;
mod shm;
mod slots;
mod status;
mod window;

pub use channel::ChannelName;
pub use clock::{
    CLOCK_SAMPLES, CONSISTENCY_SLACK_NS, ClockFilter, ClockSample, ClockSync, DRIFT_PPM, Estimate,
    MAX_RTT_NS, QUICK_PINGS, Rejected, STEP_SAMPLES,
};
pub use close::{
    CLOSE_CHANNEL, CLOSE_KICKED, CLOSE_NORMAL, CLOSE_REPLACED, CLOSE_SHUTTING_DOWN,
    CLOSE_SLOW_CONSUMER, MAX_CLOSE_MESSAGE, close_frame, close_message,
};
pub use control::{
    MAX_INTEREST, OP_INTEREST, OP_JOIN, OP_LEAVE, OP_ROOMS, OP_UNDELIVERED, ROOMS_CHANNEL,
    Undelivered, decode_interest, decode_rooms, encode_interest, encode_rooms, room_name,
};
pub use decoder::{Decoded, Decoder, Need, sent_at_before};
pub use encoding::{Encoding, FLAG_ENCODING};
pub use error::DecodeError;
pub use flow::{FRAMES_LINGER, ImageFlow, TicketStatus};
pub use frame::{
    FLAG_MIRROR, FLAG_ORIGIN, FLAG_ROUTE, FLAG_SENT_AT, Frame, Header, ImageMeta, Kind, KindCode,
    LEN_PREFIX, MAX_CHANNEL_LEN, Route,
};
pub use handshake::{
    Answer, AuthMethod, CHALLENGE_LEN, Challenge, Hello, MAGIC, MAX_HELLO, MAX_PROOF, NONCE_LEN,
    Proof, ResumeToken, TOKEN_LEN, VERSION, WELCOME_LEN, Welcome, WelcomeStatus, transcript,
};
pub use lane::{
    Chunk, DEFAULT_CHUNK, ImageLane, LaneStats, MAX_IMAGES_IN_PROGRESS, OP_IMAGE_ACK, Offer,
};
pub use listing::{
    ChannelEntry, ClientEntry, SERVICE_CHANNELS, SERVICE_CLIENTS, SERVICE_LOOKUP, SERVICE_SYNC,
    SYSTEM_PREFIX, decode_channels, decode_clients, decode_lookup, encode_channels, encode_clients,
    encode_lookup, is_system,
};
pub use outbox::{DEFAULT_COALESCE, Outbox};
pub use pattern::Pattern;
pub use shm::{
    MAX_RELEASES, OP_SHM_ANSWER, OP_SHM_IMAGE, OP_SHM_OFFER, OP_SHM_RELEASE, SEGMENT_NAME_LEN,
    SEGMENT_PREFIX, SHM_CHANNEL, SHM_IMAGE_LEN, SHM_VERSION, SegmentName, ShmAnswer, ShmImage,
    ShmOffer, ShmStatus, decode_release, encode_release,
};
pub use slots::{NotInUse, SLOT_ALIGN, Slots};
pub use status::{
    Failure, MAX_FAILURE_TEXT, STATUS_BAD_REQUEST, STATUS_BUSY, STATUS_FAILED, STATUS_FORBIDDEN,
    STATUS_GONE, STATUS_NO_RESPONDER, STATUS_OK, STATUS_TIMED_OUT, STATUS_TOO_LARGE,
    STATUS_TOO_MANY, STATUS_UNDELIVERED, STATUS_UNKNOWN_COMMAND,
};
pub use window::{
    DEFAULT_QUEUE_DELAY, FIRST_DRAIN_AFTER, LinkWindow, MIN_DELAY_WINDOW, MIN_PIECE, RATE_WINDOW,
    WINDOW_FLOOR, piece_limit,
};

#[cfg(test)]
mod tests;
