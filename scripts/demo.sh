#!/usr/bin/env bash
# The main job on data shipped in the repo: build the real knowledge base (DeepLoc 2.0
# Swiss-Prot set, 28,303 proteins), predict six real test proteins with the shipped default
# model, explain the predictions (attention and Integrated Gradients), extract subsequences,
# score their hit rates against the knowledge base with a null model, and write an HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-demo_out}
mkdir -p "$OUT"
FASTA=data/examples/demo_proteins.fasta

echo "== 1. kb build: the shipped DeepLoc 2.0 Swiss-Prot set -> $OUT/kb"
kb build data/deeploc2/deeploc2_swissprot.csv.gz --db "$OUT/kb" --force
kb info --db "$OUT/kb"

echo "== 2. kb search: where do two peptides occur?"
kb search --db "$OUT/kb" KDEL PKKKRK --with-locations --out "$OUT/search.tsv"
head -5 "$OUT/search.tsv"

echo "== 3. psl predict with the shipped default model"
psl predict "$FASTA" --out "$OUT/predictions.tsv"
cut -f1-4,16-21 "$OUT/predictions.tsv"   # call, probability, network alone, nearest reference

echo "== 4. psl explain: attention and Integrated Gradients"
psl explain --fasta "$FASTA" --method attention --out "$OUT/attention.parquet"
psl explain --fasta "$FASTA" --method ig --out "$OUT/ig.parquet"

echo "== 5. psl extract: high-scoring windows (mean + 2 std, width 5)"
psl extract "$OUT/ig.parquet" --out "$OUT/subsequences_ig.tsv"
psl extract "$OUT/attention.parquet" --out "$OUT/subsequences_attention.tsv"

echo "== 6. psl score: hit rates against the knowledge base, with a null model"
psl score --db "$OUT/kb" "$OUT/subsequences_ig.tsv" --out "$OUT/scores_ig.tsv" \
    --proteins "$OUT/proteins_ig.tsv" --null 100
cat "$OUT/proteins_ig.tsv"

echo "== 7. psl report -> $OUT/report.html"
psl report --attributions "$OUT/attention.parquet" --attributions "$OUT/ig.parquet" \
    --scores "$OUT/scores_ig.tsv" --db "$OUT/kb" --out "$OUT/report.html"
echo "done: open $OUT/report.html"
