rule import_published:
    """The metric tables published with the MGE study, read into the tidy table (no training)."""
    input:
        EXTERNAL_TABLES or [],
    output:
        parquet=RESULTS / "external/table.parquet",
        csv=RESULTS / "external/table.csv",
    log:
        RESULTS / "external/logs/import_published.log",
    benchmark:
        RESULTS / "external/benchmarks/import_published.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/import_published.py"


rule analyse:
    """Regression of the drop per feature set, protocol and CV scheme, importance, PaI ranking, the claims
    table, report tables and figures."""
    input:
        table=ANALYSIS_INPUT,
    output:
        tables=ANALYSIS_TABLES,
        figures=[
            report(
                path,
                caption=f"../report/{Path(path).stem}.rst",
                category="Analysis",
                labels={"figure": Path(path).stem},
            )
            for path in ANALYSIS_FIGURES_PNG
        ],
        pdfs=ANALYSIS_FIGURES_PDF,
        report_tables=[
            report(
                path,
                caption=f"../report/{Path(path).stem}.rst",
                category="Tables",
                labels={"table": Path(path).stem},
            )
            for path in ANALYSIS_REPORT_TABLES
        ],
    log:
        ROUTE_DIR / "logs/analyse.log",
    benchmark:
        ROUTE_DIR / "benchmarks/analyse.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        options=config["analysis"],
        # the published tables hold the MGE study's Ramanujan variant; a sweep the configured one
        ramanujan_variant=(
            "mge" if EXTERNAL_TABLES else config["metrics"]["ramanujan_variant"]
        ),
    script:
        "../scripts/analyse.py"


rule effect:
    """Is the drop more than seed noise? Between- over within-configuration (seed) variance, per model."""
    input:
        table=RESULTS / "table.parquet",
    output:
        report(
            RESULTS / "analysis/tables/effect.csv",
            caption="../report/effect.rst",
            category="Analysis",
            labels={"table": "effect"},
        ),
    log:
        RESULTS / "logs/effect.log",
    benchmark:
        RESULTS / "benchmarks/effect.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        drop=config["analysis"]["drop"],
        dense_reference=config["analysis"]["dense_reference"],
    script:
        "../scripts/effect.py"
