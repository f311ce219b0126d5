"""Time the code fingerprints the Snakefile computes when it is parsed (every Snakemake call: a dry run, a
run, and each job that a cluster executor starts parses it again), parsing each source text once per process
(:func:`icl_dynamics.workflow_io.fingerprints._parsed`) against parsing it again for every fingerprint.

The workload is the Snakefile's: the fingerprint of every workflow script and of every training module, each
twice (once in a rule's params, once in the check at the end of the Snakefile). The baseline clears the
parse cache before each fingerprint, so each one parses its own import closure; the code before the cache
parsed every file of the closure twice per fingerprint, so the baseline flatters it. Both give the same
hashes (checked).

    python benchmarks/bench_fingerprints.py [--repeats 3]

Measured on the 2-core development machine beside two training jobs (both cores busy): parsed once 0.64 s,
parsed per fingerprint 5.11 s (8.0x), the same 42 distinct hashes for 84 fingerprints.
"""

import argparse
import time
from pathlib import Path

from icl_dynamics.workflow_io import fingerprints
from icl_dynamics.workflow_io.fingerprints import script_code, training_code

REPO = Path(__file__).resolve().parents[1]
TRAINING_MODULES = ["attention.run", "attention.batched", "grokking.run", "grokking.batched",
                    "linear.simulate", "text.run"]


def workload(clear_each: bool) -> list[str]:
    """Every fingerprint the Snakefile asks for, twice; with ``clear_each`` the parse cache is emptied first."""
    hashes = []
    jobs = [(training_code, f"icl_dynamics.experiments.{m}") for m in TRAINING_MODULES]
    jobs += [(script_code, path) for path in sorted((REPO / "workflow" / "scripts").glob("*.py"))]
    for _ in range(2):
        for function, argument in jobs:
            if clear_each:
                fingerprints._parsed.cache_clear()
            hashes.append(function(argument))
    return hashes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timings per variant; the best is printed")
    args = parser.parse_args()
    results = {}
    for name, clear_each in (("parsed once per process", False), ("parsed per fingerprint (baseline)", True)):
        times = []
        for _ in range(args.repeats):
            fingerprints._parsed.cache_clear()
            start = time.perf_counter()
            hashes = workload(clear_each)
            times.append(time.perf_counter() - start)
        results[name] = (min(times), hashes)
        print(f"{name:36s} {min(times):6.2f} s for {len(hashes)} fingerprints")
    (fast, fast_hashes), (slow, slow_hashes) = results.values()
    assert fast_hashes == slow_hashes, "the cache changed a fingerprint"
    print(f"speed-up {slow / fast:.1f}x, the same {len(set(fast_hashes))} distinct hashes")


if __name__ == "__main__":
    main()
