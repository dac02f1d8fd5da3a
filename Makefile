.PHONY: test build run

# All CI checks: packages, gofmt, vet, go mod tidy, go test -race (SQLite and PostgreSQL).
test:
	bash scripts/test.sh

build:
	go build -o tidings ./cmd/tidings

run:
	go run ./cmd/tidings serve
