"""The validity map (experiments.validity_map), rows L7-L8 and figure S3: cells equal to a setting give that
setting's numbers, the per-cell cache, and the rule of thumb against known answers."""

import copy

import numpy as np
import pandas as pd
import pytest

from icl_dynamics.config import ConfigError, load_config, validate
from icl_dynamics.experiments.linear.compare import compare
from icl_dynamics.experiments.linear.settings import computation_key, resolve_setting
from icl_dynamics.experiments.linear.simulate import simulate
from icl_dynamics.experiments.linear.theory import theory
from icl_dynamics.experiments.validity_map.checks import check_config
from icl_dynamics.experiments.validity_map.claims import finite_n_row, validity_row
from icl_dynamics.experiments.validity_map.figures import figS3, threshold_edges
from icl_dynamics.experiments.validity_map.grid import anisotropy, cell_name, grid_cells, operating_points
from icl_dynamics.experiments.validity_map.rule_of_thumb import fit_threshold, held_out, rule_of_thumb, rule_statistic
from icl_dynamics.experiments.validity_map.run import run_cells
from icl_dynamics.experiments.validity_map.table import cell_measures, map_table, merge_parts, wide_cells
from icl_dynamics.plotting import save_figure

from conftest import REPO


@pytest.fixture()
def small_linear():
    """The paper preset's linear section, shrunk: a 2 x 2 grid whose cell N30_ratio0.5_lr0.02 is setting
    aniso_N30 (400 steps: half a slowest timescale, s_min = 0.25, at lr 0.02)."""
    lin = copy.deepcopy(load_config(REPO / "config/config.yaml")["linear"])
    lin["seeds"] = [0, 1]
    lin["defaults"].update(batch=16, eval_batch=32, n_log=8, n_lin=8, steps=400)
    lin["validity_map"] = {"N": [10, 30], "ratio": [0.5, 1.0], "lr": [0.02], "duration": 0.5}
    return validate(lin, "linear", prefix="linear")


def test_grid_cells_are_settings(small_linear):
    cells = grid_cells(small_linear)
    assert [c["name"] for c in cells] == ["N10_ratio0.5_lr0.02", "N30_ratio0.5_lr0.02", "N10_ratio1_lr0.02",
                                          "N30_ratio1_lr0.02"]
    assert [c["steps"] for c in cells] == [400, 400, 6, 6]  # 0.5 / (0.02 s_min^2), s_min = 0.25 and 2
    assert computation_key(cells[1]) == computation_key(resolve_setting(small_linear, "aniso_N30"))
    assert computation_key(cells[0]) != computation_key(resolve_setting(small_linear, "aniso_N10"))  # lr, steps
    assert operating_points(small_linear) == {"N30_ratio0.5_lr0.02": "aniso_N30"}
    assert cell_name(300, 0.75, 0.04) == "N300_ratio0.75_lr0.04"


def test_paper_grid_holds_aniso_N10_and_enough_cells():
    for files, points in ((["config/config.yaml"], {"N10_ratio0.5_lr0.01": "aniso_N10"}),
                          (["config/config.yaml", "config/quick.yaml"],
                           {"N30_ratio0.5_lr0.02": "aniso_N30", "N300_ratio0.5_lr0.02": "aniso_N300"})):
        lin = validate(load_config(*(REPO / f for f in files))["linear"], "linear")
        assert operating_points(lin) == points
    assert len(grid_cells(lin)) == 9
    assert len(grid_cells(validate(load_config(REPO / "config/config.yaml")["linear"], "linear"))) >= 60


