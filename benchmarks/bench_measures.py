"""Time all spectral measures of per-head QK and OV circuits, factored vs dense SVD, and compare them.

Model: 4 layers, 8 heads, d_model 512, d_head 64, random weights moving towards their final values over
the checkpoints. For every checkpoint, layer, head and circuit (QK = W_Q W_K^T, OV = W_V W_O) it computes
the effective rank, marginalised effective ranks, stable rank, subspace distance to the final circuit and
the mode strengths (icl_dynamics.measures.spectral_measures), once from the factored thin SVD (QR of the
factors + SVD of a d_head x d_head core) and once from the dense d_model x d_model SVD.

Disagreement per measure: max |factored - dense| / max |dense| over all checkpoints, layers and heads
(norm-wise relative; a subspace distance of ~1e-15 at the final checkpoint has no meaningful
element-wise relative error). Exits non-zero unless factored is >= 5x faster and agrees to 1e-6.

    python benchmarks/bench_measures.py [--checkpoints 10]

Measured on the 2-core development machine (shared with other jobs), 10 checkpoints: factored 1.60 s,
dense 52.5 s (32.8x faster), worst disagreement 5.3e-14; the whole script ran in 56 s.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread: a fair comparison on a shared machine

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from icl_dynamics.measures import measures_section, ov_circuit_svd, qk_circuit_svd, spectral_measures, thin_svd  # noqa: E402

LAYERS, HEADS, D_MODEL, D_HEAD = 4, 8, 512, 64


def weights(rng, scale):
    """W_Q, W_K, W_V of shape (layers, heads, d_model, d_head) and W_O of shape (layers, heads, d_head, d_model)."""
    shape = (LAYERS, HEADS, D_MODEL, D_HEAD)
    W_Q, W_K, W_V = (scale * rng.standard_normal(shape) / np.sqrt(D_MODEL) for _ in range(3))
    W_O = scale * rng.standard_normal((LAYERS, HEADS, D_HEAD, D_MODEL)) / np.sqrt(D_HEAD)
    return W_Q, W_K, W_V, W_O


def checkpoint(final, t, n_checkpoints):
    """Weights at checkpoint t: the final weights plus noise that shrinks to zero at the last one."""
    noise = weights(np.random.default_rng(1000 + t), 1.0 - t / (n_checkpoints - 1))
    return tuple(f + n for f, n in zip(final, noise))


def factored_circuits(W_Q, W_K, W_V, W_O):
    return {"QK": qk_circuit_svd(W_Q, W_K), "OV": ov_circuit_svd(W_V, W_O)}


def dense_circuits(W_Q, W_K, W_V, W_O):
    return {"QK": thin_svd(W_Q @ np.swapaxes(W_K, -1, -2)), "OV": thin_svd(W_V @ W_O)}


def all_measures(circuits, final, n_checkpoints, settings):
    """{(circuit, measure): array of shape (checkpoints, layers, heads)} and the seconds it took."""
    start = time.perf_counter()
    final_svds = circuits(*final)
    per_checkpoint = []
    for t in range(n_checkpoints):
        svds = circuits(*checkpoint(final, t, n_checkpoints))
        per_checkpoint.append(
            {(name, m): v for name in svds for m, v in spectral_measures(svds[name], final_svds[name], settings).items()}
        )
    elapsed = time.perf_counter() - start
    return {key: np.stack([row[key] for row in per_checkpoint]) for key in per_checkpoint[0]}, elapsed


def weight_time(final, n_checkpoints):
    """Seconds spent drawing the checkpoints' random weights (the same in both paths; subtracted)."""
    start = time.perf_counter()
    for t in range(n_checkpoints):
        checkpoint(final, t, n_checkpoints)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=10, help="number of checkpoints (default 10)")
    n_checkpoints = parser.parse_args().checkpoints
    settings = measures_section()
    final = weights(np.random.default_rng(0), 1.0)

    drawing = weight_time(final, n_checkpoints)
    factored, t_factored = all_measures(factored_circuits, final, n_checkpoints, settings)
    dense, t_dense = all_measures(dense_circuits, final, n_checkpoints, settings)
    t_factored, t_dense = t_factored - drawing, t_dense - drawing

    print(f"{LAYERS} layers x {HEADS} heads, d_model {D_MODEL}, d_head {D_HEAD}, {n_checkpoints} checkpoints, "
          f"QK and OV circuits, 1 thread (weight drawing, {drawing:.2f} s, excluded)")
    print(f"{'':34s}{'factored':>12s}{'dense':>12s}")
    print(f"{'time for all measures (s)':34s}{t_factored:12.3f}{t_dense:12.3f}")
    print(f"{'time per checkpoint (ms)':34s}{1e3 * t_factored / n_checkpoints:12.1f}{1e3 * t_dense / n_checkpoints:12.1f}")
    speedup = t_dense / t_factored
    print(f"speed-up: {speedup:.1f}x")
    print(f"{'max relative disagreement':34s}{'':>12s}")
    worst = 0.0
    for key in dense:
        disagreement = np.max(np.abs(factored[key] - dense[key])) / np.max(np.abs(dense[key]))
        worst = max(worst, disagreement)
        print(f"  {key[0]} {key[1]:30s}{disagreement:12.2e}")
    print(f"worst: {worst:.2e}")
    ok = speedup >= 5 and worst <= 1e-6
    print("PASS: factored >= 5x faster and agrees to 1e-6" if ok else "FAIL: need >= 5x faster and <= 1e-6 disagreement")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
