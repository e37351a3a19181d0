// Command app is the test workload baked into berth-test/app:latest. It is an
// HTTP server whose behaviour tests steer through flags or environment:
//
//	PORT / -port            listen port (default 8080)
//	EXIT_AFTER / -exit-after exit after this duration (e.g. 2s)
//	EXIT_CODE / -exit-code   exit code used by EXIT_AFTER (default 0)
//	MARKER_FILE / -marker    write this file at start-up (hostname and time)
//	UNHEALTHY=1              /healthz answers 503
//	IGNORE_SIGTERM=1         ignore SIGTERM, so stops must kill
//	ECHO_ENV_PREFIX          comma-separated env prefixes echoed by /
//	                         (default "APP_,BERTH_,ECS_")
//	-sleep                   serve nothing, just run until signalled or EXIT_AFTER
//	-probe URL               GET URL and exit 0 on 2xx, 1 otherwise (health checks
//	                         in an image without a shell)
//
// GET / (and any other path) answers {"hostname", "env", "args", "path"};
// GET /healthz answers 200 "ok", or 503 once POST /healthz/fail was called
// (or with UNHEALTHY=1); any path with ?sleep=2s answers after that long
// (at most a minute): a request in flight.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

type config struct {
	port      string
	exitAfter time.Duration
	exitCode  int
	marker    string
	sleep     bool
	probe     string
}

func parse() (config, error) {
	var c config
	var exitAfter string
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.StringVar(&c.port, "port", envOr("PORT", "8080"), "listen port")
	fs.StringVar(&exitAfter, "exit-after", os.Getenv("EXIT_AFTER"), "exit after this duration")
	fs.IntVar(&c.exitCode, "exit-code", 0, "exit code used with -exit-after (env EXIT_CODE)")
	fs.StringVar(&c.marker, "marker", os.Getenv("MARKER_FILE"), "file to write at start-up")
	fs.BoolVar(&c.sleep, "sleep", false, "do not serve HTTP; run until signalled")
	fs.StringVar(&c.probe, "probe", "", "GET this URL and exit 0 on 2xx")
	if v := os.Getenv("EXIT_CODE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return c, fmt.Errorf("EXIT_CODE %q: %w", v, err)
		}
		c.exitCode = n
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return c, err
	}
	if exitAfter != "" {
		d, err := time.ParseDuration(exitAfter)
		if err != nil {
			return c, fmt.Errorf("exit-after %q: %w", exitAfter, err)
		}
		c.exitAfter = d
	}
	return c, nil
}

func run() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c, err := parse()
	if err != nil {
		log.Error("bad arguments", "err", err)
		return 2
	}
	if c.probe != "" {
		return probe(c.probe)
	}
	if c.marker != "" {
		host, _ := os.Hostname()
		body := fmt.Sprintf("%s %s\n", host, time.Now().UTC().Format(time.RFC3339Nano))
		if err := os.WriteFile(c.marker, []byte(body), 0o644); err != nil {
			log.Error("write marker", "path", c.marker, "err", err)
			return 2
		}
	}

	sigs := []os.Signal{os.Interrupt}
	if os.Getenv("IGNORE_SIGTERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		sigs = append(sigs, syscall.SIGTERM)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()

	var exitTimer <-chan time.Time
	if c.exitAfter > 0 {
		exitTimer = time.After(c.exitAfter)
	}

	var srv *http.Server
	srvErr := make(chan error, 1)
	if !c.sleep {
		srv = &http.Server{Addr: ":" + c.port, Handler: handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { srvErr <- srv.ListenAndServe() }()
		log.Info("serving", "port", c.port)
	}

	code := 0
	select {
	case <-ctx.Done():
		log.Info("signalled, exiting")
	case <-exitTimer:
		log.Info("exit-after elapsed", "code", c.exitCode)
		code = c.exitCode
	case err := <-srvErr:
		log.Error("server failed", "err", err)
		return 1
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("shutdown", "err", err)
		}
	}
	return code
}

func handler() http.Handler {
	mux := http.NewServeMux()
	var failed atomic.Bool
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if os.Getenv("UNHEALTHY") == "1" || failed.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("POST /healthz/fail", func(w http.ResponseWriter, _ *http.Request) {
		failed.Store(true)
		fmt.Fprintln(w, "failing")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("sleep"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > time.Minute {
				http.Error(w, "sleep must be a duration of at most 1m", http.StatusBadRequest)
				return
			}
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		host, _ := os.Hostname()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Hostname string            `json:"hostname"`
			Env      map[string]string `json:"env"`
			Args     []string          `json:"args"`
			Path     string            `json:"path"`
		}{host, echoedEnv(), os.Args[1:], r.URL.Path})
	})
	return mux
}

// echoedEnv returns the environment variables whose names start with one of
// the ECHO_ENV_PREFIX prefixes, plus PORT.
func echoedEnv() map[string]string {
	prefixes := strings.Split(envOr("ECHO_ENV_PREFIX", "APP_,BERTH_,ECS_"), ",")
	out := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PORT" {
			out[k] = v
			continue
		}
		for _, p := range prefixes {
			if p != "" && strings.HasPrefix(k, p) {
				out[k] = v
				break
			}
		}
	}
	return out
}

func probe(url string) int {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, "probe: status", resp.Status)
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
