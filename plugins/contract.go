package plugins

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the version of the lifecycle contract. A host and a
// component must speak the same version; go-plugin refuses the pairing
// otherwise and the agent reports it naming the component and binary.
const ProtocolVersion = 1

// PluginName is the name under which every component registers its
// lifecycle service in the plugin map.
const PluginName = "component"

// Handshake is shared by the host and every component. The magic cookie only
// tells a component binary that a tinykube host started it; it is not a
// security measure.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "TINYKUBE_COMPONENT",
	MagicCookieValue: "a5c1f0e2-tinykube-component",
}

// Kinds of component. Kind is what a component does; the implementation
// (reference or a student's) is said by Identity.Implementation.
const (
	KindEtcd              = "etcd"
	KindAPIServer         = "apiserver"
	KindScheduler         = "scheduler"
	KindControllerManager = "controller-manager"
	KindContainerd        = "containerd"
	KindKubelet           = "kubelet"
	KindKubeProxy         = "kube-proxy"
	KindDNS               = "dns"
)

// Identity says what a component is.
type Identity struct {
	Kind           string // one of the Kind constants
	Implementation string // "reference" for tinykube's own, anything else for others
	Version        string
}

// Settings is what a component is started with.
type Settings struct {
	Cluster string            // the cluster's name
	Machine string            // the machine the component runs on
	Role    string            // the machine's role: "master" or "node"
	Address string            // the machine's IP address on the cluster network
	DataDir string            // the component's own directory; kept across restarts of the component
	Values  map[string]string // the component's own settings from the cluster config
	Peers   map[string]string // every machine's name → address
}

// Health is a component's report on itself.
type Health struct {
	Healthy bool
	Message string // why not healthy, or a short note on what it serves
}

// ErrAlreadyStarted is returned by Start when the component runs already.
var ErrAlreadyStarted = errors.New("plugins: component already started")

// ErrNotStarted is returned by Health and Stop before Start.
var ErrNotStarted = errors.New("plugins: component not started")

// Component is the lifecycle every tinykube component implements, the
// reference ones and a student's alike. The agent calls, in order:
//
//  1. Identify, at any time, as often as it likes;
//  2. Start once, with the component's settings; it returns when the
//     component's work has begun (servers listening or about to), not when
//     it is healthy;
//  3. Health repeatedly until it reports healthy, then on a period while the
//     component runs;
//  4. Stop once, with a context whose deadline is when the component must
//     have released everything (ports, files); the process is killed after.
//
// Every method may be called concurrently with Health. Values returned are
// owned by the caller.
type Component interface {
	// Identify returns what the component is. It never fails on a working
	// component.
	Identify(ctx context.Context) (Identity, error)
	// Start starts the component. A second call returns ErrAlreadyStarted.
	Start(ctx context.Context, s Settings) error
	// Health reports on the component; before Start it returns ErrNotStarted.
	Health(ctx context.Context) (Health, error)
	// Stop stops the component before ctx's deadline. Stop on a stopped or
	// never started component returns nil.
	Stop(ctx context.Context) error
}

// StopGrace is how long the agent gives a component's Stop before it kills
// the process.
const StopGrace = 5 * time.Second
