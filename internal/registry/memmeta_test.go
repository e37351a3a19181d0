package registry_test

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/registrytest"
)

func TestMemMetaConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registrytest.Fixture {
		m := registry.NewMemMeta(nil)
		return registrytest.Fixture{
			Meta: m,
			CreateRepository: func(_ context.Context, name string, immutable bool) error {
				return m.CreateRepository(name, immutable)
			},
		}
	})
}
