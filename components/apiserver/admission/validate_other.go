package admission

import (
	"fmt"
	"net"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// coordination, discovery, events, networking and autoscaling.
// Reference: pkg/apis/{coordination,discovery,networking,autoscaling}/validation
// and pkg/apis/core/validation/events.go.

// ---- Lease ----

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := validateObjectMeta(&l.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, validateLeaseSpec(&l.Spec)...)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec) field.ErrorList {
	var errs field.ErrorList
	if d := spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if t := spec.LeaseTransitions; t != nil && *t < 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseTransitions"), *t, "must be greater than or equal to 0"))
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		errs = append(errs, field.Forbidden(specPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

func validateLeaseUpdate(l, old *coordinationv1.Lease) field.ErrorList {
	return append(validateObjectMetaUpdate(&l.ObjectMeta, &old.ObjectMeta), validateLeaseSpec(&l.Spec)...)
}

// ---- EndpointSlice ----

var supportedAddressTypes = []string{string(discoveryv1.AddressTypeFQDN), string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6)}

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateObjectMeta(&es.ObjectMeta, true, nameIsDNSSubdomain)
	at := field.NewPath("addressType")
	switch es.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	case "":
		errs = append(errs, field.Required(at, ""))
	default:
		errs = append(errs, field.NotSupported(at, es.AddressType, supportedAddressTypes))
	}
	ep := field.NewPath("endpoints")
	if len(es.Endpoints) > 1000 {
		errs = append(errs, field.TooMany(ep, len(es.Endpoints), 1000))
	} else {
		for i, e := range es.Endpoints {
			p := ep.Index(i)
			ap := p.Child("addresses")
			if len(e.Addresses) == 0 {
				errs = append(errs, field.Required(ap, "must contain at least 1 address"))
			} else if len(e.Addresses) > 100 {
				errs = append(errs, field.TooMany(ap, len(e.Addresses), 100))
			}
			for j, a := range e.Addresses {
				errs = append(errs, validateSliceAddress(es.AddressType, a, ap.Index(j))...)
			}
			if e.NodeName != nil {
				errs = append(errs, validateName(nameIsDNSSubdomain, *e.NodeName, p.Child("nodeName"))...)
			}
			if e.Hostname != nil {
				errs = append(errs, validateDNS1123Label(*e.Hostname, p.Child("hostname"))...)
			}
		}
	}
	pp := field.NewPath("ports")
	names := sets.New[string]()
	for i, port := range es.Ports {
		p := pp.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			errs = append(errs, validateDNS1123Label(name, p.Child("name"))...)
		}
		if names.Has(name) {
			errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
		} else {
			names.Insert(name)
		}
		if port.Protocol == nil {
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		} else if !validProtocol(*port.Protocol) {
			errs = append(errs, field.NotSupported(p.Child("protocol"), *port.Protocol, supportedPortProtocols))
		}
		if port.AppProtocol != nil {
			errs = append(errs, validateQualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
	}
	return errs
}

func validateSliceAddress(t discoveryv1.AddressType, a string, fldPath *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		ip := net.ParseIP(a)
		if ip == nil || (t == discoveryv1.AddressTypeIPv4) != (ip.To4() != nil) || strings.Contains(a, ":") == (t == discoveryv1.AddressTypeIPv4) {
			kind := "IPv4"
			if t == discoveryv1.AddressTypeIPv6 {
				kind = "IPv6"
			}
			return field.ErrorList{field.Invalid(fldPath, a, fmt.Sprintf("must be a valid %s address", kind))}
		}
		return validateNonSpecialIP(a, fldPath)
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(fldPath, a)
	}
	return nil
}

