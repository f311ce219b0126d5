"""The SGD step of :mod:`icl_dynamics.experiments.linear.sgd` in torch float64, for a GPU.

The same loss and hand-written gradients (:func:`icl_dynamics.experiments.linear.sgd.loss_and_grads`), with
A = Z_ctx Z_ctx^T / N applied through S_xx and W (:func:`icl_dynamics.data.regression.apply_context_moment`):

    u = A W_Q (x_q; 0),  e = W_P[d:] u - y,  L = mean_b 1/2 ||e_b||^2
    dL/dW_P[d:, :] = mean_b e_b u_b^T,  dL/dW_Q[:, :d] = mean_b (A W_P[d:]^T e_b) x_{q,b}^T

Batches are still drawn by NumPy from each run's own generators (so a run's data is the CPU path's), then
moved to the device once per chunk of steps; the weights stay on the device between logging steps. In
float64 the result equals the NumPy path's to about 1e-12 (only the order of float sums differs).
"""

from __future__ import annotations

import numpy as np
import torch


def apply_context_moment(S_xx: torch.Tensor, W: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """A v for A = Z_ctx Z_ctx^T / N without forming A: A v = [S_xx w; W S_xx w], w = v_x + W^T v_y.
    Shapes: S_xx, W (..., d, d), v (..., 2d)."""
    d = S_xx.shape[-1]
    w = v[..., :d] + (W.transpose(-1, -2) @ v[..., d:, None])[..., 0]
    Sw = (S_xx @ w[..., None])[..., 0]
    return torch.cat([Sw, (W @ Sw[..., None])[..., 0]], dim=-1)


def loss_and_grads(W_P: torch.Tensor, W_Q: torch.Tensor, S_xx: torch.Tensor, W: torch.Tensor, x_q: torch.Tensor,
                   y_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch-mean loss (S,) and the gradients g_Py = dL/dW_P[:, d:, :] (S, d, D) and g_Qx = dL/dW_Q[:, :, :d]
    (S, D, d) of stacked runs (module docstring); shapes as the NumPy ``loss_and_grads``."""
    d, B = x_q.shape[-1], x_q.shape[-2]
    P_y = W_P[:, d:, :]
    u = apply_context_moment(S_xx, W, x_q @ W_Q[:, :, :d].transpose(-1, -2))
    e = u @ P_y.transpose(-1, -2) - y_q
    loss = 0.5 * (e * e).sum(dim=(-2, -1)) / B
    g_Py = e.transpose(-1, -2) @ u / B
    g_Qx = apply_context_moment(S_xx, W, e @ P_y).transpose(-1, -2) @ x_q / B
    return loss, g_Py, g_Qx


class TorchSteps:
    """What :func:`~icl_dynamics.experiments.linear.sgd.run_sgd_batch` needs of an array backend, in torch
    float64 on ``device``: arrays to and from it, the loss and gradients, and which losses are finite."""

    def __init__(self, device: str):
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("linear SGD on 'cuda' requested but CUDA is not available")

    def to_device(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(array), dtype=torch.float64, device=self.device)

    @staticmethod
    def to_numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.cpu().numpy()

    loss_and_grads = staticmethod(loss_and_grads)

    @staticmethod
    def finite(loss: torch.Tensor) -> np.ndarray:
        return torch.isfinite(loss).cpu().numpy()
