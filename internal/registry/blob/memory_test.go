package blob_test

import (
	"testing"

	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/registry/blob/blobtest"
)

func TestMemoryConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return blob.NewMemory(nil) })
}
