package hub

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkPull downloads a 32 MiB LFS file from a loopback hub into a fresh
// cache each time: HTTP, the SHA-256 check and the disk write together.
func BenchmarkPull(b *testing.B) {
	data := make([]byte, 32<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	hub := newFakeHub(b)
	hub.add("bench/model", &fakeRepo{files: map[string][]byte{"model.safetensors": data}, lfs: map[string]bool{"model.safetensors": true}})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := &Client{Endpoint: hub.srv.URL, CacheDir: b.TempDir()}
		if _, err := c.Pull(context.Background(), "bench/model", "", nil); err != nil {
			b.Fatal(err)
		}
	}
}
