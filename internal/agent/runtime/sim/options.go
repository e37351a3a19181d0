package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
)

// Default dynamic host port range: Linux's default ephemeral range, which is
// also where Docker's port allocator hands out ports.
const (
	DefaultFirstPort = 32768
	DefaultLastPort  = 60999
)

// KillExitCode is the exit code of a killed container (128+SIGKILL), as
// Docker reports it.
const KillExitCode = 137

// Options configures a Runtime. The zero value is a runtime with no images,
// no latency, no failures and the real clock.
type Options struct {
	// Clock drives latency, scheduled exits and health, and timestamps;
	// nil means the real clock.
	Clock clockwork.Clock
	// Images are present in the image store from the start.
	Images []string
	// Ports is the range dynamic host ports are taken from (hostPort 0).
	Ports PortRange
	// Latency is added to calls before they take effect.
	Latency Latency
	// Failures makes calls fail on purpose.
	Failures Failures
	// Seed seeds the random choices (jitter, failures); 0 picks a random seed.
	Seed uint64
	// ManualHealth leaves health at "starting" until SetHealth (or
	// BERTH_SIM_HEALTH) changes it; by default a container with a health
	// check becomes healthy after the check's interval.
	ManualHealth bool
	// GPUs are the simulated host's GPU ids (BERTH_SIM_GPUS gives each
	// instance some): a container given a GPU not among them fails to
	// create, as with Docker's nvidia runtime and a device the host lacks.
	GPUs []string
	// KillOnStop makes StopContainer kill at once (KillExitCode), whatever
	// BERTH_SIM_STOP_AFTER says, as a process ignoring the stop signal with
	// a zero timeout would. By default a container exits with 0 on the stop
	// signal.
	KillOnStop bool
}

// PortRange is an inclusive range of host ports; zero fields take the
// defaults.
type PortRange struct{ First, Last uint16 }

func (p PortRange) withDefaults() PortRange {
	if p.First == 0 {
		p.First = DefaultFirstPort
	}
	if p.Last == 0 {
		p.Last = max(DefaultLastPort, p.First)
	}
	return p
}

// Latency is the simulated duration of each call.
type Latency struct {
	Pull, Create, Start, Stop Range
}

// Failures injects errors. Probabilities are in [0, 1].
type Failures struct {
	Pull, Create, Start float64
	// PullImages are path.Match patterns ("*/broken:*"); pulling a matching
	// image always fails, as from a registry that denies it.
	PullImages []string
}

// Validate checks probabilities and patterns.
func (f Failures) Validate() error {
	for name, p := range map[string]float64{"pull": f.Pull, "create": f.Create, "start": f.Start} {
		if p < 0 || p > 1 {
			return fmt.Errorf("%s failure probability %v is not in [0, 1]", name, p)
		}
	}
	for _, pat := range f.PullImages {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("pull failure image pattern %q: %w", pat, err)
		}
	}
	return nil
}

// pullDenied reports whether image matches one of the PullImages patterns.
func (f Failures) pullDenied(image string) (string, bool) {
	for _, pat := range f.PullImages {
		if ok, _ := path.Match(pat, image); ok {
			return pat, true
		}
	}
	return "", false
}

// Range is a duration picked uniformly in [Min, Max]; Min == Max (or Max
// unset) is a fixed duration.
type Range struct{ Min, Max time.Duration }

// Fixed returns the range of exactly d.
func Fixed(d time.Duration) Range { return Range{Min: d, Max: d} }

// ParseRange reads "2s" (fixed) or "1s-3s" (uniform jitter between the two);
// "" is zero.
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Range{}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if lo == "" {
		return Range{}, fmt.Errorf("duration %q: negative durations make no sense here", s)
	}
	minD, err := time.ParseDuration(lo)
	if err != nil {
		return Range{}, fmt.Errorf("duration %q: %w", s, err)
	}
	maxD := minD
	if isRange {
		if maxD, err = time.ParseDuration(hi); err != nil {
			return Range{}, fmt.Errorf("duration range %q: %w", s, err)
		}
	}
	r := Range{Min: minD, Max: maxD}
	if err := r.Validate(); err != nil {
		return Range{}, fmt.Errorf("duration %q: %w", s, err)
	}
	return r, nil
}

// Validate rejects negative and inverted ranges.
func (r Range) Validate() error {
	switch {
	case r.Min < 0 || r.Max < 0:
		return errors.New("negative duration")
	case r.Max != 0 && r.Max < r.Min:
		return fmt.Errorf("maximum %s is below minimum %s", r.Max, r.Min)
	}
	return nil
}

// IsZero reports whether the range always yields 0.
func (r Range) IsZero() bool { return r.Min == 0 && r.Max == 0 }

func (r Range) String() string {
	if r.Max <= r.Min {
		return r.Min.String()
	}
	return r.Min.String() + "-" + r.Max.String()
}

// pick draws a duration from r.
func (r Range) pick(rnd *rand.Rand) time.Duration {
	if r.Max <= r.Min {
		return r.Min
	}
	return r.Min + time.Duration(rnd.Int64N(int64(r.Max-r.Min)+1))
}