func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateObjectMetaUpdate(&es.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateEndpointSlice(es)...)
	return append(errs, validateImmutable(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

// ---- Event (events.k8s.io/v1) ----

func eventsEventFields(ev *eventsv1.Event) *eventFields {
	e := &eventFields{
		meta: &ev.ObjectMeta, involvedNamespace: ev.Regarding.Namespace, eventTime: ev.EventTime,
		reportingController: ev.ReportingController, reportingInstance: ev.ReportingInstance,
		action: ev.Action, reason: ev.Reason, note: ev.Note, typ: ev.Type,
		firstTimestamp: ev.DeprecatedFirstTimestamp, lastTimestamp: ev.DeprecatedLastTimestamp, count: ev.DeprecatedCount,
		sourceSet: ev.DeprecatedSource.Component != "" || ev.DeprecatedSource.Host != "",
	}
	if ev.Series != nil {
		e.series = &struct {
			count            int32
			lastObservedTime metav1.MicroTime
		}{ev.Series.Count, ev.Series.LastObservedTime}
	}
	return e
}

// validateEventsEvent: an events.k8s.io/v1 Event is checked strictly. The
// messages use the core/v1 field names (involvedObject, message, ...), as
// Kubernetes' do.
func validateEventsEvent(ev *eventsv1.Event) field.ErrorList {
	e := eventsEventFields(ev)
	return append(legacyValidateEvent(e, "reportingController"), strictValidateEvent(e)...)
}

func validateEventsEventUpdate(ev, old *eventsv1.Event) field.ErrorList {
	e := eventsEventFields(ev)
	errs := legacyValidateEvent(e, "reportingController")
	errs = append(errs, validateObjectMetaUpdate(&ev.ObjectMeta, &old.ObjectMeta)...)
	if !equalSeries(ev.Series, old.Series) {
		errs = append(errs, validateEventSeries(e)...)
	}
	// What an event reports is fixed; only its series may grow.
	errs = append(errs, validateImmutable(ev.Regarding, old.Regarding, field.NewPath("involvedObject"))...)
	errs = append(errs, validateImmutable(ev.Reason, old.Reason, field.NewPath("reason"))...)
	errs = append(errs, validateImmutable(ev.Note, old.Note, field.NewPath("message"))...)
	errs = append(errs, validateImmutable(ev.DeprecatedSource, old.DeprecatedSource, field.NewPath("source"))...)
	errs = append(errs, validateImmutable(ev.DeprecatedFirstTimestamp, old.DeprecatedFirstTimestamp, field.NewPath("firstTimestamp"))...)
	errs = append(errs, validateImmutable(ev.DeprecatedLastTimestamp, old.DeprecatedLastTimestamp, field.NewPath("lastTimestamp"))...)
	errs = append(errs, validateImmutable(ev.DeprecatedCount, old.DeprecatedCount, field.NewPath("count"))...)
	errs = append(errs, validateImmutable(ev.Type, old.Type, field.NewPath("type"))...)
	errs = append(errs, validateImmutable(ev.EventTime, old.EventTime, field.NewPath("eventTime"))...)
	errs = append(errs, validateImmutable(ev.Action, old.Action, field.NewPath("action"))...)
	errs = append(errs, validateImmutable(ev.Related, old.Related, field.NewPath("related"))...)
	errs = append(errs, validateImmutable(ev.ReportingController, old.ReportingController, field.NewPath("reportingController"))...)
	return append(errs, validateImmutable(ev.ReportingInstance, old.ReportingInstance, field.NewPath("reportingInstance"))...)
}

func equalSeries(a, b *eventsv1.EventSeries) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Count == b.Count && a.LastObservedTime.Equal(&b.LastObservedTime)
}

// ---- Ingress ----

var invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
var invalidPathSuffixes = []string{"/..", "/."}

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	errs := validateObjectMeta(&ing.ObjectMeta, true, nameIsDNSSubdomain)
	errs = append(errs, validateIngressSpec(&ing.Spec)...)
	// The old annotation and the field name the same thing.
	if v, ok := ing.Annotations["kubernetes.io/ingress.class"]; ok && ing.Spec.IngressClassName != nil && v != *ing.Spec.IngressClassName {
		errs = append(errs, field.Invalid(field.NewPath("annotations").Child("kubernetes.io/ingress.class"), v,
			"must match `ingressClassName` when both are specified"))
	}
	return errs
}

func validateIngressUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	return append(validateObjectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta), validateIngressSpec(&ing.Spec)...)
}

func validateIngressSpec(spec *networkingv1.IngressSpec) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		errs = append(errs, field.Invalid(specPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(spec.DefaultBackend, specPath.Child("defaultBackend"))...)
	}
	for i, r := range spec.Rules {
		p := specPath.Child("rules").Index(i)
		if r.Host != "" {
			if net.ParseIP(r.Host) != nil {
				errs = append(errs, field.Invalid(p.Child("host"), r.Host, "must be a DNS name, not an IP address"))
			}
			if strings.Contains(r.Host, "*") {
				for _, msg := range validation.IsWildcardDNS1123Subdomain(r.Host) {
					errs = append(errs, field.Invalid(p.Child("host"), r.Host, msg))
				}
			} else {
				errs = append(errs, validateDNS1123Subdomain(r.Host, p.Child("host"))...)
			}
		}
		if r.HTTP != nil {
			hp := p.Child("http")
			if len(r.HTTP.Paths) == 0 {
				errs = append(errs, field.Required(hp.Child("paths"), ""))
			}
			for j := range r.HTTP.Paths {
				errs = append(errs, validateIngressPath(&r.HTTP.Paths[j], hp.Child("paths").Index(j))...)
			}
		}
	}
	for i, tls := range spec.TLS {
		p := specPath.Child("tls").Index(i)
		for j, h := range tls.Hosts {
			hp := p.Child("hosts").Index(j)
			if strings.Contains(h, "*") {
				for _, msg := range validation.IsWildcardDNS1123Subdomain(h) {
					errs = append(errs, field.Invalid(hp, h, msg))
				}
				continue
			}
			errs = append(errs, validateDNS1123Subdomain(h, hp)...)
		}
		if tls.SecretName != "" {
			errs = append(errs, validateName(nameIsDNSSubdomain, tls.SecretName, p.Child("secretName"))...)
		}
	}
	if spec.IngressClassName != nil {
		errs = append(errs, validateName(nameIsDNSSubdomain, *spec.IngressClassName, specPath.Child("ingressClassName"))...)
	}
	return errs
}

