"""The online monitor on the workflow's own runs (docs/science.md, section 12, "Rows C7"): the shared rule of
rows C7-attention, C7-grokking and C7-linear (:mod:`.rows`) and figure S6 (:mod:`.figures`). No scorecard
rows of its own: each experiment's claims rule writes its row C7-<experiment>. The replay of the monitor over
each experiment's stored runs is in ``experiments/<experiment>/monitor.py``."""
