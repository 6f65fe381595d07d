"""The explorer: a map config's plane in the browser, panned and zoomed, its tiles trained on
demand (``bpsweep explore``). ``service`` is the work (tiles, pixels, views) through one kernel
queue; ``app`` the web application (Starlette) that serves it, safely, on this machine;
``server`` runs it (uvicorn) until Ctrl-C. The page itself is ``static/``.
"""
