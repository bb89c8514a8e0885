#!/bin/sh
# Regenerates toolbrain_plugin.pb.go and toolbrain_plugin_grpc.pb.go from
# toolbrain_plugin.proto. The generated files are committed; run this only
# after changing the .proto. Tools (the versions the committed files were
# generated with):
#   apt-get install -y protobuf-compiler            # protoc 3.21.12
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.10
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.3.0
# protoc-gen-go-grpc v1.3.0 because its output compiles against the grpc that
# hashicorp/go-plugin v1.8.0 requires (v1.61.0); newer generators emit code
# that needs grpc >= 1.64.
set -eu
cd "$(dirname "$0")"
protoc --proto_path=. \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	toolbrain_plugin.proto
