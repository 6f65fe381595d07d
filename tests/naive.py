"""Slow, obviously correct twins of the compiled kernels, written plainly from the lessons.

Plain Python floats and the ``math`` module, one data point and one parameter at a time.
``train`` takes the activation as an argument: tests pass either the lesson's textbook formulas
(``textbook_activation``) or the kernel's own ``activate.py_func`` when they want the very same
float operations, in the same order, as the compiled kernels (bit-for-bit comparisons).
"""

import math

MASK64 = (1 << 64) - 1


def param_names(hidden):
    names = []
    for i in range(1, hidden + 1):
        names += [f"w{i}", f"b{i}"]
    return names + [f"w{hidden + i}" for i in range(1, hidden + 1)] + [f"b{hidden + 1}"]


def textbook_activation(z, act):
    """The formulas as the lessons write them (fine for moderate z; log1p keeps
    log(1 + e^z) accurate where e^z is tiny)."""
    if act == 0:
        return math.log1p(math.exp(z)), math.exp(z) / (1 + math.exp(z))
    if act == 1:
        return (z, 1.0) if z > 0 else (0.0, 0.0)
    if act == 2:
        s = 1 / (1 + math.exp(-z))
        return s, s * (1 - s)
    t = math.tanh(z)
    return t, 1 - t * t


def unpack(p, hidden):
    """(hidden weights, hidden biases, output weights, output bias) from the parameter list."""
    return (
        [p[2 * h] for h in range(hidden)],
        [p[2 * h + 1] for h in range(hidden)],
        [p[2 * hidden + h] for h in range(hidden)],
        p[3 * hidden],
    )


def predict(x, p, hidden, act, activation=textbook_activation):
    """predicted = w_out_1 * y_1 + ... + w_out_H * y_H + b_out, for each input."""
    w, b, w_out, b_out = unpack(p, hidden)
    preds = []
    for xi in x:
        total = 0.0
        for h in range(hidden):
            total += w_out[h] * activation(w[h] * xi + b[h], act)[0]
        preds.append(total + b_out)
    return preds


def ssr(x, y, p, hidden, act, activation=textbook_activation):
    total = 0.0
    for yi, pred in zip(y, predict(x, p, hidden, act, activation)):
        total += (yi - pred) * (yi - pred)
    return total


def slopes(x, y, p, hidden, act, activation=textbook_activation):
    """dSSR/dparam by the chain rule: dSSR/dPredicted = -2 (observed - predicted), times
    dPredicted/dparam, summed over the data."""
    w, b, w_out, b_out = unpack(p, hidden)
    g = [0.0] * len(p)
    g_b_out = 0.0
    for xi, yi in zip(x, y):
        ys, dys = [], []
        for h in range(hidden):
            a, da = activation(w[h] * xi + b[h], act)
            ys.append(a)
            dys.append(da)
        pred = 0.0
        for h in range(hidden):
            pred += w_out[h] * ys[h]
        pred += b_out
        d_pred = -2.0 * (yi - pred)
        for h in range(hidden):
            g[2 * hidden + h] += d_pred * ys[h]  # dPredicted/dw_out = y_h
            d_x = d_pred * w_out[h] * dys[h]  # dPredicted/dx_h = w_out * activation'(x_h)
            g[2 * h] += d_x * xi  # dx_h/dw_h = input
            g[2 * h + 1] += d_x  # dx_h/db_h = 1
        g_b_out += d_pred  # dPredicted/db_out = 1
    g[3 * hidden] = g_b_out
    return g


