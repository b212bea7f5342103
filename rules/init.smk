rule init_model:
    """Seeded Kaiming initialisation, shared by every pruner and sparsity of a (dataset, model, seed)."""
    input:
        dataset=RESULTS / "data/{dataset}.json",
    output:
        RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
    log:
        RESULTS / "logs/init_model/{dataset}/{model}/seed{seed}.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/init_model.py"
