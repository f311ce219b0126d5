"""Time the code fingerprints the Snakefile computes when it is parsed (every Snakemake call: a dry run, a
run, and each job that a cluster executor starts parses it again), parsing each source text once per process
(:func:`icl_dynamics.workflow_io.fingerprints._parsed`) against parsing it again for every fingerprint.

The workload is the Snakefile's: every ``rule_code("<script>")`` and ``train_code(<rule>, "<module>")`` call in
workflow/rules/*.smk (31 and 6; one script is named by two rules), each twice (once in a rule's params, once
in the check at the end of the Snakefile), 74 fingerprints of 36 distinct codes. The baseline clears the
parse cache before each fingerprint, so each one parses its own import closure; the code before the cache
parsed every file of the closure twice per fingerprint, so the baseline flatters it. Both give the same
hashes (checked).

    python benchmarks/bench_fingerprints.py [--repeats 3]

Measured on the 2-core development machine, two runs (one beside two training jobs, one idle): parsed once 0.77-0.95 s,
parsed per fingerprint 4.52-5.09 s (5.4-5.8x), the same hashes (36 distinct of 74).
"""

import argparse
import re
import time
from pathlib import Path

from icl_dynamics.workflow_io import fingerprints
from icl_dynamics.workflow_io.fingerprints import script_code, training_code

REPO = Path(__file__).resolve().parents[1]
RULE_CODE = re.compile(r'rule_code\("(\w+)"\)')
TRAIN_CODE = re.compile(r'train_code\("\w+", "([\w.]+)"\)')


def snakefile_calls() -> list:
    """(function, argument) of every fingerprint the rule files ask for, in their order."""
    calls = []
    for rules in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = rules.read_text()
        calls += [(training_code, module) for module in TRAIN_CODE.findall(text)]
        calls += [(script_code, REPO / "workflow" / "scripts" / f"{name}.py") for name in RULE_CODE.findall(text)]
    return calls


def workload(calls: list, clear_each: bool) -> list[str]:
    """Every fingerprint of ``calls``, twice; with ``clear_each`` the parse cache is emptied before each."""
    hashes = []
    for _ in range(2):
        for function, argument in calls:
            if clear_each:
                fingerprints._parsed.cache_clear()
            hashes.append(function(argument))
    return hashes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timings per variant; the best is printed")
    args = parser.parse_args()
    calls, results = snakefile_calls(), {}
    for name, clear_each in (("parsed once per process", False), ("parsed per fingerprint (baseline)", True)):
        times = []
        for _ in range(args.repeats):
            fingerprints._parsed.cache_clear()
            start = time.perf_counter()
            hashes = workload(calls, clear_each)
            times.append(time.perf_counter() - start)
        results[name] = (min(times), hashes)
        print(f"{name:36s} {min(times):6.2f} s for {len(hashes)} fingerprints")
    (fast, fast_hashes), (slow, slow_hashes) = results.values()
    assert fast_hashes == slow_hashes, "the cache changed a fingerprint"
    print(f"speed-up {slow / fast:.1f}x, the same {len(set(fast_hashes))} distinct hashes")


if __name__ == "__main__":
    main()