def test_cells_at_settings_reproduce_the_setting_and_are_cached(small_linear, tmp_path):
    """The batched map's cell N30_ratio0.5_lr0.02 gives aniso_N30's comparison exactly; a second run reads
    every cell's SGD back (and gives the same comparisons), a wider grid simulates only its new cells, and
    other simulation code reuses nothing."""
    seeds, thr = small_linear["seeds"], small_linear["thresholds"]
    messages = []
    comps = run_cells(grid_cells(small_linear), seeds, thr, tmp_path, sim_code="c", log=messages.append)
    setting = resolve_setting(small_linear, "aniso_N30")
    expected = compare(setting, simulate(setting, seeds), theory(setting, seeds), thr)
    got = dict(comps[1], setting="aniso_N30")
    np.testing.assert_equal(got, expected)
    assert messages[0] == "0 of 4 cells' SGD cached; simulating 4"

    messages.clear()
    again = run_cells(grid_cells(small_linear), seeds, thr, tmp_path, sim_code="c", log=messages.append)
    np.testing.assert_equal(again, comps)
    assert messages == ["4 of 4 cells' SGD cached; simulating 0"]
    wider = copy.deepcopy(small_linear)
    wider["validity_map"]["N"] = [10, 30, 100]
    messages.clear()
    run_cells(grid_cells(wider), seeds, thr, tmp_path, sim_code="c", log=messages.append)
    assert messages[0] == "4 of 6 cells' SGD cached; simulating 2"
    assert "N100_ratio0.5_lr0.02, N100_ratio1_lr0.02" in messages[1]
    messages.clear()
    run_cells(grid_cells(small_linear), seeds, thr, tmp_path, sim_code="changed", log=messages.append)
    assert messages[0] == "0 of 4 cells' SGD cached; simulating 4"  # other simulation code: nothing reused


def test_grid_with_N_below_d_is_refused(small_linear):
    small_linear["validity_map"]["N"] = [3, 10]
    with pytest.raises(ConfigError, match=r"'linear.validity_map.N' holds N = 3 < d = 4"):
        check_config(small_linear)


def test_cell_measures_report_fixed_points_only_when_converged():
    comp = {"exact_at_end": [1.0, 2.0], "fp_exact": [1.0, 2.01], "r2_closed": [0.9, 0.5], "r2_exact": [0.99, 0.999],
            "fp_rel_closed": [0.1, 0.3], "fp_rel_exact": [0.01, 0.02], "half_rel_closed": [0.2, None],
            "half_rel_exact": [0.05, 0.01], "r2_finite_n": None, "fp_rel_finite_n": None, "half_rel_finite_n": None}
    out = cell_measures(comp, converged_rel=0.01)
    assert out["converged"]
    assert all(np.isnan(v) for v in out["finite_n"].values())  # a theory not computed for the cell: NaN
    assert out["closed"] == {"worst_r2": 0.5, "fixed_point_rel": 0.3,
                             "half_rise_rel": pytest.approx(np.nan, nan_ok=True)}
    assert out["exact"] == {"worst_r2": 0.99, "fixed_point_rel": 0.02, "half_rise_rel": 0.05}
    out = cell_measures(comp, converged_rel=0.001)  # 2.0 is 0.5% from 2.01
    assert not out["converged"] and np.isnan(out["closed"]["fixed_point_rel"]) and out["closed"]["worst_r2"] == 0.5


def test_anisotropy_and_rule_statistic():
    assert anisotropy([2.0, 1.0, 0.5, 0.25]) == 11.0  # (1.75 + 0.75 + 0.25) / 0.25
    assert anisotropy([1.0, 1.0]) == 0.0
    np.testing.assert_array_equal(rule_statistic([30, 300, 10], [11.0, 11.0, 0.0]), [30 / 11, 300 / 11, np.inf])


def test_fit_threshold_known_answers():
    assert fit_threshold([1, 2, 4, 8], [False, False, True, True]) == pytest.approx(np.sqrt(8))
    assert fit_threshold([1, 2, 4, 8], [True] * 4) == 0.5               # below everything
    assert fit_threshold([1, 2, 4, 8], [False] * 4) == 16.0              # above everything
    # no threshold separates x = 2 passing from x = 4 failing: sqrt(2) and sqrt(32) both misclassify one
    # cell (sqrt(8) two); of the tied candidates the lower middle one is taken
    assert fit_threshold([1, 2, 4, 8], [False, True, False, True]) == pytest.approx(np.sqrt(2))
    assert fit_threshold([np.inf, np.inf], [True, True]) == 0.0


