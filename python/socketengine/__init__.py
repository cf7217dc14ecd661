"""socketengine: a raw-TCP, channelled data engine for robotics and vision.

A ``Host`` and its ``Client``s exchange ``(channel, payload)`` messages.
Each side keeps, per channel, the latest value (``get``) and a bounded queue
(``get_all``), so a control loop polls without blocking; camera frames go on
an image path (``write_image``, ``get_image``) that copies no pixel:
``numpy.asarray(host.get_image())`` is a view of the bytes the socket read.

    import socketengine as se

    with se.Host("127.0.0.1:0") as host, se.Client(host.local_addr, "arm") as arm:
        arm.write_lock("pose", b"x=1")
        print(host.get_all_timeout("pose", 1.0)[0].payload)

The classes and functions are the Rust crate's (``socketengine._native``,
built with PyO3), one-to-one: see each docstring, and ``__init__.pyi``.
"""

from socketengine._native import (
    COMMAND_CHANNEL,
    DEFAULT_ADDR,
    HOST_ID,
    IMAGE_CHANNEL,
    Buffer,
    CallbackId,
    CallbackStats,
    ChannelStats,
    Client,
    ClientInfo,
    ClockEstimate,
    Event,
    Events,
    Handle,
    Host,
    Hosts,
    HostsSubscription,
    Image,
    ImageStats,
    Json,
    Message,
    MsgPack,
    Replies,
    Reply,
    Request,
    SharedMemoryStats,
    Subscription,
    Target,
    Until,
    __version__,
)
from socketengine._native import (
    AddrInUseError,
    AllocFailedError,
    BusyError,
    ChannelLimitError,
    ChannelQuotaError,
    ClosedError,
    CommandFailedError,
    ConnectError,
    CredentialError,
    DecodeError,
    DuplicateHostError,
    EncodeError,
    Error,
    ForbiddenError,
    FrameTimeoutError,
    FrameTooLargeError,
    FullError,
    HandshakeTimeoutError,
    HostLimitError,
    ImageError,
    InvalidChannelError,
    InvalidTargetError,
    IoError,
    NameTakenError,
    NoResponderError,
    NotConnectedError,
    ProtocolError,
    RefusedError,
    RemoteError,
    ReplyTooLargeError,
    ResponderGoneError,
    RoomLimitError,
    RouteRefusedError,
    TimedOutError,
    TlsError,
    TooManyRequestsError,
    TruncatedError,
    UnknownClientError,
    UnknownCommandError,
    UnknownGroupError,
    UnknownHostError,
    UnknownNameError,
    UnknownRoomError,
    UnsupportedError,
)

__all__ = [name for name in dir() if not name.startswith("_")] + ["__version__"]
