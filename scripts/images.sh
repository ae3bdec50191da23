#!/usr/bin/env bash
# Builds FedMM's container images with podman, with no network access during the build:
#   fedmm/silo     src/Silo   (infra/containers/silo.Containerfile)
#   fedmm/api      src/Api    (infra/containers/api.Containerfile)
#   fedmm/fedmm    src/Cli    (infra/containers/fedmm.Containerfile): site agent and operator CLI
#   fedmm/azurite  the pinned Azurite of infra/azurite on this machine's Node.js
#                  (infra/containers/azurite.Containerfile): for local clusters and tests only
# Each .NET host is published self-contained for linux-x64 (dotnet publish -r linux-x64) and copied
# onto BASE, which every Containerfile takes as a build argument. By default BASE is a Debian
# bookworm root filesystem made here with debootstrap from a Debian mirror and imported with
# `podman import` (fedmm/debian-base:bookworm), so no container registry is needed; for real
# deployments pass --base mcr.microsoft.com/dotnet/runtime-deps:10.0 (the Containerfiles' default).
#
# Images are tagged :latest and :src-<hash>, the hash of every file the images are built from; when
# all four images of that hash exist, nothing is published or built again.
#
# Usage: scripts/images.sh [--base IMAGE] [--force]
# Environment: FEDMM_DEBIAN_MIRROR (http://deb.debian.org/debian), CONTAINERS_CONF (default: the
# private infra/containers/containers.conf: runc, cgroupfs, file and process limits).
# Installs podman, runc and debootstrap with apt when missing (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/infra/containers/containers.conf}"

base=""
force=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --base) [[ $# -ge 2 ]] || { echo "images: --base needs an image name" >&2; exit 2; }; base="$2"; shift 2 ;;
    --force) force=1; shift ;;
    *) echo "images: unknown argument '$1' (usage: scripts/images.sh [--base IMAGE] [--force])" >&2; exit 2 ;;
  esac
done

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "images: installing Debian's ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap
fi
command -v dotnet >/dev/null || { echo "images: the .NET 10 SDK is required (dotnet not found)" >&2; exit 1; }

# One build at a time (the container test and a person may both start one).
mkdir -p "$repo/artifacts"
exec 9>"$repo/artifacts/images.lock"
flock 9

default_base=localhost/fedmm/debian-base:bookworm
if [[ -z "$base" ]]; then
  base="$default_base"
  if ! podman image exists "$base"; then
    mirror="${FEDMM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    rootfs="$(mktemp -d /tmp/fedmm-rootfs.XXXXXX)"
    trap 'as_root rm -rf "$rootfs"' EXIT
    echo "images: making the Debian bookworm base with debootstrap from $mirror"
    as_root debootstrap --variant=minbase --include=libicu72,libssl3,ca-certificates bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
      || { tail -20 "$rootfs.log" >&2; echo "images: debootstrap failed (log $rootfs.log)" >&2; exit 1; }
    # The user the .NET images run as: app, uid and gid 1654.
    as_root chroot "$rootfs" groupadd --gid 1654 app
    as_root chroot "$rootfs" useradd --uid 1654 --gid 1654 --create-home --shell /usr/sbin/nologin app
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc "$rootfs"/usr/share/man
    as_root tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
    rm -f "$rootfs.log"
    echo "images: imported $base"
  fi
fi

# Everything the images are built from: sources, build settings, Containerfiles, Azurite's lock
# file and this script; and the base image's id.
hash="$( { git ls-files -co --exclude-standard -z src Directory.Build.props Directory.Build.targets Directory.Packages.props \
             global.json NuGet.config nuget.config build infra/containers infra/azurite/package-lock.json scripts/images.sh 2>/dev/null \
           | sort -z | xargs -0 sha256sum; podman image inspect --format '{{.Id}}' "$base"; node --version 2>/dev/null || true; } \
         | sha256sum | cut -c1-16)"
tag="src-$hash"
images=(silo api fedmm azurite)

if [[ $force -eq 0 ]]; then
  all=1
  for name in "${images[@]}"; do podman image exists "localhost/fedmm/$name:$tag" || all=0; done
  if [[ $all -eq 1 ]]; then
    echo "images: up to date (:$tag)"
    for name in "${images[@]}"; do podman tag "localhost/fedmm/$name:$tag" "localhost/fedmm/$name:latest"; done
    exit 0
  fi
fi

contexts="$repo/artifacts/images"
rm -rf "$contexts"
mkdir -p "$contexts"
publish() {  # project folder, context name
  echo "images: publishing src/$1 (Release, self-contained, linux-x64)"
  # Its own bin/ and obj/ (--artifacts-path): a self-contained restore rewrites a project's
  # obj/project.assets.json, which builds and test runs beside this one must not see change.
  dotnet publish "src/$1" -c Release -r linux-x64 --self-contained true -p:DebugType=none \
    --artifacts-path "$repo/artifacts/images-build" -o "$contexts/$2" --nologo -v quiet -clp:ErrorsOnly
}
publish Silo silo
# The silo aggregates updates and never encodes an image or a text: the packaged encoder weights
# (resnet18/ and minilm/, about 150 MB) stay out of its image; the fedmm image (site agents) keeps them.
rm -rf "$contexts/silo/resnet18" "$contexts/silo/minilm"
publish Api api
publish Cli fedmm

# Azurite: the installed, pinned package and this machine's node binary.
if [[ ! -x infra/azurite/node_modules/.bin/azurite ]]; then
  command -v npm >/dev/null || { echo "images: Node.js 20.19+ with npm is required for the Azurite image" >&2; exit 1; }
  (cd infra/azurite && npm ci --no-audit --no-fund --loglevel=error)
fi
mkdir -p "$contexts/azurite"
cp -a infra/azurite/node_modules infra/azurite/package.json "$contexts/azurite/"
cp "$(readlink -f "$(command -v node)")" "$contexts/azurite/node"

for name in "${images[@]}"; do
  echo "images: building fedmm/$name:$tag on $base"
  podman build --network=none --format docker --build-arg "BASE=$base" \
    -f "infra/containers/$name.Containerfile" -t "localhost/fedmm/$name:$tag" -t "localhost/fedmm/$name:latest" \
    "$contexts/$name" >"$contexts/$name.build.log" 2>&1 \
    || { tail -30 "$contexts/$name.build.log" >&2; echo "images: building fedmm/$name failed (log $contexts/$name.build.log)" >&2; exit 1; }
done
rm -rf "$contexts"
# Earlier builds' images go, so that rebuilding after every change does not fill the disk (an image
# a container still uses stays).
podman images --format '{{.Repository}}:{{.Tag}}' --filter 'reference=localhost/fedmm/*' | grep ':src-' | grep -v ":$tag\$" \
  | while read -r old; do podman rmi "$old" >/dev/null 2>&1 || true; done || true
podman images --filter "reference=localhost/fedmm/*:$tag" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
