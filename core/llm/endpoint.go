package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/toolbrain/toolbrain/sdk"
)

// Defaults of EndpointConfig, used for its zero fields.
const (
	// DefaultTimeout bounds one HTTP attempt (connect, send, wait, read).
	DefaultTimeout = 60 * time.Second
	// DefaultMaxRetries is how many times a failed attempt is retried.
	DefaultMaxRetries = 2
	// DefaultBackoff is the wait before the first retry; it doubles with
	// every retry.
	DefaultBackoff = 500 * time.Millisecond
	// DefaultMaxRetryWait caps one wait between attempts, the server's
	// Retry-After included.
	DefaultMaxRetryWait = 30 * time.Second
	// MaxResponseBytes caps the body of a successful answer.
	MaxResponseBytes = 16 << 20
)

// errorBodyBytes is how much of an error body is read, and errorSnippet how
// much of it an error message quotes.
const (
	errorBodyBytes = 64 << 10
	errorSnippet   = 300
)

// EndpointConfig configures an [Endpoint]. BaseURL and Model are required;
// every other zero field means its default.
type EndpointConfig struct {
	// BaseURL is the API root, such as "http://localhost:8000/v1" or
	// "https://api.openai.com/v1"; requests go to BaseURL+"/chat/completions".
	// It must be an absolute http or https URL without query or fragment; a
	// trailing slash is ignored.
	BaseURL string
	// Model is the "model" of every request.
	Model string
	// APIKey, when not empty, is sent as "Authorization: Bearer APIKey".
	APIKey string
	// HTTPClient sends the requests; nil means http.DefaultClient. Its own
	// Timeout, if any, applies on top of Timeout.
	HTTPClient *http.Client
	// Timeout bounds each attempt; 0 means DefaultTimeout. The caller's
	// context bounds the whole call, retries and waits included.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is retried: after a
	// transport error, a per-attempt timeout, or status 408, 429 or 5xx.
	// 0 means DefaultMaxRetries; a negative value turns retries off.
	MaxRetries int
	// Backoff is the wait before the first retry, doubling after each
	// (with jitter: a random wait between half and all of it); 0 means
	// DefaultBackoff. A Retry-After header (seconds or an HTTP date) on a
	// 429 or 503 answer replaces it.
	Backoff time.Duration
	// MaxRetryWait caps every wait between attempts, Retry-After included;
	// 0 means DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// MaxTokens is the max_tokens sent when a request has 0; 0 means
	// DefaultMaxTokens.
	MaxTokens int
}

// Endpoint is an [sdk.LLM] for an OpenAI-compatible chat-completions API.
// It is safe for concurrent use; create it with [NewEndpoint].
type Endpoint struct {
	url    string // BaseURL + "/chat/completions"
	cfg    EndpointConfig
	client *http.Client
}

// NewEndpoint validates cfg, fills its defaults and returns the endpoint. It
// makes no request. Errors wrap ErrConfig and name the field.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	if base == "" {
		return nil, fmt.Errorf("%w: BaseURL is empty, want an http(s) URL such as http://localhost:8000/v1", ErrConfig)
	}
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: BaseURL %q: %w", ErrConfig, cfg.BaseURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: BaseURL %q: scheme %q, want http or https", ErrConfig, cfg.BaseURL, u.Scheme)
	case u.Host == "":
		return nil, fmt.Errorf("%w: BaseURL %q has no host", ErrConfig, cfg.BaseURL)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w: BaseURL %q has a query or fragment; give the API root only", ErrConfig, cfg.BaseURL)
	}
	cfg.BaseURL = base
	cfg.Model = strings.TrimSpace(cfg.Model)
	if cfg.Model == "" {
		return nil, fmt.Errorf("%w: Model is empty, want the model name the endpoint serves", ErrConfig)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"Timeout", cfg.Timeout}, {"Backoff", cfg.Backoff}, {"MaxRetryWait", cfg.MaxRetryWait}} {
		if f.v < 0 {
			return nil, fmt.Errorf("%w: %s is %v, want >= 0 (0 = default)", ErrConfig, f.name, f.v)
		}
	}
	if cfg.MaxTokens < 0 {
		return nil, fmt.Errorf("%w: MaxTokens is %d, want >= 0 (0 = default)", ErrConfig, cfg.MaxTokens)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxRetryWait == 0 {
		cfg.MaxRetryWait = DefaultMaxRetryWait
	}
	cfg.MaxTokens = maxTokens(0, cfg.MaxTokens)
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	return &Endpoint{url: base + "/chat/completions", cfg: cfg, client: client}, nil
}

