"""Grokking of modular addition by a one-layer transformer.

``run`` (full-batch AdamW training of one seed), ``measures`` (circuit measures, curvatures, events),
``claims`` (rows G1-G2), ``figures`` (figure 7).
"""
