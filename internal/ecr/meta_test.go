package ecr

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/registry/registrytest"
	"github.com/berth-dev/berth/internal/store/storetest"
)

// The registry's Meta conformance suite, on a real etcd.
func TestRegistryMetaConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registrytest.Fixture {
		s := New(Config{Store: storetest.New(t), AccountID: testAccount, Region: testRegion, RegistryHost: testHost,
			Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow }})
		return registrytest.Fixture{
			Meta: s.RegistryMeta(),
			CreateRepository: func(ctx context.Context, name string, immutable bool) error {
				m := ecrtypes.ImageTagMutabilityMUTABLE
				if immutable {
					m = ecrtypes.ImageTagMutabilityIMMUTABLE
				}
				_, err := s.CreateRepository(ctx, &ecrtypes.CreateRepositoryRequest{RepositoryName: aws.String(name), ImageTagMutability: aws.String(m)})
				return err
			},
		}
	})
}
