package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// Service-account tokens, as Kubernetes makes them: a JWT signed by the
// apiserver's service-account key, naming the account and (for a pod's
// projected token) the pod it is bound to. A pod's process sends it as
// "Authorization: Bearer <token>" and is then the user
// system:serviceaccount:<namespace>:<name>.
//
//   - The kubelet asks for one per pod with a TokenRequest
//     (POST .../serviceaccounts/<name>/token) and writes it into the
//     pod's kube-api-access volume, which the apiserver added to the pod
//     when it was created (serviceAccountAdmission).
//   - A bound token dies with its pod: authentication checks that the pod
//     still exists with the same UID.

// DefaultIssuer is the tokens' iss claim and default audience, as in
// Kubernetes' default --service-account-issuer.
const DefaultIssuer = "https://kubernetes.default.svc.cluster.local"

// ServiceAccountKeys sign and verify tokens.
type ServiceAccountKeys struct {
	Signer *ecdsa.PrivateKey
	Issuer string
}

// LoadServiceAccountKey reads a PEM private key (PKCS#8, ECDSA).
func LoadServiceAccountKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM data", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: want an ECDSA key", path)
	}
	return ec, nil
}

// tokenClaims are the claims of a service-account token.
type tokenClaims struct {
	jwt.RegisteredClaims
	Kubernetes struct {
		Namespace      string     `json:"namespace"`
		ServiceAccount objectRef  `json:"serviceaccount"`
		Pod            *objectRef `json:"pod,omitempty"`
	} `json:"kubernetes.io"`
}

type objectRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// issueToken signs a token for sa, valid for ttl, for audiences, bound to
// pod if given.
func (k *ServiceAccountKeys) issueToken(sa *corev1.ServiceAccount, pod *corev1.Pod, audiences []string, now time.Time, ttl time.Duration) (string, time.Time, error) {
	c := tokenClaims{}
	exp := now.Add(ttl)
	c.Issuer = k.Issuer
	c.Subject = "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
	c.Audience = audiences
	c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(now), jwt.NewNumericDate(exp)
	c.ID = string(utilrand.String(16))
	c.Kubernetes.Namespace = sa.Namespace
	c.Kubernetes.ServiceAccount = objectRef{Name: sa.Name, UID: string(sa.UID)}
	if pod != nil {
		c.Kubernetes.Pod = &objectRef{Name: pod.Name, UID: string(pod.UID)}
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(k.Signer)
	return token, exp, err
}

// authenticateToken checks a bearer token: its signature, issuer, audience
// and expiry, and that the account (and the pod it is bound to) still
// exist.
func (s *Server) authenticateToken(ctx context.Context, raw string) (user, error) {
	if s.saKeys == nil {
		return user{}, errors.New("no service-account key configured")
	}
	var c tokenClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return &s.saKeys.Signer.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(s.saKeys.Issuer), jwt.WithAudience(s.saKeys.Issuer),
		jwt.WithTimeFunc(s.now))
	if err != nil {
		return user{}, err
	}
	ns, name := c.Kubernetes.Namespace, c.Kubernetes.ServiceAccount.Name
	obj, err := s.store(lookup("", "v1", "serviceaccounts")).Get(ctx, ns, name)
	if err != nil || string(obj.(*corev1.ServiceAccount).UID) != c.Kubernetes.ServiceAccount.UID {
		return user{}, fmt.Errorf("service account %s/%s has been deleted", ns, name)
	}
	if p := c.Kubernetes.Pod; p != nil {
		obj, err := s.store(lookup("", "v1", "pods")).Get(ctx, ns, p.Name)
		if err != nil || string(obj.(*corev1.Pod).UID) != p.UID {
			return user{}, fmt.Errorf("pod %s/%s the token is bound to no longer exists", ns, p.Name)
		}
	}
	return user{
		Name:   c.Subject,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}, nil
}

// bearerToken returns the request's bearer token, if any.
func bearerToken(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	return strings.TrimSpace(token), ok && strings.TrimSpace(token) != ""
}

