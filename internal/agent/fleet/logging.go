package fleet

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// quietHandler keeps thousands of agents from flooding the log: their Info
// records (registered, connected, task running ...) become Debug, and of
// the warnings and errors with the same message only the first per window
// is written, carrying how many were dropped since ("suppressed"). The
// fleet's own summary lines use the base handler directly.
type quietHandler struct {
	next slog.Handler
	lim  *limiter
}

var _ slog.Handler = (*quietHandler)(nil)

func newQuietHandler(next slog.Handler, lim *limiter) *quietHandler {
	return &quietHandler{next: next, lim: lim}
}

func demote(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (h *quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, demote(l))
}

func (h *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	if r.Level >= slog.LevelWarn {
		ok, dropped := h.lim.admit(r.Message, r.Time)
		if !ok {
			return nil
		}
		if dropped > 0 {
			r = r.Clone()
			r.AddAttrs(slog.Int("suppressed", dropped))
		}
	}
	return h.next.Handle(ctx, r)
}

func (h *quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &quietHandler{next: h.next.WithAttrs(attrs), lim: h.lim}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{next: h.next.WithGroup(name), lim: h.lim}
}

// limiter admits the first record of each message per window, shared by
// every instance's handler.
type limiter struct {
	window time.Duration

	mu   sync.Mutex
	seen map[string]*window
}

type window struct {
	start   time.Time
	dropped int
}

func newLimiter(w time.Duration) *limiter { return &limiter{window: w, seen: map[string]*window{}} }

// admit reports whether a record with msg at t is written, and how many
// records with msg were dropped since the last one written.
func (l *limiter) admit(msg string, t time.Time) (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.seen[msg]
	if w == nil {
		if len(l.seen) > 1000 {
			clear(l.seen) // messages are few and fixed; this only bounds memory
		}
		l.seen[msg] = &window{start: t}
		return true, 0
	}
	if t.Sub(w.start) < l.window {
		w.dropped++
		return false, 0
	}
	dropped = w.dropped
	w.start, w.dropped = t, 0
	return true, dropped
}
