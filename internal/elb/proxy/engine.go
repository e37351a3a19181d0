package proxy

import (
	"log/slog"
)

// Options configure an Engine.
type Options struct {
	// Reporter hears target health changes and finished drains.
	Reporter Reporter
	Logger   *slog.Logger
}

// Engine is the running data plane.
type Engine struct {
	// CONTRACT STUB: internal/elb/proxy's owner replaces this.
	opts Options
}

// New returns an Engine that serves nothing until Apply.
func New(opts Options) *Engine { return &Engine{opts: opts} }

// Apply makes the data plane serve cfg: it binds new listeners, closes
// removed ones (letting their requests finish), and swaps rules, targets
// and certificates of the others in place. Listeners that cannot bind are
// named in the error; the rest of cfg applies all the same.
func (e *Engine) Apply(cfg Config) error { return nil }

// Close closes every listener and stops health checks.
func (e *Engine) Close() {}