// serveTokenRequest answers POST .../serviceaccounts/<name>/token.
func (s *Server) serveTokenRequest(w http.ResponseWriter, r *http.Request, req request) error {
	if s.saKeys == nil {
		return statusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "this apiserver has no service-account signing key (setting service-account-signing-key-file)")
	}
	ctx := r.Context()
	data, err := readBody(r)
	if err != nil {
		return err
	}
	var tr authenticationv1.TokenRequest
	if _, err := decodeInto(r.Header.Get("Content-Type"), data, &tr); err != nil {
		return badRequest("the body is not a valid TokenRequest: %v", err)
	}
	obj, err := s.store(req.resource).Get(ctx, req.namespace, req.name)
	if err != nil {
		return err
	}
	sa := obj.(*corev1.ServiceAccount)
	ttl := time.Hour
	if e := tr.Spec.ExpirationSeconds; e != nil {
		if *e < 600 {
			return apierrors.NewBadRequest("spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes")
		}
		ttl = time.Duration(*e) * time.Second
	}
	audiences := tr.Spec.Audiences
	if len(audiences) == 0 {
		audiences = []string{s.saKeys.Issuer}
	}
	var pod *corev1.Pod
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if ref.Kind != "Pod" {
			return badRequest("spec.boundObjectRef.kind: Unsupported value: %q: supported values: \"Pod\"", ref.Kind)
		}
		pobj, err := s.store(lookup("", "v1", "pods")).Get(ctx, req.namespace, ref.Name)
		if err != nil {
			return err
		}
		pod = pobj.(*corev1.Pod)
		if ref.UID != "" && ref.UID != pod.UID {
			return apierrors.NewConflict(req.resource.GVR.GroupResource(), req.name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record (%s); the object might have been deleted and then recreated", ref.UID, pod.UID))
		}
	}
	token, exp, err := s.saKeys.issueToken(sa, pod, audiences, s.now(), ttl)
	if err != nil {
		return err
	}
	tr.TypeMeta = metav1.TypeMeta{Kind: "TokenRequest", APIVersion: "authentication.k8s.io/v1"}
	tr.Name, tr.Namespace = sa.Name, sa.Namespace
	tr.Spec.Audiences = audiences
	tr.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(exp)}
	writeJSON(w, http.StatusCreated, &tr)
	return nil
}

// serviceAccountAdmission does for a new pod what Kubernetes'
// ServiceAccount admission plugin does: the pod runs as the namespace's
// "default" account unless it names one, and, if that account exists and
// does not opt out, gets the kube-api-access volume (a projected token, the
// cluster CA and the namespace) mounted at
// /var/run/secrets/kubernetes.io/serviceaccount in every container.
//
// Kubernetes refuses a pod whose account does not exist. Accounts (and the
// kube-root-ca.crt ConfigMap the volume reads the CA from) are made by the
// controller-manager (chapter 5); so that pods run at the chapters before
// it, tinykube admits such a pod without the volume.
func (s *Server) serviceAccountAdmission(ctx context.Context, pod *corev1.Pod) {
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
	}
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	obj, err := s.store(lookup("", "v1", "serviceaccounts")).Get(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return
	}
	sa := obj.(*corev1.ServiceAccount)
	if a := pod.Spec.AutomountServiceAccountToken; a != nil && !*a {
		return
	}
	if pod.Spec.AutomountServiceAccountToken == nil && sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken {
		return
	}
	// The volume carries the cluster CA from the namespace's
	// kube-root-ca.crt ConfigMap, which the controller-manager publishes;
	// without it the pod could not start, so it goes without the volume.
	if _, err := s.store(lookup("", "v1", "configmaps")).Get(ctx, pod.Namespace, "kube-root-ca.crt"); err != nil {
		return
	}
	const mountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	for _, c := range pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if m.MountPath == mountPath {
				return // the pod mounts its own
			}
		}
	}
	name := "kube-api-access-" + utilrand.String(5)
	expiration, mode := int64(3607), int32(0o644)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: &mode, Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &expiration, Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}},
	}})
	mount := corev1.VolumeMount{Name: name, MountPath: mountPath, ReadOnly: true}
	for i := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[i].VolumeMounts = append(pod.Spec.InitContainers[i].VolumeMounts, mount)
	}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts, mount)
	}
}
