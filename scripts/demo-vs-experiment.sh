#!/usr/bin/env bash
# Service vs in-process runner on the same data: checks that `fedmm demo` (Azurite + silo + API +
# one `fedmm site run` process per site) and `fedmm experiment run --strategies fedmm` (every site
# and the aggregation in one process) are the same algorithm.
#
# Usage: scripts/demo-vs-experiment.sh MEDPIX_DIR IMAGE_WEIGHTS [ROUNDS] [OUT]
#   MEDPIX_DIR     MedPix 2.0 folder (the one holding Case_topic.json, Descriptions.json, images/)
#   IMAGE_WEIGHTS  torchvision MobileNetV3-small features weights (.safetensors or .pth)
#   ROUNDS         rounds for both runs (default 3)
#   OUT            output folder (default ./demo-vs-experiment-out); demo/ and experiment/ inside
#
# Steps:
#   1. builds the solution in Release when fedmm.dll is missing;
#   2. runs `fedmm demo --medpix MEDPIX_DIR` (it imports the data into its run folder's data/);
#   3. takes the federation config exactly as the sites received it from the service
#      (data/client_0/model/config.json, written by the site trainer) and its round seed;
#   4. runs `fedmm experiment run` on that run's data/ with that config, --seeds <that seed>,
#      --strategies fedmm, the same ROUNDS and IMAGE_WEIGHTS and one compute thread (as each site);
#   5. prints, per round, each site's accuracy after local training ("site") and of the global
#      package applied at the site ("global") from both runs' report/site_metrics.csv, and the
#      per-group means. The demo has no "global" value for its last round (no later round
#      evaluates that package); rows are matched by client folder id (client_0 = API id client-0).
# Needs: .NET 10 SDK, Node.js/npm (Azurite, installed by the demo on first use), python3.
set -euo pipefail
if [[ $# -lt 2 ]]; then sed -n '2,22p' "$0" >&2; exit 2; fi
medpix="$(cd "$1" && pwd)"
weights="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
rounds="${3:-3}"
out="$(mkdir -p "${4:-demo-vs-experiment-out}" && cd "${4:-demo-vs-experiment-out}" && pwd)"
[[ -f "$weights" ]] || { echo "image weights $weights do not exist" >&2; exit 2; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
fedmm="$repo/src/Cli/bin/Release/net10.0/linux-x64/fedmm.dll"
if [[ ! -f "$fedmm" ]]; then (cd "$repo" && dotnet build -c Release FedMM.sln); fi

echo "== fedmm demo ($rounds rounds) =="
dotnet "$fedmm" demo --medpix "$medpix" --image-weights "$weights" --rounds "$rounds" --out "$out/demo"
run="$(ls -d "$out"/demo/run-* | sort | tail -1)"
config="$out/demo-config.json"
cp "$run/data/client_0/model/config.json" "$config"
seed="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["round"]["seed"])' "$config")"

echo "== fedmm experiment run (fedmm, seed $seed, $rounds rounds) on $run/data =="
rm -rf "$out/experiment"
# One compute thread, as every `fedmm site run` process of the demo has: CPU reductions split
# over another thread count round differently, and the best-epoch choice amplifies that.
OMP_NUM_THREADS=1 dotnet "$fedmm" experiment run --data "$run/data" --config "$config" --strategies fedmm --seeds "$seed" \
  --rounds "$rounds" --image-weights "$weights" --out "$out/experiment"

python3 - "$run/report/site_metrics.csv" "$out/experiment/report/site_metrics.csv" <<'EOF'
import csv, sys
from collections import defaultdict

def load(path):
    rows = {}
    for r in csv.DictReader(open(path)):
        key = (int(r["round"]), r["client"].replace("_", "-"))
        rows[key] = (r["group"], float(r["site_accuracy"]),
                     float(r["global_accuracy"]) if r["global_accuracy"] else None)
    return rows

demo, exp = load(sys.argv[1]), load(sys.argv[2])
fmt = lambda v: "   -  " if v is None else f"{100 * v:6.1f}"
print("\nPer site, accuracy % on the site's val split (demo = service, exp = in-process runner)")
print(f"{'round':>5} {'client':<10} {'group':<11} {'site demo':>9} {'site exp':>9} {'global demo':>11} {'global exp':>10}")
same_site = same_global = compared_global = 0
for key in sorted(set(demo) | set(exp)):
    d, e = demo.get(key), exp.get(key)
    group = (d or e)[0]
    print(f"{key[0]:>5} {key[1]:<10} {group:<11} {fmt(d and d[1]):>9} {fmt(e and e[1]):>9} {fmt(d and d[2]):>11} {fmt(e and e[2]):>10}")
    if d and e:
        same_site += d[1] == e[1]
        if d[2] is not None and e[2] is not None:
            compared_global += 1
            same_global += d[2] == e[2]

print("\nPer group (mean over the group's sites), accuracy %")
print(f"{'round':>5} {'group':<11} {'site demo':>9} {'site exp':>9} {'global demo':>11} {'global exp':>10}")
groups = defaultdict(lambda: [[], [], [], []])
for key in set(demo) & set(exp):
    d, e = demo[key], exp[key]
    g = groups[(key[0], d[0])]
    g[0].append(d[1]); g[1].append(e[1])
    if d[2] is not None: g[2].append(d[2]); g[3].append(e[2])
mean = lambda xs: sum(xs) / len(xs) if xs else None
for (rnd, group), g in sorted(groups.items()):
    print(f"{rnd:>5} {group:<11} {fmt(mean(g[0])):>9} {fmt(mean(g[1])):>9} {fmt(mean(g[2])):>11} {fmt(mean(g[3])):>10}")
both = len(set(demo) & set(exp))
print(f"\nidentical site accuracies: {same_site}/{both}; identical global accuracies: {same_global}/{compared_global}")
EOF
