package wasmhost_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// A module that is slow to compile does not hold up the loads of other
// modules: the host's lock is not held while compiling. Two loads of the slow
// module share one compile.
func TestLoad_CompileDoesNotBlockOtherLoads(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a module that takes about a second")
	}
	h := newHost(t, wasmhost.HostConfig{CompileTimeout: time.Minute})
	slow := nestedBlocks(12345) // a size no other test compiles
	m := contract.Manifest{Name: "nested", Kind: sdk.KindReward, SDKVersion: "1.0"}
	started := make(chan struct{})
	slowDone := make(chan time.Duration, 2)
	for range 2 {
		go func() {
			started <- struct{}{}
			t0 := time.Now()
			_, err := h.Load(context.Background(), slow, m, contract.PluginConfig{})
			if !errors.Is(err, contract.ErrNoFunction) { // it compiles, then lacks its kind's export
				t.Errorf("slow load: %v", err)
			}
			slowDone <- time.Since(t0)
		}()
	}
	<-started
	<-started
	t0 := time.Now()
	for n := 1; n <= 3; n++ {
		if _, err := h.Load(context.Background(), nestedBlocks(n), m, contract.PluginConfig{}); !errors.Is(err, contract.ErrNoFunction) {
			t.Fatalf("small load %d: %v", n, err)
		}
	}
	small := time.Since(t0)
	select {
	case d := <-slowDone:
		t.Fatalf("the small loads took %v, the slow compile %v: they waited for it", small, d)
	default:
	}
	<-slowDone
	<-slowDone
}
