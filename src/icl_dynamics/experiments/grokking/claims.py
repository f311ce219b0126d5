"""Scorecard rows G1 and G2 of the grokking experiment, from the per-seed events table.

G1 (grokking occurs): in every seed the model memorises (train accuracy reaches ``memorisation_acc``)
and generalises (test accuracy reaches ``grokking_acc``) at least ``grokking_ratio`` times later.
Value: the smallest ratio grokking epoch / memorisation epoch over seeds (NaN if a seed never groks).

G2 (the OV subspace distance falls late, with the test-error drop; claim C6 of docs/science.md): per seed the
offset ``(t_stab - t_grok) / (t_grok - t_mem)`` of the OV stabilisation epoch (middle of the detected
fall of the head-mean OV subspace distance) from the grokking epoch, in units of the memorisation-to-
grokking gap; 0 means together with the test-error drop, -1 at memorisation. Value: the largest
``|offset|`` over seeds; reproduced if it is at most ``stabilisation_offset``.

Verdicts: reproduced when every seed passes. Partial for G1 when not every seed reaches
``grokking_ratio`` but at least one generalises after it memorises (ratio > 1); partial for G2 when not
every seed is within the tolerance but one is, or every seed's OV distance falls after memorisation
(offset > -1). Otherwise not_reproduced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icl_dynamics.scorecard import ClaimRow, fmt, verdict


def claim_ids(section: dict) -> list[str]:
    """The scorecard rows the grokking experiment writes (C7-grokking: :mod:`.monitor`)."""
    return ["G1", "G2", "C7-grokking"]


def _event(events: pd.DataFrame, name: str) -> pd.Series:
    """Step (epoch) of an event per seed (index: seed)."""
    return events[events.event == name].set_index("seed")["middle"].astype(float)


def grokking_rows(events: pd.DataFrame, thresholds: dict) -> list[ClaimRow]:
    """The G1 and G2 rows from the events table of ``experiments.grokking.measures.grokking_events``."""
    mem, grok = _event(events, "memorisation"), _event(events, "grokking")
    stab = events[events.event == "OV_stabilisation"].set_index("seed")
    qk = _event(events, "QK_stabilisation")
    test_fall = _event(events, "test_loss_fall")
    seeds = list(mem.index)

    ratio = grok / mem
    g1_pass = ratio >= thresholds["grokking_ratio"]
    grokked = np.isfinite(ratio) & (ratio > 1)
    g1_verdict = verdict(g1_pass.all(), grokked.any())
    g1_note = "; ".join(f"seed {s}: memorisation {fmt(mem[s], '.0f')}, grokking {fmt(grok[s], '.0f')}, "
                        f"test-loss fall (detected middle) {fmt(test_fall[s], '.0f')}" for s in seeds)
    g1 = ClaimRow("G1", "grokking", "min over seeds of grokking epoch / memorisation epoch",
                  float(ratio.min()) if np.isfinite(ratio).all() else float("nan"), thresholds["grokking_ratio"],
                  g1_verdict, f"{g1_note}; epochs where train acc first >= memorisation_acc and test acc "
                              f"first >= grokking_acc")

    offset = (stab["middle"] - grok) / (grok - mem)
    g2_pass = offset.abs() <= thresholds["stabilisation_offset"]
    g2_verdict = verdict(g2_pass.all(), g2_pass.any() or (offset > -1).all())
    g2_note = "; ".join(
        f"seed {s}: OV distance falls {fmt(stab.loc[s, 'start'], '.0f')}-{fmt(stab.loc[s, 'end'], '.0f')} "
        f"(middle {fmt(stab.loc[s, 'middle'], '.0f')}), grokking {fmt(grok[s], '.0f')}, offset {offset[s]:+.2f} gaps; "
        f"QK middle {fmt(qk[s], '.0f')}" for s in seeds)
    g2 = ClaimRow("G2", "grokking", "max over seeds of |OV stabilisation - grokking| / (grokking - memorisation)",
                  float(offset.abs().max()) if np.isfinite(offset).all() else float("nan"),
                  thresholds["stabilisation_offset"], g2_verdict,
                  f"{g2_note}; stabilisation = middle of the detected fall of the head-mean OV subspace "
                  f"distance to the final weights; negative offset = before grokking")
    return [g1, g2]
