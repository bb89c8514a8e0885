package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// A module whose compile is under way does not hold up the loads of other
// modules: the host's lock is not held while compiling. Two loads of the one
// module share one compile. The compile is held open by a hook, so the test
// says the same on a fast machine and a loaded one.
func TestLoad_CompileDoesNotBlockOtherLoads(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{CompileTimeout: time.Minute})
	slow := nestedBlocks(12345) // a size no other test compiles
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	var slowCompiles atomic.Int32
	defer wasmhost.SetCompileHook(func(wasm []byte) {
		if bytes.Equal(wasm, slow) {
			slowCompiles.Add(1)
			entered <- struct{}{}
			<-release
		}
	})()
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()

	m := contract.Manifest{Name: "nested", Kind: sdk.KindReward, SDKVersion: "1.0"}
	slowErr := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := h.Load(context.Background(), slow, m, contract.PluginConfig{})
			slowErr <- err
		}()
	}
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatal("the slow module's compile never started")
	}

	smallErr := make(chan error, 1)
	go func() {
		for n := 1; n <= 3; n++ {
			if _, err := h.Load(context.Background(), nestedBlocks(n), m, contract.PluginConfig{}); !errors.Is(err, contract.ErrNoFunction) {
				smallErr <- err
				return
			}
		}
		smallErr <- nil
	}()
	select {
	case err := <-smallErr:
		if err != nil {
			t.Fatalf("small load: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the small loads waited for the other module's compile")
	}
	select {
	case err := <-slowErr:
		t.Fatalf("a slow load returned (%v) while its compile was held open", err)
	default:
	}

	released = true
	close(release)
	for range 2 {
		// It compiles, then lacks its kind's export.
		if err := <-slowErr; !errors.Is(err, contract.ErrNoFunction) {
			t.Errorf("slow load: %v", err)
		}
	}
	if n := slowCompiles.Load(); n != 1 {
		t.Errorf("the two loads of one module compiled it %d times, want 1", n)
	}
}
