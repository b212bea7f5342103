rule prune:
    """Mask of one (pruner, sparsity) from the shared initialisation; data-dependent pruners draw seeded batches."""
    input:
        init=RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
        dataset=RESULTS / "data/{dataset}.json",
    output:
        mask=RESULTS / POINT / "mask.pt",
        summary=RESULTS / POINT / "mask.json",
    log:
        RESULTS / "logs/prune" / POINT / "prune.log",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=prune_mem_mb,
        runtime=60,
    params:
        pruner=pruner_name,
        options=pruner_options,
        dataset_options=dataset_options,
        root=config["data_root"],
        download=config["download"],
    script:
        "../scripts/prune.py"
