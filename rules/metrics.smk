rule measure:
    """Encode one network (in memory) and compute the metric families that belong to that encoding."""
    input:
        unpack(measure_inputs),
    output:
        RESULTS / POINT / "metrics/{encoding}.json",
    log:
        RESULTS / "logs/measure" / POINT / "{encoding}.log",
    benchmark:
        RESULTS / "benchmarks/measure" / POINT / "{encoding}.tsv"
    wildcard_constraints:
        encoding="mge|rolled|rolled_channel",
    group:
        "metrics"
    conda:
        "../envs/graph.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: 16000 if wc.encoding == "mge" else 2000,
        runtime=60,
    params:
        families=lambda wc: families_of(wc.encoding),
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
