"""Type stubs of socketengine (the Rust extension `socketengine._native`).

Blocking calls release the GIL and, on the main thread, check for Ctrl-C
every 50 ms: network waits (`get_all_timeout`, `Subscription`, `Events`,
`Replies`, `request`, `wait_connected`, the `Client` constructor) and the
calls that wait inside the engine (locked and confirmed writes, `flush`,
`close`), which run on a helper thread and go on alone when interrupted.
A timeout (`recv`, `get_all_timeout`, `request`, `wait_connected`,
`iter`, the duration options) is a number of seconds >= 0;
`float("inf")` is no limit (a wait for ever, which Ctrl-C still
interrupts), as `None` is where a call takes it.
"""

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Literal, Self, TypeAlias

from typing_extensions import Buffer as _BufferLike

__version__: str
DEFAULT_ADDR: str
"""Where a `Host` listens and a `Client` connects unless told: the crate's
default, `"127.0.0.1:8080"` (`"127.0.0.1:0"` listens on any free port)."""
IMAGE_CHANNEL: str
"""The default channel of images: `"image"`."""
COMMAND_CHANNEL: str
"""The channel commands travel on: `"cmd"`."""
HOST_ID: int
"""The host's id, as the sender of what a client receives: 0."""

PixelFormat: TypeAlias = Literal["gray8", "gray16", "rgb8", "bgr8", "rgba8", "jpeg", "png"]
Encoding: TypeAlias = Literal["bytes", "json", "msgpack"]
JsonValue: TypeAlias = dict[str, "JsonValue"] | list["JsonValue"] | tuple["JsonValue", ...] | str | int | float | bool | None
Payload: TypeAlias = _BufferLike | str | "Image" | "Message" | "Json" | "MsgPack"
"""What a write sends: bytes-like objects (C-contiguous; read-only ones
without a copy, writable ones copied once, when the call is made), a
`str` as UTF-8, an `Image` on the image path, a received `Message` as it came,
a `Json` / `MsgPack` value typed."""
TargetSpec: TypeAlias = int | str | list[int] | list[str]

class Buffer:
    """Received bytes, read-only, shared with the socket's buffer: the buffer
    protocol (`memoryview(b)`, `numpy.frombuffer(b, ...)`), `bytes(b)` (a copy),
    `len(b)`, and equality with bytes-like objects."""
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def __eq__(self, other: object) -> bool: ...
    def tobytes(self) -> bytes:
        """The bytes as a `bytes` object (a copy)."""
    def decode(self, encoding: str = "utf-8") -> str:
        """The bytes read as text (a copy)."""
    @property
    def _address(self) -> int:
        """The address of the first byte (for tests that prove no copy)."""

class Image:
    """A camera image over its pixels (never copied): `numpy.asarray(img)` is a
    read-only `(h, w, 3)` / `(h, w, 4)` / `(h, w)` array, `uint8` (gray16:
    `uint16`); an encoded image (jpeg, png) is its file's bytes."""
    def __init__(self, array: _BufferLike, format: PixelFormat | None = None, seq: int = 0,
                 timestamp_ns: int | None = None) -> None:
        """An image over a C-contiguous array's memory: `(h, w)` uint8 is gray8
        (uint16: gray16), `(h, w, 3)` rgb8 (or `format="bgr8"`), `(h, w, 4)`
        rgba8. `ValueError` if not contiguous or not matching `format`;
        `TypeError` for another dtype."""
    @staticmethod
    def from_bytes(data: _BufferLike, width: int, height: int, format: PixelFormat, stride: int | None = None,
                   seq: int = 0, timestamp_ns: int | None = None) -> Image:
        """An image from raw bytes and their geometry, or an encoded file
        (`format="jpeg"` / `"png"`). `ImageError` if they do not fit."""
    def __buffer__(self, flags: int, /) -> memoryview: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def format(self) -> PixelFormat | Literal["unknown"]:
        """One of `PixelFormat`: the wire carries no other (a frame with
        another format code is refused, an image error). `"unknown"` only for
        a format the Rust crate may add that this binding does not name."""
    @property
    def stride(self) -> int:
        """Bytes from one row to the next (0 for an encoded image)."""
    @property
    def seq(self) -> int:
        """The sender's sequence number."""
    @property
    def timestamp_ns(self) -> int:
        """Capture time, nanoseconds since the Unix epoch (sender's clock)."""
    @property
    def data(self) -> Buffer:
        """The pixels (or the file) as bytes, padding included."""
    @property
    def nbytes(self) -> int: ...
    def with_seq(self, seq: int) -> Image:
        """The same pixels with another sequence number."""
    def array(self) -> Any:
        """`numpy.asarray(self)`: a read-only view (needs numpy)."""
    @property
    def _address(self) -> int: ...

