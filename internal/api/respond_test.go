package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readFromWriter is a ResponseWriter that says whether ReadFrom reached it.
type readFromWriter struct {
	*httptest.ResponseRecorder
	readFrom bool
}

func (w *readFromWriter) ReadFrom(src io.Reader) (int64, error) {
	w.readFrom = true
	return io.Copy(w.ResponseRecorder, src)
}

// TestRecorderReadFrom: io.Copy into the recorder reaches the underlying
// writer's ReadFrom (net/http's sends a file with sendfile), and the
// recorder still sees the reply as started with 200.
func TestRecorderReadFrom(t *testing.T) {
	p := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	under := &readFromWriter{ResponseRecorder: httptest.NewRecorder()}
	rec := &responseRecorder{ResponseWriter: under}
	if n, err := io.CopyN(rec, f, 4); n != 4 || err != nil {
		t.Fatalf("CopyN: %d, %v", n, err)
	}
	if !under.readFrom || under.Body.String() != "0123" || !rec.started || rec.status != http.StatusOK {
		t.Fatalf("readFrom %v, body %q, started %v, status %d", under.readFrom, under.Body, rec.started, rec.status)
	}

	// Without a ReadFrom underneath, the copy still happens, through Write.
	plain := httptest.NewRecorder()
	rec = &responseRecorder{ResponseWriter: plain}
	if _, err := io.Copy(rec, strings.NewReader("abc")); err != nil || plain.Body.String() != "abc" || rec.status != http.StatusOK {
		t.Fatalf("copy without ReadFrom: %v, body %q, status %d", err, plain.Body, rec.status)
	}
}
