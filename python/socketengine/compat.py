"""The original socket.engine's names, over this engine.

A program written for the Python package ``socket.engine`` switches by
changing its import::

    from socketengine.compat import host, client   # was: from socketengine import host, client

    h = host(port=8080)
    h.start()
    c = client(port=8080)
    c.start()
    c.write("test", "client is connected!")
    print(h.get_ALL("test"))        # ['client is connected!'] once it arrived
    c.close()
    h.close()

The names, constructor arguments and defaults are the seed's (``addr=
'127.0.0.1'``, ``port=8080``, ``timeout=2``, ``size=256``, ``open=True``);
what they do is this engine's, and where the seed's behaviour was a bug or
unsafe it is not kept:

* **Values.** ``write(channel, data)`` sends ``data`` as JSON, as the seed
  did (so ``get`` returns a ``str``, number, ``dict``, ``list``... as it was
  written); a bytes-like object (``bytes``, ``bytearray``, ``memoryview``,
  a numpy array) is sent as its bytes, without a copy, and read back as
  ``bytes`` (the seed could not send bytes at all). A message from a
  program on the new API arrives decoded the same way: JSON or
  MessagePack as the value, plain bytes as ``bytes``.
* **Images** travel on the ``"image"`` channel as raw pixels, not as
  base64 PNG inside JSON, and ``get("image")`` returns a numpy array
  (``(h, w, 3)`` ``uint8`` for a colour frame), a read-only view of the
  bytes the socket read: ``.copy()`` it to draw on it. The seed's
  ``writeImg`` sent one image and then dropped every later one until an
  acknowledgement its own receiver never sent (0 frames/s); here
  ``writeImg`` queues the newest frame (an older one still waiting is
  replaced) and ``writeImgLock`` returns once the kernel has it.
* **Latest value per channel.** ``get(channel)`` is the newest value on
  ``channel`` (``None`` before anything arrived); the host's
  ``get_ALL(channel)`` is the newest from each client that sent one
  (``[]`` if none), as in the seed.
* **Addresses.** The seed's host listened on every interface whatever its
  ``addr``; this one listens on ``addr`` (default ``127.0.0.1``: this
  machine only; ``addr='0.0.0.0'`` for every interface). ``port=0`` takes a
  free port (``h.port`` says which).
* **Blocking.** As in the seed, ``open()`` (run by the constructor unless
  ``open=False``) blocks: a host until it listens, a client until it is
  connected, trying again while the host is not there yet (Ctrl-C
  interrupts it). ``start()`` opens if needed and returns: the engine's
  threads run from ``open()`` on, so starting twice is harmless.
  ``write`` queues and returns; if the connection's outbox is full it
  waits for room as the seed's ``sendall`` did. ``writeLock`` returns once
  the kernel has the message (a lock per connection, as the seed meant).
* **timeout** is each connection's write timeout and a client's connect
  timeout per attempt (seconds; ``None`` for none); ``set_timeout``
  applies to the next ``open()``. **size** is unused: messages are read
  whole whatever their size.
* ``getClients()`` returns ``ClientInfo`` records (id, name, address), not
  sockets. The seed's host ``writeLock_ALL`` raised ``AttributeError`` and
  its ``writeImgLock_ALL`` did not lock; both work here.

``native`` is the underlying ``socketengine.Host`` / ``Client``, for the
rest of the new API (requests, rooms, subscriptions, callbacks).
"""

from __future__ import annotations

import math
from typing import Any

import socketengine as _se

__all__ = ["host", "client", "IMAGE", "ADDR", "PORT", "TIMEOUT", "SIZE", "OPEN"]

#: The channel images travel on (the seed's ``"image"``).
IMAGE = _se.IMAGE_CHANNEL
#: The seed's defaults.
ADDR = "127.0.0.1"
PORT = 8080
TIMEOUT = 2
SIZE = 256
OPEN = True


def _outgoing(data: Any) -> Any:
    """What ``data`` is on the wire: a bytes-like object as its bytes,
    anything else as JSON."""
    if isinstance(data, (bytes, bytearray, memoryview, _se.Image)):
        return data
    if hasattr(data, "__array_interface__") or hasattr(data, "__buffer__"):
        return data
    return _se.Json(data)


def _value(msg: _se.Message | None) -> Any:
    """A received message as the seed's users read it."""
    if msg is None:
        return None
    image = msg.image
    if image is not None:
        return _pixels(image)
    if msg.encoding != "bytes":
        return msg.json()
    return bytes(msg.payload)


def _pixels(image: _se.Image) -> Any:
    """An image as a numpy array (its bytes' view), or the ``Image`` itself
    without numpy."""
    try:
        import numpy
    except ImportError:
        return image
    return numpy.asarray(image)


def _seconds(timeout: float | None) -> float:
    return math.inf if timeout is None else float(timeout)


def _write(native: Any, channel: str, data: Any) -> None:
    """An unlocked write that waits for room when the outbox is full, as
    the seed's ``sendall`` did."""
    payload = _outgoing(data)
    try:
        native.write(channel, payload)
    except _se.FullError:
        native.write_lock(channel, payload)


