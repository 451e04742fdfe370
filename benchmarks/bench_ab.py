"""Is the engine slower than it was? Today's package against an earlier revision.

Both run from vendored copies (the working tree's ``ad/`` and ``git archive REF
ad``), imported under new names, so neither has an advantage of installation or
import order; the earlier revision runs twice, and the spread between its two
copies shows how much of a ratio is noise. Cases rotate every round, BLAS runs
single-threaded, and the ratios are of medians from the same run.

    python benchmarks/bench_ab.py REF [--rounds N]      # e.g. REF = main, HEAD~3
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
import peers  # noqa: E402


def vendored(name, ref=None):
    """The package (at git revision ``ref``, or the working tree's) imported as ``name``."""
    folder = Path(tempfile.mkdtemp(prefix="ad_ab_"))
    if ref is None:
        shutil.copytree(ROOT / "ad", folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "ad"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        (folder / "ad").rename(folder / name)
    sys.path.insert(0, str(folder))
    module = importlib.import_module(name)
    # Older revisions trust (skip checking) only the primitives of a module named exactly
    # "ad.ops"; under another name they would be checked, so trust them as at home.
    for value in vars(module.ops).values():
        if isinstance(value, type) and issubclass(value, module.Function):
            value._trusted = True
    return module


def medians(cases, rounds, repeat):
    names = list(cases)
    times = {name: [] for name in names}
    for name in names:
        cases[name]()
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            gc.collect()
            start = time.perf_counter()
            for _ in range(repeat):
                cases[name]()
            times[name].append((time.perf_counter() - start) / repeat)
    return {name: statistics.median(ts) for name, ts in times.items()}


def mlp_cases(engines, dtype):
    rng = np.random.default_rng(0)
    sizes = [784, 256, 128, 10]
    weights = [(rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype) for m, n in zip(sizes, sizes[1:])]
    biases = [np.zeros(n, dtype) for n in sizes[1:]]
    x = rng.standard_normal((64, 784)).astype(dtype)
    y = rng.standard_normal((64, 10)).astype(dtype)
    return {name: peers.ad_mlp(weights, biases, x, y, engine=m) for name, m in engines.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the earlier git revision, e.g. main or HEAD~1")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    engines = {"now": vendored("ad_now"), f"{args.ref}": vendored("ad_ref_a", args.ref),
               f"{args.ref} again": vendored("ad_ref_b", args.ref)}
    workloads = {
        "MLP 784-256-128-10 float64, forward+backward": (mlp_cases(engines, np.float64), 10),
        "MLP 784-256-128-10 float32, forward+backward": (mlp_cases(engines, np.float32), 10),
        "1,000 scalar tanh steps, forward+backward": (
            {n: (lambda m=m: peers.ad_scalar_chain(engine=m)) for n, m in engines.items()}, 1),
        "10,000-op chain, build+backward": (
            {n: (lambda m=m: peers.ad_long_chain(10_000, engine=m)) for n, m in engines.items()}, 1),
    }
    print(f"today's ad against {args.ref}, {args.rounds} rounds, single-threaded; "
          "ratios of medians (below 1: faster now)")
    for title, (cases, repeat) in workloads.items():
        med = medians(cases, args.rounds, repeat)
        base = med[args.ref]
        print(f"{title:<48} now / {args.ref} = {med['now'] / base:.3f}   "
              f"(noise: {args.ref} again / {args.ref} = {med[args.ref + ' again'] / base:.3f})")


if __name__ == "__main__":
    main()
