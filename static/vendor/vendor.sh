#!/usr/bin/env bash
# Re-create static/vendor/ from the npm registry: `bash static/vendor/vendor.sh`.
# Each package is fetched with `npm pack` at the exact version below, its checksum compared
# with the one recorded here, and only the files the pages use are copied.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name version sha256-of-the-tarball files-to-copy (paths inside the package)
PACKAGES=(
  "leaflet 1.9.4 84c65a256e50657896f54c33bd857b6849ebe94c817803be818bf32a3dde0b77 LICENSE dist/leaflet.js dist/leaflet.css dist/images/layers.png dist/images/layers-2x.png dist/images/marker-icon.png dist/images/marker-icon-2x.png dist/images/marker-shadow.png"
  "leaflet.markercluster 1.5.3 fc6b0b1d00b6c708ae54e43ee4a11ac345e41660e19f0a570190bb35babb1a1c MIT-LICENCE.txt dist/MarkerCluster.Default.css"
)

for entry in "${PACKAGES[@]}"; do
  read -r name version sum files <<<"$entry"
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  tarball="$work/${name//\//-}-$version.tgz"
  echo "$sum  $tarball" | sha256sum --check --quiet
  mkdir -p "$work/$name" && tar xzf "$tarball" -C "$work/$name"
  target="$here/$name/$version"
  rm -rf "$target" && mkdir -p "$target"
  for file in $files; do
    mkdir -p "$target/$(dirname "${file#dist/}")"
    cp "$work/$name/package/$file" "$target/${file#dist/}"
  done
  echo "vendored $name@$version"
done
