import contextlib
import sys
from pathlib import Path

import pytest

# tests import the naive twins as `naive`
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def interrupt_sweep_at():
    """``with interrupt_sweep_at(n):`` an in-process CPU sweep raises KeyboardInterrupt at the
    first chunk whose runs start at run_id >= n, as Ctrl-C would; the chunks before are saved."""
    from bpsweep.sweeps.chunks import CHUNK_TRAINERS

    @contextlib.contextmanager
    def interrupting(n: int):
        cpu = CHUNK_TRAINERS["cpu"]

        def train_until_n(columns, n_runs, data_dir, cache):
            if columns["run_id"][0] >= n:
                raise KeyboardInterrupt
            return cpu(columns, n_runs, data_dir, cache)

        CHUNK_TRAINERS["cpu"] = train_until_n
        try:
            yield
        finally:
            CHUNK_TRAINERS["cpu"] = cpu

    return interrupting


# ---------------------------------------------------------------- one signature per kernel
#
# Every array handed to a kernel has one fixed dtype, layout and writability, so each njit
# kernel of bpsweep compiles once. A second signature means a silent recompile (a minute on a
# first run) somewhere: the session fails, naming the kernel and its signatures.


def compiled_signatures():
    """{qualified name: [signatures]} of every numba CPU dispatcher in bpsweep's modules.

    Signatures that differ only in literal values (numba's Literal types: a helper called with
    constants, compiled with its caller) count as one: they are compile-time specializations,
    not a new dtype, layout or writability of an argument."""
    from numba.core import types
    from numba.core.registry import CPUDispatcher

    found = {}
    for name, module in list(sys.modules.items()):
        if not (name == "bpsweep" or name.startswith("bpsweep.")) or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == name:
                kinds = {tuple(types.unliteral(t) for t in sig) for sig in value.signatures}
                found[f"{name}.{attr}"] = sorted(kinds, key=str)
    return found


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller: a worker's guard message (each worker compiles its own)."""
    message = getattr(node, "workeroutput", {}).get("bpsweep_signatures")
    if message:
        node.config._bpsweep_signatures = message


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if "numba" in sys.modules:
        many = {k: sigs for k, sigs in compiled_signatures().items() if len(sigs) > 1}
        if many:
            lines = [f"  {k}: {len(sigs)} signatures: {sigs}" for k, sigs in sorted(many.items())]
            message = "kernels compiled for more than one signature (a silent recompile):\n"
            config._bpsweep_signatures = message + "\n".join(lines)
            if hasattr(config, "workeroutput"):  # an xdist worker: tell the controller
                config.workeroutput["bpsweep_signatures"] = config._bpsweep_signatures
    if getattr(config, "_bpsweep_signatures", None):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    message = getattr(terminalreporter.config, "_bpsweep_signatures", None)
    if message:
        terminalreporter.section("signature guard", red=True)
        terminalreporter.write_line(message)
