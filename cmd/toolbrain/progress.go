package main

import (
	"io"
	"sync"

	"github.com/schollz/progressbar/v3"
)

// downloadBars shows one byte progress bar per file being downloaded.
type downloadBars struct {
	w    io.Writer
	mu   sync.Mutex
	file string
	bar  *progressbar.ProgressBar
}

func newDownloadBars(w io.Writer) *downloadBars { return &downloadBars{w: w} }

func (d *downloadBars) update(file string, done, total int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if file != d.file || d.bar == nil {
		if d.bar != nil {
			_ = d.bar.Finish()
		}
		d.file = file
		d.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(d.w),
			progressbar.OptionSetDescription(file),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100_000_000), // 100ms
			progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(d.w, "\n") }),
		)
	}
	_ = d.bar.Set64(done)
}

func (d *downloadBars) finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != nil {
		_ = d.bar.Finish()
	}
}
