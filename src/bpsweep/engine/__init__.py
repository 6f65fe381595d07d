"""The engine: the network and its training, arrays in and arrays out.

``_math`` (our own exp, expm1, log1p and activations), ``_random`` (counter-based draws),
``starts`` (a run's initial parameters), ``data`` (the dosage set or a CSV), ``kernels`` (the
compiled forward, backward, update and training loops), ``cuda`` (the same training on a GPU),
``trainer`` (one run, checked: :func:`bpsweep.train`) and ``batch`` (a table of runs through the
batched kernel). Nothing here knows about configs, sweeps, files or plots.
"""