class Message:
    """A received message. Sending it on sends it as it came."""
    @property
    def channel(self) -> str: ...
    @property
    def payload(self) -> Buffer:
        """The payload, shared with the socket's buffer."""
    @property
    def encoding(self) -> Encoding:
        """As its sender declared it."""
    @property
    def from_id(self) -> int:
        """The sender: a client id (on a client: 0 for the host, or the client
        the host relayed or routed it from)."""
    @property
    def age(self) -> float:
        """Seconds since the event loop read it."""
    @property
    def sent_at(self) -> float | None:
        """When it was sent, on the host's clock (Unix seconds), if its sender
        stamps its messages (`stamp_messages=True`)."""
    @property
    def image(self) -> Image | None:
        """The image it carries, if it is one."""
    def json(self) -> Any:
        """The payload read by its declared encoding (JSON, MessagePack; plain
        bytes as JSON). `DecodeError` if it does not decode."""
    def __bytes__(self) -> bytes: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...

class Reply:
    """An answer to a request."""
    @property
    def from_id(self) -> int:
        """The client that answered, or 0 for the host."""
    @property
    def payload(self) -> Buffer: ...
    @property
    def encoding(self) -> Encoding: ...
    @property
    def channel(self) -> str: ...
    def json(self) -> Any: ...
    def __bytes__(self) -> bytes: ...

class Request:
    """A request, as its responder sees it."""
    @property
    def channel(self) -> str: ...
    @property
    def payload(self) -> Buffer: ...
    @property
    def encoding(self) -> Encoding: ...
    @property
    def from_id(self) -> int: ...
    @property
    def name(self) -> str | None:
        """The requester's name, on a host."""
    def json(self) -> Any: ...
    def __bytes__(self) -> bytes: ...

class Json:
    """A value sent as JSON, declared in its frame: `write("pose", Json({...}))`."""
    def __init__(self, value: JsonValue) -> None: ...

class MsgPack:
    """A value sent as MessagePack (with field names), declared in its frame."""
    def __init__(self, value: JsonValue) -> None: ...

class Event:
    """Something that happened: `kind` names it; the other fields are that
    kind's, `None` elsewhere."""
    kind: Literal["connected", "disconnected", "reconnecting", "refused", "host_restarted", "undelivered", "error",
                  "callback_panicked", "callback_dropped", "command_failed", "reply_failed", "other"]
    client: int | None
    name: str | None
    addr: str | None
    reason: Literal["normal", "kicked", "replaced", "shutting_down", "slow_consumer", "other"] | None
    message: str | None
    attempt: int | None
    delay: float | None
    channel: str | None
    error: Error | None
    callback: str | None
    dropped: int | None

class Subscription:
    """Every message on a channel (or pattern) from `subscribe` on. Iterating
    waits for each and ends when the handle closes."""
    def recv(self, timeout: float | None = None) -> Message | None:
        """The next message within `timeout` seconds, else `None`; `ClosedError`
        once closed and drained."""
    def try_recv(self) -> Message | None: ...
    def iter(self, timeout: float) -> Iterator[Message]:
        """Messages until none comes within `timeout` seconds."""
    def __iter__(self) -> Iterator[Message]: ...
    def __next__(self) -> Message: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...

class Events:
    """The handle's events; as `Subscription`."""
    def recv(self, timeout: float | None = None) -> Event | None: ...
    def try_recv(self) -> Event | None: ...
    def iter(self, timeout: float) -> Iterator[Event]: ...
    def __iter__(self) -> Iterator[Event]: ...
    def __next__(self) -> Event: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...

class Until:
    """From `Subscription.iter` / `Events.iter`."""
    def __iter__(self) -> Iterator[Any]: ...
    def __next__(self) -> Any: ...

class Replies:
    """The answers to a request: `(client_id, Reply | Error)` per peer asked,
    as they come; `len()` says how many are left."""
    def one(self) -> Reply:
        """The first answer, or its error raised."""
    def __iter__(self) -> Iterator[tuple[int, Reply | Error]]: ...
    def __next__(self) -> tuple[int, Reply | Error]: ...
    def __len__(self) -> int: ...

