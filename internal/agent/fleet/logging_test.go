package fleet

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestQuietHandler(t *testing.T) {
	logs := &lockedBuffer{}
	base := slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})
	lim := newLimiter(time.Minute)
	a := slog.New(newQuietHandler(base, lim)).With("instance", "sim-0001")
	b := slog.New(newQuietHandler(base, lim)).With("instance", "sim-0002")

	a.Info("task running")
	if a.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("info is enabled for an instance at level info")
	}
	for range 3 {
		a.Warn("submit failed; retrying")
		b.Warn("submit failed; retrying")
	}
	b.Error("cannot register")
	out := logs.String()
	if strings.Contains(out, "task running") {
		t.Errorf("an instance's info line was written:\n%s", out)
	}
	if n := strings.Count(out, "submit failed"); n != 1 {
		t.Errorf("%d copies of a repeated warning within the window, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "cannot register") || !strings.Contains(out, "instance=sim-0001") {
		t.Errorf("missing lines or attributes:\n%s", out)
	}
}

func TestLimiterWindow(t *testing.T) {
	lim := newLimiter(time.Minute)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at          time.Duration
		wantOK      bool
		wantDropped int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{30 * time.Second, false, 0},
		{time.Minute, true, 2},
		{time.Minute + time.Second, false, 0},
		{3 * time.Minute, true, 1},
	}
	for _, s := range steps {
		ok, dropped := lim.admit("m", t0.Add(s.at))
		if ok != s.wantOK || dropped != s.wantDropped {
			t.Errorf("at %s: admit = %v, %d; want %v, %d", s.at, ok, dropped, s.wantOK, s.wantDropped)
		}
	}
}
