package llm

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name, h string
		want    time.Duration
	}{
		{name: "absent", h: "", want: 0},
		{name: "seconds", h: "3", want: 3 * time.Second},
		{name: "spaces", h: " 12 ", want: 12 * time.Second},
		{name: "fraction", h: "0.25", want: 250 * time.Millisecond},
		{name: "zero", h: "0", want: 0},
		{name: "negative", h: "-4", want: 0},
		{name: "nan", h: "NaN", want: 0},
		{name: "absurd", h: "1e12", want: 0},
		{name: "http date", h: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second},
		{name: "past date", h: now.Add(-time.Minute).Format(http.TimeFormat), want: 0},
		{name: "garbage", h: "soon", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRetryAfter(tt.h, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}

func TestEndpoint_wait(t *testing.T) {
	e := &Endpoint{cfg: EndpointConfig{Backoff: 100 * time.Millisecond, MaxRetryWait: time.Second}}
	plain := errors.New("transport")
	tests := []struct {
		name     string
		attempt  int
		err      error
		min, max time.Duration
	}{
		{name: "first backoff", attempt: 0, err: plain, min: 50 * time.Millisecond, max: 100 * time.Millisecond},
		{name: "doubles", attempt: 2, err: plain, min: 200 * time.Millisecond, max: 400 * time.Millisecond},
		{name: "capped", attempt: 6, err: plain, min: 500 * time.Millisecond, max: time.Second},
		{name: "huge attempt", attempt: 200, err: plain, min: 500 * time.Millisecond, max: time.Second},
		{name: "retry-after honoured", attempt: 0, err: &StatusError{StatusCode: 429, RetryAfter: 700 * time.Millisecond},
			min: 700 * time.Millisecond, max: 700 * time.Millisecond},
		{name: "retry-after capped", attempt: 0, err: &StatusError{StatusCode: 503, RetryAfter: time.Hour}, min: time.Second, max: time.Second},
		{name: "status without retry-after", attempt: 1, err: &StatusError{StatusCode: 500}, min: 100 * time.Millisecond, max: 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 {
				if got := e.wait(tt.attempt, tt.err); got < tt.min || got > tt.max {
					t.Fatalf("wait(%d, %v) = %v, want in [%v, %v]", tt.attempt, tt.err, got, tt.min, tt.max)
				}
			}
		})
	}
}

func TestSnippet(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "short", in: "  oops \n", want: "oops"},
		{name: "long ascii", in: strings.Repeat("a", 400), want: strings.Repeat("a", errorSnippet) + "…"},
		// 299 ASCII bytes then a 3-byte rune across the cut: the rune is dropped whole.
		{name: "rune at the cut", in: strings.Repeat("a", 299) + "€" + strings.Repeat("b", 10), want: strings.Repeat("a", 299) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := snippet([]byte(tt.in)); got != tt.want {
				t.Errorf("snippet = %q, want %q", got, tt.want)
			}
		})
	}
}
