package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

const (
	embedName        = "berth"
	embedReadyWait   = 60 * time.Second
	embedStartTries  = 5
	embedQuotaBytes  = 4 << 30 // bbolt backend; etcd refuses writes (alarm NOSPACE) beyond it
	embedMaxTxnOps   = 16384   // a transaction compares every key it listed
	embedMaxReqBytes = 8 << 20
	portsFile        = "berth-ports.json"
)

// embedPorts are the loopback ports of an embedded member. They are persisted
// so that a restart keeps the member's advertised peer URL when it can.
type embedPorts struct {
	Client int `json:"client"`
	Peer   int `json:"peer"`
}

// startEmbedded starts a single-member etcd that listens only on 127.0.0.1,
// with its data in dir. It returns the running server and its client URL.
func startEmbedded(dir string, log *slog.Logger, stopping *atomic.Bool) (*embed.Etcd, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("create etcd dir %s: %w", dir, err)
	}
	var lastErr error
	for try := 0; try < embedStartTries; try++ {
		ports, err := choosePorts(dir, try > 0)
		if err != nil {
			return nil, "", err
		}
		e, err := startEmbeddedOnce(dir, ports, log, stopping)
		if err == nil {
			if err := savePorts(dir, ports); err != nil {
				e.Close()
				return nil, "", err
			}
			u := loopbackURL(ports.Client)
			return e, u.String(), nil
		}
		lastErr = err
		// Another process may grab a free port between choosing and binding it.
		if !errors.Is(err, syscall.EADDRINUSE) && !strings.Contains(err.Error(), "address already in use") {
			break
		}
		log.Debug("embedded etcd port taken, retrying", "err", err)
	}
	return nil, "", fmt.Errorf("start embedded etcd in %s: %w", dir, lastErr)
}

func startEmbeddedOnce(dir string, p embedPorts, log *slog.Logger, stopping *atomic.Bool) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = embedName
	cfg.Dir = dir
	client, peer := loopbackURL(p.Client), loopbackURL(p.Peer)
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.ListenMetricsUrls = nil
	// Only read when the data dir is new; on restart membership comes from the
	// WAL, so a changed peer port does not matter for a single member.
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.InitialClusterToken = embedName
	cfg.ClusterState = embed.ClusterStateFlagNew
	cfg.QuotaBackendBytes = embedQuotaBytes
	cfg.MaxTxnOps = embedMaxTxnOps
	cfg.MaxRequestBytes = embedMaxReqBytes
	// A single member has no peers to wait for: a short election timeout
	// just makes it elect itself (and so start) sooner.
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	cfg.AutoCompactionMode = "periodic"
	// Watches (the informers) need history only to ride out a short break;
	// keeping less of it keeps the database (mapped into memory) small.
	cfg.AutoCompactionRetention = "5m"
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(log, stopping))

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(embedReadyWait)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed before ready: %w", err)
	case <-timer.C:
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("embedded etcd not ready after %s", embedReadyWait)
	}
}

func loopbackURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

// choosePorts reuses the persisted ports when both are free, else picks two
// fresh ephemeral loopback ports.
func choosePorts(dir string, fresh bool) (embedPorts, error) {
	if !fresh {
		if p, ok := loadPorts(dir); ok && portFree(p.Client) && portFree(p.Peer) {
			return p, nil
		}
	}
	// Hold both listeners open while choosing so the two ports differ.
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return embedPorts{}, fmt.Errorf("choose etcd client port: %w", err)
	}
	defer a.Close()
	b, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return embedPorts{}, fmt.Errorf("choose etcd peer port: %w", err)
	}
	defer b.Close()
	return embedPorts{
		Client: a.Addr().(*net.TCPAddr).Port,
		Peer:   b.Addr().(*net.TCPAddr).Port,
	}, nil
}

func portFree(port int) bool {
	if port <= 0 || port > 65535 {
		return false
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func loadPorts(dir string) (embedPorts, bool) {
	b, err := os.ReadFile(filepath.Join(dir, portsFile))
	if err != nil {
		return embedPorts{}, false
	}
	var p embedPorts
	if json.Unmarshal(b, &p) != nil {
		return embedPorts{}, false
	}
	return p, true
}

func savePorts(dir string, p embedPorts) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode etcd ports: %w", err)
	}
	path := filepath.Join(dir, portsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save etcd ports: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save etcd ports: %w", err)
	}
	return nil
}
