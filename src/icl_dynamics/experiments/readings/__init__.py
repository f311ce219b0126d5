"""Readings the paper leaves open (docs/science.md, section 'Readings the paper leaves open'): the shared
parts of scoring rows N2, N3 and G2 under every declared reading on the same runs (the table, the
scorecard note, the truncated final weights) and figure S4. No scorecard rows: each row's verdict stays its
primary reading's. The readings of each experiment are in ``experiments/<experiment>/readings.py``."""