def train(
    x,
    y,
    p,
    hidden,
    act=0,
    opt=0,
    hyper=(0.9, 0.999, 1e-8),
    lr=0.1,
    tol=1e-3,
    max_steps=1000,
    trainable=None,
    activation=textbook_activation,
    lr_hidden=None,
    lr_output=None,
    schedule=None,
):
    """The stopping rule of statquest.md, step by step. Returns a dict with status, steps,
    initial_ssr, ssr, params and the list of per-step (params, slopes, step sizes, ssr).

    Per-layer rates: ``lr_hidden`` moves w1, b1, ..., wH, bH (the first 2H parameters),
    ``lr_output`` the output weights and bias; each defaults to ``lr``.

    ``schedule(rate, k)``: the rate a step uses for a layer's ``rate``, k = the updates made
    before it (a float; 0.0 at the first step); None: the rate itself (constant). Tests pass
    :func:`textbook_schedule` (the documented formulas) or a function around the kernels'
    own ``schedule_factor`` (the very same float operations)."""
    p = list(p)
    rates = [lr if lr_hidden is None else lr_hidden] * (2 * hidden)
    rates += [lr if lr_output is None else lr_output] * (hidden + 1)
    trainable = [True] * len(p) if trainable is None else list(trainable)
    m = [0.0] * len(p)
    v = [0.0] * len(p)
    initial = ssr(x, y, p, hidden, act, activation)
    history = []
    steps = 0
    while True:
        g = slopes(x, y, p, hidden, act, activation)
        steps += 1
        sizes = []
        for j in range(len(p)):
            if not trainable[j]:
                sizes.append(0.0)
                continue
            rate = rates[j] if schedule is None else schedule(rates[j], float(steps - 1))
            if opt == 0:
                step = rate * g[j]
            elif opt == 1:
                step = hyper[0] * m[j] + rate * g[j]
                m[j] = step
            else:
                m[j] = hyper[0] * m[j] + (1.0 - hyper[0]) * g[j]
                v[j] = hyper[1] * v[j] + (1.0 - hyper[1]) * g[j] * g[j]
                m_hat = m[j] / (1.0 - hyper[0] ** steps)
                v_hat = v[j] / (1.0 - hyper[1] ** steps)
                step = rate * m_hat / (math.sqrt(v_hat) + hyper[2])
            sizes.append(step)
            p[j] = p[j] - step
        now = ssr(x, y, p, hidden, act, activation)
        history.append((list(p), g, sizes, now))
        if not (math.isfinite(now) and now <= 1e8 * initial) or not all(map(math.isfinite, p)):
            status = "diverged"
        elif all(abs(s) < tol for s, t in zip(sizes, trainable) if t):
            status = "converged"
        elif steps >= max_steps:
            status = "max_steps"
        else:
            continue
        return {
            "status": status,
            "steps": steps,
            "initial_ssr": initial,
            "ssr": now,
            "params": p,
            "history": history,
        }


def textbook_schedule(name, schedule_steps=1000, min_lr_ratio=0.0, step_every=100,
                      step_factor=0.5, decay=0.005):  # fmt: skip
    """``schedule(rate, k)`` for :func:`train`: a learning-rate schedule as docs/sweeps.md
    writes it, with libm's cos and exp (k = t - 1, the updates before step t)."""

    def cosine(lr, k):
        lr_min = lr * min_lr_ratio
        u = min(k, schedule_steps) / schedule_steps
        return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * u)) / 2

    def step(lr, k):
        return lr * step_factor ** math.floor(k / step_every)

    def exponential(lr, k):
        return lr * math.exp(-decay * k)

    def constant(lr, k):
        return lr

    return {"constant": constant, "cosine": cosine, "step": step, "exponential": exponential}[name]


# ------------------------------------------------------------------ seeded draws


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def uniform(seed, k):
    """SplitMix64 of (seed, k) as documented in bpsweep.engine._random: a float in [0, 1)."""
    gamma = 0x9E3779B97F4A7C15
    key = _mix((seed + gamma) & MASK64)
    return (_mix((key + (k + 1) * gamma) & MASK64) >> 11) / 2.0**53


def normal(seed, k):
    return math.sqrt(-2.0 * math.log1p(-uniform(seed, 2 * k))) * math.cos(
        2.0 * math.pi * uniform(seed, 2 * k + 1)
    )


def draw(hidden, scheme, scale, biases, seed):
    """A run's start as bpsweep.engine.starts documents it: weights take draws 0..2H-1 in name
    order,
    biases draws 2H..3H; then scaled for their layer."""

    def std(fan_in, fan_out):
        return {
            "normal": scale,
            "uniform": scale,
            "xavier": scale * math.sqrt(2.0 / (fan_in + fan_out)),
            "he": scale * math.sqrt(2.0 / fan_in),
        }[scheme]

    def one(k, s):
        return s * (2.0 * uniform(seed, k) - 1.0) if scheme == "uniform" else s * normal(seed, k)

    hid, out = std(1, hidden), std(hidden, 1)
    values = {}
    for i in range(hidden):
        values[f"w{i + 1}"] = one(i, hid)
        values[f"w{hidden + i + 1}"] = one(hidden + i, out)
        values[f"b{i + 1}"] = one(2 * hidden + i, hid) if biases == "drawn" else 0.0
    values[f"b{hidden + 1}"] = one(3 * hidden, out) if biases == "drawn" else 0.0
    return [values[n] for n in param_names(hidden)]


