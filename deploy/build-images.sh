#!/usr/bin/env bash
# Builds the two container images from programs already built by CMake,
# without any base image: each image is `FROM scratch` plus the program, the
# shared libraries `ldd` lists for it (the dynamic loader included), the
# health-check program `probe`, and a handful of /etc files.
#
#   deploy/build-images.sh BUILD_DIR [TAG]     stage, then build the images
#   deploy/build-images.sh --stage-only BUILD_DIR
#   deploy/build-images.sh --from-stage [TAG]  build the images from deploy/stage
#
# Images: fsrouter:TAG (fsrouter-supervisor, fsrouter, fsjournal, probe) and fileserver:TAG
# (fileserver, probe). TAG defaults to `local`. The staged trees are left in
# deploy/stage/<image>/ (git-ignored; FSR_STAGE_DIR overrides the folder)
# for inspection.
set -euo pipefail

deploy_dir="$(cd "$(dirname "$0")" && pwd)"
stage_root="${FSR_STAGE_DIR:-$deploy_dir/stage}"
# The unprivileged user both programs run as; it owns the data directories.
app_uid=10001

usage() {
  sed -n '7,9p' "$0" | sed 's/^# *//' >&2
  exit 2
}

die() {
  echo "build-images: $*" >&2
  exit 1
}

# Copies a file to the same path under root, dereferencing symlinks.
copy_to_root() {
  local root="$1" path="$2"
  mkdir -p "$root$(dirname "$path")"
  cp -L "$path" "$root$path"
}

# Stages a program under /usr/local/bin with every shared library it loads.
stage_program() {
  local root="$1" program="$2"
  [ -x "$program" ] || die "missing program: $program (build it first)"
  local target="$root/usr/local/bin/$(basename "$program")"
  mkdir -p "$(dirname "$target")"
  # Debug information is most of a RelWithDebInfo binary; images need none.
  strip --strip-unneeded -o "$target" "$program"
  local missing
  missing="$(ldd "$program" | grep 'not found' || true)"
  [ -z "$missing" ] || die "$program: unresolved libraries: $missing"
  # "libx.so.1 => /lib/.../libx.so.1 (0x..)" and "/lib64/ld-linux-x86-64.so.2 (0x..)"
  ldd "$program" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r library; do
      [ -e "$root$library" ] || copy_to_root "$root" "$library"
    done
}

# The few /etc files a program without a distribution around it still reads:
# user names for logs and tools, and name resolution (glibc 2.36 has the
# `files` and `dns` sources built in; Docker mounts /etc/hosts and resolv.conf).
stage_etc() {
  local root="$1"
  mkdir -p "$root/etc"
  printf 'root:x:0:0:root:/:/nonexistent\nfsr:x:%d:%d:fsrouter services:/nonexistent:/nonexistent\n' \
    "$app_uid" "$app_uid" >"$root/etc/passwd"
  printf 'root:x:0:\nfsr:x:%d:\n' "$app_uid" >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
}

# Packs root (owned by root) and the data directories (owned by the app user)
# into two tar files; `ADD` unpacks them with that ownership, which `COPY`
# would not keep. A named volume mounted on an empty image directory starts
# with that directory's owner and mode.
pack_image_context() {
  local image="$1"
  shift
  local context="$stage_root/$image"
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='@0' \
    -C "$context/rootfs" -cf "$context/system.tar" .
  mkdir -p "$context/data"
  local dir
  for dir in "$@"; do
    mkdir -p "$context/data/$dir"
    chmod 0755 "$context/data/$dir"
  done
  tar --sort=name --numeric-owner --owner="$app_uid" --group="$app_uid" --mtime='@0' \
    -C "$context/data" -cf "$context/data.tar" "$@"
  cp "$deploy_dir/$image.Dockerfile" "$context/Dockerfile"
  printf 'rootfs\ndata\n' >"$context/.dockerignore"
}

stage() {
  local build_dir="$1"
  [ -d "$build_dir" ] || die "no build folder: $build_dir"
  build_dir="$(cd "$build_dir" && pwd)"
  rm -rf "$stage_root/fsrouter" "$stage_root/fileserver" "$stage_root/probe"
  mkdir -p "$stage_root"

  # probe: plain C library calls only, so it loads nothing but libc.
  local probe="$stage_root/probe"
  g++ -std=c++20 -O2 -Wall -Wextra -fno-exceptions -fno-rtti -Wl,--as-needed \
    -o "$probe" "$deploy_dir/probe.cc"

  local root="$stage_root/fsrouter/rootfs"
  stage_program "$root" "$build_dir/supervisor/fsrouter-supervisor"
  stage_program "$root" "$build_dir/router/fsrouter"
  stage_program "$root" "$build_dir/journal/fsjournal/fsjournal"
  stage_program "$root" "$probe"
  stage_etc "$root"
  pack_image_context fsrouter journal

  root="$stage_root/fileserver/rootfs"
  stage_program "$root" "$build_dir/fileserver/fileserver"
  stage_program "$root" "$probe"
  stage_etc "$root"
  pack_image_context fileserver tmp

  local image
  for image in fsrouter fileserver; do
    echo "build-images: staged $image: $(du -sh "$stage_root/$image/rootfs" | cut -f1)" \
      "($(find "$stage_root/$image/rootfs" -type f | wc -l) files)"
  done
}

build_images() {
  local tag="$1"
  command -v docker >/dev/null || die "docker is not installed"
  local revision
  revision="$(git -C "$deploy_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  local image
  for image in fsrouter fileserver; do
    [ -f "$stage_root/$image/system.tar" ] || die "nothing staged for $image; run with BUILD_DIR"
    docker build --quiet --tag "$image:$tag" \
      --label "org.opencontainers.image.revision=$revision" \
      --label "org.opencontainers.image.title=$image" \
      "$stage_root/$image" >/dev/null
    echo "build-images: built $image:$tag" \
      "($(docker image inspect --format '{{.Size}}' "$image:$tag" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
  done
}

case "${1:-}" in
  --stage-only)
    [ $# -eq 2 ] || usage
    stage "$2"
    ;;
  --from-stage)
    [ $# -le 2 ] || usage
    build_images "${2:-local}"
    ;;
  "" | -h | --help | -*)
    usage
    ;;
  *)
    [ $# -le 2 ] || usage
    stage "$1"
    build_images "${2:-local}"
    ;;
esac
