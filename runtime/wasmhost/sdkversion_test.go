package wasmhost_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
)

// bareModule is the smallest module an upstream PDK might give: a memory
// and a reward export, no toolbrain_sdk_version and no manifest.
var bareModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
	0x03, 0x02, 0x01, 0x00, // function 0 of type 0
	0x05, 0x03, 0x01, 0x00, 0x01, // memory: 1 page
	0x07, 0x13, 0x02, // exports: 2
	0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00,
	0x06, 'r', 'e', 'w', 'a', 'r', 'd', 0x00, 0x00,
	0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b, // code: i32.const 0
}

// TestLoad_NoSDKVersion: a plugin that states no SDK version loads as
// written for the current one, and the host says so once per plugin.
func TestLoad_NoSDKVersion(t *testing.T) {
	var log bytes.Buffer
	ctx := context.Background()
	h, err := wasmhost.NewHost(ctx, wasmhost.HostConfig{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for range 2 {
		p, err := h.Load(ctx, bareModule, contract.Manifest{Name: "bare"}, contract.PluginConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if p.SDKVersion() == "" {
			t.Error("no SDK version assumed")
		}
		p.Close(ctx)
	}
	if n := strings.Count(log.String(), "states no SDK version"); n != 1 {
		t.Errorf("the assumption was logged %d times, want once:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "plugin=bare") {
		t.Errorf("the log does not name the plugin:\n%s", log.String())
	}
}
