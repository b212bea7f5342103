rule dst_topology:
    """Metrics of every mask snapshot of one DST point's training (topology vs update step)."""
    input:
        init=RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
        start=RESULTS / POINT / "mask.pt",  # with the weights training started from, if warmed up
        # train writes mask_snapshots/ beside final_mask.pt in the same job (and clears it on a restart), so
        # the snapshots are complete and current once final_mask.pt exists; they are not a declared output
        # because the train rule is shared with PaI points, which write none.
        final_mask=RESULTS / POINT / "train/final_mask.pt",
    output:
        RESULTS / POINT / "dst_topology.csv",
    log:
        RESULTS / "logs/dst_topology" / POINT / "dst_topology.log",
    conda:
        "../envs/graph.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        families=config["dst"]["topology_families"],
        every=config["dst"]["topology_every"],
        options=config["metrics"],
    script:
        "../scripts/dst_topology.py"


rule dst_topology_figure:
    """Every DST point's snapshot metrics in one table, and the figure of topology vs update step."""
    input:
        point_paths("dst_topology.csv", points=dst_points()),
    output:
        table=RESULTS / "dst/topology.csv",
        figure=report(
            DST_FIGURE.with_suffix(".png"),
            caption="../report/dst_topology.rst",
            category="DST",
            labels={"figure": "dst_topology"},
        ),
        pdf=DST_FIGURE.with_suffix(".pdf"),
    log:
        RESULTS / "logs/dst_topology_figure.log",
    benchmark:
        RESULTS / "benchmarks/dst_topology_figure.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        points=dst_points(),
        panels=config["dst"].get("topology_panels"),
    script:
        "../scripts/dst_topology_figure.py"
