package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Environment variables a container definition sets to script its
// simulated process (see the package doc).
const (
	EnvExitAfter   = "BERTH_SIM_EXIT_AFTER"
	EnvExitCode    = "BERTH_SIM_EXIT_CODE"
	EnvHealth      = "BERTH_SIM_HEALTH"
	EnvHealthAfter = "BERTH_SIM_HEALTH_AFTER"
	EnvStopAfter   = "BERTH_SIM_STOP_AFTER"
	EnvStartError  = "BERTH_SIM_START_ERROR"
	EnvCPU         = "BERTH_SIM_CPU"
	EnvMemoryMiB   = "BERTH_SIM_MEMORY_MIB"
)

// What a running container uses unless BERTH_SIM_CPU and
// BERTH_SIM_MEMORY_MIB say otherwise: a little, as an idle process does.
const (
	// DefaultCPUPercent is in percent of one core.
	DefaultCPUPercent = 1
	// DefaultMemoryMiB is the memory in use.
	DefaultMemoryMiB = 16
)

// knobs is a container's script, read from its environment at create.
type knobs struct {
	exitAfter    Range
	exitSet      bool // the process ends by itself
	exitCode     int
	health       string // "", "healthy" or "unhealthy"
	healthAfter  Range
	healthAfterS bool
	stopAfter    Range
	startError   string
	cpuPercent   float64 // of one core
	memoryMiB    float64
}

// parseKnobs reads the BERTH_SIM_* variables of env (KEY=VALUE); the last
// occurrence of a key wins, as in Docker.
func parseKnobs(env []string) (knobs, error) {
	k := knobs{cpuPercent: DefaultCPUPercent, memoryMiB: DefaultMemoryMiB}
	for _, kv := range env {
		key, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(key, "BERTH_SIM_") {
			continue
		}
		var err error
		switch key {
		case EnvExitAfter:
			k.exitAfter, err = ParseRange(value)
			k.exitSet = err == nil
		case EnvExitCode:
			k.exitCode, err = strconv.Atoi(strings.TrimSpace(value))
			if err == nil && (k.exitCode < 0 || k.exitCode > 255) {
				err = fmt.Errorf("exit code %d is not in 0-255", k.exitCode)
			}
		case EnvHealth:
			k.health = strings.ToLower(strings.TrimSpace(value))
			if k.health != "healthy" && k.health != "unhealthy" {
				err = fmt.Errorf("%q is neither healthy nor unhealthy", value)
			}
		case EnvHealthAfter:
			k.healthAfter, err = ParseRange(value)
			k.healthAfterS = err == nil
		case EnvStopAfter:
			k.stopAfter, err = ParseRange(value)
		case EnvStartError:
			k.startError = value
		case EnvCPU:
			k.cpuPercent, err = parseAmount(value, "percent of a core")
		case EnvMemoryMiB:
			k.memoryMiB, err = parseAmount(value, "MiB")
		default:
			err = fmt.Errorf("unknown simulation variable (known: %s, %s, %s, %s, %s, %s, %s, %s)",
				EnvExitAfter, EnvExitCode, EnvHealth, EnvHealthAfter, EnvStopAfter, EnvStartError, EnvCPU, EnvMemoryMiB)
		}
		if err != nil {
			return knobs{}, fmt.Errorf("%s: %w", key, err)
		}
	}
	return k, nil
}

// parseAmount reads a finite, non-negative number such as 50 or 12.5.
func parseAmount(v, unit string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a non-negative number of %s", v, unit)
	}
	return f, nil
}
