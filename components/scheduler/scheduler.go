package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/tinykube/tinykube/plugins"
)

// Version is the reference scheduler component's version.
const Version = "v0.1.0"

// Defaults of the settings, as kube-scheduler's.
const (
	DefaultSchedulerName     = corev1.DefaultSchedulerName // "default-scheduler"
	DefaultLeaseDuration     = 15 * time.Second
	DefaultRenewDeadline     = 10 * time.Second
	DefaultRetryPeriod       = 2 * time.Second
	DefaultPodInitialBackoff = time.Second
	DefaultPodMaxBackoff     = 10 * time.Second
	DefaultQPS               = 50
	DefaultBurst             = 100
)

// Config is what a scheduler runs with. ConfigFrom reads it from a
// component's settings; a program of its own (a second scheduler) fills it
// in and calls Run.
type Config struct {
	// Kubeconfig is the path of the kubeconfig to reach the apiserver with;
	// RestConfig, if set, is used instead.
	Kubeconfig string
	RestConfig *rest.Config
	// SchedulerName: only pods whose spec.schedulerName is this are
	// scheduled; it names events' source and the leader Lease too.
	SchedulerName string
	// Identity tells this scheduler from others of the same name in the
	// leader Lease (holderIdentity). A restarted scheduler with the same
	// identity takes its Lease back at once.
	Identity string
	// LeaderElect: schedulers of the same name take turns through a Lease
	// in kube-system named SchedulerName; only the holder schedules.
	LeaderElect                               bool
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// PercentageOfNodesToScore: see Algorithm (0: adaptive).
	PercentageOfNodesToScore int32
	// PodInitialBackoff and PodMaxBackoff bound a failed pod's backoff.
	PodInitialBackoff, PodMaxBackoff time.Duration
	// QPS and Burst limit the requests to the apiserver (client-go's rate
	// limiter).
	QPS   float32
	Burst int
	// Log receives a line per decision; nil is os.Stderr.
	Log io.Writer
}

// DefaultConfig returns a config with every default, for kubeconfig.
func DefaultConfig(kubeconfig string) Config {
	host, _ := os.Hostname()
	return Config{
		Kubeconfig: kubeconfig, SchedulerName: DefaultSchedulerName, Identity: fmt.Sprintf("%s_%d", host, os.Getpid()),
		LeaderElect: true, LeaseDuration: DefaultLeaseDuration, RenewDeadline: DefaultRenewDeadline, RetryPeriod: DefaultRetryPeriod,
		PodInitialBackoff: DefaultPodInitialBackoff, PodMaxBackoff: DefaultPodMaxBackoff, QPS: DefaultQPS, Burst: DefaultBurst,
	}
}

// settingNames are the settings ConfigFrom reads; the standard settings
// every master component gets (internal/config) are known but unused.
var (
	settingNames = []string{
		"kubeconfig", "scheduler-name", "leader-elect", "leader-elect-lease-duration", "leader-elect-renew-deadline",
		"leader-elect-retry-period", "percentage-of-nodes-to-score", "pod-initial-backoff", "pod-max-backoff",
		"kube-api-qps", "kube-api-burst",
	}
	unusedStandardSettings = []string{"cluster-cidr", "service-cidr", "cluster-dns", "cluster-domain"}
)