class _Peer:
    """What ``host`` and ``client`` share: the seed's settings, the
    engine's handle once open, and closing."""

    def __init__(self, addr: str = ADDR, port: int = PORT, timeout: float | None = TIMEOUT,
                 size: int = SIZE, open: bool = OPEN) -> None:
        self.addr = addr
        self._port = port
        self.timeout = timeout
        self.size = size
        self.native: Any = None
        if open:
            self.open()

    def open(self) -> None:
        raise NotImplementedError

    @property
    def opened(self) -> bool:
        """Whether the socket is open (and not closed since)."""
        return self.native is not None and not self.native.closed

    def set_timeout(self, time: float | None) -> None:
        """Sets the timeout (seconds) of the next ``open()``: an open
        connection keeps the one it was opened with."""
        self.timeout = time

    def start(self) -> _Peer:
        """Opens the socket if ``open()`` has not (the engine's threads run
        from then on); returns ``self``. Calling it again does nothing."""
        if self.native is None:
            self.open()
        return self

    def _handle(self) -> Any:
        if self.native is None:
            raise _se.NotConnectedError("not open: call open() or start() first")
        return self.native

    def close(self) -> None:
        """Closes the connection(s) and stops the engine's threads (waiting
        for them, unlike the seed). Idempotent."""
        if self.native is not None:
            self.native.close()

    def __enter__(self) -> _Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class host(_Peer):
    """The seed's ``host``: listens on ``addr``:``port`` for clients and keeps
    the newest value each sends per channel.

    ``open=True`` (the default) opens in the constructor (see ``open``).
    Unlike the seed, it listens on ``addr`` only (``'0.0.0.0'`` for every
    interface); ``port=0`` takes a free port.
    """

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen, for ``port=0``), or the
        one it will listen on."""
        return self.native.port if self.native is not None else self._port

    def open(self) -> None:
        """Listens (``AddrInUseError``, an ``OSError``, if the port is
        taken: the seed raised ``RuntimeError``)."""
        if self.native is None:
            self.native = _se.Host(f"{self.addr}:{self._port}", write_timeout=_seconds(self.timeout))

    def get_ALL(self, channel: str) -> list[Any]:
        """The newest value on ``channel`` from each client that sent one,
        oldest sender first; ``[]`` if none did. Never blocks."""
        return [_value(msg) for msg in self._handle().get_by_client(channel)]

    def getClients(self) -> list[_se.ClientInfo]:
        """The clients connected now, as ``ClientInfo`` (``id``, ``name``,
        ``addr``...), not the seed's sockets."""
        return [info for info in self._handle().clients() if info.connected]

    def write_ALL(self, channel: str, data: Any) -> host:
        """Queues ``data`` (JSON, or bytes-like as its bytes) on ``channel``
        to every client; returns ``self``."""
        _write(self._handle(), channel, data)
        return self

    def writeLock_ALL(self, channel: str, data: Any) -> host:
        """Sends ``data`` on ``channel`` to every client and returns once each
        kernel has it (each within the timeout); returns ``self``."""
        self._handle().write_lock(channel, _outgoing(data))
        return self

    def writeImg_ALL(self, data: Any) -> host:
        """Queues an image (a numpy array, ``(h, w, 3)`` ``uint8`` as RGB) on
        the ``"image"`` channel to every client, without a copy; a newer one
        replaces it while it waits. Returns ``self``."""
        self._handle().write_image(IMAGE, data)
        return self

    def writeImgLock_ALL(self, data: Any) -> host:
        """As ``writeImg_ALL``, returning once every client's kernel has the
        image (never replaced). Returns ``self``."""
        self._handle().write_image_lock(IMAGE, data)
        return self


class client(_Peer):
    """The seed's ``client``: connects to the host at ``addr``:``port`` and
    keeps the newest value per channel.

    ``open=True`` (the default) connects in the constructor, waiting until
    the host is there (see ``open``). The arguments' order is the seed
    README's (``addr, port, timeout``); pass them by name to be sure.
    """

    @property
    def port(self) -> int:
        """The host's port."""
        return self._port

    def open(self) -> None:
        """Connects, waiting as long as it takes (trying again, with backoff,
        while nothing listens there yet; Ctrl-C interrupts it). A host that
        refuses the client for good raises its refusal."""
        if self.native is not None:
            return
        timeout = _seconds(self.timeout)
        native = _se.Client.start(f"{self.addr}:{self._port}", connect_timeout=timeout,
                                  write_timeout=timeout)
        try:
            native.wait_connected()
        except BaseException:
            native.close()
            raise
        self.native = native

    def get(self, channel: str) -> Any:
        """The newest value on ``channel`` (an image channel's: a numpy
        array), or ``None`` if nothing arrived on it. Never blocks."""
        return _value(self._handle().get(channel))

    def write(self, channel: str, data: Any) -> client:
        """Queues ``data`` (JSON, or bytes-like as its bytes) on ``channel``;
        returns ``self``."""
        _write(self._handle(), channel, data)
        return self

    def writeLock(self, channel: str, data: Any) -> client:
        """Sends ``data`` on ``channel`` and returns once the kernel has it;
        returns ``self``."""
        self._handle().write_lock(channel, _outgoing(data))
        return self

    def writeImg(self, data: Any) -> client:
        """Queues an image (a numpy array) on the ``"image"`` channel without
        a copy; a newer one replaces it while it waits. Returns ``self``."""
        self._handle().write_image(IMAGE, data)
        return self

    def writeImgLock(self, data: Any) -> client:
        """As ``writeImg``, returning once the kernel has the image. Returns
        ``self``."""
        self._handle().write_image_lock(IMAGE, data)
        return self
