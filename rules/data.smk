rule prepare_dataset:
    """Load (and, if allowed, download) a dataset once; record shapes, sizes and a test-split checksum."""
    output:
        RESULTS / "data/{dataset}.json",
    log:
        RESULTS / "logs/prepare_dataset/{dataset}.log",
    benchmark:
        RESULTS / "benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        options=dataset_options,
        root=config.get("data_root", "data"),
        download=config.get("download", False),
    script:
        "../scripts/prepare_dataset.py"
