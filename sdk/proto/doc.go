// Package proto is the generated gRPC code of the go-plugin transport
// (toolbrain_plugin.proto): one service, Plugin, with Info and Call, whose
// payloads are the JSON of the sdk package.
//
// Only runtime/goplugin and its serve package use it; plugin authors use
// runtime/goplugin/serve and never touch these types. It lives beside sdk
// rather than in it so that sdk keeps importing only the standard library.
//
//go:generate sh gen.sh
package proto
