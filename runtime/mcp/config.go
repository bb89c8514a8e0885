package mcp

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Defaults for the zero fields of [Config].
const (
	// DefaultTimeout bounds one tools/call.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxOutputBytes caps the text one call returns to the model.
	DefaultMaxOutputBytes = 64 << 10
	// StartTimeout bounds starting a server (the process, or the HTTP
	// connection), the initialize handshake and tools/list. It is long
	// because a command such as `go run` may compile first.
	StartTimeout = 2 * time.Minute
	// Separator joins the server's name and the tool's name in the name
	// the athlete calls: "mail" and "search" give "mail__search", which is
	// both a Starlark identifier (CodeAct) and a JSON tool name.
	Separator = "__"
	// GrantAll in Config.Grant exposes every tool the server offers.
	GrantAll = "*"
)

// Config is one MCP server, a [[mcp]] entry of toolbrain.toml. Exactly one
// of Command and URL is set.
type Config struct {
	// Name names the server in tool names (Name + Separator + tool), in
	// errors, and for `toolbrain mcp list NAME`: a letter, then letters,
	// digits or underscores.
	Name string `toml:"name"`
	// Command starts a server that speaks MCP on its stdin and stdout
	// (stdio transport): the program, then its arguments. The server runs
	// for as long as the run that started it, with the parent's
	// environment; its stderr is kept (the last few KiB) for errors.
	Command []string `toml:"command"`
	// URL is a streamable-HTTP server's endpoint ("http://host:port/mcp").
	URL string `toml:"url"`
	// Headers are sent with every HTTP request (URL only).
	Headers map[string]string `toml:"headers"`
	// BearerTokenEnv names an environment variable holding a token sent
	// as "Authorization: Bearer TOKEN" (URL only); the token never goes in
	// the file. Set but empty or unset in the environment is an error.
	BearerTokenEnv string `toml:"bearer_token_env"`
	// Grant lists the server's tools (by the server's own names) that the
	// athlete may call; ["*"] grants every tool. Tools not granted are
	// neither shown to the model nor callable.
	Grant []string `toml:"grant"`
	// Timeout bounds one call (0 = DefaultTimeout).
	Timeout time.Duration `toml:"timeout"`
	// MaxOutputBytes caps the text of one call's result (0 =
	// DefaultMaxOutputBytes); a larger result is a tool error.
	MaxOutputBytes int `toml:"max_output_bytes"`
	// BareNames makes the athlete call the tools by the server's own names
	// (characters outside letters, digits and '_' still become '_'), not
	// NAME__tool: for a model already trained on them. Two tool sources
	// with the same name are then an error of the run.
	BareNames bool `toml:"bare_names"`
}

// ConfigError is a field of a [Config] that is out of range; Field is the
// TOML key ("url", "grant").
type ConfigError struct {
	// Field is the TOML key at fault ("url", "grant").
	Field string
	// Msg says what is wrong with it.
	Msg string
}

// Error is "mcp: <field>: <what is wrong>".
func (e *ConfigError) Error() string { return "mcp: " + e.Field + ": " + e.Msg }

var identifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// Validate checks c's fields; the error is a *ConfigError.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case !identifier.MatchString(c.Name) || strings.Contains(c.Name, Separator):
		return bad("name", "got %q, want a letter then letters, digits or single underscores (it prefixes the tool names: NAME%stool)", c.Name, Separator)
	case len(c.Command) == 0 && c.URL == "":
		return bad("command", "set command (a stdio server) or url (a streamable-HTTP server)")
	case len(c.Command) > 0 && c.URL != "":
		return bad("url", "set command or url, not both")
	case len(c.Command) > 0 && c.Command[0] == "":
		return bad("command", "the program (first element) is empty")
	case c.URL != "" && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://"):
		return bad("url", "got %q, want an http:// or https:// URL", c.URL)
	case c.URL == "" && len(c.Headers) > 0:
		return bad("headers", "headers apply to a url server")
	case c.URL == "" && c.BearerTokenEnv != "":
		return bad("bearer_token_env", "a bearer token applies to a url server")
	case len(c.Grant) == 0:
		return bad("grant", "no tool granted: list the tools the athlete may call, or [\"*\"] for all (see `toolbrain mcp list %s`)", c.Name)
	case c.Timeout < 0:
		return bad("timeout", "got %v, want a positive duration such as \"30s\"", c.Timeout)
	case c.MaxOutputBytes < 0:
		return bad("max_output_bytes", "got %d, want >= 0", c.MaxOutputBytes)
	}
	for i, g := range c.Grant {
		if g == "" {
			return bad("grant", "entry %d is empty", i)
		}
	}
	return nil
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c Config) maxOutput() int {
	if c.MaxOutputBytes == 0 {
		return DefaultMaxOutputBytes
	}
	return c.MaxOutputBytes
}

func (c Config) granted(tool string) bool {
	for _, g := range c.Grant {
		if g == GrantAll || g == tool {
			return true
		}
	}
	return false
}

// toolName is the name the athlete calls tool by.
func (c Config) toolName(tool string) string {
	if c.BareNames {
		return strings.TrimPrefix(ToolName("", tool), Separator)
	}
	return ToolName(c.Name, tool)
}

// ToolName is the name the athlete calls a server's tool by: the server's
// name, Separator, and the tool's name with every character that is not a
// letter, digit or underscore ('-' and '.' are allowed in MCP names)
// replaced by an underscore.
func ToolName(server, tool string) string {
	b := []byte(tool)
	for i, c := range b {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b[i] = '_'
		}
	}
	return server + Separator + string(b)
}
