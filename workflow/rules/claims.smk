"""The scorecard: every experiment's claim rows in one table."""

from icl_dynamics.experiments import claim_ids


rule claims:
    """results/claims.csv: claim, experiment, metric, value, threshold, verdict, note."""
    input:
        CLAIM_TABLES,
    output:
        "results/claims.csv",
    params:
        claims=claim_ids(config),
        code=rule_code("merge_claims"),
    log:
        log_file("scorecard", "claims"),
    benchmark:
        benchmark_file("scorecard", "claims")
    threads: DEFAULT_THREADS
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/merge_claims.py"
