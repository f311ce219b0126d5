"""The validity map (scorecard row L7, figure S3): an experiment over the linear transformer that asks where
in context length N x spectrum anisotropy x learning rate its theories, the closed form (Eq. 13, fixed point
Eq. 11) and the exact mean flow (docs/science.md section 4), describe SGD.

A *cell* of the grid ``linear.validity_map`` is a setting like those of ``linear.settings``: the defaults
with N, the spectrum and the learning rate replaced. Its spectrum is geometric, s_a = scale ratio^(a-1), so
s_max = scale in every cell and s_min / s_max = ratio^(d-1); its length is ``duration`` slowest timescales,
steps = duration / (lr s_min^2) (tau_a = 1 / s_a^2 in theory time t = lr x step, Eq. 12 with m_a = 1). A
cell whose :func:`icl_dynamics.experiments.linear.settings.computation_key` equals a setting's is the same
computation (the paper preset's grid holds aniso_N10, the quick one's aniso_N30 and aniso_N300);
:func:`.grid.operating_points` finds them. Each cell is simulated, integrated and compared by the
per-setting pieces of the linear experiment (``simulate.simulate_batch``, ``theory.theory``,
``compare.compare``); cells x seeds run in SGD batches of runs of similar length (:func:`.run.batches`);
the workflow runs one job per N, whose tables :func:`.table.merge_parts` joins. Each cell's SGD result is
cached (``state/validity_map/sim/<cell>.npz``), so a wider grid simulates only its new cells and a change
of a theory re-simulates nothing.

The rule of thumb (:func:`.rule_of_thumb.rule_of_thumb`): the closed form's worst per-mode R^2 reaches the
threshold when

    N >= c * sum_a (s_a - s_min) / s_min

The form was chosen from the equations before any map was computed: Eq. 14 differs from the exact loss by
the cross-mode term (1/N) p_a^2 s_a sum_b s_b (q_b^2 s_b - q_a^2 s_a), which vanishes for an isotropic
spectrum and, for the slow mode rising after the others have converged (q_b^2 s_b ~ 1), is about
sum_b (s_b - s_a) / (N s_a) of that mode's driving term. The constant c is fitted on one part of the grid
and scored on the other (``holdout``), a split fixed in the config.

Modules: :mod:`.grid` (cells), :mod:`.run` (cells simulated, integrated, compared; the SGD cache),
:mod:`.table` (the long table), :mod:`.rule_of_thumb` (row L7's rule), :mod:`.claims` (row L7),
:mod:`.figures` (figure S3), :mod:`.checks` (config checks). Its config is ``linear.validity_map``: the map
sweeps the linear experiment's settings and shares ``linear.defaults``, ``linear.seeds`` and
``linear.thresholds``.
"""
