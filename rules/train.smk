rule train:
    """Masked training (resumable: a re-run continues from train/checkpoint.pt, which is not an output)."""
    input:
        init=RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
        mask=RESULTS / POINT / "mask.pt",
        dataset=RESULTS / "data/{dataset}.json",
    output:
        metrics=RESULTS / POINT / "train/metrics.json",
        model=RESULTS / POINT / "train/model.pt",
        log_csv=RESULTS / POINT / "train/log.csv",
    log:
        RESULTS / "logs/train" / POINT / "train.log",
    benchmark:
        RESULTS / "benchmarks/train" / POINT / "train.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=24 * 60,
        gpu=1 if USE_GPU else 0,
    params:
        recipe=config["training"],
        device=config["device"],
        dataset_options=dataset_options,
        root=config["data_root"],
        download=config["download"],
    script:
        "../scripts/train.py"
