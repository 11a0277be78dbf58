"""How the API is served: uvicorn with httptools + uvloop when importable, plus zero-copy file bodies.

uvicorn implements no ASGI file-sending extension, so asset downloads would copy every byte
through Python (read into ``bytes``, then ``transport.write``). ``ZeroCopyHttpToolsProtocol`` is
uvicorn's httptools protocol with the ASGI ``http.response.zerocopysend`` extension added:
``AssetFileResponse`` (workers/api/files.py) sends ``{"type": "http.response.zerocopysend",
"file": fd, "offset": o, "count": n}`` and the bytes go file -> socket with ``os.sendfile`` in
the kernel. The sendfile loop runs on a small dedicated thread pool (the socket stays
non-blocking; the thread waits for writability with ``poll``), on a ``dup`` of the socket so a
connection closed under it can never make it write into a reused descriptor. Without httptools
(or under another server) the extension is absent and the response falls back to a read loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import select
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

ZEROCOPY = "http.response.zerocopysend"
SENDFILE_THREADS = 16  # concurrent zero-copy bodies; more wait for a free thread
STALL_TIMEOUT_S = 60.0  # a client that reads nothing for this long is dropped

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(SENDFILE_THREADS, thread_name_prefix="maydo-sendfile")
    return _executor


def sendfile_all(sock_fd: int, file_fd: int, offset: int, count: int, stall_timeout_s: float = STALL_TIMEOUT_S) -> int:
    """``os.sendfile`` until ``count`` bytes went out (non-blocking socket: poll between calls).

    Returns the bytes sent; raises ``OSError`` on a broken connection, ``TimeoutError`` when the
    peer reads nothing for ``stall_timeout_s``, ``EOFError`` when the file is shorter than asked.
    """
    poller = select.poll()
    poller.register(sock_fd, select.POLLOUT)
    sent = 0
    while sent < count:
        try:
            n = os.sendfile(sock_fd, file_fd, offset + sent, count - sent)
        except BlockingIOError:
            n = -1
        except InterruptedError:
            continue
        if n == 0:
            raise EOFError("file is shorter than the response's Content-Length")
        if n > 0:
            sent += n
            continue
        events = poller.poll(stall_timeout_s * 1000)
        if not events:
            raise TimeoutError("client stopped reading")
        if any(ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, ev in events):
            raise ConnectionResetError(errno.ECONNRESET, "connection closed during download")
    return sent


def _protocol_class() -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol with ``http.response.zerocopysend``; None without httptools."""
    try:
        import httptools  # noqa: F401
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
    except ImportError:
        return None

    class ZeroCopyCycle(RequestResponseCycle):
        async def send(self, message: Any) -> None:
            if message.get("type") != ZEROCOPY:
                await super().send(message)
                return
            if not self.response_started or self.response_complete:
                raise RuntimeError(f"unexpected ASGI message {ZEROCOPY!r} outside a response body")
            if self.disconnected:
                return
            more_body = bool(message.get("more_body", False))
            count = int(message.get("count", 0))
            if self.scope["method"] == "HEAD" or self.chunked_encoding:
                raise RuntimeError(f"{ZEROCOPY!r} needs a Content-Length response to a GET")
            if count > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            if count and not await self._sendfile(message["file"], int(message.get("offset", 0)), count):
                return
            self.expected_content_length -= count
            if not more_body:
                if self.expected_content_length != 0:
                    raise RuntimeError("Response content shorter than Content-Length")
                self.response_complete = True
                self.message_event.set()
                if not self.keep_alive:
                    self.transport.close()
                self.on_response()

        async def _sendfile(self, file: Any, offset: int, count: int) -> bool:
            """True when every byte went out; False (connection closed) otherwise."""
            # Headers (and anything before) leave through the transport's buffer first.
            while self.transport.get_write_buffer_size() and not self.disconnected:
                await asyncio.sleep(0.001)
            sock = self.transport.get_extra_info("socket")
            if sock is None or self.disconnected:
                self.transport.close()
                return False
            file_fd = file if isinstance(file, int) else file.fileno()
            dup = os.dup(sock.fileno())
            try:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(_pool(), sendfile_all, dup, file_fd, offset, count)
            except (OSError, TimeoutError, EOFError) as exc:
                if not isinstance(exc, ConnectionError | TimeoutError):
                    log.warning("zero-copy send failed: %s", exc)
                self.disconnected = True
                self.transport.close()
                return False
            finally:
                os.close(dup)
            return True

    class ZeroCopyHttpToolsProtocol(HttpToolsProtocol):
        def _start_asgi_task(self, cycle: Any, app: Any) -> None:
            cycle.__class__ = ZeroCopyCycle
            extensions = cycle.scope.setdefault("extensions", {})
            extensions[ZEROCOPY] = {}
            super()._start_asgi_task(cycle, app)

    return ZeroCopyHttpToolsProtocol


def uvicorn_options() -> dict[str, Any]:
    """``http``/``loop`` options for uvicorn: zero-copy httptools and uvloop when importable."""
    opts: dict[str, Any] = {}
    proto = _protocol_class()
    if proto is not None:
        opts["http"] = proto
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401

        opts["loop"] = "uvloop"
    return opts


def uvicorn_config(app: Any, host: str, port: int, **kw: Any) -> Any:
    """A ``uvicorn.Config`` for the API with the fast options; ``kw`` passes through."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, **{**uvicorn_options(), **kw})


def run(app: Any, host: str, port: int, **kw: Any) -> None:
    """Serve ``app`` until interrupted (``maydo serve``, bench/api.py)."""
    import uvicorn

    uvicorn.Server(uvicorn_config(app, host, port, **kw)).run()
