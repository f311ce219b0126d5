"""Known-answer tests of icl_dynamics.measures (docs/science.md section 5)."""

import inspect

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
import pytest
import scipy.linalg
import torch
import yaml

from conftest import REPO
from icl_dynamics.config import ConfigError
from icl_dynamics.measures import (
    SVD,
    Transition,
    autocorrelation_curvature,
    count_cliffs,
    detect_transition,
    effective_rank,
    effective_rank_from_singular_values,
    marginal_effective_rank,
    marginal_effective_rank_from_singular_values,
    measures_section,
    projected_mode_strengths,
    projected_mode_strengths_from_svd,
    ov_circuit_singular_values,
    ov_circuit_svd,
    principal_angles,
    qk_circuit_singular_values,
    qk_circuit_svd,
    singular_values,
    spectral_measures,
    split_heads,
    stable_rank,
    subspace_distance,
    subspace_distance_from_svd,
    thin_svd,
    transition_kwargs,
)

torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_orthogonal(rng, n):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return Q


# ranks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3, 7])
def test_effective_rank_of_identity_is_n(n):
    assert effective_rank(np.eye(n)) == pytest.approx(n, rel=1e-12)


def test_effective_rank_of_rank_one_matrix_is_one(rng):
    M = np.outer(rng.standard_normal(5), rng.standard_normal(4))
    assert effective_rank(M) == pytest.approx(1.0, abs=1e-6)


def test_effective_rank_of_known_spectrum():
    # p = (1/2, 1/4, 1/4): entropy = 1.5 log 2, erank = 2^1.5
    assert effective_rank(np.diag([2.0, 1.0, 1.0])) == pytest.approx(2**1.5, rel=1e-12)


def test_effective_rank_invariant_to_scale_and_orthogonal_maps(rng):
    M = rng.standard_normal((6, 6)) @ np.diag([5, 3, 1, 0.5, 0.1, 0.0])
    Q1, Q2 = random_orthogonal(rng, 6), random_orthogonal(rng, 6)
    reference = effective_rank(M)
    assert 1 < reference < 5
    assert effective_rank(7.5 * M) == pytest.approx(reference, rel=1e-10)
    assert effective_rank(Q1 @ M @ Q2) == pytest.approx(reference, rel=1e-10)


def test_effective_rank_of_zero_matrix_is_nan():
    assert np.isnan(effective_rank(np.zeros((3, 3))))


def test_marginal_effective_rank_removes_leading_values():
    M = np.diag([10.0, 1.0, 1.0, 1.0])
    assert marginal_effective_rank(M, 1) == pytest.approx(3.0, rel=1e-12)
    assert marginal_effective_rank(M, 2) == pytest.approx(2.0, rel=1e-12)
    assert marginal_effective_rank(M, 0) == pytest.approx(effective_rank(M), rel=1e-12)
    with pytest.raises(ValueError, match="marginal rank k = 4"):
        marginal_effective_rank(M, 4)


def test_stable_rank_known_values(rng):
    assert stable_rank(np.eye(5)) == pytest.approx(5.0)
    assert stable_rank(np.diag([2.0, 1.0])) == pytest.approx(1.25)
    assert stable_rank(np.outer(rng.standard_normal(4), rng.standard_normal(4))) == pytest.approx(1.0)


def test_rank_measures_accept_torch_tensors():
    assert effective_rank(torch.eye(4, dtype=torch.float32)) == pytest.approx(4.0, rel=1e-6)


def test_rank_measures_of_stack_equal_loop(rng):
    stack = rng.standard_normal((3, 2, 5, 4))
    for measure in (effective_rank, stable_rank, lambda M: marginal_effective_rank(M, 1)):
        batched = measure(stack)
        assert batched.shape == (3, 2)
        looped = np.array([[measure(stack[i, j]) for j in range(2)] for i in range(3)])
        np.testing.assert_allclose(batched, looped, rtol=1e-12)


