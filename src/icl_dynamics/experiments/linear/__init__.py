"""The linear transformer: SGD on the full model against the closed form and the exact mean flow.

Split where the workflow's rules split (workflow/rules/linear.smk): ``settings`` (a setting: the defaults with
one entry of ``linear.settings``, its task and logging steps), ``initial`` (the start both SGD and theories
use), ``sgd`` (batched SGD on the full D x D model) and ``simulate`` (rule linear_simulate), ``theory``
(closed form and exact mean flow, rule linear_theory), ``compare`` (rule linear_compare), ``claims`` (rows
L1-L6), ``figures`` (figures 1-3); the measures of p2 q1 together: ``measures`` (the table), ``claims``'s
row M1 and ``measures_figures`` (figure S1). The validity map over N x spectrum x learning rate is an
experiment of its own (``icl_dynamics.experiments.validity_map``).
"""
