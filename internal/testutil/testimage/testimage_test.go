package testimage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/berth-dev/berth/internal/testutil/testimage"
)

func newClient(t *testing.T) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := testimage.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// run creates and starts a container and removes it when the test ends.
func run(t *testing.T, cli *client.Client, cfg *container.Config, host *container.HostConfig) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
	})
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start: %v", err)
	}
	return resp.ID
}

func wait(t *testing.T, cli *client.Client, id string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resC, errC := cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case res := <-resC:
		return int(res.StatusCode)
	case err := <-errC:
		t.Fatalf("wait: %v", err)
	}
	return -1
}

func TestBusybox(t *testing.T) {
	t.Parallel()
	ref := testimage.Busybox(t)
	if again := testimage.Busybox(t); again != ref {
		t.Fatalf("second call returned %q, want %q", again, ref)
	}
	cli := newClient(t)
	tests := []struct {
		name string
		user string
		cmd  []string
		want int
	}{
		{"default shell exits", "", []string{"sh", "-c", "exit 4"}, 4},
		{"applets on PATH", "", []string{"sh", "-c", "echo hi | cat && true && test -d /tmp && which wget nc httpd sleep"}, 0},
		{"false", "", []string{"false"}, 1},
		{"nobody by name", "nobody", []string{"sh", "-c", `test "$(id -u)" = 65534`}, 0},
		{"tmp writable by nobody", "65534", []string{"sh", "-c", "echo x > /tmp/f && cat /tmp/f"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := run(t, cli, &container.Config{Image: ref, User: tt.user, Cmd: tt.cmd}, nil)
			if got := wait(t, cli, id); got != tt.want {
				t.Fatalf("exit code = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestApp(t *testing.T) {
	t.Parallel()
	ref := testimage.App(t)
	cli := newClient(t)

	t.Run("exit after with code", func(t *testing.T) {
		t.Parallel()
		id := run(t, cli, &container.Config{Image: ref, Env: []string{"EXIT_AFTER=100ms", "EXIT_CODE=3"}}, nil)
		if got := wait(t, cli, id); got != 3 {
			t.Fatalf("exit code = %d, want 3", got)
		}
	})
	t.Run("marker as nobody then exit flag", func(t *testing.T) {
		t.Parallel()
		id := run(t, cli, &container.Config{Image: ref, User: "nobody",
			Cmd: []string{"-sleep", "-marker", "/tmp/m", "-exit-after", "10ms", "-exit-code", "5"}}, nil)
		if got := wait(t, cli, id); got != 5 {
			t.Fatalf("exit code = %d, want 5", got)
		}
	})
	t.Run("serves json and healthz", func(t *testing.T) {
		t.Parallel()
		port := nat.Port("9090/tcp")
		id := run(t, cli,
			&container.Config{Image: ref, Hostname: "apphost", Cmd: []string{"-port", "9090"},
				Env: []string{"APP_COLOR=blue", "SECRET=x"}, ExposedPorts: nat.PortSet{port: {}}},
			&container.HostConfig{PortBindings: nat.PortMap{port: {{HostIP: "127.0.0.1"}}}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		insp, err := cli.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b := insp.NetworkSettings.Ports[port]
		if len(b) == 0 {
			t.Fatalf("port %s not published: %v", port, insp.NetworkSettings.Ports)
		}
		base := fmt.Sprintf("http://127.0.0.1:%s", b[0].HostPort)
		var got struct {
			Hostname string
			Env      map[string]string
			Args     []string
		}
		getJSON(ctx, t, base+"/", &got)
		if got.Hostname != "apphost" || got.Env["APP_COLOR"] != "blue" || got.Env["SECRET"] != "" ||
			strings.Join(got.Args, " ") != "-port 9090" {
			t.Fatalf("GET / = %+v", got)
		}
		getJSON(ctx, t, base+"/healthz", nil)
	})
}

// getJSON polls url until it answers 200 (the server may still be starting)
// and decodes the body into v when v is not nil.
func getJSON(ctx context.Context, t *testing.T, url string, v any) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			func() {
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %s", resp.Status)
					return
				}
				if v != nil {
					err = json.NewDecoder(resp.Body).Decode(v)
				}
			}()
			if err == nil {
				return
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s: %v (last error %v)", url, ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}
