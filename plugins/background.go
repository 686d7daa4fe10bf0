package plugins

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// Background is the life cycle most components share: Start checks the
// settings, then runs the component's main loop in a goroutine and
// returns at once; the loop says how it is doing with SetHealth; Stop
// cancels the loop's context and waits for it to return. A component
// embeds a Background, calls Go at the end of its Start, and gets Stop,
// and Health if it has no better one, from it:
//
//	type DNS struct{ plugins.Background }
//
//	func (d *DNS) Start(_ context.Context, s plugins.Settings) error {
//		cfg, err := ConfigFrom(s)
//		if err != nil {
//			return err // a bad setting fails Start itself
//		}
//		return d.Go("dns", func(ctx context.Context) error { return d.run(ctx, cfg) })
//	}
//
// The zero value is a component not started yet.
type Background struct {
	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	healthy bool
	message string
	err     error
}

// Go runs run in a goroutine, with a context that Stop cancels. A second
// call returns ErrAlreadyStarted. The component is unhealthy ("starting")
// until run says otherwise with SetHealth. If run returns an error before
// Stop, the component turns unhealthy for good with the error as its
// message, and the error goes to stderr (the component's log) after name.
func (b *Background) Go(name string, run func(ctx context.Context) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cancel != nil {
		return ErrAlreadyStarted
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done, b.message = cancel, make(chan struct{}), "starting"
	go func() {
		defer close(b.done)
		if err := run(ctx); err != nil && ctx.Err() == nil {
			b.mu.Lock()
			b.healthy, b.message, b.err = false, err.Error(), err
			b.mu.Unlock()
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		}
	}()
	return nil
}

// Started reports whether Go has been called.
func (b *Background) Started() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cancel != nil
}

// Err is the error the loop ended with, nil while it runs (or if it
// ended because of Stop).
func (b *Background) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// SetHealth records how the loop is doing, for Health.
func (b *Background) SetHealth(healthy bool, message string) {
	b.mu.Lock()
	b.healthy, b.message = healthy, message
	b.mu.Unlock()
}

// Health returns what the loop last said with SetHealth, or why it ended.
func (b *Background) Health(context.Context) (Health, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cancel == nil {
		return Health{}, ErrNotStarted
	}
	return Health{Healthy: b.healthy, Message: b.message}, nil
}

// Stop cancels the loop's context and waits for the loop to return, or
// for ctx to end. Stopping a component never started does nothing.
func (b *Background) Stop(ctx context.Context) error {
	b.mu.Lock()
	cancel, done := b.cancel, b.done
	b.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
