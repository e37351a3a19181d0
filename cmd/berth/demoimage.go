package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/localimage"
)

// demoImageTimeout bounds connecting to Docker, compiling the app and
// building the image.
const demoImageTimeout = 5 * time.Minute

func demoImageCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo-image",
		Short: "Build the quick start's demo image " + localimage.Demo.Ref + " on the local Docker engine",
		Long: `Build ` + localimage.Demo.Ref + ` on the local Docker engine, with no registry:
a scratch image holding a small static HTTP server (GET / answers its hostname,
environment and arguments, GET /healthz answers ok; it listens on $PORT, 8080
by default). examples/demo.json runs it.

Compiling the server needs a Go toolchain (go on PATH, or GOROOT). The image is
rebuilt only when what it is built from changed. Prints the image name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), demoImageTimeout)
			defer cancel()
			cli, err := localimage.NewClient(ctx)
			if err != nil {
				return err
			}
			defer cli.Close()
			ref, err := localimage.Demo.Ensure(ctx, cli)
			if err != nil {
				return fmt.Errorf("demo image: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), ref)
			return nil
		},
	}
}
