package plugins

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/tinykube/tinykube/plugins/proto"
)

// GRPCPlugin is the go-plugin glue for Component: on the component's side it
// serves Impl over gRPC, on the host's side it hands out a Component that
// calls it.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Component // set on the component's side only
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// PluginSets is the versioned plugin map both sides use.
func PluginSets(impl Component) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl}},
	}
}

// GRPCServer registers the lifecycle service on the component's side.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterComponentServer(s, &grpcServer{impl: p.Impl})
	return nil
}

// GRPCClient returns the host's view of a component.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &grpcClient{client: pb.NewComponentClient(c)}, nil
}

// grpcServer turns gRPC calls into calls on a Component.
type grpcServer struct {
	pb.UnimplementedComponentServer
	impl Component
}

func (s *grpcServer) Identify(ctx context.Context, _ *pb.IdentifyRequest) (*pb.Identity, error) {
	id, err := s.impl.Identify(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.Identity{Kind: id.Kind, Implementation: id.Implementation, Version: id.Version}, nil
}

func (s *grpcServer) Start(ctx context.Context, r *pb.StartRequest) (*pb.StartResponse, error) {
	err := s.impl.Start(ctx, Settings{
		Cluster: r.Cluster,
		Machine: r.Machine,
		Role:    r.Role,
		Address: r.Address,
		DataDir: r.DataDir,
		Values:  r.Settings,
		Peers:   r.Peers,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.StartResponse{}, nil
}

func (s *grpcServer) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	h, err := s.impl.Health(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.HealthResponse{Healthy: h.Healthy, Message: h.Message}, nil
}

func (s *grpcServer) Stop(ctx context.Context, r *pb.StopRequest) (*pb.StopResponse, error) {
	if r.DeadlineUnixNano > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, r.DeadlineUnixNano))
		defer cancel()
	}
	if err := s.impl.Stop(ctx); err != nil {
		return nil, toStatus(err)
	}
	return &pb.StopResponse{}, nil
}

// grpcClient is a Component that calls a component process.
type grpcClient struct {
	client pb.ComponentClient
}

var _ Component = (*grpcClient)(nil)

func (c *grpcClient) Identify(ctx context.Context) (Identity, error) {
	r, err := c.client.Identify(ctx, &pb.IdentifyRequest{})
	if err != nil {
		return Identity{}, fromStatus(err)
	}
	return Identity{Kind: r.Kind, Implementation: r.Implementation, Version: r.Version}, nil
}

func (c *grpcClient) Start(ctx context.Context, s Settings) error {
	_, err := c.client.Start(ctx, &pb.StartRequest{
		Cluster:  s.Cluster,
		Machine:  s.Machine,
		Role:     s.Role,
		Address:  s.Address,
		DataDir:  s.DataDir,
		Settings: s.Values,
		Peers:    s.Peers,
	})
	return fromStatus(err)
}

func (c *grpcClient) Health(ctx context.Context) (Health, error) {
	r, err := c.client.Health(ctx, &pb.HealthRequest{})
	if err != nil {
		return Health{}, fromStatus(err)
	}
	return Health{Healthy: r.Healthy, Message: r.Message}, nil
}

func (c *grpcClient) Stop(ctx context.Context) error {
	req := &pb.StopRequest{}
	if d, ok := ctx.Deadline(); ok {
		req.DeadlineUnixNano = d.UnixNano()
	}
	_, err := c.client.Stop(ctx, req)
	return fromStatus(err)
}

// toStatus carries the contract's sentinel errors across gRPC as codes.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrAlreadyStarted):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, ErrNotStarted):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// fromStatus turns codes back into the contract's sentinel errors, so a host
// can use errors.Is whether the component is in-process or not.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.AlreadyExists:
		return ErrAlreadyStarted
	case codes.FailedPrecondition:
		return ErrNotStarted
	}
	return &RemoteError{Code: st.Code().String(), Message: st.Message()}
}

// RemoteError is an error a component returned, or a failure to reach it.
type RemoteError struct {
	Code    string
	Message string
}

func (e *RemoteError) Error() string { return e.Message }
