"""Speed and memory of `ad`, measured side by side with its peers.

Every case of a workload runs once per round, in a rotating order, and the
table reports medians over rounds and ratios of medians from the same run, so
that a noisy, shared machine slows every contender alike. Single-threaded.
Peers are optional: PyTorch (CPU), HIPS autograd, micrograd, and the original
sixteen-line engine (``ad.sixteen``, always present).

    python benchmarks/bench_engine.py [--rounds N] [--quick] [--before REF] [--output FILE]

A full run writes what it measured to ``benchmarks/results.json`` (the machine,
the versions, the date, and every workload's medians and ratios), which chapter
12 of the book reads and plots; ``--quick`` writes nothing unless ``--output``
says where.

``--before REF`` also runs the package as it was at the git revision REF (for
example ``main`` or ``HEAD~1``), under the name ``ad_before``, beside today's, so
that a change to the engine shows its cost as a ratio measured in the same run.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import peers  # noqa: E402

import ad  # noqa: E402

BEFORE = {}     # "ad (REF)" -> that revision's package, filled by --before
RESULTS = []    # one entry per workload reported, for the results file
RESULTS_FILE = Path(__file__).parent / "results.json"


def measure(cases, rounds, repeat=1):
    """Median seconds per call of each case, rotating the order every round."""
    names = list(cases)
    times = {name: [] for name in names}
    for name in names:          # warm-up
        cases[name]()
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            gc.collect()        # nobody pays for the garbage another engine left behind
            start = time.perf_counter()
            for _ in range(repeat):
                cases[name]()
            times[name].append((time.perf_counter() - start) / repeat)
    return {name: statistics.median(ts) for name, ts in times.items()}


def report(title, medians, base, targets=(), unit_scale=1e3, unit="ms", per=None, key=None):
    RESULTS.append({"key": key, "title": title, "base": base, "per": per or 1,
                    "seconds": dict(medians), "targets": dict(targets)})
    print(f"\n## {title}")
    print(f"{'engine':<22}{'median ' + unit:>14}{'÷ ' + base:>14}   target")
    for name, seconds in medians.items():
        value = seconds * unit_scale / (per or 1)
        ratio = seconds / medians[base] if base in medians else float("nan")
        target = dict(targets).get(name, "")
        print(f"{name:<22}{value:>14.3f}{ratio:>14.2f}   {target}")
    for name in BEFORE:
        if name in medians and "ad" in medians:
            print(f"ad / {name} = {medians['ad'] / medians[name]:.3f} (below 1: faster now)")


def mlp_workload(dtype, rounds):
    weights, biases, x, y = peers.mlp_data(dtype)
    cases = {"numpy by hand": peers.numpy_mlp(weights, biases, x, y)}
    cases["ad"] = peers.ad_mlp(weights, biases, x, y)
    for name, module in BEFORE.items():
        cases[name] = peers.ad_mlp(weights, biases, x, y, engine=module)
    for name, make in (("torch", peers.torch_mlp), ("autograd", peers.autograd_mlp),
                       ("sixteen-line", peers.sixteen_mlp)):
        case = make(weights, biases, x, y)
        if case is None:
            print(f"skipped: {name} (not installed)")
        else:
            cases[name] = case
    peers.check_same_gradients(cases)
    return measure(cases, rounds, repeat=10)


def scalar_chain(rounds):
    cases = {"ad": peers.ad_scalar_chain}
    for name, module in BEFORE.items():
        cases[name] = lambda module=module: peers.ad_scalar_chain(engine=module)
    for name, case in (("torch", peers.torch_scalar_chain), ("autograd", peers.autograd_scalar_chain),
                       ("sixteen-line", peers.sixteen_scalar_chain),
                       ("micrograd", peers.micrograd_scalar_chain)):
        if case() is None:
            print(f"skipped: {name} (not installed)")
        else:
            cases[name] = case
    return measure(cases, rounds)


def long_chain(rounds):
    cases = {"ad": peers.ad_long_chain}
    for name, module in BEFORE.items():
        cases[name] = lambda module=module: peers.ad_long_chain(engine=module)
    for name, case in (("torch", peers.torch_long_chain), ("autograd", peers.autograd_long_chain)):
        if case(10) is None:
            print(f"skipped: {name} (not installed)")
        else:
            cases[name] = case
    try:
        peers.sixteen_long_chain()
        print("sixteen-line: 100,000-op chain worked")
    except RecursionError:
        print("sixteen-line: RecursionError on the 100,000-op chain (as expected)")
    return measure(cases, rounds)


def import_time(rounds):
    """A fresh process importing each, with bytecode cached as after ``pip install``
    (the warm-up run writes it; PYTHONDONTWRITEBYTECODE would compile every time)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache

        def run(code):
            return lambda: subprocess.run([sys.executable, "-c", code], check=True, env=env)
        return measure({"import numpy": run("import numpy"), "import ad": run("import ad")}, rounds)


