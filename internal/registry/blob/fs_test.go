package blob_test

import (
	"testing"

	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/registry/blob/blobtest"
)

func TestFSConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := blob.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
