//go:build race

package e2e

// raceEnabled says these tests run under the race detector.
const raceEnabled = true
