package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/tinykube/tinykube/components/apiserver/storage"
)

// replicas reads and writes the replica count of a scalable object.
func replicas(obj runtime.Object) (spec *int32, status int32, selector string) {
	switch o := obj.(type) {
	case *corev1.ReplicationController:
		return o.Spec.Replicas, o.Status.Replicas, labels.SelectorFromSet(o.Spec.Selector).String()
	case *appsv1.ReplicaSet:
		return o.Spec.Replicas, o.Status.Replicas, selectorString(o.Spec.Selector)
	case *appsv1.Deployment:
		return o.Spec.Replicas, o.Status.Replicas, selectorString(o.Spec.Selector)
	case *appsv1.StatefulSet:
		return o.Spec.Replicas, o.Status.Replicas, selectorString(o.Spec.Selector)
	}
	return nil, 0, ""
}

func selectorString(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return ""
	}
	return sel.String()
}

// scaleOf is the autoscaling/v1 Scale view of a scalable object.
func scaleOf(obj runtime.Object) *autoscalingv1.Scale {
	spec, status, selector := replicas(obj)
	m := obj.(metav1.Object)
	sc := &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}
	if spec != nil {
		sc.Spec.Replicas = *spec
	}
	return sc
}

// serveScale is the scale subresource: `kubectl scale` patches it.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, req request) error {
	ctx := r.Context()
	switch req.verb {
	case "get":
		obj, err := s.store(req.resource).Get(ctx, req.namespace, req.name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, scaleOf(obj))
		return nil
	case "update", "patch":
	default:
		return notFoundPath()
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	contentType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	updated, err := s.store(req.resource).GuaranteedUpdate(ctx, req.namespace, req.name, storage.Preconditions{},
		func(current runtime.Object) (runtime.Object, error) {
			var sc autoscalingv1.Scale
			if req.verb == "update" {
				if _, err := decodeInto(contentType, body, &sc); err != nil {
					return nil, badRequest("the body is not a valid Scale: %v", err)
				}
			} else {
				scaleJSON, _ := json.Marshal(scaleOf(current))
				var newJSON []byte
				var err error
				switch contentType {
				case mergePatchType:
					newJSON, err = jsonpatch.MergePatch(scaleJSON, body)
				case jsonPatchType:
					var p jsonpatch.Patch
					if p, err = jsonpatch.DecodePatch(body); err == nil {
						newJSON, err = p.Apply(scaleJSON)
					}
				default:
					newJSON, err = strategicpatch.StrategicMergePatch(scaleJSON, body, &autoscalingv1.Scale{})
				}
				if err == nil {
					err = json.Unmarshal(newJSON, &sc)
				}
				if err != nil {
					return nil, badRequest("the patch of the scale cannot be applied: %v", err)
				}
			}
			if sc.ResourceVersion != "" && sc.ResourceVersion != current.(metav1.Object).GetResourceVersion() {
				return nil, apierrors.NewConflict(req.resource.GVR.GroupResource(), req.name,
					fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
			}
			if sc.Spec.Replicas < 0 {
				return nil, apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, req.name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "replicas"), sc.Spec.Replicas, "must be greater than or equal to 0")})
			}
			spec, _, _ := replicas(current)
			if spec == nil {
				n := sc.Spec.Replicas
				setReplicas(current, &n)
			} else if *spec != sc.Spec.Replicas {
				*spec = sc.Spec.Replicas
				m := current.(metav1.Object)
				m.SetGeneration(m.GetGeneration() + 1)
			}
			return current, nil
		})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scaleOf(updated))
	return nil
}

func setReplicas(obj runtime.Object, n *int32) {
	switch o := obj.(type) {
	case *corev1.ReplicationController:
		o.Spec.Replicas = n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = n
	case *appsv1.Deployment:
		o.Spec.Replicas = n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = n
	}
}

// bind is pods/binding: how a scheduler assigns a pod to a node. It
// succeeds once: a bound pod stays on its node.
func (s *Server) bind(w http.ResponseWriter, r *http.Request, req request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var b corev1.Binding
	if _, err := decodeInto(r.Header.Get("Content-Type"), body, &b); err != nil {
		return badRequest("the body is not a valid Binding: %v", err)
	}
	if b.Target.Name == "" {
		return badRequest("Binding %q: target.name: Required value", b.Name)
	}
	_, err = s.store(req.resource).GuaranteedUpdate(r.Context(), req.namespace, req.name, storage.Preconditions{UID: b.UID},
		func(current runtime.Object) (runtime.Object, error) {
			pod := current.(*corev1.Pod)
			if pod.DeletionTimestamp != nil {
				return nil, apierrors.NewConflict(req.resource.GVR.GroupResource(), req.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
			}
			if pod.Spec.NodeName != "" {
				return nil, apierrors.NewConflict(req.resource.GVR.GroupResource(), req.name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
			}
			pod.Spec.NodeName = b.Target.Name
			setCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(s.now())})
			return pod, nil
		})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
	return nil
}

func setCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}