# subspace distance, principal angles, mode strengths ----------------------------------------------------


def test_subspace_distance_to_itself_is_zero(rng):
    M = rng.standard_normal((4, 6))
    assert subspace_distance(M, M, rtol=1e-10) == pytest.approx(0.0, abs=1e-12)


def test_subspace_distance_zero_when_row_space_contains_final_rows(rng):
    M_t = rng.standard_normal((3, 8))  # row space of dimension 3
    M_final = rng.standard_normal((5, 3)) @ M_t  # every row a combination of M_t's rows
    assert subspace_distance(M_t, M_final, rtol=1e-10) == pytest.approx(0.0, abs=1e-12)


def test_subspace_distance_one_for_orthogonal_row_spaces(rng):
    Q = random_orthogonal(rng, 6)
    M_t = rng.standard_normal((4, 3)) @ Q[:3]
    M_final = rng.standard_normal((4, 3)) @ Q[3:]
    assert subspace_distance(M_t, M_final, rtol=1e-10) == pytest.approx(1.0, abs=1e-12)


def test_subspace_distance_matches_pseudo_inverse_formula(rng):
    U, V = random_orthogonal(rng, 5), random_orthogonal(rng, 7)[:, :5]
    M_t = U @ np.diag([3.0, 2.0, 1.0, 1e-9, 1e-9]) @ V.T  # two directions far below the others
    M_final = rng.standard_normal((5, 7))
    for rtol in (1e-12, 1e-6):
        pinv = np.linalg.pinv(M_t, rcond=rtol)
        expected = np.linalg.norm(M_final @ (np.eye(7) - pinv @ M_t)) / np.linalg.norm(M_final)
        # pinv(M_t) M_t loses about eps / 1e-9 in accuracy when the tiny directions are kept
        assert subspace_distance(M_t, M_final, rtol=rtol) == pytest.approx(expected, rel=1e-6)
    # the tolerance decides whether the two tiny directions belong to the row space
    assert subspace_distance(M_t, M_final, rtol=1e-6) > subspace_distance(M_t, M_final, rtol=1e-12) + 0.1


def test_subspace_distance_of_stack_equals_loop_and_broadcasts(rng):
    series = rng.standard_normal((4, 3, 5, 6))  # checkpoints x heads
    final = series[-1]
    batched = subspace_distance(series, final, rtol=1e-8)
    looped = np.array([[subspace_distance(series[t, h], final[h], 1e-8) for h in range(3)] for t in range(4)])
    np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(batched[-1], 0.0, atol=1e-12)


def test_principal_angles_of_orthogonal_subspaces_are_right_angles(rng):
    Q = random_orthogonal(rng, 6)
    A = np.diag([3.0, 2.0]) @ Q[:2]
    B = np.diag([5.0, 1.0]) @ Q[2:4]
    np.testing.assert_allclose(principal_angles(A, B, 2), np.pi / 2, atol=1e-12)
    np.testing.assert_allclose(principal_angles(A, A, 2), 0.0, atol=1e-7)


def test_principal_angles_match_scipy(rng):
    A, B = rng.standard_normal((6, 9)), rng.standard_normal((6, 9))
    k = 3
    V_A = np.linalg.svd(A)[2][:k].T
    V_B = np.linalg.svd(B)[2][:k].T
    expected = np.sort(scipy.linalg.subspace_angles(V_A, V_B))
    np.testing.assert_allclose(principal_angles(A, B, k), expected, rtol=1e-10, atol=1e-12)


def test_principal_angles_known_angle():
    theta = 0.3
    A = np.array([[1.0, 0.0, 0.0]])
    B = np.array([[np.cos(theta), np.sin(theta), 0.0]])
    assert principal_angles(A, B, 1)[0] == pytest.approx(theta, rel=1e-12)


