package runtimetest

import (
	"errors"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// testLinks checks Docker's rules for links, which the task engine orders
// container creates and starts around: the linked container must exist at
// create and run at start, links need bridge networking, and the linking
// container resolves the alias.
func testLinks(f *fixture) {
	target := f.spec("link-target", f.h.LongRunning)
	const alias = "berth-link-alias"
	cmd := f.h.ExitWith(0)
	if f.h.Shell != nil {
		cmd = f.h.Shell("grep -q " + alias + " /etc/hosts")
	}
	linker := f.spec("linker", cmd)
	linker.Links = []string{target.Name + ":" + alias}

	if id, err := f.rt.CreateContainer(f.h.ctx(f.t), linker); err == nil {
		_ = f.rt.RemoveContainer(f.h.ctx(f.t), id)
		f.t.Errorf("CreateContainer linking to a missing container succeeded")
	} else if errors.Is(err, runtime.ErrNotFound) {
		f.t.Errorf("CreateContainer linking to a missing container: err = %v; want an error that is not ErrNotFound (callers read that as a missing image)", err)
	}

	hostMode := f.spec("linker-host", f.h.LongRunning)
	hostMode.NetworkMode = "host"
	hostMode.Links = linker.Links
	targetID := f.create(target)
	if id, err := f.rt.CreateContainer(f.h.ctx(f.t), hostMode); err == nil {
		_ = f.rt.RemoveContainer(f.h.ctx(f.t), id)
		f.t.Errorf("CreateContainer with links in host network mode succeeded")
	}

	id := f.create(linker)
	if err := f.rt.StartContainer(f.h.ctx(f.t), id); err == nil {
		f.t.Fatalf("StartContainer linking to a container that is not running succeeded")
	}
	if err := f.rt.StartContainer(f.h.ctx(f.t), targetID); err != nil {
		f.t.Fatalf("StartContainer(link target): %v", err)
	}
	// A start refused for a stopped link target can be retried once it runs.
	if err := f.rt.StartContainer(f.h.ctx(f.t), id); err != nil {
		f.t.Fatalf("StartContainer linking to a running container: %v", err)
	}
	if f.h.Exit != nil {
		f.h.Exit(f.t, f.rt, id, 0)
	}
	code, err := f.rt.WaitContainer(f.h.ctx(f.t), id)
	if err != nil {
		f.t.Fatalf("WaitContainer(%s): %v", id, err)
	}
	if code != 0 {
		f.t.Errorf("linking container exited %d: alias %s not in its /etc/hosts", code, alias)
	}
}
