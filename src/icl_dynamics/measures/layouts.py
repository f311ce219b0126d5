"""Per-head attention weights stored in other layouts, brought to the layout of :mod:`.circuits`.

Shapes of one layer's weights in each layout (``h`` heads of width ``e``, residual width ``d``):

=====================  ===========================  =====================  ==========================
layout                 W_Q, W_K, W_V                W_O                    used by
=====================  ===========================  =====================  ==========================
``transformer-lens``   (h, d, e)                    (h, e, d)              TransformerLens, our models
``progress-measures``  (h, e, d)                    (d, h * e)             Nanda et al. (2023)'s code
``fused``              (d, h * e)                   (h * e, d)             one matrix per layer
=====================  ===========================  =====================  ==========================

``transformer-lens`` is the layout of :mod:`.circuits`: one head's matrices act on row vectors of the
residual stream, ``x W_Q[h]``. The ``progress-measures`` code applies ``W_Q[h]`` to column vectors, so its
per-head matrices are the transposes, and its ``W_O`` concatenates the heads (head-major) along the columns;
``fused`` matrices concatenate the heads along their d_head side and need the number of heads.
Leading batch dimensions (checkpoints) are allowed.

The layout of a checkpoint can be read from its shapes (:func:`detect_layout`): a 3-D ``W_O`` is
``transformer-lens``, a 2-D ``W_O`` beside a 3-D ``W_Q`` is ``progress-measures`` and two 2-D ones are
``fused``. The per-head W_Q of the two 3-D layouts differ only in the order of d_model and d_head, which no
rule can tell apart when they are equal; the number of dimensions of ``W_O`` can.
"""

from __future__ import annotations

import numpy as np

from icl_dynamics.measures.circuits import split_heads
from icl_dynamics.measures.svd import as_float64
from icl_dynamics.models import HEAD_WEIGHTS

LAYOUTS = {
    "transformer-lens": (("h", "d", "e"), ("h", "e", "d")),
    "progress-measures": (("h", "e", "d"), ("d", "h*e")),
    "fused": (("d", "h*e"), ("h*e", "d")),
}
"""Per layout, the axes of W_Q, W_K, W_V and those of W_O (h heads of width e, residual width d)."""


def _axes(layout: str) -> str:
    qkv, o = (f"({', '.join(axes)})" for axes in LAYOUTS[layout])
    return f"W_Q, W_K, W_V {qkv}, W_O {o}"


def detect_layout(W_Q_shape: tuple, W_O_shape: tuple) -> str:
    """The layout of one layer's weights from the shapes of its ``W_Q`` and ``W_O`` (one checkpoint).

    Raises
    ------
    ValueError
        If the number of dimensions fits no layout.
    """
    if len(W_O_shape) == 3:
        return "transformer-lens"
    if len(W_O_shape) == 2 and len(W_Q_shape) in (2, 3):
        return "progress-measures" if len(W_Q_shape) == 3 else "fused"
    raise ValueError(f"W_Q of shape {tuple(W_Q_shape)} and W_O of shape {tuple(W_O_shape)} fit no layout "
                     f"({', '.join(LAYOUTS)})")


def head_stack(W, layout: str) -> np.ndarray:
    """A per-head stack (..., heads, m, n) of any weight, as ``transformer-lens`` stores it.

    ``transformer-lens``: as stored; ``progress-measures``: every head's matrix transposed (that code's
    per-head tensors, W_Q, W_K and W_V, are (heads, d_head, d_model)).
    """
    W = as_float64(W)
    if layout == "transformer-lens":
        return W
    if layout == "progress-measures":
        return np.swapaxes(W, -1, -2)
    raise ValueError(f"a per-head stack of shape {W.shape} is not in the {layout!r} layout")


def circuit_weights(weights: dict, layout: str, n_heads: int | None = None, batch_dims: int = 0,
                    ) -> dict[str, np.ndarray]:
    """One layer's ``W_Q, W_K, W_V, W_O`` in the ``transformer-lens`` layout.

    Parameters
    ----------
    weights : dict
        ``W_Q, W_K, W_V, W_O`` in ``layout``.
    layout : str
        One of :data:`LAYOUTS`.
    n_heads : int, optional
        Number of heads; needed by ``fused``. The other layouts store it: there ``n_heads``, if given, must
        equal it.
    batch_dims : int
        Number of leading batch dimensions (e.g. 1 for a stack over checkpoints).

    Returns
    -------
    dict
        ``W_Q, W_K, W_V`` of shape (batch..., heads, d_model, d_head), ``W_O`` (batch..., heads, d_head, d_model).

    Raises
    ------
    ValueError
        Naming the shapes (of one checkpoint) when they do not fit the layout or each other.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    W = {name: as_float64(value) for name, value in weights.items()}
    shapes = ", ".join(f"{name} {W[name].shape[batch_dims:]}" for name in HEAD_WEIGHTS)
    for name in HEAD_WEIGHTS:
        if W[name].ndim != batch_dims + len(LAYOUTS[layout][name == "W_O"]):
            raise ValueError(f"{shapes} are not in the {layout} layout ({_axes(layout)})")
    if layout == "fused" and n_heads is None:
        raise ValueError("fused weights need the number of heads")
    if layout == "transformer-lens":
        out = W
    elif layout == "progress-measures":
        out = {name: np.swapaxes(W[name], -1, -2) for name in ("W_Q", "W_K", "W_V")}
        out["W_O"] = split_heads(np.swapaxes(W["W_O"], -1, -2), W["W_Q"].shape[-3], "rows")
    else:
        out = {name: split_heads(W[name], n_heads, "columns") for name in ("W_Q", "W_K", "W_V")}
        out["W_O"] = split_heads(W["W_O"], n_heads, "rows")
    h, d, e = out["W_Q"].shape[-3:]
    if n_heads is not None and n_heads != h:
        raise ValueError(f"{shapes}: n_heads = {n_heads} contradicts the {h} heads these weights store in the "
                         f"{layout} layout ({_axes(layout)})")
    e_v = out["W_V"].shape[-1]
    wanted = {"W_Q": (h, d, e), "W_K": (h, d, e), "W_V": (h, d, e_v), "W_O": (h, e_v, d)}
    misfits = [name for name in HEAD_WEIGHTS if out[name].shape[-3:] != wanted[name]]
    if misfits:
        raise ValueError(f"{shapes}: {misfits[0]} does not fit the others in the {layout} layout ({_axes(layout)})")
    return out
