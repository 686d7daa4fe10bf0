package controllermanager

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
)

// ControllerRevisions: a workload's template history.
//
// DaemonSets and StatefulSets keep each version of their pod template in a
// ControllerRevision they own. Its data is a strategic merge patch that
// puts the template back, {"spec":{"template":{..., "$patch":"replace"}}}:
// `kubectl rollout undo` applies it to the workload as it is, and
// `kubectl rollout history --revision=N` applies it to a copy to show it.
// Its name is "<owner>-<hash of the data>", and the owner's pods carry the
// hash (DaemonSet) or the name (StatefulSet) as controller-revision-hash.

// controllerRevisionPatch is the revision data of a DaemonSet or a
// StatefulSet: its pod template as a replacing patch.
func controllerRevisionPatch(workload any) ([]byte, error) {
	data, err := json.Marshal(workload)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	spec, _ := raw["spec"].(map[string]any)
	template, _ := spec["template"].(map[string]any)
	if template == nil {
		return nil, fmt.Errorf("%T: no spec.template", workload)
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// controllerRevisionTemplate reads the pod template back from a revision.
func controllerRevisionTemplate(cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var patch struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(cr.Data.Raw, &patch); err != nil {
		return nil, fmt.Errorf("controller revision %s: data: %w", cr.Name, err)
	}
	return &patch.Spec.Template, nil
}

// controllerRevisionHash is a short, name-safe hash of a revision's data
// and the owner's collisionCount (bumped when two templates' hashes
// collide, to get a new name).
func controllerRevisionHash(data []byte, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(data)
	if collisionCount != nil {
		fmt.Fprintf(h, "%d", *collisionCount)
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// controllerRevisionName is "<owner>-<hash>", the owner's name cut so
// that the whole is a valid name.
func controllerRevisionName(owner, hash string) string {
	if len(owner) > 223 {
		owner = owner[:223]
	}
	return owner + "-" + hash
}

// ownedRevisions lists, from the cache, the revisions whose controller is
// the object with uid, oldest first.
func ownedRevisions(lister appslisters.ControllerRevisionLister, namespace string, uid types.UID) ([]*appsv1.ControllerRevision, error) {
	all, err := lister.ControllerRevisions(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ControllerRevision
	for _, cr := range all {
		if ref := metav1.GetControllerOf(cr); ref != nil && ref.UID == uid {
			out = append(out, cr)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Revision != out[j].Revision {
			return out[i].Revision < out[j].Revision
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func controllerRevisionMax(revisions []*appsv1.ControllerRevision) int64 {
	var n int64
	for _, cr := range revisions {
		n = max(n, cr.Revision)
	}
	return n
}

// revisionsToPrune returns the oldest of history, beyond limit, that live
// does not protect.
func revisionsToPrune(history []*appsv1.ControllerRevision, limit int, live func(*appsv1.ControllerRevision) bool) []*appsv1.ControllerRevision {
	var dead []*appsv1.ControllerRevision
	for _, cr := range history {
		if !live(cr) {
			dead = append(dead, cr)
		}
	}
	sort.SliceStable(dead, func(i, j int) bool { return dead[i].Revision < dead[j].Revision })
	if len(dead) <= limit {
		return nil
	}
	return dead[:len(dead)-limit]
}

// cloneWithLabel is a copy of m with key=value added.
func cloneWithLabel(m map[string]string, key, value string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	out[key] = value
	return out
}

// createControllerRevision writes revision number revision of owner's
// template (patch, from controllerRevisionPatch), named "<owner>-<hash>"
// and labelled with the hash. If a revision of that name exists and is
// owner's with the same data (the cache had not shown it yet), that is the
// one. If it holds something else, the hash collided: collided is true, and
// the caller bumps its collisionCount, which changes the hash, and tries
// again.
func createControllerRevision(ctx context.Context, client kubernetes.Interface, owner metav1.Object, kind schema.GroupVersionKind, templateLabels map[string]string, patch []byte, revision int64, collisionCount *int32) (cr *appsv1.ControllerRevision, collided bool, err error) {
	hash := controllerRevisionHash(patch, collisionCount)
	want := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            controllerRevisionName(owner.GetName(), hash),
			Namespace:       owner.GetNamespace(),
			Labels:          cloneWithLabel(templateLabels, appsv1.ControllerRevisionHashLabelKey, hash),
			Annotations:     maps.Clone(owner.GetAnnotations()),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, kind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}
	revisions := client.AppsV1().ControllerRevisions(owner.GetNamespace())
	made, err := revisions.Create(ctx, want, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return made, false, err
	}
	existing, err := revisions.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == owner.GetUID() && string(existing.Data.Raw) == string(patch) {
		return existing, false, nil
	}
	return want, true, nil
}
