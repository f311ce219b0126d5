"""The linear transformer: SGD on the full model against the closed form and the exact mean flow.

``run`` (settings, simulate, theory, compare), ``sgd`` (batched SGD on the full D x D model), ``measures``
(spectral measures of p2 q1), ``validity`` (the validity map over N x spectrum x learning rate and its
rule of thumb), ``claims`` (rows L1-L7, M1), ``figures`` (figures 1-3, S1, S3).
"""
