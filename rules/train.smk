rule train:
    """Masked (PaI) or dynamic sparse (DST points) training; resumable from train/checkpoint.pt (not an output)."""
    input:
        init=RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
        mask=RESULTS / POINT / "mask.pt",
        dataset=RESULTS / "data/{dataset}.json",
    output:
        metrics=RESULTS / POINT / "train/metrics.json",
        model=RESULTS / POINT / "train/model.pt",
        log_csv=RESULTS / POINT / "train/log.csv",
        final_mask=RESULTS / POINT / "train/final_mask.pt",
    log:
        RESULTS / "logs/train" / POINT / "train.log",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=24 * 60,
        gpu=1 if USE_GPU else 0,
    params:
        recipe=training_overrides,
        device=config["device"],
        dataset_options=dataset_options,
        root=config["data_root"],
        download=config["download"],
    script:
        "../scripts/train.py"
