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
    from bpsweep.chunks import CHUNK_TRAINERS

    @contextlib.contextmanager
    def interrupting(n: int):
        cpu = CHUNK_TRAINERS["cpu"]

        def train_until_n(runs, data_dir, cache):
            if runs["run_id"].iloc[0] >= n:
                raise KeyboardInterrupt
            return cpu(runs, data_dir, cache)

        CHUNK_TRAINERS["cpu"] = train_until_n
        try:
            yield
        finally:
            CHUNK_TRAINERS["cpu"] = cpu

    return interrupting
