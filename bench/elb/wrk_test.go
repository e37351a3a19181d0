package main

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      wrkResult
		wantErr   bool
	}{{
		name: "microseconds and milliseconds",
		out: `Running 10s test @ http://127.0.0.1:41234/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   635.91us    0.89ms  12.92ms   93.69%
    Req/Sec    56.20k     8.07k   62.89k    86.54%
  Latency Distribution
     50%  250.00us
     75%  491.00us
     90%  700.00us
     99%    5.00ms
  1121571 requests in 10.00s, 209.60MB read
Requests/sec: 112154.95
Transfer/sec:     20.96MB
`,
		want: wrkResult{requests: 1121571, reqPerSec: 112154.95, p50: 250 * time.Microsecond, p90: 700 * time.Microsecond, p99: 5 * time.Millisecond},
	}, {
		name: "seconds, socket errors and non-2xx",
		out: `Running 2s test @ http://127.0.0.1:80/
  1 threads and 8 connections
  Latency Distribution
     50%    1.50s 
     75%    1.60s 
     90%    1.70s 
     99%    1.99s 
  12 requests in 2.00s, 1.20KB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:      6.00
Transfer/sec:     614.00B
`,
		want: wrkResult{requests: 12, reqPerSec: 6, p50: 1500 * time.Millisecond, p90: 1700 * time.Millisecond, p99: 1990 * time.Millisecond, errors: 6, non2xx: 4},
	}, {
		name:    "no latency distribution",
		out:     "  10 requests in 1.00s, 1KB read\nRequests/sec: 10.00\n",
		wantErr: true,
	}, {
		name:    "no report",
		out:     "unable to connect to 127.0.0.1:1 Connection refused\n",
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrk(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestInstalled(t *testing.T) {
	present := t.TempDir() + "/present"
	if err := os.WriteFile(present, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bins []string
		want string // "" for no error
	}{
		{[]string{present}, ""},
		{[]string{present, "/nonexistent/wrk"}, "/nonexistent/wrk not found (apt-get install -y haproxy wrk)"},
		{[]string{"/nonexistent/haproxy", "/nonexistent/wrk"}, "/nonexistent/haproxy and /nonexistent/wrk not found (apt-get install -y haproxy wrk)"},
	} {
		err := installed(tc.bins...)
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("installed(%q) = %v, want %q", tc.bins, err, tc.want)
		}
	}
}
