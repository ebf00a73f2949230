#!/usr/bin/env bash
# Re-create tests/browser/vendor/ from the npm registry: `bash tests/browser/vendor/vendor.sh`.
# Test-only packages: the browser tests inject them into pages; the app never serves them
# (they are outside static/ on purpose). Each package is fetched with `npm pack` at the exact
# version below, its checksum compared with the one recorded here, and only the files the
# tests use are copied.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name version sha256-of-the-tarball files-to-copy (paths inside the package)
PACKAGES=(
  "axe-core 4.14.1 e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745 LICENSE LICENSE-3RD-PARTY.txt axe.min.js"
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
    mkdir -p "$target/$(dirname "$file")"
    cp "$work/$name/package/$file" "$target/$file"
  done
  echo "vendored $name@$version"
done
