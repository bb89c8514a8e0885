# The two commands a newcomer needs are in README.md; this file holds their steps.
.PHONY: test build plugins

# test runs the whole suite (what CI runs, through .ci/run): build the
# WebAssembly plugins from source (installing wabt and the npm packages they
# need when missing), vet, staticcheck (pinned; staticcheck.conf), then test.
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2

test: plugins
	go vet ./...
	go run $(STATICCHECK) ./...
	go test ./...

plugins:
	bash plugins/build.sh

build:
	go build -o bin/toolbrain ./cmd/toolbrain
