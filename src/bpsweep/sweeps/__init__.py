"""Sweeps: a config becomes runs, runs become chunks, chunks become checksummed parts, parts
become one results file.

``config`` (a TOML file checked) and ``window`` (a map's plane and pixels), ``expand`` (any
slice of the runs), ``options`` (how a sweep runs), ``chunks`` (one chunk trained and
formatted), ``dispatch`` and ``cluster`` (where chunks run), ``parts``, ``outdir``,
``assemble`` and ``resources`` (what is written, where, and whether it fits), ``results``
(reading a results file back) and ``runner`` (a sweep's whole life: :func:`bpsweep.run_sweep`).
"""
