"""A training monitor anyone attaches to their own PyTorch loop: causal measures of the attention circuits
and an alarm when a phase change is starting (docs/science.md, section "Online monitor (claim C7)").

Example::

    monitor = TrainingMonitor(on_alarm=lambda step, m: print("phase change starting at", step))
    for step in range(steps):
        ...                                   # forward, backward, optimizer step
        monitor.observe_loss(step, loss.item())
        if step % 10 == 0:
            rows = monitor.update(model, step)   # long-table rows (empty if this step is not kept)

:meth:`TrainingMonitor.update` takes a model with ``head_weights()`` (this package's models), any module
whose ``state_dict`` has per-head attention weights under a key template (TransformerLens:
``blocks.{layer}.attn.{W}``), or a state dict (the layouts of ``icl-measures --circuits``). Memory is
bounded: the thin SVDs of the last ``lag + 1`` kept checkpoints, at most ``window`` statistic values per circuit and
``curvature_window`` losses. :func:`replay_monitor` runs the same monitor over a stored checkpoint stack.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import torch

from icl_dynamics.measures.alarm import RULE_KEYS, AlarmRule, monitor_settings
from icl_dynamics.measures.causal import (
    CIRCUITS,
    causal_rows,
    circuit_svds,
    difference_norm_squared,
    new_bin,
    pooled_relative_speed,
    rows_frame,
    scalar_rows,
    trailing_measures,
)
from icl_dynamics.measures.checkpoints import CheckpointError, circuit_keys
from icl_dynamics.measures.curvature import autocorrelation_curvature
from icl_dynamics.measures.layouts import circuit_weights, detect_layout
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.measures.svd import as_float64
from icl_dynamics.models import HEAD_WEIGHTS

TRANSFORMER_LENS_KEYS = "blocks.{layer}.attn.{W}"


def head_weights(source, key_template: str | None = None, layout: str = "auto", n_heads: int | None = None,
                 ) -> tuple[dict[str, np.ndarray], bool]:
    """Per-head weights of a model or state dict in the ``transformer-lens`` layout, float64, and whether
    they have a layer axis.

    ``source`` is one of: a module with ``head_weights()``; a mapping with the keys W_Q, W_K, W_V, W_O
    holding per-head stacks (layers, heads, ...) or (heads, ...) in the ``transformer-lens`` layout (what
    ``head_weights()`` returns, one checkpoint of a stored stack); any other module (its ``state_dict()``)
    or state dict, read through ``key_template`` (``{layer}`` and ``{W}`` as in ``icl-measures --circuits``;
    None: ``blocks.{layer}.attn.{W}``, else bare ``{W}`` keys) in ``layout`` (``auto`` reads it per layer).

    Returns
    -------
    weights : dict
        ``W_Q, W_K, W_V`` ([layers,] heads, d_model, d_head), ``W_O`` ([layers,] heads, d_head, d_model).
    layered : bool
    """
    if callable(getattr(source, "head_weights", None)):
        source = source.head_weights()
    elif isinstance(source, torch.nn.Module):
        source = source.state_dict()
    if not isinstance(source, Mapping):
        raise TypeError(f"cannot read attention weights from a {type(source).__name__}: pass a model or a state dict")
    if key_template is None and all(name in source for name in HEAD_WEIGHTS) and np.ndim(source["W_O"]) == 4:
        weights = {name: as_float64(source[name]) for name in HEAD_WEIGHTS}
        return circuit_weights(weights, "transformer-lens", batch_dims=1), True
    if key_template is None:
        key_template = TRANSFORMER_LENS_KEYS if any(k.startswith("blocks.") for k in source) else "{W}"
    modules = circuit_keys(source, key_template, "state dict")
    per_layer = []
    for keys in modules.values():
        found = layout
        try:
            if found == "auto":
                found = detect_layout(tuple(np.shape(source[keys["W_Q"]])), tuple(np.shape(source[keys["W_O"]])))
            per_layer.append(circuit_weights({name: source[key] for name, key in keys.items()}, found, n_heads))
        except ValueError as error:
            raise CheckpointError(f"keys {', '.join(keys.values())}: {error}") from None
    if None in modules:
        return per_layer[0], False
    shapes = {name: {w[name].shape for w in per_layer} for name in HEAD_WEIGHTS}
    if any(len(s) > 1 for s in shapes.values()):
        raise CheckpointError(f"layers of template '{key_template}' differ in shape: {shapes}")
    return {name: np.stack([w[name] for w in per_layer]) for name in HEAD_WEIGHTS}, True


class TrainingMonitor:
    """Causal measures and the alarm rule, one checkpoint at a time.

    Parameters
    ----------
    min_spacing_decades, lag, window_decades, window, burn_in, threshold_mads, consecutive, mad_floor
        The monitor's settings; each one not given is ``settings["monitor"]``'s.
    settings : dict, optional
        A ``measures:`` config section (its ``marginal_rank_k``, ``marginal_rank_k_variant``, ``pinv_rtol``,
        ``curvature_window`` and ``monitor``); None: the schema's defaults (for ``monitor``
        :data:`icl_dynamics.measures.alarm.MONITOR_DEFAULTS`).
    key_template, layout, n_heads
        How a state dict is read (:func:`head_weights`).
    on_alarm : callable, optional
        Called as ``on_alarm(step, monitor)`` when the alarm fires.

    Attributes
    ----------
    alarm : bool
        Whether the alarm fired at the last :meth:`update`.
    alarms : list
        Steps at which it has fired.
    kept : bool
        Whether the last :meth:`update` kept its checkpoint.
    buffer : deque
        ``(step, {"QK": SVD, "OV": SVD})`` of the last ``lag + 1`` kept checkpoints.
    """

    def __init__(self, *, settings: dict | None = None, key_template: str | None = None, layout: str = "auto",
                 n_heads: int | None = None, on_alarm: Callable | None = None, **monitor):
        self.settings = measures_section(settings)
        self.config = monitor_settings(**{**self.settings["monitor"], **monitor})
        self.key_template, self.layout, self.n_heads = key_template, layout, n_heads
        self.on_alarm = on_alarm
        self.rule = AlarmRule(**{key: self.config[key] for key in RULE_KEYS})
        self.buffer: deque = deque(maxlen=self.config["lag"] + 1)
        self.losses: deque = deque(maxlen=self.settings["curvature_window"])
        self.last_step = None
        self.last_loss_step = None
        self.alarm, self.kept, self.alarms = False, False, []

    def wants(self, step) -> bool:
        """Whether :meth:`update` would keep a checkpoint at ``step`` (call it to skip reading the weights)."""
        if self.last_step is not None and not step > self.last_step:
            raise ValueError(f"step {step} does not follow the last step, {self.last_step}")
        last = self.buffer[-1][0] if self.buffer else None
        return step > 0 and (last is None or new_bin(step, last, self.config["min_spacing_decades"]))

    def update(self, source, step) -> pd.DataFrame:
        """Measure the circuits of ``source`` (a model or state dict, see :func:`head_weights`) at ``step``.

        Returns
        -------
        DataFrame
            The new long-table rows (``step, series, layer, head, measure, value``): per circuit (QK, OV) the
            causal measures per head, per layer and over every head, ``monitor_statistic`` and
            ``monitor_score`` (``layer``, ``head`` -1); series ``monitor``: ``alarm_score`` and ``alarm``
            (1.0 when the alarm fires). Empty if the checkpoint is not kept (step <= 0 or too close to the
            last kept one); the first ``lag`` kept checkpoints only fill the buffer.
        """
        self.alarm = False
        self.kept = self.wants(step)
        self.last_step = step
        if not self.kept:
            return rows_frame([])
        weights, layered = head_weights(source, self.key_template, self.layout, self.n_heads)
        svds = circuit_svds(weights)
        head_axes = weights["W_Q"].ndim - 2   # (layers, heads) or (heads,)
        lag = self.config["lag"]
        reference = self.buffer[-lag] if len(self.buffer) >= lag else None
        self.buffer.append((step, svds))
        if reference is None:
            self.rule.update(None)
            return rows_frame([])
        ref_step, ref_svds = reference
        span = math.log10(step) - math.log10(ref_step)
        parts, statistic = [], {}
        for circuit in CIRCUITS:
            ref, now = ref_svds[circuit], svds[circuit]
            change = difference_norm_squared(ref, now)
            measures = trailing_measures(ref, now, span, self.settings, change)
            parts += causal_rows([step], circuit, {k: v[None] for k, v in measures.items()}, layered)
            statistic[circuit] = float(pooled_relative_speed(ref, now, span, head_axes, change))
        z, score, fired = self.rule.update(statistic, math.log10(step))
        for circuit in CIRCUITS:
            parts += scalar_rows([step], circuit, {"monitor_statistic": [statistic[circuit]],
                                                   "monitor_score": [z[circuit]]})
        parts += scalar_rows([step], "monitor", {"alarm_score": [score], "alarm": [float(fired)]})
        if fired:
            self.alarm = True
            self.alarms.append(step)
            if self.on_alarm is not None:
                self.on_alarm(step, self)
        return rows_frame(parts)

    def observe_loss(self, step, loss: float) -> pd.DataFrame:
        """Record one loss sample; returns its ``train_loss`` ``trailing_curvature`` row once
        ``curvature_window`` samples are in
        (:func:`icl_dynamics.measures.causal.trailing_autocorrelation_curvature`)."""
        if self.last_loss_step is not None and not step > self.last_loss_step:
            raise ValueError(f"loss step {step} does not follow the last one, {self.last_loss_step}")
        self.last_loss_step = step
        self.losses.append(float(loss))
        if len(self.losses) < self.losses.maxlen:
            return rows_frame([])
        curvature = autocorrelation_curvature(np.fromiter(self.losses, dtype=float), self.losses.maxlen)[-1]
        return rows_frame(scalar_rows([step], "train_loss", {"trailing_curvature": [curvature]}))


def replay_monitor(checkpoints: Mapping, losses: tuple | None = None, **monitor,
                   ) -> tuple[pd.DataFrame, TrainingMonitor]:
    """Run a :class:`TrainingMonitor` over a stored checkpoint stack, as it would have run during training.

    Parameters
    ----------
    checkpoints : mapping
        ``step`` (T,) and ``W_Q, W_K, W_V`` (T, [layers,] heads, d_model, d_head), ``W_O`` (T, [layers,]
        heads, d_head, d_model) (e.g. ``results/<experiment>/.../checkpoints.npz``).
    losses : (steps, values), optional
        A loss curve; each sample is observed before the checkpoint of the same step.
    **monitor
        Arguments of :class:`TrainingMonitor`.

    Returns
    -------
    table : DataFrame
        Every row the monitor returned, in order.
    monitor : TrainingMonitor
        Its final state (``alarms``).
    """
    m = TrainingMonitor(**monitor)
    steps = np.asarray(checkpoints["step"]).tolist()
    loss_steps, loss_values = ([], []) if losses is None else (np.asarray(losses[0]).tolist(), np.asarray(losses[1]))
    rows, j = [], 0
    for t, step in enumerate(steps):
        while j < len(loss_steps) and loss_steps[j] <= step:
            rows.append(m.observe_loss(loss_steps[j], loss_values[j]))
            j += 1
        rows.append(m.update({name: np.asarray(checkpoints[name][t]) for name in HEAD_WEIGHTS}, step))
    while j < len(loss_steps):
        rows.append(m.observe_loss(loss_steps[j], loss_values[j]))
        j += 1
    rows = [r for r in rows if len(r)]
    table = pd.concat(rows, ignore_index=True) if rows else rows_frame([])
    return table, m
