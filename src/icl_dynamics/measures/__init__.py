"""Macroscopic measures of weight matrices over training (docs/science.md section 5).

Ranks (:mod:`.ranks`), subspace distance, principal angles and mode strengths (:mod:`.subspace`),
factored per-head circuits (:mod:`.circuits`, :mod:`.svd`) and the per-head layouts they are read from
(:mod:`.layouts`), autocorrelation curvature (:mod:`.curvature`), transition detection (:mod:`.events`),
the settings and their defaults (:mod:`.settings`), the combined measures table (:mod:`.summary`) and the
``icl-measures`` command (:mod:`.cli`). Every setting of a measure defaults to the schema's value.
"""

from icl_dynamics.measures.circuits import (
    ov_circuit_singular_values,
    ov_circuit_svd,
    qk_circuit_singular_values,
    qk_circuit_svd,
    split_heads,
)
from icl_dynamics.measures.curvature import autocorrelation_curvature
from icl_dynamics.measures.events import Transition, count_cliffs, detect_transition, largest_fall_within
from icl_dynamics.measures.layouts import LAYOUTS, circuit_weights, detect_layout, head_stack
from icl_dynamics.measures.ranks import (
    effective_rank,
    effective_rank_from_singular_values,
    marginal_effective_rank,
    marginal_effective_rank_from_singular_values,
    singular_values,
    stable_rank,
    stable_rank_from_singular_values,
)
from icl_dynamics.measures.settings import DEFAULTS, measures_section, transition_kwargs
from icl_dynamics.measures.subspace import (
    projected_mode_strengths,
    projected_mode_strengths_from_svd,
    principal_angles,
    subspace_distance,
    subspace_distance_from_svd,
)
from icl_dynamics.measures.summary import circuit_spectral_measures, long_table, spectral_measures
from icl_dynamics.measures.svd import SVD, factored_svd, thin_svd

__all__ = [
    "DEFAULTS",
    "LAYOUTS",
    "SVD",
    "Transition",
    "autocorrelation_curvature",
    "circuit_spectral_measures",
    "circuit_weights",
    "count_cliffs",
    "detect_layout",
    "detect_transition",
    "effective_rank",
    "effective_rank_from_singular_values",
    "factored_svd",
    "head_stack",
    "largest_fall_within",
    "marginal_effective_rank",
    "marginal_effective_rank_from_singular_values",
    "measures_section",
    "long_table",
    "projected_mode_strengths",
    "projected_mode_strengths_from_svd",
    "ov_circuit_singular_values",
    "ov_circuit_svd",
    "principal_angles",
    "qk_circuit_singular_values",
    "qk_circuit_svd",
    "singular_values",
    "spectral_measures",
    "split_heads",
    "stable_rank",
    "stable_rank_from_singular_values",
    "subspace_distance",
    "subspace_distance_from_svd",
    "thin_svd",
]
