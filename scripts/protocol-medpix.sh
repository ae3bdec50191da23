#!/usr/bin/env bash
# Runs the n = 12 evaluation protocol of docs/RESULTS.md on MedPix 2.0 in one command and prints the
# tables that page reports (primary endpoint first). Each arm is one `fedmm experiment run` (built
# Release) over every partition and seed; arms run side by side (JOBS processes, one torch thread
# each), then `fedmm experiment combine` joins them, naming the runs with other settings as variants.
#
#   scripts/protocol-medpix.sh [OUT_DIR] [ARM…]
#
# Arms (default: all, in this order): fedavg; fedmm (its defaults); text-fill (text stand-ins at
# image-only sites, reported as fedmm+text-fill); text-fill-exact (the same with exact summaries,
# no differential privacy); virtual (8 virtual samples per class of the modality a site lacks);
# proto (cross-modal class prototypes at sites lacking a modality, weight 1); classblock (class-blocked
# pairs: per-class centroids paired within each class, the training stand-in of a missing modality from
# the sample's own class);
# fedavg-cal; local; centralized; fedmm-repeat (the A/A control). Not in the default list, by name
# only: fedprox (FedAvg with FedProx's proximal term, μ 0.01), fedadam (FedAvg with FedAdam on the
# server, η 0.01), fedmm-adam (FedMM with FedAdam, reported as fedmm+fedmm-adam), dp1, dp4, dp8 (FedMM
# with DP-SGD at ε = 1, 4, 8 per site over the run, σ calibrated per partition for its smallest site),
# dp1000 (the same at ε = 1000: almost no noise, a control that DP-SGD's clipping and sampling learn).
# Protocol: Dirichlet partitions (α = 0.5) 1–6 of the MedPix training split into 10 sites (2
# image-only, 2 text-only, 6 image+text), each site's val split carved from its own training cases
# (model selection only); the common test, which nothing is chosen on, is MedPix's dev split plus a
# held-out fold of HOLDOUT (default 0.2) of the training cases per partition that no site holds; frozen ImageNet
# MobileNetV3-small features at 128 px and frozen all-MiniLM-L6-v2 text features; 10 rounds × seeds
# 1, 2; 5 local epochs per round, both learning rates × 0.8 per round; sample-count weights.
# Environment: SHARED (folder holding data/ and weights/, default ../shared), JOBS (default 2),
# PARTITIONS (default 1,2,3,4,5,6), SEEDS (default 1,2), HOLDOUT (default 0.2; 0 for the dev split alone),
# FEDMM (a built fedmm.dll to use instead of building src/Cli). Data and weights are never copied into the
# repository. An arm whose OUT_DIR/arms/NAME/results.csv exists is not run again.
# The body is one compound command, read whole before it runs, so that editing or checking out this
# file while a protocol runs (it takes an hour or more) cannot change the rest of that run.
{
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
SHARED="${SHARED:-../shared}"
OUT="${1:-experiment-results/protocol}"
shift || true
JOBS="${JOBS:-2}" PARTITIONS="${PARTITIONS:-1,2,3,4,5,6}" SEEDS="${SEEDS:-1,2}" HOLDOUT="${HOLDOUT:-0.2}"
MEDPIX="$SHARED/data/medpix-2.0/MedPix-2-0"
WEIGHTS="$SHARED/weights/mobilenet_v3_small_imagenet1k_v1_features.safetensors"
for path in "$MEDPIX/Descriptions.json" "$WEIGHTS"; do
  [[ -e "$path" ]] || { echo "protocol: missing $path (set SHARED to the folder holding data/ and weights/)" >&2; exit 1; }
done
declare -A strategy=([fedavg]=fedavg [fedmm]=fedmm [text-fill]=fedmm [text-fill-exact]=fedmm [virtual]=fedmm [proto]=fedmm [classblock]=fedmm
  [fedavg-cal]=fedavg-cal [local]=local [centralized]=centralized [fedmm-repeat]=fedmm-repeat
  [fedprox]=fedprox [fedadam]=fedadam [fedmm-adam]=fedmm [dp1]=fedmm [dp4]=fedmm [dp8]=fedmm [dp1000]=fedmm)
declare -A extra=([text-fill]="--fill-missing-text true" [text-fill-exact]="--fill-missing-text true --summary-noise 0"
  [virtual]="--virtual-samples 8 --exact-class-statistics true" [proto]="--prototype-weight 1 --exact-class-statistics true"
  [classblock]="--class-blocks true --exact-class-statistics true"
  [fedprox]="--proximal-mu 0.01" [fedadam]="--server-lr 0.01" [fedmm-adam]="--server-optimizer adam --server-lr 0.01"
  [dp1]="--sgd-epsilon 1" [dp4]="--sgd-epsilon 4" [dp8]="--sgd-epsilon 8" [dp1000]="--sgd-epsilon 1000")
arms=("$@")
[[ ${#arms[@]} -gt 0 ]] || arms=(fedavg fedmm text-fill text-fill-exact virtual proto classblock fedavg-cal local centralized fedmm-repeat)
for arm in "${arms[@]}"; do
  [[ -n "${strategy[$arm]:-}" ]] || { echo "protocol: unknown arm '$arm' (expected: ${!strategy[*]})" >&2; exit 2; }
done

# FEDMM (a fedmm.dll built elsewhere) keeps running arms on one binary while the tree changes.
if [[ -z "${FEDMM:-}" ]]; then
  dotnet build -c Release src/Cli >/dev/null
  FEDMM="src/Cli/bin/Release/net10.0/linux-x64/fedmm.dll"
fi
ROOTS="$OUT/client-roots"
mkdir -p "$OUT/arms"
# Each partition is imported once, before the arms that still have to run read it side by side.
pending=()
for arm in "${arms[@]}"; do [[ -f "$OUT/arms/$arm/results.csv" ]] || pending+=("$arm"); done
if [[ ${#pending[@]} -gt 0 ]]; then
  for p in ${PARTITIONS//,/ }; do
    [[ -f "$ROOTS/p$p/labels.json" ]] || dotnet "$FEDMM" data medpix -s "$MEDPIX" -o "$ROOTS/p$p" --alpha 0.5 --seed "$p" --holdout-fraction "$HOLDOUT" >/dev/null
  done
fi
for arm in "${arms[@]}"; do [[ " ${pending[*]} " == *" $arm "* ]] || echo "protocol: $arm already run ($OUT/arms/$arm)"; done

# run_arm ARM STRATEGY [OPTION…]: one `fedmm experiment run` over every partition and seed.
run_arm() {
  local arm=$1 strategy=$2 dir="$OUT/arms/$1" started=$SECONDS
  shift 2
  dotnet "$FEDMM" experiment run --medpix "$MEDPIX" --client-root "$ROOTS" --out "$dir.partial" \
    --alpha 0.5 --holdout-fraction "$HOLDOUT" --partitions "$PARTITIONS" --seeds "$SEEDS" --image-weights "$WEIGHTS" --image-size 128 \
    --text-encoder minilm-l6 --rounds 10 --epochs 5 --lr-decay 0.8 --weighting fedavg --threads 1 \
    --strategies "$strategy" "$@" > "$OUT/arms/$arm.log" 2>&1 \
    || { echo "protocol: arm $arm failed; see $OUT/arms/$arm.log" >&2; return 1; }
  rm -rf "$dir" && mv "$dir.partial" "$dir"
  echo "protocol: $arm done in $((SECONDS - started)) s"
}
export -f run_arm
export OUT ROOTS MEDPIX WEIGHTS PARTITIONS SEEDS HOLDOUT FEDMM
# One line per pending arm (no trailing blank: xargs -L would join the next line): its name, its
# strategy and its options, as run_arm's arguments.
for arm in "${pending[@]}"; do echo "$arm ${strategy[$arm]}${extra[$arm]:+ ${extra[$arm]}}"; done \
  | xargs -r -P "$JOBS" -L 1 bash -c 'run_arm "$@"' _

combine=()
for arm in "${arms[@]}"; do
  if [[ "${strategy[$arm]}" == "$arm" ]]; then combine+=("$OUT/arms/$arm")
  else combine+=("$OUT/arms/$arm@${strategy[$arm]}=${strategy[$arm]}+$arm"); fi
done
dotnet "$FEDMM" experiment combine "${combine[@]}" --out "$OUT"
exit
}
