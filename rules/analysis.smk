rule import_published:
    """The metric tables published with the MGE study, read into the tidy table (no training)."""
    input:
        EXTERNAL_TABLES or [],
    output:
        parquet=RESULTS / "external/table.parquet",
        csv=RESULTS / "external/table.csv",
    log:
        RESULTS / "logs/import_published.log",
    benchmark:
        RESULTS / "benchmarks/import_published.tsv"
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
        RESULTS / "logs/analyse.log",
    benchmark:
        RESULTS / "benchmarks/analyse.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        options=config["analysis"],
    script:
        "../scripts/analyse.py"