def _synthetic_table(c_true=3.0, flip=()):
    """A 4 N x 3 ratio x 2 lr map whose closed form passes exactly where N >= c_true x anisotropy, except
    the cells in ``flip``."""
    rows = []
    for lr in (0.01, 0.02):
        for ratio in (0.5, 0.8, 1.0):
            s = 2 * ratio ** np.arange(4)
            for N in (5, 10, 30, 100):
                name = cell_name(N, ratio, lr)
                ok = (N >= c_true * anisotropy(s)) != (name in flip)
                comp = {"s": s.tolist(), "exact_at_end": [1.0] * 4, "fp_exact": [1.0] * 4,
                        "r2_closed": [0.999 if ok else 0.9] * 4, "r2_exact": [0.999] * 4, "fp_rel_closed": [0.0] * 4,
                        "fp_rel_exact": [0.0] * 4, "half_rel_closed": [0.0] * 4, "half_rel_exact": [0.0] * 4,
                        "r2_finite_n": [0.999] * 4, "fp_rel_finite_n": [0.0] * 4, "half_rel_finite_n": [0.0] * 4}
                rows.append(({"name": name, "steps": 10, "grid": {"N": N, "ratio": ratio, "lr": lr}}, comp))
    return map_table([r[0] for r in rows], [r[1] for r in rows], converged_rel=0.01)


def test_merge_parts_restores_the_grid_order():
    """The workflow's per-N tables, in any order, merge to the table of the whole grid."""
    table = _synthetic_table()
    cells = list(table["cell"].drop_duplicates())
    parts = [table[table["N"] == N] for N in sorted(table["N"].unique(), reverse=True)]
    pd.testing.assert_frame_equal(merge_parts(parts, cells), table)
    with pytest.raises(ValueError, match="missing: N5_ratio0.5_lr0.01"):
        merge_parts(parts[:-1], cells)
    with pytest.raises(ValueError, match="in more than one part: N100_ratio0.5_lr0.01"):
        merge_parts(parts + parts[:1], cells)


def test_rule_of_thumb_recovers_a_known_boundary():
    table = _synthetic_table()
    cells = wide_cells(table)
    assert len(cells) == 24 and set(cells.columns) >= {"worst_r2_closed", "fixed_point_rel_exact", "anisotropy"}
    rule = rule_of_thumb(table, 0.99, "checkerboard")
    # anisotropies 11 (ratio 0.5), 1.77 (0.8), 0 (1.0): the fitted c separates every cell
    x = rule_statistic(cells["N"], cells["anisotropy"])
    passed = cells["worst_r2_closed"] >= 0.99
    assert x[~passed.to_numpy()].max() < rule["c"] <= x[passed.to_numpy() & np.isfinite(x)].min()
    assert rule["held_out"]["accuracy"] == 1.0 and rule["fit"]["accuracy"] == 1.0
    assert rule["fit"]["n"] == rule["held_out"]["n"] == 12
    assert rule["closed_pass"] == int(passed.sum()) and rule["exact_pass"] == 24
    flipped = rule_of_thumb(_synthetic_table(flip=("N100_ratio0.5_lr0.01",)), 0.99, "checkerboard")
    # index sum of N100 (3), ratio 0.5 (0), lr 0.01 (0) is odd: held out, so c is unchanged and one is wrong
    assert flipped["c"] == rule["c"]
    assert flipped["held_out"]["correct"] == 11 and flipped["misclassified"][0]["cell"] == "N100_ratio0.5_lr0.01"


def test_held_out_splits():
    cells = pd.DataFrame({"N": [5, 10, 5, 10], "ratio": [0.5, 0.5, 1.0, 1.0], "lr": [0.02] * 4})
    np.testing.assert_array_equal(held_out(cells, "checkerboard"), [False, True, True, False])
    np.testing.assert_array_equal(held_out(cells, "alternate_N"), [False, True, False, True])
    with pytest.raises(ValueError, match="unknown holdout"):
        held_out(cells, "random")


