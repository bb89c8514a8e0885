# The two commands a newcomer needs are in README.md; this file holds their steps.
.PHONY: test build

# test runs the whole suite (what CI runs, through .ci/run).
test:
	go vet ./...
	go test ./...

build:
	go build -o bin/toolbrain ./cmd/toolbrain
