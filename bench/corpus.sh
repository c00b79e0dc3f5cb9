#!/usr/bin/env bash
# Build the benchmark corpus as OCI image layouts (tag "latest"), reusing any
# image a previous run completed.  Needs root (debootstrap, chroot) and network
# access to a Debian mirror; installs its tools with apt-get.
#
#   bench/corpus.sh [DATA_DIR [IMAGE...]]
#
# DATA_DIR defaults to /var/tmp/enclaver-bench; images land in DATA_DIR/oci/NAME.
# IMAGE is any of debian-minbase, many-small, big-files (default: all three).
# Set BENCH_REBUILD=1 to rebuild images that already exist.
# Set BENCH_MIRROR to use another Debian mirror.
# Images without Cmd/Entrypoint get Cmd ["/bin/sh"] (enclaver refuses an image
# with nothing to run); that changes the config only, not the layers.
#
# debian-minbase  3 layers: debootstrap --variant=minbase bookworm (no .debs, no
#                 apt lists); + python3 installed in a chroot (apt lists kept);
#                 + a layer that only deletes (docs, man, info, locales, apt
#                 lists and caches, __pycache__) and so is all whiteouts.
# many-small      2 layers: 60,000 files of 1-4 KiB, 10-18 path components
#                 deep; then 5,000 whiteouts and one opaque directory
#                 (see gen-many-small.py).
# big-files       1 layer: four 256 MiB files of AES-256-CTR keystream
#                 (incompressible), /data/blob0.bin .. blob3.bin.
# huge            built only when named (not in the default list; about 10 GiB of
#                 layout, and a build of it needs 20 GiB more for the spill file and
#                 the EIF): 1 layer of BENCH_HUGE_GIB (default 10) x 4 files of 256 MiB
#                 of AES-256-CTR keystream + 5,000 small files (bench/gen-huge.py,
#                 written without umoci); bench/huge.sh measures one build of it.
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=bench/common.sh
. "$here/common.sh"
bench_init "${1:-}"
shift || true
[ $# -gt 0 ] || set -- debian-minbase many-small big-files
MTIME=1700000000

need_pkgs umoci skopeo jq openssl python3 tar
command -v umoci >/dev/null || die "umoci is required"

# new_layout NAME: fresh layout with an empty image tagged "empty", unpacked
# into bundle $2.
new_layout() {
	rm -rf "$IMG_DIR/$1.tmp" "$2"
	umoci init --layout "$IMG_DIR/$1.tmp"
	umoci new --image "$IMG_DIR/$1.tmp:empty"
	umoci unpack --image "$IMG_DIR/$1.tmp:empty" "$2" >/dev/null
}

# finish_layout NAME: drop helper tags, gc, and move the layout into place.
finish_layout() {
	local t l=$IMG_DIR/$1.tmp
	for t in $(umoci ls --layout "$l"); do
		[ "$t" = latest ] || umoci rm --image "$l:$t"
	done
	umoci gc --layout "$l"
	rm -rf "${IMG_DIR:?}/$1"
	mv "$l" "$IMG_DIR/$1"
	say "$1: $(jq -r '.layers | length' "$(manifest_of "$1")") layers, $(du -sh "$IMG_DIR/$1" | cut -f1)"
}

build_debian() {
	need_pkgs debootstrap
	local root=$WORK_DIR/debootstrap-bookworm b=$WORK_DIR/bundle-debian r
	local mirror=${BENCH_MIRROR:-http://deb.debian.org/debian}
	if [ ! -x "$root/usr/bin/apt-get" ]; then
		say "debian-minbase: debootstrap --variant=minbase bookworm ($mirror)"
		rm -rf "$root"
		debootstrap --variant=minbase bookworm "$root" "$mirror" >"$WORK_DIR/debootstrap.log" 2>&1 ||
			die "debootstrap failed; see $WORK_DIR/debootstrap.log"
	fi
	new_layout debian-minbase "$b"
	r=$b/rootfs
	say "debian-minbase: layer 1 (base system)"
	cp -a "$root/." "$r/"
	rm -f "$r"/var/cache/apt/archives/*.deb
	find "$r/var/lib/apt/lists" -mindepth 1 -delete
	umoci repack --refresh-bundle --history.created_by "debootstrap --variant=minbase bookworm" \
		--image "$IMG_DIR/debian-minbase.tmp:l1" "$b"

	say "debian-minbase: layer 2 (python3 via apt-get in a chroot)"
	local had_resolv=0
	if [ -e "$r/etc/resolv.conf" ] || [ -L "$r/etc/resolv.conf" ]; then
		mv "$r/etc/resolv.conf" "$r/etc/resolv.conf.bench-saved"; had_resolv=1
	fi
	cp -L /etc/resolv.conf "$r/etc/resolv.conf"
	mount -t proc proc "$r/proc"
	trap 'umount "$r/proc" 2>/dev/null || true' EXIT
	chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get -qq update && apt-get -qq install -y --no-install-recommends python3 && apt-get clean' \
		>"$WORK_DIR/chroot-apt.log" 2>&1 || die "apt-get in chroot failed; see $WORK_DIR/chroot-apt.log"
	umount "$r/proc"
	trap - EXIT
	rm -f "$r/etc/resolv.conf"
	[ $had_resolv -eq 0 ] || mv "$r/etc/resolv.conf.bench-saved" "$r/etc/resolv.conf"
	umoci repack --refresh-bundle --history.created_by "apt-get install python3" \
		--image "$IMG_DIR/debian-minbase.tmp:l2" "$b"

	say "debian-minbase: layer 3 (deletions only)"
	local d
	for d in usr/share/doc usr/share/man usr/share/info usr/share/locale var/lib/apt/lists var/log/apt; do
		[ -d "$r/$d" ] && find "$r/$d" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
	done
	rm -f "$r"/var/cache/apt/*.bin
	find "$r"/usr/lib/python3* -depth -type d -name __pycache__ -exec rm -rf {} +
	umoci repack --refresh-bundle --history.created_by "delete docs, man pages, locales, apt lists, __pycache__" \
		--image "$IMG_DIR/debian-minbase.tmp:latest" "$b"
	rm -rf "$b"
	finish_layout debian-minbase
}

build_many_small() {
	local b=$WORK_DIR/bundle-many-small l2=$WORK_DIR/many-small-l2
	new_layout many-small "$b"
	rm -rf "$l2"; mkdir -p "$l2"
	say "many-small: generating 60,000 files and the layer-2 tree"
	python3 "$here/gen-many-small.py" "$b/rootfs" "$l2"
	umoci repack --refresh-bundle --history.created_by "60000 small files" \
		--image "$IMG_DIR/many-small.tmp:l1" "$b"
	say "many-small: layer 2 (5,000 whiteouts + opaque dir) as a hand-made tar"
	# umoci would turn deletions into plain whiteouts; an opaque marker must be
	# written by hand, so this layer is a tar of the prepared tree.
	tar -C "$l2" --sort=name --format=pax --pax-option=delete=atime,delete=ctime \
		--owner=0 --group=0 --numeric-owner -cf "$WORK_DIR/many-small-l2.tar" usr
	umoci raw add-layer --history.created_by "delete 5000 files; replace pkg199 (opaque)" \
		--image "$IMG_DIR/many-small.tmp:l1" --tag latest "$WORK_DIR/many-small-l2.tar"
	rm -rf "$b" "$l2" "$WORK_DIR/many-small-l2.tar"
	finish_layout many-small
}

build_big_files() {
	local b=$WORK_DIR/bundle-big-files n f size=$((256 << 20))
	new_layout big-files "$b"
	mkdir -p "$b/rootfs/data"
	for n in 0 1 2 3; do
		f=$b/rootfs/data/blob$n.bin
		say "big-files: $f"
		# AES-CTR keystream: incompressible and reproducible from the pass phrase.
		openssl enc -aes-256-ctr -nosalt -pbkdf2 -pass "pass:enclaver-bench-$n" -in /dev/zero 2>/dev/null |
			head -c $size >"$f" || true
		[ "$(stat -c %s "$f")" -eq $size ] || die "short write to $f"
	done
	find "$b/rootfs" -exec touch -h -d "@$MTIME" {} +
	umoci repack --history.created_by "4 x 256 MiB incompressible files" \
		--image "$IMG_DIR/big-files.tmp:latest" "$b"
	rm -rf "$b"
	finish_layout big-files
}

build_huge() {
	local gib=${BENCH_HUGE_GIB:-10}
	need_pkgs isal
	command -v igzip >/dev/null || die "igzip is required (package isal)"
	say "huge: $gib GiB layer with bench/gen-huge.py"
	rm -rf "$IMG_DIR/huge.tmp"
	python3 "$here/gen-huge.py" "$IMG_DIR/huge.tmp" "$gib" || die "gen-huge.py failed"
	rm -rf "${IMG_DIR:?}/huge"
	mv "$IMG_DIR/huge.tmp" "$IMG_DIR/huge"
	say "huge: $(du -sh "$IMG_DIR/huge" | cut -f1)"
}

# ensure_cmd NAME: enclaver needs something to run.  umoci-made images have no
# Cmd; give them one, as Docker images have (config only: the layers, and so the
# work a build does, are unchanged).
ensure_cmd() {
	local cfg
	cfg=$(jq -r '.config.digest | sub(":"; "/")' "$(manifest_of "$1")")
	jq -e '(.config.Cmd // []) + (.config.Entrypoint // []) | length > 0' \
		"$IMG_DIR/$1/blobs/$cfg" >/dev/null && return 0
	say "$1: setting Cmd [\"/bin/sh\"] in the image config"
	umoci config --image "$IMG_DIR/$1:latest" --config.cmd /bin/sh
	umoci gc --layout "$IMG_DIR/$1"
}

for img in "$@"; do
	if image_ready "$img" && [ -z "${BENCH_REBUILD:-}" ]; then
		say "$img: present in $IMG_DIR/$img, reusing"
	else
		case $img in
		debian-minbase) build_debian ;;
		many-small) build_many_small ;;
		big-files) build_big_files ;;
		huge) build_huge ;;
		*) die "unknown image $img" ;;
		esac
	fi
	ensure_cmd "$img"
done
