package store_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/store/storetest"
)

// TestListensOnlyOnLoopback checks that embedded etcd opens no listening
// socket beyond 127.0.0.1, by matching this process's socket inodes against
// the kernel's table of listening TCP sockets.
func TestListensOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	storetest.NewEmbedded(t, storetest.Options{})
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	listening := 0
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			listening++
			addr := fields[1][:strings.IndexByte(fields[1], ':')]
			if addr != "0100007F" { // 127.0.0.1, little-endian hex
				t.Errorf("%s: listening on %s, not 127.0.0.1", table, fields[1])
			}
		}
		f.Close()
	}
	if listening == 0 {
		t.Fatal("found no listening socket at all; the check is broken")
	}
}
