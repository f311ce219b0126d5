"""The scorecard: every experiment's claim rows in one table."""


rule claims:
    """results/claims.csv: claim, experiment, metric, value, threshold, verdict, note."""
    input:
        CLAIM_TABLES,
    output:
        "results/claims.csv",
    log:
        "logs/claims.log",
    benchmark:
        "benchmarks/out/claims.tsv"
    threads: 1
    conda:
        "../envs/icl_dynamics.yaml"
    script:
        "../scripts/merge_claims.py"
