// Package sdk is ToolBrain's stable plugin contract: the trace an agent
// records, the tool spec, and the request and response of every plugin kind
// (tool, reward, judge, algorithm, interpreter), with their JSON encoding.
//
// The package imports only the standard library so that plugins, the runtime
// and the core can all depend on it without cycles. Every type here is part of
// the wire format that WebAssembly plugins read and write (see ABI.md); field
// names in the `json` tags are the documented names and never change within a
// major SDK version.
//
// # Versions
//
// [Version] is the SDK version the host speaks. A plugin states the version it
// was built against (its manifest's sdk_version, or the output of its exported
// toolbrain_sdk_version function); [Negotiate] accepts it when the major
// versions are equal and the plugin's minor version is not newer than the
// host's, and otherwise returns an error that names both versions.
//
// # Why JSON
//
// Plugins are written in Go, AssemblyScript, Rust, hand-written WAT and more;
// JSON is the one encoding every PDK reads without extra dependencies. The
// payloads are small (a 2 KB trace decodes in microseconds), so the cost is
// not worth a binary format.
package sdk
