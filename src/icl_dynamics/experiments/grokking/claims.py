"""Scorecard rows G1 and G2 of the grokking experiment, from the per-seed events table.

G1 (grokking occurs): in every seed the model memorises (train accuracy reaches ``memorisation_acc``)
and generalises (test accuracy reaches ``grokking_acc``) at least ``grokking_ratio`` times later.
Value: the smallest ratio grokking epoch / memorisation epoch over seeds (NaN if a seed never groks).

G2 (the OV subspace distance falls late, with the test-error drop; PAPER.md claim C6): per seed the
offset ``(t_stab - t_grok) / (t_grok - t_mem)`` of the OV stabilisation epoch (middle of the detected
fall of the head-mean OV subspace distance) from the grokking epoch, in units of the memorisation-to-
grokking gap; 0 means together with the test-error drop, -1 at memorisation. Value: the largest
``|offset|`` over seeds; reproduced if it is at most ``stabilisation_offset``.

Verdicts: reproduced when every seed passes; partial when some seeds pass (G1) or, for G2, when every
seed stabilises after memorisation but not all within the tolerance; not_reproduced otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.scorecard import ClaimRow


def _event(events: pd.DataFrame, name: str) -> pd.Series:
    """Epoch of an event per seed (index: seed)."""
    return events[events.event == name].set_index("seed")["epoch"].astype(float)


def _fmt(x: float) -> str:
    return "none" if not np.isfinite(x) else f"{x:.0f}"


def grokking_rows(events: pd.DataFrame, thresholds: dict) -> list[ClaimRow]:
    """The G1 and G2 rows from the events table of ``measures.grokking_runs.grokking_events``."""
    mem, grok = _event(events, "memorisation"), _event(events, "grokking")
    stab = events[events.event == "OV_stabilisation"].set_index("seed")
    qk = _event(events, "QK_stabilisation")
    test_fall = _event(events, "test_loss_fall")
    seeds = list(mem.index)

    ratio = grok / mem
    g1_pass = ratio >= thresholds["grokking_ratio"]
    grokked = np.isfinite(ratio) & (ratio > 1)
    if g1_pass.all():
        g1_verdict = "reproduced"
    elif grokked.any():
        g1_verdict = "partial"
    else:
        g1_verdict = "not_reproduced"
    g1_note = "; ".join(f"seed {s}: memorisation {_fmt(mem[s])}, grokking {_fmt(grok[s])}, "
                        f"test-loss fall (detected middle) {_fmt(test_fall[s])}" for s in seeds)
    g1 = ClaimRow("G1", "grokking", "min over seeds of grokking epoch / memorisation epoch",
                  float(ratio.min()) if np.isfinite(ratio).all() else float("nan"), thresholds["grokking_ratio"],
                  g1_verdict, f"{g1_note}; epochs where train acc first >= memorisation_acc and test acc "
                              f"first >= grokking_acc")

    offset = (stab["epoch"] - grok) / (grok - mem)
    g2_pass = offset.abs() <= thresholds["stabilisation_offset"]
    if g2_pass.all():
        g2_verdict = "reproduced"
    elif g2_pass.any() or (offset > -1).all():
        g2_verdict = "partial"
    else:
        g2_verdict = "not_reproduced"
    g2_note = "; ".join(
        f"seed {s}: OV distance falls {_fmt(stab.loc[s, 'start'])}-{_fmt(stab.loc[s, 'end'])} "
        f"(middle {_fmt(stab.loc[s, 'epoch'])}), grokking {_fmt(grok[s])}, offset {offset[s]:+.2f} gaps; "
        f"QK middle {_fmt(qk[s])}" for s in seeds)
    g2 = ClaimRow("G2", "grokking", "max over seeds of |OV stabilisation - grokking| / (grokking - memorisation)",
                  float(offset.abs().max()) if np.isfinite(offset).all() else float("nan"),
                  thresholds["stabilisation_offset"], g2_verdict,
                  f"{g2_note}; stabilisation = middle of the detected fall of the head-mean OV subspace "
                  f"distance to the final weights; negative offset = before grokking")
    return [g1, g2]
