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
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import peers  # noqa: E402
from bench_engine import measure  # noqa: E402


def mlp_cases(engines, dtype):
    weights, biases, x, y = peers.mlp_data(dtype)
    return {name: peers.ad_mlp(weights, biases, x, y, engine=m) for name, m in engines.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the earlier git revision, e.g. main or HEAD~1")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    engines = {"now": peers.vendored("ad_now"),
               f"{args.ref}": peers.vendored("ad_ref_a", args.ref),
               f"{args.ref} again": peers.vendored("ad_ref_b", args.ref)}
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
        med = measure(cases, args.rounds, repeat)
        base = med[args.ref]
        print(f"{title:<48} now / {args.ref} = {med['now'] / base:.3f}   "
              f"(noise: {args.ref} again / {args.ref} = {med[args.ref + ' again'] / base:.3f})")


if __name__ == "__main__":
    main()
