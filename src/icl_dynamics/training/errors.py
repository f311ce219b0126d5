"""How a training run stops early, for every trainer (the shared one and the linear model's NumPy SGD), in
a module of its own so that code which only raises them does not import (and fingerprint) the trainer."""


class DivergenceError(RuntimeError):
    """Training loss became NaN/inf or exceeded ``divergence_factor`` times the initial loss."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM/SIGINT arrived; the state was saved and a rerun resumes from it."""