class CallbackId:
    """A registered callback or hook, for `off`."""

class ChannelStats:
    received: int
    bytes: int
    dropped: int
    queued: int
    capacity: int

class ImageStats:
    sent: int
    dropped: int
    received: int
    skipped: int
    incomplete: int
    age_p50: float | None
    """How old images were when a reader got them (capture time to the read,
    host clock), median over the newest 1024 reads, in seconds."""
    age_p99: float | None

class SharedMemoryStats:
    """This handle's images through shared memory (``shared_memory_images``)."""
    mapped: int
    """Connected peers that mapped this handle's segment (made at its first
    image for each peer)."""
    sent: int
    """Images sent through a peer's mapping of this handle's segment."""
    full: int
    """Images sent over the socket because every slot was held."""
    fallbacks: int
    """Times a connection on loopback had its images go over the socket
    instead (declined, no segment made, or not answered in time)."""
    unanswered: int
    """Of the fallbacks, offers the peer did not answer in time."""
    refused: int
    """Offers of peers this handle refused."""

class ClientInfo:
    id: int
    name: str
    addr: str
    connected: bool
    rooms: list[str]
    queued_bytes: int
    dropped: int
    images_dropped: int

class CallbackStats:
    registered: int
    queued: int
    dropped: int
    panicked: int

class _Sending:
    """The sending methods of handles and targets. Each returns how many
    connections took the message."""
    def write(self, channel: str, payload: Payload) -> int:
        """Queues and returns at once (unlocked). `FullError` (with `.payload`)
        when the outbox holds its budget."""
    def write_lock(self, channel: str, payload: Payload) -> int:
        """Returns once the kernel has it (locked), without the GIL; Ctrl-C
        interrupts the wait (the write goes on)."""
    def write_confirmed(self, channel: str, payload: Payload) -> int:
        """Returns once the host stored it."""
    def write_many(self, items: Iterable[tuple[str, Payload]]) -> int:
        """Unlocked writes of `(channel, payload)` pairs, in order (the batch
        path); a failure carries `.written`."""
    def write_many_lock(self, items: Iterable[tuple[str, Payload]]) -> int:
        """The pairs as one locked batch, nothing between them."""
    def write_json(self, channel: str, value: JsonValue, lock: bool = False) -> int: ...
    def write_msgpack(self, channel: str, value: JsonValue, lock: bool = False) -> int: ...
    def write_image(self, channel: str, image: Image | _BufferLike, seq: int | None = None,
                    format: PixelFormat | None = None, timestamp_ns: int | None = None) -> int:
        """Queues an image (a newer one replaces it while it waits)."""
    def write_image_lock(self, channel: str, image: Image | _BufferLike, seq: int | None = None,
                         format: PixelFormat | None = None, timestamp_ns: int | None = None) -> int:
        """Sends an image and waits for the kernel; never replaced."""

class Target(_Sending):
    """Where writes go: from `to(...)`, `to_all()`, `to_host()`."""
    def mirror(self) -> Target:
        """A client's routed messages come back to it too."""
    def request(self, channel: str, payload: Payload | None = None, timeout: float = 5.0) -> Replies:
        """Asks each peer of the target; returns at once with the `Replies`."""

class Handle(_Sending):
    """What `Host` and `Client` share. A context manager that closes on exit.
    A handle is closed when it is collected: when its last reference goes,
    or, if its own callback refers to it (`h.on("x", lambda m: h.write("y",
    m))`), when the garbage collector finds the cycle unreachable (the
    handle reports its callbacks' functions to it; a `Target` reports its
    handle, so a callback referring to `t = h.to_all()` is such a cycle
    too). A `Target` in use keeps its handle, and its callbacks, alive.
    Once collection of a handle has begun, its callbacks are not called."""
    def get(self, channel: str) -> Message | None: ...
    def get_all(self, channel: str) -> list[Message]: ...
    def get_all_timeout(self, channel: str, timeout: float) -> list[Message]: ...
    def get_image(self, channel: str = "image") -> Image | None: ...
    def get_json(self, channel: str) -> Any: ...
    def history(self, channel: str) -> list[Message]: ...
    def get_by_client(self, channel: str) -> list[Message]: ...
    def subscribe(self, channel: str) -> Subscription: ...
    def events(self) -> Events: ...
    def channel_stats(self, channel: str) -> ChannelStats | None: ...
    def image_stats(self, channel: str = "image") -> ImageStats: ...
    def shared_memory_stats(self) -> SharedMemoryStats: ...
    def channels(self) -> list[str]: ...
    def memory_used(self) -> int: ...
    def to(self, target: TargetSpec | None = None, *, room: str | None = None, group: str | None = None) -> Target: ...
    def to_all(self) -> Target: ...
    def to_host(self) -> Target: ...
    def on(self, channel: str, func: Callable[[Message], object], *, name: str | None = None) -> CallbackId: ...
    def off(self, id: CallbackId) -> bool: ...
    def off_named(self, name: str) -> int: ...
    def on_connect(self, name: str, func: Callable[[Event], object]) -> CallbackId: ...
    def on_disconnect(self, name: str, func: Callable[[Event], object]) -> CallbackId: ...
    def on_error(self, name: str, func: Callable[[Event], object]) -> CallbackId: ...
    def on_request(self, channel: str, func: Callable[[Request], Payload | JsonValue]) -> None: ...
    def remove_responder(self, channel: str) -> bool: ...
    def on_command(self, name: str, func: Callable[..., JsonValue]) -> None: ...
    def callback_stats(self) -> CallbackStats: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool: ...

