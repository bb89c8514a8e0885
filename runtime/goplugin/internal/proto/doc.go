// Package proto is the generated gRPC code of the go-plugin transport
// (toolbrain_plugin.proto): the service Plugin (Info, Call, Stream) that a
// plugin process serves, and the service Host (CallTool, LLM) that the host
// serves back to it on a go-plugin broker connection; every payload is the
// JSON of the sdk package.
//
// Only runtime/goplugin and its serve package use it; plugin authors use
// runtime/goplugin/serve and never touch these types. It is internal, as
// go-plugin's own wire format is, so that the generated identifiers are no
// part of ToolBrain's public surface and the wire can change without a
// major version; sdk keeps importing only the standard library.
//
//go:generate sh gen.sh
package proto
