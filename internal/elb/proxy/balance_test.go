package proxy

import (
	"io"
	"net"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/lbtarget"
	"github.com/gorilla/websocket"
)

// testGroup is a group view over fresh target states.
func testGroup(cfg TargetGroup, keys ...string) *groupView {
	g := &groupView{cfg: cfg, st: &groupState{}}
	for _, k := range keys {
		tv := &targetView{key: k, addr: k, st: newTargetState("", k)}
		g.targets = append(g.targets, tv)
	}
	return g
}

func TestSlowStartRamp(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	g := testGroup(TargetGroup{SlowStart: 100 * time.Second}, "old", "new")
	g.targets[0].st.setHealth(health.Result{State: lbtarget.StateHealthy}, now.Add(-time.Hour))
	g.targets[1].st.setHealth(health.Result{State: lbtarget.StateHealthy}, now.Add(-25*time.Second))

	cands, failOpen := g.usable(nil)
	w, ramping := g.slowStartWeights(cands, nil, failOpen, now)
	if !ramping || w[0] != 1 || w[1] != 0.25 {
		t.Fatalf("weights %v ramping %v, want [1 0.25] true", w, ramping)
	}
	counts := map[string]int{}
	for range 4000 {
		counts[g.pick(pickHint{}, now).key]++
	}
	if r := float64(counts["new"]) / float64(counts["old"]); r < 0.15 || r > 0.35 {
		t.Errorf("slow start share new/old = %.2f (%v), want about 0.25", r, counts)
	}
	// Past the window: plain round robin.
	later := now.Add(100 * time.Second)
	counts = map[string]int{}
	for range 10 {
		counts[g.pick(pickHint{}, later).key]++
	}
	if counts["new"] != 5 || counts["old"] != 5 {
		t.Errorf("after slow start: %v, want 5 each", counts)
	}
}

func TestPickSkipsDrainingAndPrefersSticky(t *testing.T) {
	g := testGroup(TargetGroup{}, "a", "b", "c")
	for _, tv := range g.targets {
		tv.st.health.Store(healthHealthy)
	}
	g.targets[0].draining = true
	for range 10 {
		if got := g.pick(pickHint{}, time.Now()).key; got == "a" {
			t.Fatal("picked a draining target")
		}
		if got := g.pick(pickHint{sticky: "c"}, time.Now()).key; got != "c" {
			t.Fatalf("sticky c picked %s", got)
		}
		if got := g.pick(pickHint{sticky: "a"}, time.Now()).key; got == "a" {
			t.Fatal("sticky to a draining target")
		}
	}
	g.targets[1].draining, g.targets[2].draining = true, true
	if got := g.pick(pickHint{}, time.Now()); got != nil {
		t.Errorf("all draining: picked %s", got.key)
	}
}

// proxyGoroutines lists goroutines running the engine's code.
func proxyGoroutines() []string {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	var out []string
	re := regexp.MustCompile(`elb/proxy\.(\(\*(tcpListener|udpListener|appListener|notifier|Engine)\)|pipe|copyHalf)`)
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		// Only running frames count, not "created by" lines.
		var frames []string
		for _, line := range strings.Split(g, "\n") {
			if !strings.HasPrefix(line, "created by ") {
				frames = append(frames, line)
			}
		}
		if f := strings.Join(frames, "\n"); re.MatchString(f) && !strings.Contains(f, "_test.go") {
			out = append(out, g)
		}
	}
	return out
}

func TestCloseCutsEverythingAndLeavesNoGoroutine(t *testing.T) {
	e := New(Options{Logger: quietLogger(), newProber: noProber})
	ws := wsEchoBackend(t)
	cfg := config([]Listener{
		httpListener("H", forward("WS")),
		netListener("T", "TCP", "E"),
		netListener("U", "UDP", "UE"),
	}, group("WS", hostPort(ws)), netGroup("E", "TCP", tcpEcho(t, "a")), netGroup("UE", "UDP", udpEcho(t, "u", "127.0.0.1:0")))
	mustApply(t, e, cfg)

	wc, _, err := websocket.DefaultDialer.Dial("ws://"+e.Addr("H").String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	wsRoundTrip(t, wc, "x")
	tc, err := net.Dial("tcp", e.Addr("T").String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(tc, buf); err != nil {
		t.Fatal(err)
	}
	uc, err := net.Dial("udp", e.Addr("U").String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	io.WriteString(uc, "x")
	_ = uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := uc.Read(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}

	e.Close()
	_ = wc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := wc.ReadMessage(); err == nil {
		t.Error("websocket survived Close")
	}
	_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tc.Read(buf); err == nil {
		t.Error("tcp connection survived Close")
	}
	// A goroutine past its last line may still show for an instant.
	deadline := time.Now().Add(5 * time.Second)
	for g := proxyGoroutines(); len(g) > 0; g = proxyGoroutines() {
		if time.Now().After(deadline) {
			t.Errorf("goroutines left after Close:\n%s", strings.Join(g, "\n\n"))
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.Apply(cfg); err == nil {
		t.Error("Apply after Close succeeded")
	}
}