def memory_growth(steps=1000):
    """Traced memory after `steps` training steps minus after 10, with gc disabled."""
    step = peers.ad_training_step()
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        for i in range(steps):
            step()
            if i == 9:
                early, _ = tracemalloc.get_traced_memory()
        late, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    return late - early, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="few rounds, to check that it runs")
    parser.add_argument("--before", metavar="REF", help="also run the package as it was at git revision REF")
    parser.add_argument("--output", metavar="FILE",
                        help=f"where to write the results (default {RESULTS_FILE.name})")
    args = parser.parse_args()
    if args.before:
        BEFORE[f"ad ({args.before})"] = peers.vendored("ad_before", args.before)
    rounds = 3 if args.quick else args.rounds
    print(f"ad {ad.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}, "
          f"{rounds} rounds, single-threaded")

    for dtype, targets in ((np.float64, (("ad", "<= 1.15x numpy, <= 0.8x torch"),)),
                           (np.float32, (("ad", "<= 1.15x numpy, <= 0.9x torch"),))):
        medians = mlp_workload(dtype, rounds)
        report(f"MLP 784-256-128-10, tanh, MSE, batch 64, forward+backward, {np.dtype(dtype).name}",
               medians, "numpy by hand", targets, key=f"mlp_{np.dtype(dtype).name}")
        if "torch" in medians:
            print(f"ad / torch = {medians['ad'] / medians['torch']:.2f}")

    for dtype in (np.float64, np.float32):
        cases = {"ad": peers.ad_digits_epoch(dtype)}
        torch_case = peers.torch_digits_epoch(dtype)
        if torch_case is None:
            print("skipped: torch (not installed)")
        else:
            cases["torch"] = torch_case
            tolerance = 1e-4 if dtype == np.float32 else 1e-9
            for a, b in zip(cases["ad"](), torch_case()):     # the same training, step for step
                np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)
        medians = measure(cases, max(3, rounds // 3))
        report(f"digits-sized training: one epoch (23 steps), 64-128-10 ReLU, cross-entropy, Adam, "
               f"batch 64, {np.dtype(dtype).name}", medians, "torch" if "torch" in medians else "ad",
               (("ad", "<= 0.75x torch"),), key=f"digits_{np.dtype(dtype).name}")

    medians = scalar_chain(rounds)
    report("1,000 steps of y = tanh(y*1.0001 + 0.1), 0-d float64, forward+backward, per op",
           medians, "torch" if "torch" in medians else "ad", (("ad", "<= 0.40x torch"),),
           unit_scale=1e6, unit="us/op", per=3000, key="scalar_chain")

    medians = long_chain(max(3, rounds // 3))
    report("100,000-op chain y = y*1.00001, build+backward", medians,
           "torch" if "torch" in medians else "ad", (("ad", "<= 1.0x torch"),), key="long_chain")

    medians = measure({"ad": peers.ad_doubling}, rounds, repeat=10)
    calls = peers.count_calls_doubling(20)
    report("20 steps of y = y*y + y, backward only", medians, "ad", (("ad", "<= 1 ms"),), key="doubling")
    print(f"ad backward calls: {calls} (one per node); the sixteen-line engine would make "
          f"{peers.sixteen_doubling_calls(20):,}")

    medians = import_time(max(5, rounds))
    report("python -c 'import ...' (whole process)", medians, "import numpy",
           (("import ad", "<= numpy + 20 ms"),), key="import")
    print(f"import ad - import numpy = {(medians['import ad'] - medians['import numpy']) * 1e3:.1f} ms")

    growth, peak = memory_growth(200 if args.quick else 1000)
    print("\n## 1,000 MLP training steps with the garbage collector disabled")
    print(f"traced memory growth after step 10: {growth / 1e6:.3f} MB (target < 10 MB); "
          f"peak {peak / 1e6:.1f} MB")

    output = args.output or (None if args.quick else RESULTS_FILE)
    if output:
        write_results(output, rounds, {"growth_bytes": growth, "peak_bytes": peak})
        print(f"\nwrote {output}")


def versions():
    found = {"python": platform.python_version(), "numpy": np.__version__, "ad": ad.__version__}
    for name in ("torch", "autograd", "micrograd"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def processor():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_results(path, rounds, memory):
    """Everything measured, for the book's chapter 12 (and anyone who asks "where, when?")."""
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": {"processor": processor(), "cores": os.cpu_count(),
                    "system": f"{platform.system()} {platform.release()}"},
        "versions": versions(),
        "rounds": rounds,
        "threads": 1,
        "workloads": RESULTS,
        "memory": memory,
    }
    Path(path).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