# ------------------------------------------------------------------ CSV rows


def csv_quote(text):
    """A CSV cell for a string: in quotes, inner quotes doubled, if it holds , " or a newline."""
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_rows(rows, columns, kinds):
    """The results CSV's lines (no header) for ``rows`` (dicts column -> value) as
    docs/sweeps.md describes them: floats as repr, ints as str, strings quoted where needed,
    and the init_/final_ parameters a run's network lacks as empty cells."""
    lines = []
    for row in rows:
        names = param_names(int(row["hidden"]))
        cells = []
        for col in columns:
            kind, _, p = col.partition("_")
            if kind in ("init", "final") and p != "ssr" and p not in names:
                cells.append("")
            elif kinds[col] == "float":
                cells.append(repr(float(row[col])))
            elif kinds[col] == "int":
                cells.append(str(int(row[col])))
            else:
                cells.append(csv_quote(str(row[col])))
        lines.append(",".join(cells) + "\n")
    return "".join(lines)


# ------------------------------------------------------------------ shares and intervals


def normal_quantile(q):
    """The standard normal quantile of q, by bisection on Phi(z) = (1 + erf(z / sqrt 2)) / 2."""
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if (1 + math.erf(mid / math.sqrt(2))) / 2 < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def wilson(k, n, level=0.95):
    """Wilson score interval of k successes in n: the two shares p with
    (k/n - p)^2 = z^2 p (1 - p) / n (the normal test that just does not reject p), as the
    roots of (1 + z^2/n) p^2 - (2 k/n + z^2/n) p + (k/n)^2 = 0."""
    z = normal_quantile((1 + level) / 2)
    phat = k / n
    a = 1 + z * z / n
    b = -(2 * phat + z * z / n)
    c = phat * phat
    root = math.sqrt(b * b - 4 * a * c)
    return max(0.0, (-b - root) / (2 * a)), min(1.0, (-b + root) / (2 * a))


# ------------------------------------------------------------------ math functions
# (bpsweep.engine._math)
# Correctly rounded twins of bpsweep.engine._math's functions, in mpmath at 40 significant digits:
# each returns an mpmath number (or a pair: value, slope), to score float64 results in ulps.
# They also check the numpy longdouble reference that the vectorised accuracy sweep uses.


def _mp():
    import mpmath

    mpmath.mp.dps = 40
    return mpmath


def exp_exact(x):
    return _mp().exp(x)


def expm1_exact(x):
    return _mp().expm1(x)


def log1p_exact(x):
    mp = _mp()
    if x == -1.0:
        return mp.mpf("-inf")
    if x < -1.0 or math.isnan(x):
        return mp.mpf("nan")
    return mp.log1p(x)


def sigmoid_exact(z):
    """sigmoid(z) = 1 / (1 + e^-z) and its derivative e^-z / (1 + e^-z)^2."""
    mp = _mp()
    s = 1 / (1 + mp.exp(-mp.mpf(z)))
    return s, s * (1 - s)


def softplus_exact(z):
    """log(1 + e^z) and its derivative sigmoid(z)."""
    mp = _mp()
    return mp.log1p(mp.exp(mp.mpf(z))), sigmoid_exact(z)[0]


def tanh_exact(z):
    """tanh(z) and its derivative 1 / cosh(z)^2."""
    mp = _mp()
    return mp.tanh(z), 1 / mp.cosh(z) ** 2


def ulps(got, exact):
    """|got - exact| in ulps of the float64 nearest ``exact`` (an mpmath number); inf where
    one is infinite or NaN and the other is not the same."""
    mp = _mp()
    if math.isnan(got) or mp.isnan(exact):
        return 0.0 if (math.isnan(got) and mp.isnan(exact)) else math.inf
    if math.isinf(got) or mp.isinf(exact):
        return 0.0 if float(exact) == got else math.inf
    nearest = float(exact)  # mpmath rounds to nearest
    if math.isinf(nearest):
        return 0.0 if got == nearest else math.inf
    e = math.frexp(nearest)[1] if nearest != 0.0 else -1073
    ulp = 2.0 ** max(e - 53, -1074)
    return float(abs(mp.mpf(got) - exact) / ulp)
