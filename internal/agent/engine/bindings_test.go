package engine

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func TestBindings(t *testing.T) {
	declared := []runtime.PortMapping{{ContainerPort: 80, HostPort: 8080, Protocol: "tcp"}}
	published := runtime.ContainerState{Ports: []runtime.PortBinding{
		{HostIP: "0.0.0.0", ContainerPort: 8080, HostPort: 32824, Protocol: "tcp"},
		// Docker 20.10 may give "::" another host port, one that belongs
		// to another container over IPv4.
		{HostIP: "::", ContainerPort: 8080, HostPort: 32823, Protocol: "tcp"},
		{ContainerPort: 53, HostPort: 32900, Protocol: "udp"},
	}}
	tests := []struct {
		mode string
		want []string
	}{
		{ecstypes.NetworkModeBridge, []string{"0.0.0.0:32824->8080/tcp", "0.0.0.0:32900->53/udp"}},
		{ecstypes.NetworkModeHost, []string{"0.0.0.0:8080->80/tcp"}},
		{ecstypes.NetworkModeNone, nil},
	}
	for _, tc := range tests {
		var got []string
		for _, b := range bindings(tc.mode, declared, published) {
			got = append(got, aws.ToString(b.BindIP)+":"+itoa(b.HostPort)+"->"+itoa(b.ContainerPort)+"/"+aws.ToString(b.Protocol))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: bindings %v, want %v", tc.mode, got, tc.want)
		}
	}
}

func itoa(p *int32) string { return fmt.Sprint(aws.ToInt32(p)) }
