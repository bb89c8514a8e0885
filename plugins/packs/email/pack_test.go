package email_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/sdk"
)

// TestPack_GoPlugin builds the pack's module (./plugin), packs it with this
// directory's toolpack.toml, opens it as the runtime opens any go-plugin
// pack, and calls its tools for tasks of two inboxes: each call reaches
// the inbox of its task.
func TestPack_GoPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a go-plugin process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	manifest, err := os.ReadFile(pack.ManifestName)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pack.ManifestName), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "email-tools"), "./plugin")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./plugin: %v\n%s", err, out)
	}
	if _, err := pack.Build(dir, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	c, err := corpus.Generate(corpus.Options{Seed: 5, Inboxes: 2, TasksPerInbox: 4})
	if err != nil {
		t.Fatal(err)
	}
	corpusDir := t.TempDir()
	if err := corpus.Write(c, corpusDir); err != nil {
		t.Fatal(err)
	}
	p, err := pack.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := pack.Open(ctx, p, pack.GoPlugin(goplugin.Config{}), contract.PluginConfig{Config: map[string]string{"corpus": corpusDir}})
	if err != nil {
		t.Fatal(err)
	}
	defer tools.Close(ctx)

	for _, task := range append(c.Train, c.Test...) {
		st := task.SDK()
		resp, err := tools.CallTool(ctx, sdk.ToolCallRequest{Name: email.ReadTool, Arguments: json.RawMessage(`{"message_id":"` + task.MessageIDs[0] + `"}`), Task: &st})
		if err != nil || resp.IsError || !strings.Contains(resp.Content, task.Answer) {
			t.Errorf("%s: read %s: %+v %v", task.ID, task.MessageIDs[0], resp, err)
		}
	}
	// A message of the other inbox is not there for this task.
	st := c.Train[0].SDK()
	resp, err := tools.CallTool(ctx, sdk.ToolCallRequest{Name: email.ReadTool, Arguments: json.RawMessage(`{"message_id":"` + c.Test[0].MessageIDs[0] + `"}`), Task: &st})
	if err != nil || !resp.IsError {
		t.Errorf("read across inboxes: %+v %v", resp, err)
	}
	// The schema is checked before the module runs.
	resp, err = tools.CallTool(ctx, sdk.ToolCallRequest{Name: email.SearchTool, Arguments: json.RawMessage(`{"keywords":"orion"}`), Task: &st})
	if err != nil || !resp.IsError {
		t.Errorf("keywords as a string: %+v %v", resp, err)
	}
}
