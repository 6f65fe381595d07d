"""``bpsweep train``: train one network and print its steps as the lesson does."""

from __future__ import annotations

from ..atomic import writing
from ..errors import UsageError
from ..settings import HYPER_SETTINGS, SETTINGS
from ._options import add_setting_options, check_file, number_option, setting_values

#: The settings `train` takes as options besides --data, --hidden, --activation and --init.
_DRAW = ("seed", "scale", "biases")
_TRAIN = ("trainable", "optimizer", "lr", "tol", "max_steps")
#: The optional settings (the per-layer rates, "as --lr"): like the optimizers'
#: hyper-parameters (HYPER_SETTINGS) after them, options that are None when not given.
_RATES = tuple(n for n, s in SETTINGS.items() if s.optional)


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train one network and print the steps as the lesson does",
        description="Train one network by gradient descent and walk through "
        "its steps: slope, step size, new value and SSR.",
    )
    add_setting_options(p, ("dataset", "hidden", "activation"))
    p.add_argument(
        "--init",
        default="normal",
        help="preset (statquest-fitted, statquest-start), scheme (normal, uniform, "
        "xavier, he) and/or name=value items, e.g. 'statquest-fitted,b3=1' or "
        "'w1=2.74,b1=0,w2=-1.13,b2=0,w3=0.36,w4=0.63,b3=0' (default normal)",
    )
    add_setting_options(p, _DRAW + _TRAIN)
    add_setting_options(p, _RATES + HYPER_SETTINGS, defaults=False)
    p.add_argument("--trace-csv", metavar="FILE", help="write the per-step trace to FILE")
    p.add_argument(
        "--show",
        default="auto",
        help="steps to print: a number N >= 0 (first N and the last), 'all', or 'auto' "
        "(all up to 30 steps, else the first 10 and the last 3)",
    )
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from ..engine.trainer import train

    names = ("dataset", "hidden", "activation", *_DRAW, *_TRAIN, *_RATES, *HYPER_SETTINGS)
    values = setting_values(args, names)
    show = _show(args.show)  # every option checked before the training, which may take long
    if args.trace_csv:
        check_file("--trace-csv", args.trace_csv)
    data = values.pop("dataset")
    result = train(data, init=args.init, trace=True, **values)
    print(_format_walkthrough(result, show))
    if args.trace_csv:
        with writing(args.trace_csv, "--trace-csv", make_folder=True):
            result.trace.to_csv(args.trace_csv, index=False, float_format="%.17g")
        print(f"trace written to {args.trace_csv}")
    return 0


def _show(text: str):
    """``--show``: 'all', 'auto', or N >= 0 steps (the first N and the last), as trace's."""
    if text in ("all", "auto"):
        return text
    try:
        return number_option("--show", text, None, integer=True, minimum=0)
    except UsageError:
        raise UsageError(
            f"--show: expected a whole number >= 0, 'all' or 'auto', got {text!r}"
        ) from None


def _format_walkthrough(result, show: str) -> str:
    trace = result.trace
    start = "  ".join(f"{k}={v:.6g}" for k, v in result.initial_params.items())
    lines = [
        f"start: {start}  SSR={result.initial_ssr:.6g}",
        f"{'step':>5}  {'param':<5} {'slope':>12} {'step size':>12} {'new value':>12} {'SSR':>12}",
    ]
    steps = list(range(1, result.steps + 1))
    if show == "all":
        shown = steps
    else:
        head, tail = (10, 3) if show == "auto" else (show, 1)
        if show == "auto" and len(steps) <= 30:
            head = len(steps)
        shown = steps if len(steps) <= head + tail else steps[:head] + [None] + steps[-tail:]
    for k in shown:
        if k is None:
            lines.append(f"{'...':>5}")
            continue
        row = trace.iloc[k]
        for i, name in enumerate(result.trainable):
            ssr = f"{row['ssr']:12.6g}" if i == len(result.trainable) - 1 else ""
            lines.append(
                f"{k:>5}  {name:<5} {row['slope_' + name]:12.6g} "
                f"{row['step_' + name]:12.6g} {row[name]:12.6g} {ssr}".rstrip()
            )
    final = "  ".join(f"{k}={v:.6g}" for k, v in result.final_params.items())
    lines.append(
        f"{result.status} after {result.steps} steps: SSR {result.initial_ssr:.6g} -> "
        f"{result.final_ssr:.6g};  {final}"
    )
    return "\n".join(lines)
