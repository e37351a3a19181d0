package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// Load balancers in front of processes the test runs itself (ip targets):
// an HTTPS listener with a certificate imported into ACM, the headers ELB
// adds, draining of a deregistered target with a request in flight, and a
// network load balancer passing TCP and UDP through. No Docker needed.

func (s *server) elbv2() *elb.Client {
	return elb.New(elb.Options{
		Region: region, BaseEndpoint: aws.String(s.endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(s.keyID, s.secret, ""),
	})
}

// headerBackend answers every request with the request's headers, one
// "Name: value" line each; ?sleep=<duration> holds the reply that long,
// and says on held when such a request arrived.
func headerBackend(t *testing.T) (port int, held <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan struct{}, 16)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			arrived <- struct{}{}
			select { // the request in flight the test drains
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Amzn-Trace-Id", "Host"} {
			v := r.Header.Get(k)
			if k == "Host" {
				v = r.Host
			}
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port, arrived
}

// echoBackends runs a TCP and a UDP echo server on one port number.
func echoBackends(t *testing.T) (port int) {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			ln.Close()
			continue
		}
		t.Cleanup(func() { ln.Close(); pc.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
			}
		}()
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
			}
		}()
		return port
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

// selfSigned writes a certificate for host and its key as PEM files.
func selfSigned(t *testing.T, host string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// waitHealthy waits until every target of the group is healthy (n of them).
func waitHealthy(t *testing.T, c *elb.Client, group string, n int) {
	t.Helper()
	var last string
	waitFor(t, stateTimeout, fmt.Sprintf("%d healthy targets", n), func() bool {
		out, err := c.DescribeTargetHealth(t.Context(), &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(group)})
		if err != nil {
			t.Fatalf("DescribeTargetHealth: %v", err)
		}
		last = jsonString(out.TargetHealthDescriptions)
		healthy := 0
		for _, d := range out.TargetHealthDescriptions {
			if d.TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy {
				healthy++
			}
		}
		return healthy == n && len(out.TargetHealthDescriptions) == n
	})
	t.Logf("targets: %s", last)
}

