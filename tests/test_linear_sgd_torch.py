"""The linear SGD in torch float64 (the GPU path, run here on CPU) equals the NumPy float64 path."""

import numpy as np
import pytest
import torch

from icl_dynamics.data.regression import RegressionTask, make_basis
from icl_dynamics.experiments.linear import sgd_torch
from icl_dynamics.experiments.linear.sgd import SGDRun, loss_and_grads, run_sgd_batch
from icl_dynamics.training.errors import DivergenceError

from test_linear_model import sgd_settings


def test_torch_loss_and_gradients_equal_numpy():
    rng = np.random.default_rng(0)
    S, B, d = 3, 16, 4
    args = [rng.normal(size=(S, 2 * d, 2 * d)), rng.normal(size=(S, 2 * d, 2 * d)), rng.normal(size=(S, B, d, d)),
            rng.normal(size=(S, B, d, d)), rng.normal(size=(S, B, d)), rng.normal(size=(S, B, d))]
    expected = loss_and_grads(*args)
    got = sgd_torch.loss_and_grads(*(torch.as_tensor(a) for a in args))
    for e, g in zip(expected, got):
        assert g.dtype == torch.float64
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-12, atol=1e-12)


def test_torch_sgd_on_cpu_equals_numpy_to_1e12():
    """Two settings (other N, lr, steps, a rotated basis, random init) x two seeds, one batch: every logged
    array and the final weights agree to 1e-12."""
    tasks = [RegressionTask(s=np.array([2.0, 1.0, 0.5]), U=np.eye(3), N=20, P=50),
             RegressionTask(s=np.array([1.5, 1.0, 0.25]), U=make_basis("random", 3, seed=1), N=40, P=100)]
    settings = [sgd_settings(lr=0.05, batch=32, steps=120, eval_batch=64),
                sgd_settings(lr=0.02, batch=32, steps=80, eval_batch=64, init="random", eps=0.1)]
    runs = [SGDRun(task, setting, seed, tuple(range(0, setting.steps + 1, 20)), f"run{i}")
            for i, (task, setting) in enumerate(zip(tasks, settings)) for seed in (0, 1)]
    reference = run_sgd_batch(runs)
    on_torch = run_sgd_batch(runs, torch_device="cpu")
    for ref, got in zip(reference, on_torch):
        assert ref.keys() == got.keys()
        for key in ref:
            assert isinstance(got[key], np.ndarray), key
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert not np.allclose(reference[0]["W_P"], reference[2]["W_P"])  # the runs are different runs


def test_torch_divergence_names_run_step_and_rate():
    task = RegressionTask(s=np.array([4.0, 2.0]), U=np.eye(2), N=10, P=20)
    runs = [SGDRun(task, sgd_settings(lr=5.0, batch=32, steps=200, eps=0.5, eval_batch=32), 0,
                   tuple(range(0, 201, 5)), "too_fast")]
    with pytest.raises(DivergenceError, match=r"run 'too_fast' diverged at step \d+ with learning rate 5.0"):
        run_sgd_batch(runs, torch_device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(RuntimeError, match="linear SGD on 'cuda' requested but CUDA is not available"):
        sgd_torch.TorchSteps("cuda")