// URL is where requests are posted: BaseURL + "/chat/completions".
func (e *Endpoint) URL() string { return e.url }

// Config returns the configuration with its defaults filled in (MaxRetries
// is then the actual count, 0 when retries are off).
func (e *Endpoint) Config() EndpointConfig { return e.cfg }

// Complete posts req as a chat completion and returns choices[0]'s message
// content, cut before the first stop string (servers normally cut there
// already).
//
// A transport error, a per-attempt timeout, or status 408, 429 or 5xx is
// retried up to MaxRetries times; other statuses fail at once with a
// *StatusError, which wraps ErrStatus. A 2xx answer that is not
// chat-completion JSON or has no choices fails with ErrResponse. An invalid
// req fails with ErrRequest before anything is sent.
//
// Cancelling ctx aborts the attempt in flight and any wait between attempts;
// the error then wraps ctx.Err(). When ctx's deadline would pass before the
// next attempt could start, Complete returns the last attempt's error at
// once instead of waiting.
func (e *Endpoint) Complete(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
	if err := validateRequest(req); err != nil {
		return sdk.LLMResponse{}, err
	}
	body, err := json.Marshal(e.requestBody(req))
	if err != nil {
		return sdk.LLMResponse{}, fmt.Errorf("llm: POST %s: encode request: %w", e.url, err)
	}
	for attempt := 0; ; attempt++ {
		text, err := e.attempt(ctx, body)
		if err == nil {
			return sdk.LLMResponse{Text: cutAtStop(text, req.Stop)}, nil
		}
		if ctx.Err() != nil {
			return sdk.LLMResponse{}, fmt.Errorf("llm: POST %s: %w", e.url, ctx.Err())
		}
		if !retryable(err) {
			return sdk.LLMResponse{}, err
		}
		if attempt >= e.cfg.MaxRetries {
			if attempt == 0 {
				return sdk.LLMResponse{}, err
			}
			return sdk.LLMResponse{}, fmt.Errorf("llm: giving up after %d attempts: %w", attempt+1, err)
		}
		wait := e.wait(attempt, err)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return sdk.LLMResponse{}, fmt.Errorf("llm: not retrying: the next attempt (in %v) would start after the deadline: %w", wait.Round(time.Millisecond), err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return sdk.LLMResponse{}, fmt.Errorf("llm: POST %s: %w while waiting to retry after: %w", e.url, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// wireMessage is a message in OpenAI's chat format.
type wireMessage struct {
	Role       string         `json:"role"`
	Content    string         `json:"content"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type wireToolCall struct {
	ID       string `json:"id,omitempty"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"` // a JSON object, as a string
	} `json:"function"`
}

// wireRequest is the chat-completions request body. Temperature is always
// sent: 0 means greedy here, while a server's default is usually 1.
type wireRequest struct {
	Model       string        `json:"model"`
	Messages    []wireMessage `json:"messages"`
	MaxTokens   int           `json:"max_tokens"`
	Temperature float64       `json:"temperature"`
	Stop        []string      `json:"stop,omitempty"`
}

// wireResponse is the part of a chat-completions answer that is read.
type wireResponse struct {
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
}

// wireError is OpenAI's error body, which most compatible servers copy.
type wireError struct {
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (e *Endpoint) requestBody(req sdk.LLMRequest) wireRequest {
	msgs := make([]wireMessage, len(req.Messages))
	for i, m := range req.Messages {
		w := wireMessage{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID}
		for _, c := range m.ToolCalls {
			tc := wireToolCall{ID: c.ID, Type: "function"}
			tc.Function.Name = c.Name
			tc.Function.Arguments = string(c.Arguments)
			if len(c.Arguments) == 0 {
				tc.Function.Arguments = "{}"
			}
			w.ToolCalls = append(w.ToolCalls, tc)
		}
		msgs[i] = w
	}
	return wireRequest{
		Model: e.cfg.Model, Messages: msgs, MaxTokens: maxTokens(req.MaxTokens, e.cfg.MaxTokens),
		Temperature: req.Temperature, Stop: req.Stop,
	}
}

// transportError is a failure to get an answer at all: retryable.
type transportError struct{ err error }

func (t *transportError) Error() string { return t.err.Error() }
func (t *transportError) Unwrap() error { return t.err }

// StatusError is a non-2xx answer. It wraps ErrStatus.
type StatusError struct {
	// URL is where the request was posted.
	URL string
	// StatusCode is the HTTP status, such as 429.
	StatusCode int
	// Message is the "error.message" of an OpenAI-style error body, or the
	// start of the body when it has none.
	Message string
	// RetryAfter is the server's Retry-After, 0 when absent or unparsable.
	RetryAfter time.Duration
}

// Error reads "llm: POST URL: 429 Too Many Requests: MESSAGE".
func (s *StatusError) Error() string {
	msg := fmt.Sprintf("llm: POST %s: %d %s", s.URL, s.StatusCode, http.StatusText(s.StatusCode))
	if s.Message != "" {
		msg += ": " + s.Message
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrStatus) true.
func (s *StatusError) Unwrap() error { return ErrStatus }

// retryable reports whether another attempt may succeed.
func retryable(err error) bool {
	var te *transportError
	if errors.As(err, &te) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode == http.StatusRequestTimeout || se.StatusCode == http.StatusTooManyRequests || se.StatusCode >= 500
	}
	return false
}

// wait is the pause before retry number attempt+1: the server's Retry-After
// when it gave one, else the jittered exponential backoff; capped either way.
func (e *Endpoint) wait(attempt int, err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		return min(se.RetryAfter, e.cfg.MaxRetryWait)
	}
	d := e.cfg.MaxRetryWait
	if attempt < 30 {
		d = min(e.cfg.Backoff<<attempt, e.cfg.MaxRetryWait)
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// attempt makes one request under the per-attempt timeout.
func (e *Endpoint) attempt(ctx context.Context, body []byte) (string, error) {
	actx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("llm: POST %s: %w", e.url, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if e.cfg.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+e.cfg.APIKey)
	}
	resp, err := e.client.Do(hreq)
	if err != nil {
		return "", e.transport(ctx, actx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyBytes))
		return "", &StatusError{URL: e.url, StatusCode: resp.StatusCode, Message: errorMessage(raw),
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return "", e.transport(ctx, actx, fmt.Errorf("read response: %w", err))
	}
	if len(raw) > MaxResponseBytes {
		return "", fmt.Errorf("%w: POST %s: response over %d bytes", ErrResponse, e.url, MaxResponseBytes)
	}
	var out wireResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("%w: POST %s: status %d but the body is not chat-completion JSON (%w): %q",
			ErrResponse, e.url, resp.StatusCode, err, snippet(raw))
	}
	if len(out.Choices) == 0 {
		return "", fmt.Errorf("%w: POST %s: the answer has no choices: %q", ErrResponse, e.url, snippet(raw))
	}
	if c := out.Choices[0].Message.Content; c != nil {
		return *c, nil
	}
	return "", nil
}

// transport wraps a failed exchange: the caller's own cancellation passes
// through (Complete reports it), a per-attempt timeout or a network error
// becomes a retryable transportError.
func (e *Endpoint) transport(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	if actx.Err() != nil {
		err = fmt.Errorf("no answer within %v: %w", e.cfg.Timeout, err)
	}
	return &transportError{fmt.Errorf("llm: POST %s: %w", e.url, err)}
}

// errorMessage is error.message of an OpenAI-style body, else the body's
// start.
func errorMessage(raw []byte) string {
	var we wireError
	if json.Unmarshal(raw, &we) == nil && we.Error != nil && we.Error.Message != "" {
		return we.Error.Message
	}
	return snippet(raw)
}

// snippet is the start of a body, trimmed, for error messages.
func snippet(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if len(s) <= errorSnippet {
		return s
	}
	cut := errorSnippet
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		if !(secs > 0 && secs <= 1e6) { // NaN included
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
