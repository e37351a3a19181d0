package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// entry is one configured value and where it came from, for error messages.
type entry struct {
	value  string
	source string // "/etc/ecs/ecs.config line 3" or "environment"
}

// Load reads the ecs.config file at path (a missing file, or path "", means
// no file, as for the ECS agent), applies the environment on top (env(key)
// for every key Berth knows; a set, non-empty variable wins over the file),
// fills defaults and validates. Errors name the key and where it was set.
func Load(path string, env func(string) (string, bool)) (Config, error) {
	return load(path, env, nil, realHost)
}

// LoadWithDefaults is Load with the caller's own defaults for some keys
// (e.g. `berth server --dev` removes stopped containers sooner than ECS's
// 3h): they apply only where neither the file nor the environment sets the key.
func LoadWithDefaults(path string, env func(string) (string, bool), defaults map[string]string) (Config, error) {
	return load(path, env, defaults, realHost)
}

func load(path string, env func(string) (string, bool), overrides map[string]string, h host) (Config, error) {
	entries := map[string]entry{}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Config{}, fmt.Errorf("read agent config: %w", err)
		default:
			if entries, err = parseFile(path, data); err != nil {
				return Config{}, err
			}
		}
	}
	if env != nil {
		for key := range setters {
			if v, ok := env(key); ok && strings.TrimSpace(v) != "" {
				// Like the ECS agent, an empty variable counts as unset.
				entries[key] = entry{value: strings.TrimSpace(v), source: "environment"}
			}
		}
	}

	for key, v := range overrides {
		if _, set := entries[key]; !set {
			entries[key] = entry{value: v, source: "caller default"}
		}
	}

	cfg := defaults()
	// Apply in key order so the first error reported is deterministic.
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		e := entries[key]
		set, ok := setters[key]
		if !ok {
			cfg.Unknown[key] = e.value
			continue
		}
		if e.value == "" {
			continue // KEY= leaves the default, as for the ECS agent
		}
		if err := set(&cfg, e.value); err != nil {
			return Config{}, fmt.Errorf("agent config %s (%s): %w", key, e.source, err)
		}
	}
	if err := cfg.fillHost(h); err != nil {
		return Config{}, fmt.Errorf("agent config: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return Config{}, fmt.Errorf("agent config: %w", err)
	}
	return cfg, nil
}

// parseFile parses KEY=VALUE lines. Blank lines and lines starting with '#'
// are skipped; an "export " prefix (a file shared with a shell) is tolerated;
// matching single or double quotes around the value are removed. A later line
// for the same key wins, as when the file is sourced.
func parseFile(path string, data []byte) (map[string]entry, error) {
	entries := map[string]entry{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export "); ok {
			line = strings.TrimSpace(rest)
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("agent config %s line %d: expected KEY=VALUE, got %q", path, n, line)
		}
		key = strings.TrimSpace(key)
		if !validKey(key) {
			return nil, fmt.Errorf("agent config %s line %d: invalid key %q", path, n, key)
		}
		entries[key] = entry{value: unquote(strings.TrimSpace(value)), source: fmt.Sprintf("%s line %d", path, n)}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read agent config %s: %w", path, err)
	}
	return entries, nil
}

// validKey accepts shell variable names.
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
