// Package images builds the container images a tinykube cluster runs, from
// the project's own sources, so that pods start without any registry.
//
// A container image is four kinds of JSON and tar, each stored under its
// own SHA-256 digest (a "blob"), each pointing to the next by digest:
//
//	index.json     the entry point: one entry per image name, pointing to
//	   │           a manifest ("io.containerd.image.name" holds the name)
//	manifest       the image: its config and its layers
//	   ├── config  how to run it (Entrypoint, Cmd, Env, WorkingDir) and
//	   │           the digests of its layers' contents (rootfs.diff_ids)
//	   └── layer   a tar of the container's files, unpacked by containerd
//	               into a snapshot that becomes the container's root
//
// Written out as files (oci-layout, index.json, blobs/sha256/<digest>) and
// put in one tar, that is an OCI image layout tarball: what `docker save`
// or `ctr image export` produce, and what containerd's Import reads. A
// registry serves the same blobs over HTTP; a node pulls them. Here each
// node imports them from a file instead.
//
// Build is the pure core: a Spec (names, entrypoint, a list of files)
// becomes the bytes of one tarball, always the same bytes for the same
// inputs (sorted entries, every file owned by root and dated 1970), so an
// image's digest changes only when its content does. Catalogue is the table
// of the cluster's images: pause (every pod's first container, from
// testdata/images/pause), busybox (Debian's busybox-static with a symlink
// per applet) and the demo HTTP server (testdata/images/demo). Make is the
// edge that does the I/O: it builds the Go programs static, runs Build for
// each entry and writes the tarballs; `make images` runs it through
// ./internal/images/mkimages.
//
// Whoever runs pods with these images (a node's containerd component, the
// kubelet) must:
//
//  1. Import every tarball of the images directory (bin/images/*.tar) with
//     the containerd client's Import, in the containerd namespace its
//     containers use ("k8s.io"): images, like containers, are per
//     namespace. Importing again is harmless; it is per daemon, so every
//     node imports them into its own containerd.
//  2. Unpack each image for the snapshotter ("overlayfs") before creating a
//     container from it: Import only stores the blobs.
//  3. Look images up by their full name. A manifest says `image: busybox`;
//     containerd knows docker.io/library/busybox:latest. Normalize first,
//     as the CRI does: docker.io/library/ for a bare name, :latest without
//     a tag.
//  4. Treat an image that is not in the catalogue as not pullable (there is
//     no registry): the pod's status says ErrImagePull, as it would for a
//     misspelt image in Kubernetes.
//
// Reference: the OCI image specification v1.1 (image-layout.md,
// manifest.md, config.md); MACHINES-AND-NETWORK.md, "Images without a
// registry".
package images
