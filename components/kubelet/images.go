package kubelet

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
)

// PullTimeout bounds one image pull. With no registry reachable (the usual
// case for a cluster on one host) a pull fails at once; a slow one is cut.
const PullTimeout = 2 * time.Minute

// imageResult is the outcome of EnsureImage, for events and status.
type imageResult struct {
	Image   containerd.Image
	Pulled  bool   // a pull happened and succeeded
	Warning string // the pull failed but the node has the image
}

// EnsureImage makes image available as policy says, as Kubernetes does:
//
//   - Never: the image must be on the node (ErrImageNeverPull otherwise);
//   - IfNotPresent: pull only if it is not on the node;
//   - Always: pull every time. When no registry can be reached and the node
//     already has the image (the images `make images` built are imported
//     into every node), tinykube uses it and says so in a warning, where
//     Kubernetes would fail: on a laptop without a registry `image: busybox`
//     (which means busybox:latest, pulled Always) must still run.
func (r *Runtime) EnsureImage(ctx context.Context, image string, policy corev1.PullPolicy) (imageResult, error) {
	ref, err := NormalizeImage(image)
	if err != nil {
		return imageResult{}, fmt.Errorf("%w: %v", ErrImagePull, err)
	}
	local, lerr := r.client.GetImage(ctx, ref)
	present := lerr == nil
	if lerr != nil && !errdefs.IsNotFound(lerr) {
		return imageResult{}, lerr
	}
	switch {
	case policy == corev1.PullNever && !present:
		return imageResult{}, fmt.Errorf("%w: container image %q is not present with pull policy of Never", ErrImageNeverPull, image)
	case policy == corev1.PullNever, policy == corev1.PullIfNotPresent && present:
		return imageResult{Image: local}, r.unpack(ctx, local)
	}
	pctx, cancel := context.WithTimeout(ctx, PullTimeout)
	defer cancel()
	pulled, err := r.client.Pull(pctx, ref, containerd.WithPullUnpack, containerd.WithPullSnapshotter(snapshotter))
	if err == nil {
		return imageResult{Image: pulled, Pulled: true}, nil
	}
	if present {
		return imageResult{Image: local, Warning: fmt.Sprintf("pulling %q failed (%v); using the image already on the node", image, err)}, r.unpack(ctx, local)
	}
	return imageResult{}, fmt.Errorf("%w: failed to pull image %q: %v (no registry is reachable from this cluster: use an image `make images` built — busybox, registry.k8s.io/pause:3.10, tinykube/demo:1.0 — or load one with `ctr -n k8s.io images import`)", ErrImagePull, image, err)
}

const snapshotter = "overlayfs"

func (r *Runtime) unpack(ctx context.Context, img containerd.Image) error {
	ok, err := img.IsUnpacked(ctx, snapshotter)
	if err != nil || ok {
		return err
	}
	return img.Unpack(ctx, snapshotter)
}

// HasImage reports whether the node has image.
func (r *Runtime) HasImage(ctx context.Context, image string) bool {
	ref, err := NormalizeImage(image)
	if err != nil {
		return false
	}
	_, err = r.client.GetImage(ctx, ref)
	return err == nil
}

// MaxNodeImages is how many images a Node's status lists at most, the
// largest first (the kubelet's nodeStatusMaxImages).
const MaxNodeImages = 50

// nodeImages lists the node's images for its status, or nil (and a line
// in the log) if containerd cannot say.
func (n *node) nodeImages(ctx context.Context) []corev1.ContainerImage {
	imgs, err := n.runtime.client.ListImages(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubelet: listing images: %v\n", err)
		return nil
	}
	var refs []imageRef
	for _, img := range imgs {
		size, err := img.Size(ctx)
		if err != nil {
			continue // its content is incomplete: not usable
		}
		refs = append(refs, imageRef{Name: img.Name(), Digest: img.Target().Digest.String(), Size: size})
	}
	return NodeImages(refs)
}

// imageRef is one name of an image in containerd: several names (tags)
// can point to the same image (digest).
type imageRef struct {
	Name, Digest string
	Size         int64
}

// NodeImages is what a Node's status.images says of refs: one entry per
// image, with all its names and its name@digest, the largest images
// first, at most MaxNodeImages. Pure.
func NodeImages(refs []imageRef) []corev1.ContainerImage {
	byDigest := map[string]*corev1.ContainerImage{}
	var order []string
	for _, r := range refs {
		img := byDigest[r.Digest]
		if img == nil {
			img = &corev1.ContainerImage{SizeBytes: r.Size}
			byDigest[r.Digest] = img
			order = append(order, r.Digest)
		}
		img.Names = append(img.Names, r.Name)
	}
	out := []corev1.ContainerImage{}
	for _, d := range order {
		img := byDigest[d]
		slices.Sort(img.Names)
		// The repository of its first name, with the digest:
		// docker.io/tinykube/demo:1.0 → docker.io/tinykube/demo@sha256:...
		name := img.Names[0]
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") && !strings.Contains(name, "@") {
			img.Names = append([]string{name[:i] + "@" + d}, img.Names...)
		}
		out = append(out, *img)
	}
	slices.SortStableFunc(out, func(a, b corev1.ContainerImage) int {
		if a.SizeBytes != b.SizeBytes {
			return cmp.Compare(b.SizeBytes, a.SizeBytes)
		}
		return cmp.Compare(a.Names[0], b.Names[0])
	})
	if len(out) > MaxNodeImages {
		out = out[:MaxNodeImages]
	}
	return out
}
