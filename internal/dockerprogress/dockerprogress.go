// Package dockerprogress owns reading the Docker daemon's JSON progress
// streams (pull, import, build), which report failures inside a 200 reply.
package dockerprogress

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/pkg/jsonmessage"
)

// Drain reads a progress stream to the end and returns the first error the
// daemon reported in it (errorDetail, or the legacy error string).
func Drain(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read progress: %w", err)
		}
		if msg.Error != nil {
			return msg.Error
		}
		if msg.ErrorMessage != "" {
			return errors.New(msg.ErrorMessage)
		}
	}
}
