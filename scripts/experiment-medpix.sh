#!/usr/bin/env bash
# Runs the FedMM evaluation protocol on MedPix 2.0 in one process and writes
# results.json, results.csv and summary.md (docs/RESULTS.md reports them).
#
#   scripts/experiment-medpix.sh [OUT_DIR] [extra FedMM.Experiment options…]
#
# Federation: 10 sites (2 image-only, 2 text-only, 6 image+text), Dirichlet α = 0.5 over the
# 5 location categories; frozen ImageNet MobileNetV3-small features; BERT-tiny trained from
# scratch on a vocabulary each site builds from its own captions; 10 rounds, 3 seeds;
# strategies fedmm, fedavg, local, centralized; 5 local epochs per round with both learning rates
# × 0.8 per round (constant rates let the federated models drift apart in late rounds, see
# docs/RESULTS.md). FedMM aggregates with sample-count weights: the
# contribution weighting (τ = 0.1) made its global model clearly worse on this partition
# (docs/RESULTS.md, "What we tried"); pass --weighting contribution to get it back. Data and weights come from ../shared and are
# never copied into the repository. Override with SHARED=/path/to/shared.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
SHARED="${SHARED:-../shared}"
OUT="${1:-experiment-results/medpix}"
shift || true
MEDPIX="$SHARED/data/medpix-2.0/MedPix-2-0"
WEIGHTS="$SHARED/weights/mobilenet_v3_small_imagenet1k_v1_features.safetensors"
for path in "$MEDPIX/Descriptions.json" "$WEIGHTS"; do
  [[ -e "$path" ]] || { echo "missing $path (set SHARED to the folder holding data/ and weights/)" >&2; exit 1; }
done
dotnet build -c Release tools/Experiment >/dev/null
dotnet run -c Release --no-build --project tools/Experiment -- \
  --medpix "$MEDPIX" --client-root "$OUT/client-root" --alpha 0.5 \
  --image-weights "$WEIGHTS" --image-size 128 --text-encoder tiny --max-tokens 32 \
  --rounds 10 --seeds 1,2,3 --strategies fedmm,fedavg,local,centralized \
  --epochs 5 --lr-decay 0.8 --encoder-lr 5e-4 --weighting fedavg --out "$OUT" "$@"
