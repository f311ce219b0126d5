"""Reproduction of Mainali & Teixeira (2025), arXiv 2504.12916.

Subpackages, each importable alone:

- ``data``     : in-context regression tasks, sequence tasks, modular arithmetic
- ``theory``   : closed-form and exact mean-flow learning dynamics of the linear transformer
- ``models``   : linear attention, attention-only transformer, grokking transformer
- ``training`` : the shared trainer core and the batched linear-transformer SGD
- ``measures`` : effective ranks, subspace distance, angles, curvature, mode strengths, events
- ``figures``  : one function per paper figure, shared style
- ``claims``   : the reproduction scorecard
"""

__version__ = "0.1.0"