@pytest.mark.parametrize("flip,verdict", [((), "reproduced"),
                                          (("N100_ratio0.5_lr0.01", "N10_ratio1_lr0.01"), "partial")])
def test_validity_row(flip, verdict):
    rule = rule_of_thumb(_synthetic_table(flip=flip), 0.99, "checkerboard")
    row = validity_row(rule, {"validity_accuracy": 0.9})
    assert (row.claim, row.experiment, row.verdict) == ("L7", "linear_transformer_validity", verdict)
    assert row.value == rule["held_out"]["accuracy"]
    assert f"N >= {rule['c']:.3g} x sum_a (s_a - s_min) / s_min" in row.note


def test_threshold_edges_lie_between_passing_and_failing_cells():
    """Regression: figure S3 drew an interpolated contour through cell centres, so the drawn boundary did
    not separate the cells that pass from those that fail. Cells <= 0.01 pass; NaN has no edges."""
    values = np.array([[0.5, 0.001, 0.002],
                       [0.5, 0.5, np.nan]])
    edges = sorted(threshold_edges(values, 0.01))
    assert edges == sorted([((1, 1), (0, 1)),    # between (0, 0) failing and (0, 1) passing
                            ((1, 2), (1, 1)),    # between (0, 1) passing and (1, 1) failing
                            ])                   # (0, 2) passes beside NaN (1, 2): no edge
    assert threshold_edges(np.full((2, 2), 0.001), 0.01) == []


def test_figure_S3_renders(tmp_path):
    table = _synthetic_table(flip=("N10_ratio0.8_lr0.02",))
    rule = rule_of_thumb(table, 0.99, "checkerboard")
    thr = {"r2": 0.99, "fixed_point_rel": 0.02, "escape_rel": 0.15}
    grid = {"scale": 2.0, "duration": 20.0, "converged_rel": 0.01}
    fig = figS3(table, rule, {"N30_ratio0.5_lr0.02": "aniso_N30"}, thr, grid)
    # the preset setting's cell is named in the axes' terms (s_min/s_max = r^3), not by its cell name
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert "preset setting: aniso_N30 (N = 30, $s_{min}/s_{max}$ = 0.125, $\\eta$ = 0.02)" in texts
    assert not any("ratio" in text for text in texts)
    save_figure(fig, tmp_path / "s3.pdf", tmp_path / "s3.png")
    assert (tmp_path / "s3.png").stat().st_size > 10_000


def test_finite_n_row_counts_the_exact_flows_cells_it_captures():
    """L8 on a planted map of four cells: the exact flow passes in three (a, b, c), the finite-N form in a, b
    and d, Eq. 13 in a only: the finite-N form captures 2 of 3 (partial: more than Eq. 13's 1 of 3)."""
    r2 = {"closed": [0.999, 0.95, 0.90, 0.90], "exact": [0.999, 0.995, 0.992, 0.98],
          "finite_n": [0.999, 0.993, 0.97, 0.991]}
    rows = [{"cell": cell, "N": 10 * (i + 1), "ratio": 0.5, "s_ratio": 0.125, "anisotropy": 11.0, "lr": 0.02,
             "steps": 100, "converged": True, "theory": th, "measure": measure,
             "value": r2[th][i] if measure == "worst_r2" else 0.01 * (i + 1)}
            for i, cell in enumerate("abcd") for th in r2 for measure in ("worst_r2", "fixed_point_rel", "half_rise_rel")]
    row = finite_n_row(pd.DataFrame(rows), {"r2": 0.99, "finite_n_capture": 0.9})
    assert row.claim == "L8" and row.value == pytest.approx(2 / 3) and row.verdict == "partial"
    assert "Gained over Eq. 13: b, d. Lost against Eq. 13: none. Passes where the exact flow does not: d." in row.note
    assert "Eq. 13 1/4" in row.note and "the exact flow 3/4" in row.note and "the finite-N form 3/4" in row.note
    full = finite_n_row(pd.DataFrame(rows), {"r2": 0.99, "finite_n_capture": 0.6})
    assert full.verdict == "reproduced"