def test_mode_strengths_of_final_matrix_are_its_singular_values(rng):
    M = rng.standard_normal((5, 4))
    np.testing.assert_allclose(projected_mode_strengths(M, M), singular_values(M), rtol=1e-12)
    svd = thin_svd(M)
    np.testing.assert_allclose(projected_mode_strengths_from_svd(svd, svd), svd.s, rtol=1e-12)


def test_mode_strengths_of_scaled_modes(rng):
    Q1, Q2 = random_orthogonal(rng, 4), random_orthogonal(rng, 4)
    final = Q1 @ np.diag([4.0, 3.0, 2.0, 1.0]) @ Q2.T
    earlier = Q1 @ np.diag([1.0, 0.5, 0.0, 0.0]) @ Q2.T  # same modes, partly learned
    np.testing.assert_allclose(projected_mode_strengths(earlier, final), [1.0, 0.5, 0.0, 0.0], atol=1e-12)


def test_mode_strengths_series_equals_loop_and_svd_path(rng):
    series = rng.standard_normal((5, 2, 4, 6))
    final = series[-1]
    batched = projected_mode_strengths(series, final)
    looped = np.array([[projected_mode_strengths(series[t, h], final[h]) for h in range(2)] for t in range(5)])
    np.testing.assert_allclose(batched, looped, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(projected_mode_strengths_from_svd(thin_svd(series), thin_svd(final)), batched, rtol=1e-10, atol=1e-12)


# factored circuits ------------------------------------------------------------------------------------


def test_factored_circuit_spectra_equal_dense_svd(rng):
    layers, heads, d_model, d_head = 2, 3, 12, 4
    W_Q, W_K, W_V = (rng.standard_normal((layers, heads, d_model, d_head)) for _ in range(3))
    W_O = rng.standard_normal((layers, heads, d_head, d_model))
    dense_qk = singular_values(W_Q @ np.swapaxes(W_K, -1, -2))
    dense_ov = singular_values(W_V @ W_O)
    np.testing.assert_allclose(qk_circuit_singular_values(W_Q, W_K), dense_qk[..., :d_head], rtol=1e-10)
    np.testing.assert_allclose(ov_circuit_singular_values(W_V, W_O), dense_ov[..., :d_head], rtol=1e-10)
    np.testing.assert_allclose(dense_qk[..., d_head:], 0.0, atol=1e-10)  # rank is at most d_head


def test_factored_circuit_svd_reconstructs_the_circuit(rng):
    W_V = rng.standard_normal((2, 10, 3))
    W_O = rng.standard_normal((2, 3, 10))
    U, s, V = ov_circuit_svd(W_V, W_O)
    np.testing.assert_allclose(U @ (s[..., None] * np.swapaxes(V, -1, -2)), W_V @ W_O, atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(U, -1, -2) @ U, np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12)


def test_factored_measures_equal_dense_measures(rng):
    W_Q = rng.standard_normal((6, 2, 16, 4))  # checkpoints x heads
    W_K = W_Q + 0.5 * rng.standard_normal((6, 2, 16, 4))
    dense = W_Q @ np.swapaxes(W_K, -1, -2)
    factored_series, factored_final = qk_circuit_svd(W_Q, W_K), qk_circuit_svd(W_Q[-1], W_K[-1])
    np.testing.assert_allclose(effective_rank_from_singular_values(factored_series.s), effective_rank(dense), rtol=1e-8)
    np.testing.assert_allclose(
        subspace_distance_from_svd(factored_series, factored_final, 1e-8),
        subspace_distance(dense, dense[-1], 1e-8),
        atol=1e-10,
    )
    np.testing.assert_allclose(
        projected_mode_strengths_from_svd(factored_series, factored_final), projected_mode_strengths(dense, dense[-1])[..., :4], atol=1e-10
    )


def test_split_heads_columns_and_rows():
    W = np.arange(24.0).reshape(4, 6)
    by_columns = split_heads(W, 3, "columns")
    assert by_columns.shape == (3, 4, 2)
    np.testing.assert_array_equal(by_columns[1], W[:, 2:4])
    by_rows = split_heads(W, 2, "rows")
    assert by_rows.shape == (2, 2, 6)
    np.testing.assert_array_equal(by_rows[1], W[2:4])
    with pytest.raises(ValueError, match=r"shape \(4, 6\): 6 columns do not split into 4 heads"):
        split_heads(W, 4, "columns")


# curvature --------------------------------------------------------------------------------------------


def test_curvature_of_constant_series_is_zero():
    np.testing.assert_allclose(autocorrelation_curvature(np.full(20, 3.0), window=5), 0.0, atol=1e-12)


def test_curvature_of_alternating_series():
    # A(0) = 1, A(1) = -1: C = 2 (A(1) - A(0)) = -4
    series = np.array([1.0, -1.0] * 10)
    curvature = autocorrelation_curvature(series, window=6)
    assert curvature.shape == (15,)
    np.testing.assert_allclose(curvature, -4.0, rtol=1e-12)


def test_curvature_of_sine_series():
    a, omega = 2.0, 0.2
    series = a * np.sin(omega * np.arange(4000))
    curvature = autocorrelation_curvature(series, window=4000)
    assert curvature[0] == pytest.approx(a**2 * (np.cos(omega) - 1), rel=1e-2)


def test_curvature_is_minus_mean_squared_increment_on_a_rising_curve():
    """On a rising (non-stationary) curve the estimate stays -mean((L_(s+1) - L_s)^2) <= 0."""
    series = np.linspace(1.0, 40.0, 30) ** 1.5
    curvature = autocorrelation_curvature(series, window=8)
    expected = -sliding_window_view(np.diff(series) ** 2, 7).mean(axis=-1)
    np.testing.assert_allclose(curvature, expected, rtol=1e-9)
    assert np.all(curvature < 0)


def test_curvature_of_stack_equals_loop(rng):
    stack = rng.standard_normal((3, 30))
    batched = autocorrelation_curvature(stack, window=7)
    np.testing.assert_allclose(batched, [autocorrelation_curvature(row, window=7) for row in stack], rtol=1e-12)


def test_curvature_rejects_bad_window():
    with pytest.raises(ValueError, match="window 11"):
        autocorrelation_curvature(np.ones(10), window=11)


# transition detection ---------------------------------------------------------------------------------


def logistic_in_log_steps(steps, centre, width):
    return 1.0 / (1.0 + np.exp(-(np.log10(steps) - np.log10(centre)) / width))


@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_detect_transition_finds_planted_logistic_step(rng, direction):
    steps = np.unique(np.round(np.logspace(0, 5, 300)))
    width = 0.1  # decades; 10%..90% of a logistic spans 2 ln 9 width
    values = 3.0 + direction * 2.0 * logistic_in_log_steps(steps, 1000.0, width)
    values += 0.01 * rng.standard_normal(steps.size)
    found = detect_transition(steps, values, **transition_kwargs({"transition": {"smoothing": 5}}))
    assert isinstance(found, Transition)
    half_width = width * np.log(9.0)
    assert np.log10(found.middle) == pytest.approx(3.0, abs=0.03)
    assert np.log10(found.start) == pytest.approx(3.0 - half_width, abs=0.05)
    assert np.log10(found.end) == pytest.approx(3.0 + half_width, abs=0.05)


def test_detect_transition_without_step_zero_and_noise_free():
    steps = np.arange(0, 10001, 50)  # includes step 0, which has no log position
    found = detect_transition(steps, logistic_in_log_steps(np.maximum(steps, 1), 300.0, 0.2), **transition_kwargs())
    assert np.log10(found.middle) == pytest.approx(np.log10(300.0), abs=0.02)


@pytest.mark.parametrize("seed", range(10))
def test_detect_transition_finds_none_in_noise(seed):
    noise_rng = np.random.default_rng(seed)
    steps = np.unique(np.round(np.logspace(0, 5, 200)))
    values = noise_rng.standard_normal(steps.size)
    assert detect_transition(steps, values, **transition_kwargs()) is None
    assert detect_transition(steps, values, **transition_kwargs({"transition": {"smoothing": 9}})) is None


def test_detect_transition_rejects_bump_and_slow_drift():
    steps = np.logspace(0, 5, 200)
    bump = np.exp(-((np.log10(steps) - 2.5) ** 2) / 0.1)  # rises and returns: no net change
    assert detect_transition(steps, bump, **transition_kwargs()) is None
    overshoot = bump + 0.3 * logistic_in_log_steps(steps, 10**2.5, 0.1)  # net change 0.3 of a range of ~1.15
    assert detect_transition(steps, overshoot, **transition_kwargs()) is None
    assert detect_transition(steps, overshoot, **transition_kwargs({"transition": {"min_relative_change": 0.2}}))
    drift = np.log10(steps)  # a straight line over 5 decades: 10%..90% spans 4 decades > 2
    assert detect_transition(steps, drift, **transition_kwargs()) is None
    assert detect_transition(steps, drift, **transition_kwargs({"transition": {"max_width_decades": 5}})) is not None


# config helpers ---------------------------------------------------------------------------------------


def test_config_helpers_fill_defaults_and_validate():
    assert measures_section()["curvature_window"] == 10
    assert transition_kwargs({"transition": {"low_fraction": 0.2}})["low_fraction"] == 0.2
    assert transition_kwargs()["high_fraction"] == 0.9
    with pytest.raises(ConfigError, match="measures.transition.high_fraction"):
        transition_kwargs({"transition": {"high_fraction": 1.5}})
    with pytest.raises(ConfigError, match="measures.curvature_windw"):
        measures_section({"curvature_windw": 5})


def _schema_defaults(name: str, *path: str) -> dict:
    """The ``default`` of every property under ``path`` of ``<name>.schema.yaml``, read from the file here."""
    schema = yaml.safe_load((REPO / "src/icl_dynamics/schemas" / f"{name}.schema.yaml").read_text())
    for key in path:
        schema = schema["properties"][key]
    return {key: sub["default"] for key, sub in schema["properties"].items() if "default" in sub}


def _keyword_defaults(function) -> dict:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_keyword_defaults_are_the_schemas():
    measures = _schema_defaults("measures")
    assert _keyword_defaults(detect_transition) == _schema_defaults("measures", "transition")
    for function in (subspace_distance, subspace_distance_from_svd):
        assert _keyword_defaults(function) == {"rtol": measures["pinv_rtol"]}
    for function in (marginal_effective_rank, marginal_effective_rank_from_singular_values):
        assert _keyword_defaults(function) == {"k": measures["marginal_rank_k"]}
    assert _keyword_defaults(autocorrelation_curvature) == {"window": measures["curvature_window"]}
    linear = _schema_defaults("linear", "thresholds")
    assert _keyword_defaults(count_cliffs) == {
        name: linear[f"cliff_{name}"] for name in ("prominence", "min_drop", "smoothing", "n_grid")}


def test_measures_work_without_settings(rng):
    A, B = rng.standard_normal((2, 6, 5))
    assert subspace_distance(A, B) == subspace_distance(A, B, 1e-6)
    steps = np.arange(1, 200)
    values = 1.0 / (1.0 + (steps / 30.0) ** -6) + 0.001 * rng.standard_normal(steps.size)
    assert detect_transition(steps, values) == detect_transition(steps, values, **transition_kwargs())
    assert detect_transition(steps, values) is not None
    svd = thin_svd(rng.standard_normal((3, 6, 5)))
    default = spectral_measures(svd, SVD(svd.U[-1], svd.s[-1], svd.V[-1]))
    configured = spectral_measures(svd, SVD(svd.U[-1], svd.s[-1], svd.V[-1]), measures_section())
    assert default.keys() == configured.keys()
    assert all(np.array_equal(default[k], configured[k], equal_nan=True) for k in default)
