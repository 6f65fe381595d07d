"""``bpsweep map CONFIG``: train every pixel of a map config and write its Parquet, images, JSON."""

from __future__ import annotations

import math
import re
from pathlib import Path

from ..errors import UsageError
from ..maps.chaos import DEFAULT_MOVES, MOVE
from ..sweeps.config import load_config
from ..sweeps.dispatch import check_local_jobs
from ..sweeps.options import BACKENDS, DEVICES
from ..sweeps.window import COLOR_MODES, parse_zoom
from ..wording import plural
from ._options import add_fit_ssr, add_overrides
from .run import run_options

#: Arguments starting with '-' that argparse is to read as values, not options: negative
#: numbers, and lists of numbers that start with one, as in ``--zoom -1,-1,2``. argparse's own
#: rule (Python 3.11, 3.12) knows only -1 and -1.5, so it took -1,-1,2 for an unknown option;
#: no option of ``bpsweep map`` looks like a number, so nothing else is read differently.
NEGATIVE_VALUE = re.compile(r"^-\.?\d[\d.eE+,-]*$")


def register(sub) -> None:
    p = sub.add_parser(
        "map",
        help="train a map (a [map] config: one run per pixel) and draw it",
        description="Train one run per pixel of a map config's window, through the same "
        "kernels and rules as `bpsweep run` (chunks, workers, resume after an interrupt), and "
        "write <name>.parquet (one row per pixel), <name>.png (W x H, one pixel per run), "
        "<name>-figure.png and <name>.json into --out. See docs/maps.md.",
    )
    p._negative_number_matcher = NEGATIVE_VALUE  # argparse's rule, for this parser only
    p.add_argument(
        "config",
        help="map config (TOML with a [map] section), e.g. experiments/map-basins-w1-w2.toml",
    )
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument(
        "--resolution",
        metavar="WxH",
        help="pixels, e.g. 256x256 (default: the config's); the outputs are named <name>-WxH",
    )
    p.add_argument(
        "--zoom",
        metavar="X,Y,FACTOR",
        help="re-centre on (X, Y), in the settings' "
        "units, and divide the span by FACTOR; named <name>-zoom-<hash>",
    )
    p.add_argument(
        "--frames",
        type=int,
        metavar="K",
        help="with --zoom: K maps (2 to 1,000) zooming geometrically from the config's window "
        "to the zoom's, and a GIF of them (refused up front when they cannot fit the disk)",
    )
    p.add_argument(
        "--color",
        choices=COLOR_MODES,
        help="colour by outcome (converged by speed, "
        "diverged by speed, max_steps, false convergence), steps, final_ssr, "
        "basin or chaos (with --chaos) (default: the config's, else outcome)",
    )
    add_fit_ssr(p)
    p.add_argument(
        "--dimension",
        action="store_true",
        help="measure the box-counting dimension of the outcome boundaries (diverged vs "
        "not, converged vs not), print it, store it in the JSON and plot the box counts in "
        "NAME-dimension.png",
    )
    p.add_argument(
        "--chaos",
        type=int,
        nargs="?",
        const=DEFAULT_MOVES,
        default=0,
        metavar="K",
        help=f"also train every pixel from K starts moved by {MOVE:g} (relative; default "
        f"K = {DEFAULT_MOVES}) and mark the pixels whose status or steps change: the share "
        "per outcome in the summary and JSON, a chaos column, --color chaos",
    )
    p.add_argument("--jobs", type=int, help="worker processes (default: as bpsweep run)")
    p.add_argument(
        "--backend",
        default="loky",
        choices=BACKENDS,
        help="where worker processes train tiles: 'loky' (this machine, default) or 'dask' "
        "(a dask cluster; docs/cluster.md)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="with --backend dask: the address of a running dask scheduler (default: start "
        "a local cluster of --jobs workers)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        choices=DEVICES,
        help="train on the CPU (default) or on an NVIDIA GPU (docs/gpu.md)",
    )
    p.add_argument("--fresh", action="store_true", help="discard earlier parts or results")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the pixels, the expected work on this machine and the files; write nothing",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--yes",
        action="store_true",
        help="start work estimated to take over an hour (otherwise refused with the estimate)",
    )
    add_overrides(
        p,
        "override a setting or a [map] key, e.g. --set lr=0.3, --set 'map.center=[0, 0]' "
        "(repeatable)",
    )
    p.set_defaults(func=cmd_map)


