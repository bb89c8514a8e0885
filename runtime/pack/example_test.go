package pack_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/sdk"
)

// A pack directory needs toolpack.toml and its module; Build fills in the
// module's sha256 and writes the archive, which Verify and Install accept.
func Example() {
	dir, _ := os.MkdirTemp("", "pack-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "echo.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	os.WriteFile(filepath.Join(dir, "toolpack.toml"), []byte(`
name = "echo"
version = "0.1.0"
sdk_version = "1.0"

[module]
kind = "wasm"
path = "echo.wasm"

[[tools]]
name = "echo"
description = "Repeat the text."
parameters = '{"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}'
`), 0o644)

	archive, err := pack.Build(dir, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := pack.Verify(archive)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(archive), p.Manifest.Module.SHA256[:12])
	installed, err := pack.Install(archive, filepath.Join(dir, "packs"))
	if err != nil {
		fmt.Println(err)
		return
	}
	rel, _ := filepath.Rel(dir, installed)
	fmt.Println(filepath.ToSlash(rel))
	fmt.Println(p.Schemas().Validate(sdk.ToolCallRequest{Name: "echo", Arguments: []byte(`{"text": 3}`)}))
	// Output:
	// echo-0.1.0.tar.gz 93a44bbb96c7
	// packs/echo/0.1.0
	// invalid arguments for tool "echo": at '/text': got number, want string
}
