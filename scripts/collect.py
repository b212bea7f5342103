"""Snakemake entry point: assemble the tidy table from every sweep point's training and metric files."""

from snntopo.analysis.collect import attach_dense_accuracy, collect_rows, write_table
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
params, inputs = snakemake.params, snakemake.input
# input.train has one file per point in sweep order; input.metrics one block of such files per encoding.
n = len(params.points)
points = []
for i, p in enumerate(params.points):
    ids = {**p, "sparsity": float(p["sparsity"]), "seed": int(p["seed"])}
    metrics = [inputs.metrics[j * n + i] for j in range(len(params.encodings))]
    points.append({"ids": ids, "train": inputs.train[i], "metrics": metrics})
rows = collect_rows(points)
table = attach_dense_accuracy(rows, rows[rows.pruner == "dense"])
write_table(table, snakemake.output.parquet, snakemake.output.csv)
log.info("table: %d rows × %d columns", *table.shape)
