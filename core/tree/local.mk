# rootfs tree, cpio writer, flatten stage (filled in by that work)
