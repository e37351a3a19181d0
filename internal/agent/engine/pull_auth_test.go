package engine

import (
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/ecrauth"
	"github.com/berth-dev/berth/internal/agent/ecrauth/ecrfake"
	"github.com/berth-dev/berth/internal/agent/runtime/docker"
	"github.com/berth-dev/berth/internal/agent/runtime/docker/dockerfake"
)

// TestPrivatePullFailures runs the Docker runtime against a fake daemon and
// the agent's token provider against a fake ECR endpoint: a pull of a Berth
// image that cannot get a token, or that the registry refuses, stops the
// task as ECS does.
func TestPrivatePullFailures(t *testing.T) {
	tests := []struct {
		name       string
		answer     ecrfake.Answer
		daemonErr  string
		wantPulls  int
		wantReason []string
	}{
		{
			name:      "token call refused",
			answer:    ecrfake.Answer{Status: 400, ErrorType: "AccessDeniedException", Message: "not authorized to perform ecr:GetAuthorizationToken"},
			wantPulls: 0,
			wantReason: []string{
				"CannotPullContainerError: pull image ", "ECR authorization token for ",
				"AccessDeniedException", "not authorized to perform ecr:GetAuthorizationToken",
			},
		},
		{
			name:       "registry refuses the pull",
			answer:     ecrfake.Answer{Password: "pw", Expires: time.Now().Add(12 * time.Hour)},
			daemonErr:  "pull access denied for app, repository does not exist or may require 'docker login'",
			wantPulls:  1,
			wantReason: []string{"CannotPullContainerError: pull image ", "pull access denied for app"},
		},
		{
			name:       "manifest unknown",
			answer:     ecrfake.Answer{Password: "pw", Expires: time.Now().Add(12 * time.Hour)},
			daemonErr:  "manifest unknown: manifest unknown",
			wantPulls:  1,
			wantReason: []string{"CannotPullContainerError: pull image ", "manifest unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := ecrfake.New(t, func(int) ecrfake.Answer { return tt.answer })
			auth, err := ecrauth.New(ecrauth.Config{Endpoint: srv.URL, Region: "us-east-1", Credentials: ecrfake.Credentials(), CallTimeout: 5 * time.Second,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			d, cli := dockerfake.New(t)
			d.OnPull(func(dockerfake.Pull) string { return tt.daemonErr })
			rt := docker.NewWithClient(cli, docker.Options{RegistryAuth: auth})
			te := startEngine(t, rt, func(c *Config) { c.PullTimeout = 10 * time.Second })

			u, _ := url.Parse(srv.URL)
			def := ctr("app")
			image := u.Host + "/app:1"
			def.Image = &image
			task := newTask(taskARN(1), def)
			te.Upsert([]Task{task})
			got := te.rec.waitStatus(t, task.Arn, "STOPPED")

			if got.StopCode != StopCodeTaskFailedToStart {
				t.Errorf("stop code %q, want %q", got.StopCode, StopCodeTaskFailedToStart)
			}
			if !strings.HasPrefix(got.Reason, "CannotPullContainerError: ") {
				t.Errorf("reason %q", got.Reason)
			}
			for _, want := range tt.wantReason {
				if !strings.Contains(got.Reason, want) {
					t.Errorf("reason %q lacks %q", got.Reason, want)
				}
			}
			if cc := container(t, got, "app"); cc.Reason != got.Reason || cc.Status != "STOPPED" {
				t.Errorf("container = %+v", cc)
			}
			pulls := d.Pulls()
			if len(pulls) != tt.wantPulls {
				t.Fatalf("daemon pulls = %+v, want %d", pulls, tt.wantPulls)
			}
			if tt.wantPulls > 0 && (pulls[0].Auth == nil || pulls[0].Auth.Password != "pw" || pulls[0].Auth.ServerAddress != u.Host) {
				t.Errorf("pull auth = %+v, want the token for %s", pulls[0].Auth, u.Host)
			}
			t.Logf("stoppedReason: %s", got.Reason)
		})
	}
}