// ConfigFrom reads a scheduler's settings (named after kube-scheduler's
// flags and config fields):
//
//	kubeconfig                    required: how to reach the apiserver
//	scheduler-name                default-scheduler
//	leader-elect                  true
//	leader-elect-lease-duration   15s
//	leader-elect-renew-deadline   10s
//	leader-elect-retry-period     2s
//	percentage-of-nodes-to-score  0 (adaptive), or 1-100
//	pod-initial-backoff           1s
//	pod-max-backoff               10s
//	kube-api-qps, kube-api-burst  50, 100
//
// The leader identity is the machine's name: the agent runs one scheduler
// per machine, and its restarted scheduler takes the Lease back at once.
// Unknown settings are reported on stderr, not refused.
func ConfigFrom(s plugins.Settings) (Config, error) {
	v := s.Values
	c := DefaultConfig(v["kubeconfig"])
	if c.Kubeconfig == "" {
		return c, errors.New("scheduler: setting kubeconfig is required (the path of a kubeconfig for the apiserver)")
	}
	if s.Machine != "" {
		c.Identity = s.Machine
	}
	if name, ok := v["scheduler-name"]; ok {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return c, fmt.Errorf("scheduler: setting scheduler-name=%q: %s (it names a Lease)", name, strings.Join(errs, "; "))
		}
		c.SchedulerName = name
	}
	if b, ok := v["leader-elect"]; ok {
		var err error
		if c.LeaderElect, err = strconv.ParseBool(b); err != nil {
			return c, fmt.Errorf("scheduler: setting leader-elect=%q: want true or false", b)
		}
	}
	for key, d := range map[string]*time.Duration{
		"leader-elect-lease-duration": &c.LeaseDuration, "leader-elect-renew-deadline": &c.RenewDeadline,
		"leader-elect-retry-period": &c.RetryPeriod, "pod-initial-backoff": &c.PodInitialBackoff, "pod-max-backoff": &c.PodMaxBackoff,
	} {
		if val, ok := v[key]; ok {
			parsed, err := time.ParseDuration(val)
			if err != nil || parsed <= 0 {
				return c, fmt.Errorf("scheduler: setting %s=%q: want a positive duration such as 10s", key, val)
			}
			*d = parsed
		}
	}
	if p, ok := v["percentage-of-nodes-to-score"]; ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 100 {
			return c, fmt.Errorf("scheduler: setting percentage-of-nodes-to-score=%q: want 0 (adaptive) to 100", p)
		}
		c.PercentageOfNodesToScore = int32(n)
	}
	if q, ok := v["kube-api-qps"]; ok {
		f, err := strconv.ParseFloat(q, 32)
		if err != nil || f <= 0 {
			return c, fmt.Errorf("scheduler: setting kube-api-qps=%q: want a positive number", q)
		}
		c.QPS = float32(f)
	}
	if b, ok := v["kube-api-burst"]; ok {
		n, err := strconv.Atoi(b)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("scheduler: setting kube-api-burst=%q: want a positive integer", b)
		}
		c.Burst = n
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	for key := range v {
		if !slices.Contains(settingNames, key) && !slices.Contains(unusedStandardSettings, key) {
			fmt.Fprintf(os.Stderr, "scheduler: unknown setting %q ignored; settings are %s\n", key, strings.Join(settingNames, ", "))
		}
	}
	return c, nil
}

// validate checks what one field cannot check alone.
func (c Config) validate() error {
	if c.LeaderElect {
		if c.Identity == "" {
			return errors.New("scheduler: leader election needs an identity (Config.Identity)")
		}
		if c.LeaseDuration <= c.RenewDeadline {
			return fmt.Errorf("scheduler: leader-elect-lease-duration (%v) must be longer than leader-elect-renew-deadline (%v)", c.LeaseDuration, c.RenewDeadline)
		}
		if float64(c.RenewDeadline) <= 1.2*float64(c.RetryPeriod) {
			return fmt.Errorf("scheduler: leader-elect-renew-deadline (%v) must be longer than 1.2 × leader-elect-retry-period (%v)", c.RenewDeadline, c.RetryPeriod)
		}
	}
	if c.PodMaxBackoff < c.PodInitialBackoff {
		return fmt.Errorf("scheduler: pod-max-backoff (%v) must not be shorter than pod-initial-backoff (%v)", c.PodMaxBackoff, c.PodInitialBackoff)
	}
	if c.SchedulerName == "" {
		return errors.New("scheduler: a scheduler needs a name (scheduler-name)")
	}
	return nil
}

// Scheduler is the reference scheduler component.
type Scheduler struct {
	// The life cycle (Stop, and why the scheduler ended) comes from
	// plugins.Background.
	plugins.Background
	state atomic.Pointer[state] // the running scheduler, for Health
}

var _ plugins.Component = (*Scheduler)(nil)

// New returns a scheduler, not yet started.
func New() *Scheduler { return &Scheduler{} }

// Identify says this is the reference scheduler.
func (s *Scheduler) Identify(context.Context) (plugins.Identity, error) {
	return plugins.Identity{Kind: plugins.KindScheduler, Implementation: "reference", Version: Version}, nil
}

// Start reads the settings and starts scheduling in the background.
// Stop stops scheduling, lets bindings under way finish and gives the
// Lease up, before its context's deadline.
func (s *Scheduler) Start(_ context.Context, settings plugins.Settings) error {
	if s.Started() {
		return plugins.ErrAlreadyStarted
	}
	cfg, err := ConfigFrom(settings)
	if err != nil {
		return err
	}
	st, err := newState(cfg)
	if err != nil {
		return err
	}
	s.state.Store(st)
	return s.Go("scheduler", st.run)
}

// Health is healthy once the caches are synced, whether this scheduler
// leads or stands by.
func (s *Scheduler) Health(ctx context.Context) (plugins.Health, error) {
	if !s.Started() {
		return plugins.Health{}, plugins.ErrNotStarted
	}
	if err := s.Err(); err != nil {
		return plugins.Health{Message: "stopped: " + err.Error()}, nil
	}
	ok, msg := s.state.Load().health()
	return plugins.Health{Healthy: ok, Message: msg}, nil
}

// Run runs a scheduler with cfg until ctx ends: what a program of its own
// calls (the chapter's second scheduler does).
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	st, err := newState(cfg)
	if err != nil {
		return err
	}
	return st.run(ctx)
}
