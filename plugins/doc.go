// Package plugins is the contract between a tinykube machine's agent (the
// host) and each component it runs (etcd, apiserver, scheduler, ...). Every
// component, the reference one or a student's, is a separate program that
// speaks this contract over gRPC through hashicorp/go-plugin, so swapping a
// component is swapping a binary path.
//
// # The lifecycle
//
// The agent drives a component process in four calls (see Component):
//
//  1. Identify: what are you? A kind ("etcd", "scheduler", ...), an
//     implementation name ("reference", "memetcd", "alice-scheduler") and a
//     version. The agent refuses a binary of the wrong kind.
//  2. Start: here are your settings (the machine's name, role and address,
//     a data directory that survives restarts, the peers' addresses, and the
//     component's own key/value settings from the cluster config).
//  3. Health: are you doing your job? Polled until healthy (the next
//     component on the machine starts only then), then every second.
//  4. Stop: release everything before this deadline. The process is killed
//     after it.
//
// If the process ends by itself the agent starts a new one and calls
// Identify and Start again, waiting longer after each crash.
//
// # Writing a component
//
// Implement Component, then make main a single call:
//
//	func main() { plugins.Serve(mycomponent.New()) }
//
// Run by hand, such a binary prints what it is and how it is run, and exits
// with status 1. Check it against the contract with the conformance suite:
//
//	go test ./plugins/conformance -run TestBinary -binary ./my-component
//
// and run it in a cluster with `tinykube up --use KIND=./my-component`.
//
// # Versions
//
// ProtocolVersion is the contract's version. go-plugin refuses a component
// that speaks another one at the handshake, and the agent reports that
// naming the component and its binary. The wire format is
// proto/component.proto; `make proto` regenerates its Go code.
//
// # What lives here
//
//   - contract.go: the Component interface, the handshake, the names;
//   - grpc.go: the go-plugin glue both sides share;
//   - serve.go: Serve, for a component's main;
//   - client.go: Launch, for the host;
//   - conformance/: the test suite every implementation must pass.
package plugins