class Host(Handle):
    """Listens, accepts clients, stores what they send; `write` goes to every
    client. Options: the crate's `HostBuilder` setters by name, and
    `tls={"cert": path, "key": path, "client_ca": path}`."""
    def __init__(self, addr: str = "127.0.0.1:8080", **options: Any) -> None: ...
    @property
    def local_addr(self) -> str: ...
    @property
    def port(self) -> int: ...
    def clients(self) -> list[ClientInfo]: ...
    def join(self, client: int, room: str) -> None: ...
    def leave(self, client: int, room: str) -> None: ...
    def rooms(self) -> list[str]: ...
    def members(self, room: str) -> list[int]: ...
    def disconnect(self, client: int, reason: str = "") -> None: ...
    def host_time(self) -> float:
        """The host's clock now (Unix seconds)."""

class ClockEstimate:
    """A client's estimate of its host's clock (`Client.clock()`)."""
    @property
    def offset_ns(self) -> int:
        """The host's clock minus this client's (positive: the host's is ahead)."""
    @property
    def rtt(self) -> float:
        """Seconds: the round trip of the exchange the estimate rests on."""
    @property
    def uncertainty(self) -> float:
        """Seconds the true offset may be from `offset_ns`."""
    @property
    def samples(self) -> int: ...
    @property
    def age(self) -> float: ...
    @property
    def rejected(self) -> int: ...
    def to_host(self, local: float) -> float:
        """Unix seconds on this machine's clock, on the host's."""
    def to_local(self, host: float) -> float:
        """Unix seconds on the host's clock (`Message.sent_at`), on this machine's."""

class Client(Handle):
    """One connection to a host (made in the constructor); `write` goes to the
    host. Options: the crate's `ClientBuilder` setters by name, and
    `tls={"ca": path, "server_name": str, "cert": path, "key": path}`."""
    def __init__(self, addr: str = "127.0.0.1:8080", name: str | None = None, **options: Any) -> None: ...
    @staticmethod
    def start(addr: str = "127.0.0.1:8080", name: str | None = None, **options: Any) -> Client:
        """A client that does not wait for its host: returned at once
        (`state == "connecting"`), dialling in the background."""
    def wait_connected(self, timeout: float | None = None) -> bool:
        """`True` once connected, `False` at the timeout; raises `ClosedError`,
        or the host's refusal."""
    def clock(self) -> ClockEstimate | None:
        """The estimate of the host's clock (`None` before the first connection)."""
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def host_addr(self) -> str: ...
    @property
    def is_connected(self) -> bool: ...
    @property
    def state(self) -> Literal["connecting", "connected", "reconnecting", "refused", "closed"]: ...
    @property
    def last_error(self) -> Error | None:
        """Why the last attempt to reach the host failed, until it connects."""
    def host_time(self) -> float | None:
        """The host's clock now by this client's estimate (Unix seconds)."""
    def request(self, channel: str, payload: Payload | None = None, timeout: float = 5.0) -> Reply:
        """Asks the host's responder; raises what ended the request."""
    def join(self, room: str) -> None: ...
    def leave(self, room: str) -> None: ...
    def rooms(self) -> list[str]: ...
    def interest(self, patterns: list[str]) -> None: ...
    def clients(self) -> list[ClientInfo]: ...
    def lookup(self, name: str) -> int | None: ...
    def on_reconnect(self, name: str, func: Callable[[Event], object]) -> CallbackId: ...

