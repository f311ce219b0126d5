"""Attention-only transformers of 1-4 layers on an induction task: sudden in-context learning.

``run`` (task, model and training of one depth and seed), ``measures`` (per-head circuit measures, the
emergence window), ``claims`` (rows N1-N3), ``figures`` (figures 4-6).
"""
