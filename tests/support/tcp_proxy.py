"""A small threaded TCP proxy that can take the network away, for fault tests.

It sits between a function server and the Firestore emulator (the server's
FIRESTORE_EMULATOR_HOST points at the proxy) and, on command:

- outage(seconds): for that long every new connection is accepted and at once reset, so a
  gRPC channel's reconnects fail ("connection reset" / UNAVAILABLE); connections already
  open are reset too;
- reset_open(): resets every open connection mid-stream: both sides get an RST (SO_LINGER
  0 then close), so requests in flight die with their answer lost, and a commit may have
  applied or not.

Both directions are piped by one thread each. Counts of what it did are in `stats`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter
from types import TracebackType

BUFFER = 65536
# SO_LINGER on, linger 0: close() sends RST instead of FIN.
_RST_LINGER = struct.pack("ii", 1, 0)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[_Pair] = []
        self._down_until = 0.0
        self._closed = False
        self.stats: Counter[str] = Counter()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def address(self) -> str:
        """host:port, as FIRESTORE_EMULATOR_HOST wants it."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._acceptor.start()
        return self

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- commands ------------------------------------------------------------------------

    def outage(self, seconds: float) -> None:
        """Refuse (reset) new connections for `seconds`, and reset the open ones now."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            self.stats["outages"] += 1
        self.reset_open()

    def reset_open(self) -> int:
        """Reset every open connection mid-stream; returns how many."""
        with self._lock:
            pairs, self._open = self._open, []
            self.stats["resets"] += 1
            self.stats["connections reset"] += len(pairs)
        for pair in pairs:
            _reset(pair.client)
            _reset(pair.upstream)
        return len(pairs)

    @property
    def down(self) -> bool:
        with self._lock:
            return time.monotonic() < self._down_until

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            pairs, self._open = self._open, []
        for pair in pairs:
            _reset(pair.client)
            _reset(pair.upstream)

    # -- plumbing ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.down:
                with self._lock:
                    self.stats["connections refused"] += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, upstream)
            with self._lock:
                self._open.append(pair)
                self.stats["connections"] += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink, pair), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, pair: _Pair) -> None:
        try:
            while True:
                data = source.recv(BUFFER)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)  # pass the end on (a reset pair is closed already)
        with self._lock:
            pair.ended += 1
            last = pair.ended == 2
            if last and pair in self._open:
                self._open.remove(pair)
        if last:  # both directions ended: close the pair
            for sock in (pair.client, pair.upstream):
                with contextlib.suppress(OSError):
                    sock.close()


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.ended = 0
