# torch-free: JSON reads and arithmetic
from snntopo.mge_budget import measure_mge_resource


rule measure_mge:
    """Encode one network as its MGE (in memory) and compute the MGE topometrics."""
    input:
        **MEASURE_INPUTS,
    output:
        RESULTS / POINT / "metrics/mge.json",
    log:
        RESULTS / "logs/measure" / POINT / "mge.log",
    group:
        "metrics"
    conda:
        "../envs/graph.yaml"
    threads: 1
    resources:
        mem_mb=measure_mge_resource(RESULTS, config["metrics"].get("max_memory_gb", 20)),
        runtime=120,
    params:
        families=families_of("mge"),
        options=config["metrics"],
    script:
        "../scripts/measure.py"


if BGE_ENCODINGS:

    rule measure_bge:
        """Per-layer metric families of one network's bipartite encodings (rolled, rolled-channel), one job."""
        input:
            **MEASURE_INPUTS,
        output:
            expand(
                RESULTS / POINT / "metrics/{encoding}.json",
                encoding=BGE_ENCODINGS,
                allow_missing=True,
            ),
        log:
            RESULTS / "logs/measure" / POINT / "bge.log",
        group:
            "metrics"
        conda:
            "../envs/graph.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=60,
        params:
            families={e: FAMILIES_BY_ENCODING[e] for e in BGE_ENCODINGS},
            options=config["metrics"],
        script:
            "../scripts/measure.py"


rule collect:
    """One tidy table, one row per trained network, with every metric and the dense accuracy of its seed."""
    input:
        train=point_paths("train", "metrics.json"),
        metrics=metric_targets(),
    output:
        parquet=RESULTS / "table.parquet",
        csv=RESULTS / "table.csv",
    log:
        RESULTS / "logs/collect.log",
    benchmark:
        RESULTS / "benchmarks/collect.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        points=sweep_points(),
        encodings=measured_encodings(),
    script:
        "../scripts/collect.py"
