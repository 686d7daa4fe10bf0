// Package admission decides what the apiserver stores: it fills in the
// fields a user left out (defaulting) and refuses objects Kubernetes would
// refuse (validation), with Kubernetes' own error messages.
//
// # Defaulting
//
// A manifest says little. The course's mysql-rc.yaml gives a
// ReplicationController a selector, one container, its image and a port;
// what the cluster stores has much more: the container's imagePullPolicy
// (Always, since "mysql" means "mysql:latest"), its terminationMessagePath,
// the port's protocol TCP, the pod's restartPolicy Always, dnsPolicy
// ClusterFirst, schedulerName default-scheduler,
// terminationGracePeriodSeconds 30. Each controller and the kubelet can then
// read a field without asking "and if it is empty?". Defaulting only fills
// what is empty, so it can run on every write.
//
// # Validation
//
// Validation checks a defaulted object against the rules of its kind: a
// pod needs containers, each with a DNS-label name and an image; a
// ReplicationController's selector must match its template's labels; a
// Service's cluster IP never changes. Every broken rule is reported, not
// just the first, as a field.Error: the path of the field, the kind of
// problem and a detail, printed the way kubectl prints them:
//
//	spec.containers[0].image: Required value
//	spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`
//
// The messages are Kubernetes' own, word for word, so that a student who
// searches the web for one finds answers that apply.
//
// # Where it sits in a request
//
// A create (POST) goes through these steps; the apiserver (the caller) does
// the I/O and calls this package, which does none:
//
//  1. Decode the body into the Go type of the resource (*corev1.Pod, ...).
//  2. Default(obj).
//  3. Fill the system fields: metadata.namespace from the URL,
//     metadata.uid, creationTimestamp, and metadata.name from
//     metadata.generateName if the name is empty. A cluster-scoped object's
//     namespace is cleared, as Kubernetes does.
//  4. PrepareForCreate(obj): the registry's own changes (a Pod starts
//     Pending, a Job gets its selector from its uid, ...).
//  5. errs := ValidateCreate(obj). If errs is not empty, answer with
//     Invalid(obj, errs) and store nothing.
//  6. Store the object.
//
// An update (PUT, or a PATCH once the patch is applied) decodes and
// defaults the new object, copies uid, creationTimestamp and (for an
// unconditional update) resourceVersion from the stored one, keeps the
// stored status if the resource has a status subresource, then calls
// PrepareForUpdate(newObj, oldObj) and ValidateUpdate(newObj, oldObj).
//
// # Why 422
//
// A body that cannot be decoded is a 400 Bad Request: the server could not
// understand it. An object that decodes but breaks a rule is a 422
// Unprocessable Entity with reason "Invalid": the server understood it and
// refuses it. Invalid builds that error, a metav1.Status whose details list
// one cause per field error, which kubectl prints as
//
//	The Pod "web" is invalid: spec.containers[0].image: Required value
//
// Reference: Kubernetes API concepts, "Field validation"; the defaulting
// and validation code of kubernetes/kubernetes (pkg/apis/*/v1/defaults.go,
// pkg/apis/*/validation/validation.go).
package admission
