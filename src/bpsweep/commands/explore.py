"""``bpsweep explore CONFIG|RESULTS.parquet``: pan and zoom a map's plane in the browser."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ..errors import UsageError
from ..maps.chaos import DEFAULT_MOVES, MOVE
from ..sweeps.config import config_from_dict, load_config
from ..sweeps.options import DEVICES
from ._options import add_fit_ssr, add_overrides


def register(sub) -> None:
    p = sub.add_parser(
        "explore",
        help="pan and zoom a map's plane in the browser, its tiles trained on demand",
        description="Start a local web server for a map config's plane: pan by drag, zoom by "
        "wheel, click a pixel to see its run; tiles are trained on demand (the tiles bpsweep "
        "map trained are reused, and the ones trained here kept for it). With a finished "
        "map's RESULTS.parquet, browse its tiles without training. See docs/explore.md.",
    )
    p.add_argument("config", help="map config (TOML with [map]) or a map's .parquet results")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this machine only)",
    )
    p.add_argument("--open", action="store_true", help="open the page in the browser")
    p.add_argument("--out", default="results", help="folder of the tile cache (default results)")
    p.add_argument(
        "--device", default="cpu", choices=DEVICES, help="train tiles on the CPU or a GPU"
    )
    add_fit_ssr(p)
    p.add_argument(
        "--chaos",
        type=int,
        default=DEFAULT_MOVES,
        metavar="K",
        help=f"the chaos colour mode trains each pixel from K starts moved by {MOVE:g} too, as "
        f"bpsweep map --chaos K (default {DEFAULT_MOVES}; their tiles are shared)",
    )
    add_overrides(p, "override a setting of the config (repeatable)")
    p.set_defaults(func=cmd_explore)


def cmd_explore(args) -> int:
    from ..explore.server import LOOPBACK, serve
    from ..explore.service import Explorer

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: expected a number from 0 to 65535, found {args.port}")
    if not (math.isfinite(args.fit_ssr) and args.fit_ssr > 0):
        raise UsageError(f"--fit-ssr: expected a finite number > 0, found {args.fit_ssr!r}")
    path = Path(args.config)
    if path.suffix.lower() == ".parquet":
        config, out = _finished_map(path, args.overrides)
        train = False
    else:
        config, out, train = load_config(path, overrides=args.overrides), Path(args.out), True
        if config.mode != "map":
            raise UsageError(
                f"{path}: expected a map config (a [map] section); bpsweep explore shows a "
                f"map's plane"
            )
    if args.host not in LOOPBACK:
        print(
            f"bpsweep explore: warning: listening on {args.host}: other machines on the network "
            f"can reach this server and make it train (there is no password)",
            file=sys.stderr,
        )
    if args.device == "cuda":
        from ..engine.cuda import require_cuda

        require_cuda()
    explorer = Explorer(
        config, out, device=args.device, train=train, fit_ssr=args.fit_ssr, chaos=args.chaos
    )
    return serve(explorer, args.host, args.port, args.open)


def _finished_map(path: Path, overrides):
    """The config of a finished map from its sidecar (``<name>.json`` beside the results),
    and the folder of its tile cache."""
    sidecar = path.with_suffix(".json")
    if not path.is_file():
        raise UsageError(f"{path}: no such results file")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        raw = meta["config"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"{path}: browsing a finished map needs its sidecar {sidecar.name} (written by "
            f"bpsweep map) beside it"
        ) from None
    if "map" not in raw:
        raise UsageError(f"{path}: not a map's results (its sidecar has no [map])")
    source = meta.get("config_file") or str(sidecar)
    base = Path(source).parent if source else path.parent
    config = config_from_dict(raw, source=str(sidecar), base_dir=base, overrides=overrides)
    return config, path.parent