ConnectionStateName: TypeAlias = Literal["connecting", "connected", "reconnecting", "refused", "closed"]

class HostsSubscription:
    """Every message on a channel from every host of a `Hosts`, with its key."""
    def recv(self, timeout: float | None = None) -> tuple[str, Message] | None: ...
    def try_recv(self) -> tuple[str, Message] | None: ...
    def hosts(self) -> list[str]: ...
    def __iter__(self) -> Iterator[tuple[str, Message]]: ...
    def __next__(self) -> tuple[str, Message]: ...

class Hosts:
    """One client side of several hosts, each under a key (its address for a
    list): writes to all, reads merged. Options: the `Client`'s."""
    def __init__(self, hosts: list[str] | dict[str, str] | None = None, name: str | None = None,
                 **options: Any) -> None: ...
    def add(self, key: str, addr: str) -> None: ...
    def remove(self, key: str) -> None: ...
    def keys(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: str) -> bool: ...
    def client(self, key: str) -> Client | None:
        """The host's `Client` (the same object each time, closed with it)."""
    def state(self, key: str) -> ConnectionStateName | None: ...
    def states(self) -> list[tuple[str, ConnectionStateName]]: ...
    def last_error(self, key: str) -> Error | None: ...
    def wait_connected(self, timeout: float | None = None) -> bool:
        """Whether every host is connected within `timeout` seconds."""
    def write(self, channel: str, payload: Payload) -> dict[str, Error | None]:
        """Queues to every host: `{key: None or the exception}`."""
    def write_lock(self, channel: str, payload: Payload) -> dict[str, Error | None]: ...
    def get(self, key: str, channel: str) -> Message | None: ...
    def latest(self, channel: str) -> list[tuple[str, Message]]: ...
    def subscribe(self, channel: str) -> HostsSubscription: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool: ...

class Error(Exception):
    """The base of socketengine's exceptions. `payload` is a refused write's
    payload (or `None`). An exception `write_many` raises for an item's
    payload or its write (an `Error`, or the `TypeError` of a payload of
    the wrong type) also has `written`: how many items went before it (not
    one for an item that is not a `(channel, payload)` pair)."""
    payload: Buffer | None
    written: int

class FullError(Error):
    queued: int
    budget: int
class NotConnectedError(Error, ConnectionError): ...
class ClosedError(Error): ...
class TimedOutError(Error, TimeoutError):
    timeout: float
class AddrInUseError(Error, OSError):
    addr: str
class ConnectError(Error, ConnectionError):
    addr: str
class RefusedError(Error, ConnectionRefusedError): ...
class NameTakenError(Error):
    name: str
class UnknownClientError(Error):
    client: int
class UnknownNameError(Error):
    name: str
class UnknownRoomError(Error):
    room: str
class UnknownGroupError(Error):
    group: str
class HostLimitError(Error): ...
class RoomLimitError(Error):
    max: int
class RouteRefusedError(Error): ...
class NoResponderError(Error):
    channel: str
class RemoteError(Error): ...
class InvalidTargetError(Error, ValueError): ...
class UnsupportedError(Error): ...
class InvalidChannelError(Error, ValueError):
    channel: str
    reason: str
class FrameTooLargeError(Error, ValueError):
    len: int
    max: int
class ProtocolError(Error): ...
class ChannelLimitError(Error):
    max: int
class ChannelQuotaError(Error):
    max: int
class HandshakeTimeoutError(Error, TimeoutError):
    timeout: float
class TruncatedError(Error): ...
class FrameTimeoutError(Error, TimeoutError):
    timeout: float
class AllocFailedError(Error, MemoryError): ...
class ImageError(Error, ValueError): ...
class ForbiddenError(Error, PermissionError):
    action: str
    channel: str
    client: str | None
class CredentialError(Error): ...
class TlsError(Error): ...
class IoError(Error, OSError): ...
class EncodeError(Error, ValueError): ...
class DecodeError(Error, ValueError):
    channel: str
    encoding: Encoding
class UnknownCommandError(Error):
    name: str
class CommandFailedError(Error): ...
class TooManyRequestsError(Error):
    max: int
class BusyError(Error):
    channel: str
class ResponderGoneError(Error): ...
class ReplyTooLargeError(Error):
    len: int
    max: int
class DuplicateHostError(Error):
    key: str
class UnknownHostError(Error):
    key: str
