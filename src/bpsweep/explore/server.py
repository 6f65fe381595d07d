"""Run the explorer: a uvicorn server on this machine (127.0.0.1 unless told otherwise) until
Ctrl-C, which stops it cleanly (the kernel queue's thread is a daemon; nothing is left)."""

from __future__ import annotations

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
    sock = socket.socket(family, socket.SOCK_STREAM)
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
