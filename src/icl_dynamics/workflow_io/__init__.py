"""What the workflow's thin scripts and rule files share, one module per job:

- :mod:`.rule_context`: a rule's log file and thread count (``rule_logging``, ``set_threads``);
- :mod:`.cached_files`: the one reader and writer of cached intermediate files (``read_cached``,
  ``write_cached``, ``save_training_outputs``, ``CachedFileError``);
- :mod:`.fingerprints`: hashes of the code a rule runs (``training_code``, ``script_code``), which the rules
  put in their ``params`` so that Snakemake reruns a job when, and only when, its code changed.
"""
