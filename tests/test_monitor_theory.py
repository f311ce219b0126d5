"""The monitor's alarm rule on the linear model's closed-form escapes (docs/science.md, "Online monitor
(claim C7)", predictions P1 and P2; P3 is reported there, not asserted)."""

from __future__ import annotations

import numpy as np

from icl_dynamics.theory.escape_alarms import alarms_after_last_escape, diagonal_circuit_stack, escape_alarms


def test_diagonal_stack_has_the_strengths_as_circuit_singular_values():
    from icl_dynamics.measures.causal import circuit_svds

    a = np.array([[0.5, 0.1, 0.01], [0.6, 0.2, 0.02]])
    svds = circuit_svds(diagonal_circuit_stack([1, 2], a))
    for circuit in ("QK", "OV"):
        np.testing.assert_allclose(svds[circuit].s[:, 0, 0], a, rtol=1e-12)


def test_well_separated_escapes_are_caught_early_and_the_first_is_not():
    """S = diag(4, 1, 0.25), N = 30, a0 = 1e-4: half-rises 1.25 decades apart. P1: mode 1 (escaping from the
    start at a constant relative growth rate) raises no alarm; P2: modes 2 and 3 raise exactly one alarm
    each, 0.05-1 decade before their half-rise; nothing fires after the last escape."""
    modes, table = escape_alarms((4.0, 1.0, 0.25), 30, 1e-4, 0.01, 1e5)
    assert modes["n_alarms"].tolist() == [0, 1, 1]
    assert modes["early"].tolist() == [False, True, True]
    assert alarms_after_last_escape(modes, table) == []


def test_the_statistic_peaks_just_after_each_half_rise():
    """The relative speed peaks at the half-rise plus about half the lag (0.04 decade): checked for the modes
    that escape after another (the first one's peak comes from its own plateau growth) on the default
    spectrum diag(2, 1, 0.5, 0.25)."""
    modes, table = escape_alarms((2.0, 1.0, 0.5, 0.25), 30, 1e-4, 0.02, 1e5)
    stat = table[(table["series"] == "QK") & (table["measure"] == "monitor_statistic")]
    steps, values = stat["step"].to_numpy(float), stat["value"].to_numpy()
    half = modes["half_rise_step"].to_numpy()
    for k in range(1, len(half)):
        between = (steps > np.sqrt(half[k - 1] * half[k])) & (steps < np.sqrt(half[k] * half[k + 1])
                                                                if k + 1 < len(half) else steps < half[k] * 10)
        peak = steps[between][np.argmax(values[between])]
        assert 0.0 <= np.log10(peak / half[k]) <= 0.1, (k, peak, half[k])