def cmd_map(args) -> int:
    from ..maps import runner

    if not (math.isfinite(args.fit_ssr) and args.fit_ssr > 0):
        raise UsageError(f"--fit-ssr: expected a finite number > 0, found {args.fit_ssr!r}")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs: expected a whole number >= 1, found {args.jobs}")
    if args.scheduler is None:
        check_local_jobs(args.jobs, "--jobs")
    elif args.backend != "dask":
        raise UsageError(
            f"--scheduler {args.scheduler} needs --backend dask (the backend is {args.backend})"
        )
    if args.backend == "dask":
        from ..sweeps.cluster import import_distributed

        import_distributed()
    zoom = parse_zoom(args.zoom) if args.zoom is not None else None
    config = load_config(args.config, overrides=args.overrides)
    from ..maps.image import check_drawing

    check_drawing()  # the images are the point of a map: no training without the means to draw
    options = run_options(args)
    configs, gif = runner.plan_maps(
        config, resolution=args.resolution, zoom=zoom, frames=args.frames
    )
    chaos = runner.check_chaos(args.chaos, args.color or config.map.color)
    if args.dry_run:
        print(runner.describe_maps(configs, options, gif, chaos))
        return 0
    runner.check_maps_fit(configs, args.out)
    drawn = []
    for cfg in configs:
        outcome, result = runner.run_map(
            cfg,
            options,
            color=args.color,
            fit_ssr=args.fit_ssr,
            dimension=args.dimension,
            figure=gif is None or cfg is configs[-1],
            chaos=chaos,
        )
        drawn.append(result)
        print(_summary(outcome, result))
    if gif is not None:
        from ..maps.image import zoom_gif

        path = zoom_gif([r.png for r in drawn], Path(args.out) / f"{gif}.gif")
        print(f"zoom: {len(drawn)} frames -> {path}")
        if args.dimension:
            found = runner.zoom_dimensions(drawn, gif, Path(args.out))
            for row in found["frames"]:
                shown = "  ".join(
                    f"{k[3:-1]} {v:.3f}" for k, v in row.items() if k.startswith("D (") and v
                )
                shown = shown or "none (one outcome only: no boundary)"
                print(f"  frame {row['frame']:3d}  depth {row['depth']:6.2f}  D: {shown}")
            for k, v in found["median"].items():
                local = found["median_local_slope"].get(k)
                also = f"; median of their local slopes {local:.3f}" if local is not None else ""
                print(
                    f"zoom: median boundary dimension ({k}) over "
                    f"{found['frames_measured'][k]} of {len(drawn)} frames: {v:.3f}{also}"
                )
            print(f"  wrote {Path(args.out) / (gif + '-dimension.png')}")
            print(f"        {Path(args.out) / (gif + '.json')}")
    return 0


def _summary(outcome, result) -> str:
    spec = result.config.map
    lines = outcome.summary("point" if spec.is_line else "pixel").splitlines()[:2]
    dim = result.info.get("dimension")
    if spec.is_line:
        from ..maps.line import describe_dimension

        lines.append(f"  line along {spec.x}, {spec.width:,} points")
        lines += describe_dimension(dim) if dim is not None else []
    else:
        lines.append(
            f"  map {spec.x} x {spec.y}, {spec.width} x {spec.height}, "
            f"colour {result.info['color']}"
        )
        if dim is not None and dim["classes"] is None:
            lines.append(f"  boundary dimension: none ({dim.get('note', 'no boundary')})")
        elif dim is not None:
            for entry in (dim, *dim.get("also", [])):
                lines.append(f"  boundary dimension ({entry['classes']}): {entry['summary']}")
    chaos = result.info.get("chaos")
    if chaos is not None:
        lines.append(_chaos_line(chaos))
    if outcome.already_complete:  # trained before: only the images are drawn again
        lines.append(f"  results in {result.results}")
        verb, paths = "drew", result.images()
    else:
        verb, paths = "wrote", [result.results, *result.images()]
    lines.append(f"  {verb} {paths[0]}")
    lines += [" " * (len(verb) + 3) + str(p) for p in paths[1:]]
    return "\n".join(lines)


def _chaos_line(chaos: dict) -> str:
    """The chaotic share of the map and of each outcome that has pixels."""
    shares = "  ".join(
        f"{name} {100 * e['share']:.1f}%" for name, e in chaos["by_outcome"].items() if e["pixels"]
    )
    return (
        f"  chaotic {100 * chaos['share']:.1f}% (status or steps change from "
        f"{plural(chaos['moves'], 'start')} moved by {chaos['move']:g}); of each outcome: {shares}"
    )
