package admission

import (
	"regexp"
	"strings"
)

// An image reference is [domain/]path[:tag][@digest], as in
// "registry.example.com:5000/team/app:1.2@sha256:...". The grammar is that
// of the container registries (github.com/distribution/reference).
var (
	refPathComponent = `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
	refDomain        = `(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
	refTag           = `[\w][\w.-]{0,127}`
	refDigest        = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	refPath          = regexp.MustCompile(`^` + refPathComponent + `(?:/` + refPathComponent + `)*$`)
	refDomainRE      = regexp.MustCompile(`^` + refDomain + `$`)
	refTagRE         = regexp.MustCompile(`^` + refTag + `$`)
	refDigestRE      = regexp.MustCompile(`^` + refDigest + `$`)
)

// imageTag returns the tag an image reference pulls: its explicit tag,
// "latest" when it has neither tag nor digest ("mysql" is "mysql:latest"),
// and "" when it pins a digest only or is not a valid reference (then the
// kubelet reports the error, not the apiserver).
func imageTag(image string) string {
	name, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest && !refDigestRE.MatchString(digest) {
		return ""
	}
	tag := ""
	// A ':' after the last '/' starts the tag; one before it is a port.
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
		if !refTagRE.MatchString(tag) {
			return ""
		}
	}
	if !validImageName(name) {
		return ""
	}
	if tag == "" && !hasDigest {
		return "latest"
	}
	return tag
}

// validImageName checks [domain/]path: the first component is a domain when
// it has a '.' or ':', is "localhost", or has upper-case letters.
func validImageName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	path := name
	if first, rest, ok := strings.Cut(name, "/"); ok &&
		(strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first) {
		if !refDomainRE.MatchString(first) {
			return false
		}
		path = rest
	}
	return refPath.MatchString(path)
}