// TestELBHTTPSAndNetwork: an HTTPS listener with an ACM certificate in
// front of an ip target, ELB's headers, draining with a request in flight;
// an NLB passing TCP and UDP through; refusals in ELB's words.
func TestELBHTTPSAndNetwork(t *testing.T) {
	httpsPort, tcpPort := freePort(t), freePort(t)
	srv := startServer(t, serverOptions{Args: []string{"--lb-port-map", fmt.Sprintf("443=%d,7000=%d", httpsPort, tcpPort)}})
	c := srv.elbv2()
	ctx := t.Context()

	t.Log("== 1. import a certificate with the AWS CLI; an ALB with an HTTPS listener forwarding to an ip target")
	certPath, keyPath, pool := selfSigned(t, "web.example.test")
	var imported struct{ CertificateArn string }
	cliJSON(t, srv, &imported, "acm", "import-certificate", "--certificate", "fileb://"+certPath, "--private-key", "fileb://"+keyPath)
	lb, err := c.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String(uniqueName(t, "alb")), Type: elbtypes.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	lbARN := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	tg, err := c.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String(uniqueName(t, "web")), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: elbtypes.TargetTypeEnumIp, VpcId: aws.String("vpc-berth"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2)})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	group := aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	if _, err := c.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(group),
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("20")}}}); err != nil {
		t.Fatalf("ModifyTargetGroupAttributes: %v", err)
	}
	backend, held := headerBackend(t)
	if _, err := c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(group),
		Targets: []elbtypes.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(int32(backend))}}}); err != nil {
		t.Fatalf("RegisterTargets: %v", err)
	}
	if _, err := c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(lbARN), Protocol: elbtypes.ProtocolEnumHttps,
		Port: aws.Int32(443), Certificates: []elbtypes.Certificate{{CertificateArn: aws.String(imported.CertificateArn)}},
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(group)}}}); err != nil {
		t.Fatalf("CreateListener HTTPS: %v", err)
	}
	waitHealthy(t, c, group, 1)

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "web.example.test"}}}
	t.Cleanup(client.CloseIdleConnections)
	url := fmt.Sprintf("https://127.0.0.1:%d/hello", httpsPort)
	var body string
	waitFor(t, stateTimeout, "the HTTPS listener to forward", func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	for _, want := range []string{"X-Forwarded-For: 127.0.0.1\n", "X-Forwarded-Proto: https\n", "X-Forwarded-Port: 443\n", "X-Amzn-Trace-Id: Root=1-"} {
		if !strings.Contains(body, want) {
			t.Errorf("the target saw no %q in:\n%s", want, body)
		}
	}

	t.Log("== 2. deregister the target with a request in flight: it drains, the request completes")
	inflight := make(chan error, 1)
	go func() {
		resp, err := client.Get(url + "?sleep=2s")
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		inflight <- err
	}()
	select { // the slow request reached the target: now it drains
	case <-held:
	case <-time.After(stateTimeout):
		t.Fatal("the slow request never reached the target")
	}
	if _, err := c.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(group),
		Targets: []elbtypes.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(int32(backend))}}}); err != nil {
		t.Fatalf("DeregisterTargets: %v", err)
	}
	th, err := c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(group)})
	if err != nil || len(th.TargetHealthDescriptions) != 1 || th.TargetHealthDescriptions[0].TargetHealth.State != elbtypes.TargetHealthStateEnumDraining ||
		th.TargetHealthDescriptions[0].TargetHealth.Reason != elbtypes.TargetHealthReasonEnumDeregistrationInProgress {
		t.Fatalf("right after DeregisterTargets: %s %v", jsonString(th), err)
	}
	if err := <-inflight; err != nil {
		t.Fatalf("the request in flight when its target started draining: %v", err)
	}
	// Nothing is in flight any more: the drain ends well before its 20 s.
	waitFor(t, 15*time.Second, "the drained target to go", func() bool {
		th, err := c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(group)})
		return err == nil && len(th.TargetHealthDescriptions) == 0
	})
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET with no target: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET with no target: %d, want 503", resp.StatusCode)
	}

	t.Log("== 3. refusals in ELB's words, changing nothing")
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"target group in use", func() error {
			_, err := c.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(group)})
			return err
		}, "ResourceInUse"},
		{"duplicate listener", func() error {
			_, err := c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(lbARN), Protocol: elbtypes.ProtocolEnumHttps,
				Port: aws.Int32(443), Certificates: []elbtypes.Certificate{{CertificateArn: aws.String(imported.CertificateArn)}},
				DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(group)}}})
			return err
		}, "DuplicateListener"},
		{"unknown target group", func() error {
			_, err := c.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{"no-such-group"}})
			return err
		}, "TargetGroupNotFound"},
	} {
		if got := apiErrorCode(tc.call()); got != tc.code {
			t.Errorf("%s: %q, want %s", tc.name, got, tc.code)
		}
	}

	t.Log("== 4. an NLB passes TCP and UDP through")
	nlb, err := c.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String(uniqueName(t, "nlb")), Type: elbtypes.LoadBalancerTypeEnumNetwork})
	if err != nil {
		t.Fatalf("CreateLoadBalancer network: %v", err)
	}
	echo := echoBackends(t)
	tcpUDP, err := c.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String(uniqueName(t, "echo")), Protocol: elbtypes.ProtocolEnumTcpUdp,
		Port: aws.Int32(int32(echo)), TargetType: elbtypes.TargetTypeEnumIp, VpcId: aws.String("vpc-berth"),
		HealthCheckProtocol: elbtypes.ProtocolEnumTcp, HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
		HealthyThresholdCount: aws.Int32(2)})
	if err != nil {
		t.Fatalf("CreateTargetGroup TCP_UDP: %v", err)
	}
	echoGroup := aws.ToString(tcpUDP.TargetGroups[0].TargetGroupArn)
	if _, err := c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(echoGroup),
		Targets: []elbtypes.TargetDescription{{Id: aws.String("127.0.0.1")}}}); err != nil {
		t.Fatalf("RegisterTargets: %v", err)
	}
	if _, err := c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: nlb.LoadBalancers[0].LoadBalancerArn, Protocol: elbtypes.ProtocolEnumTcpUdp,
		Port: aws.Int32(7000), DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(echoGroup)}}}); err != nil {
		t.Fatalf("CreateListener TCP_UDP: %v", err)
	}
	waitHealthy(t, c, echoGroup, 1)
	var conn net.Conn
	waitFor(t, stateTimeout, "the TCP listener to accept", func() bool {
		conn, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort), time.Second)
		return err == nil
	})
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(conn, "hello over tcp")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "hello over tcp\n" {
		t.Fatalf("TCP echo through the NLB: %q %v", line, err)
	}
	udp, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	var reply string
	waitFor(t, stateTimeout, "a UDP echo through the NLB", func() bool {
		_ = udp.SetDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := udp.Write([]byte("ping")); err != nil {
			return false
		}
		buf := make([]byte, 64)
		n, err := udp.Read(buf)
		reply = string(buf[:n])
		return err == nil
	})
	if reply != "echo:ping" {
		t.Fatalf("UDP reply %q, want echo:ping", reply)
	}
}

// apiErrorCode is the AWS error code of an SDK error ("" for none).
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
