"""Run the explorer: a uvicorn server on this machine (127.0.0.1 unless told otherwise) until
Ctrl-C, which stops it cleanly (the kernel queue's thread is a daemon; nothing is left)."""

from __future__ import annotations

import collections
import socket
import sys
import threading
import webbrowser

from ..errors import OutputError
from .app import create_app
from .service import Explorer

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def hosts_for(host: str, port: int) -> set[str]:
    """The Host headers a server bound to ``host``:``port`` answers: the name it was given
    and, on loopback, the other loopback names (never a name a DNS rebinding could use)."""
    names = {host}
    if host in LOOPBACK:
        names |= {"127.0.0.1", "localhost", "[::1]"}
    return {f"{n}:{port}" for n in names}


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one); OutputError when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose proto says TCP (an
    # accepted socket takes the listening one's); with proto 0 a keep-alive connection's
    # response waited for the client's delayed ACK, 40 ms a request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OutputError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(explorer: Explorer, host: str = "127.0.0.1", port: int = 8765, open_browser=False):
    """Serve ``explorer`` until Ctrl-C (or SIGTERM); prints the URL first."""
    import uvicorn

    sock = bind(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    app = create_app(explorer, hosts_for(shown if ":" not in host else shown, port))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    print(f"bpsweep explore: {explorer.config.name} at {url} (Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        explorer.close()
        sock.close()
    print("bpsweep explore: stopped", file=sys.stderr, flush=True)
    return 0


class Background:
    """The explorer served from a thread of this process (tests, benchmarks, a notebook):
    ``url`` is its page; ``requests`` counts the requests that reached it by the first part of
    their path (``tiles``, ``api``, ``static``; ``""`` the page); ``stop()`` ends the server
    and the explorer's queue. Host and port as :func:`serve` (port 0: any free one); nothing
    is printed."""

    def __init__(self, explorer: Explorer, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.explorer = explorer
        self._sock = bind(host, port)
        port = self._sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/"
        self.app = create_app(explorer, hosts_for(shown, port))
        self.requests = collections.Counter()

        async def counted(scope, receive, send):
            if scope["type"] == "http":
                self.requests[scope["path"].split("/")[1]] += 1
            await self.app(scope, receive, send)

        config = uvicorn.Config(counted, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise OutputError(f"the explorer's server at {self.url} did not start")
            self._thread.join(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join()
        self.explorer.close()
        self._sock.close()
