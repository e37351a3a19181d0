package ecs

import (
	"log/slog"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store/storetest"
)

const (
	testRegion  = "us-east-1"
	testAccount = "000000000000"
)

// testNow is the fixed clock of newTestService.
var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// newTestService returns a Service on its own embedded store (closed with
// the test), in us-east-1 for account 000000000000, with the clock fixed at
// testNow and deterministic placement (always the first candidate).
func newTestService(t testing.TB) *Service {
	t.Helper()
	return New(Config{
		Store:        storetest.New(t),
		Region:       testRegion,
		AccountID:    testAccount,
		AdvertiseURL: "http://127.0.0.1:0",
		Logger:       slog.New(slog.DiscardHandler),
		Now:          func() time.Time { return testNow },
		Rand:         func(int) int { return 0 },
	})
}
