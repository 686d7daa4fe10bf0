package plugins

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackground(t *testing.T) {
	var b Background
	if _, err := b.Health(context.Background()); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Health before Go: err %v, want ErrNotStarted", err)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Go: %v, want nil", err)
	}

	running, stopped := make(chan struct{}), make(chan struct{})
	err := b.Go("test", func(ctx context.Context) error {
		b.SetHealth(true, "serving")
		close(running)
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Go("test", func(context.Context) error { return nil }); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Go: err %v, want ErrAlreadyStarted", err)
	}
	<-running
	if h, _ := b.Health(context.Background()); !h.Healthy || h.Message != "serving" {
		t.Errorf("Health = %+v, want healthy, serving", h)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Error("Stop returned before the loop did")
	}
	if b.Err() != nil {
		t.Errorf("Err after Stop = %v, want nil (a stop is not a failure)", b.Err())
	}
}

func TestBackgroundFailure(t *testing.T) {
	var b Background
	b.Go("test", func(context.Context) error { return errors.New("port 53 in use") })
	deadline := time.Now().Add(5 * time.Second)
	for b.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	h, _ := b.Health(context.Background())
	if b.Err() == nil || h.Healthy || h.Message != "port 53 in use" {
		t.Errorf("after the loop failed: Err %v, Health %+v; want the error, unhealthy", b.Err(), h)
	}
}