func validateIngressPath(p *networkingv1.HTTPIngressPath, fldPath *field.Path) field.ErrorList {
	if p.PathType == nil {
		return field.ErrorList{field.Required(fldPath.Child("pathType"), "pathType must be specified")}
	}
	var errs field.ErrorList
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(fldPath.Child("path"), p.Path, "must be an absolute path"))
		}
		if p.Path != "" {
			for _, seq := range invalidPathSequences {
				if strings.Contains(p.Path, seq) {
					errs = append(errs, field.Invalid(fldPath.Child("path"), p.Path, fmt.Sprintf("must not contain '%s'", seq)))
				}
			}
			for _, suf := range invalidPathSuffixes {
				if strings.HasSuffix(p.Path, suf) {
					errs = append(errs, field.Invalid(fldPath.Child("path"), p.Path, fmt.Sprintf("cannot end with '%s'", suf)))
				}
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(fldPath.Child("path"), p.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("pathType"), *p.PathType, []networkingv1.PathType{
			networkingv1.PathTypeExact, networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypePrefix}))
	}
	return append(errs, validateIngressBackend(&p.Backend, fldPath.Child("backend"))...)
}

func validateIngressBackend(b *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(fldPath, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		var errs field.ErrorList
		rp := fldPath.Child("resource")
		if b.Resource.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		}
		if b.Resource.Kind == "" {
			errs = append(errs, field.Required(rp.Child("kind"), ""))
		}
		return errs
	case b.Service != nil:
		var errs field.ErrorList
		sp := fldPath.Child("service")
		if b.Service.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		} else {
			errs = append(errs, validateName(nameIsDNS1035Label, b.Service.Name, sp.Child("name"))...)
		}
		hasName, hasNumber := b.Service.Port.Name != "", b.Service.Port.Number != 0
		switch {
		case hasName && hasNumber:
			errs = append(errs, field.Invalid(fldPath, "", "cannot set both port name & port number"))
		case hasName:
			for _, msg := range validation.IsValidPortName(b.Service.Port.Name) {
				errs = append(errs, field.Invalid(sp.Child("port", "name"), b.Service.Port.Name, msg))
			}
		case hasNumber:
			for _, msg := range validation.IsValidPortNum(int(b.Service.Port.Number)) {
				errs = append(errs, field.Invalid(sp.Child("port", "number"), b.Service.Port.Number, msg))
			}
		default:
			errs = append(errs, field.Required(fldPath, "port name or number is required"))
		}
		return errs
	}
	return field.ErrorList{field.Invalid(fldPath, "", "resource or service backend is required")}
}

// ---- HorizontalPodAutoscaler ----

func validateHPA(hpa *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := validateObjectMeta(&hpa.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, validateHPASpec(&hpa.Spec)...)
}

func validateHPAUpdate(hpa, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	return append(validateObjectMetaUpdate(&hpa.ObjectMeta, &old.ObjectMeta), validateHPASpec(&hpa.Spec)...)
}

var metricSourceTypes = []autoscalingv2.MetricSourceType{autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType,
	autoscalingv2.ResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType}

func validateHPASpec(spec *autoscalingv2.HorizontalPodAutoscalerSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.MinReplicas != nil && *spec.MinReplicas < 1 {
		errs = append(errs, field.Invalid(specPath.Child("minReplicas"), *spec.MinReplicas, "must be greater than or equal to 1"))
	}
	if spec.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), spec.MaxReplicas, "must be greater than 0"))
	}
	if spec.MinReplicas != nil && spec.MaxReplicas < *spec.MinReplicas {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	ref := specPath.Child("scaleTargetRef")
	for _, f := range []struct{ name, value string }{{"kind", spec.ScaleTargetRef.Kind}, {"name", spec.ScaleTargetRef.Name}} {
		if f.value == "" {
			errs = append(errs, field.Required(ref.Child(f.name), ""))
			continue
		}
		for _, msg := range content.IsPathSegmentName(f.value) {
			errs = append(errs, field.Invalid(ref.Child(f.name), f.value, msg))
		}
	}
	for i, m := range spec.Metrics {
		p := specPath.Child("metrics").Index(i)
		if m.Type == "" {
			errs = append(errs, field.Required(p.Child("type"), "must specify a metric source type"))
		}
		known := false
		for _, t := range metricSourceTypes {
			known = known || m.Type == t
		}
		if !known {
			errs = append(errs, field.NotSupported(p.Child("type"), m.Type, metricSourceTypes))
		}
		if m.Type == autoscalingv2.ResourceMetricSourceType {
			if m.Resource == nil {
				errs = append(errs, field.Required(p.Child("resource"), "must populate information for the given metric source"))
			} else if m.Resource.Name == "" {
				errs = append(errs, field.Required(p.Child("resource", "name"), "must specify a resource name"))
			} else {
				errs = append(errs, validateContainerResourceName(string(m.Resource.Name), p.Child("resource", "name"))...)
			}
		}
	}
	return errs
}
