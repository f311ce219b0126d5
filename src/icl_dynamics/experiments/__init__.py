"""One folder per experiment: its run, measures, claims and figures modules.

Each folder mirrors ``workflow/rules/<experiment>.smk`` and ``tests/test_<experiment>*.py``; a new experiment
is one folder here plus one rule file.
"""
