package sdk

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is the SDK version this package implements, MAJOR.MINOR.
//
// The minor version grows when fields or host functions are added in a
// backward-compatible way; the major version grows when the wire format
// changes incompatibly.
const Version = "1.0"

// VersionFunction is the name of the optional export a WebAssembly plugin
// uses to report the SDK version it was built against. It takes no input and
// outputs the version string (for example "1.0") through the Extism output.
const VersionFunction = "toolbrain_sdk_version"

// ParseVersion splits "MAJOR.MINOR" into its numbers. A bare "MAJOR" means
// minor 0.
func ParseVersion(v string) (major, minor int, err error) {
	s := strings.TrimSpace(v)
	maj, min, hasMinor := strings.Cut(s, ".")
	major, err = parseVersionPart(maj)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %q", ErrBadVersion, v)
	}
	if hasMinor {
		minor, err = parseVersionPart(min)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %q", ErrBadVersion, v)
		}
	}
	return major, minor, nil
}

func parseVersionPart(s string) (int, error) {
	// Digits only: strconv.Atoi would accept "+1" and "-0".
	if s == "" || len(s) > 6 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, ErrBadVersion
	}
	return strconv.Atoi(s)
}

// Negotiate reports whether a host speaking SDK version host can load a plugin
// built against version plugin. The plugin is accepted when the majors are
// equal and the plugin's minor is not greater than the host's (the host
// offers everything an older minor may use). The error names both versions
// and says what to do.
func Negotiate(host, plugin string) error {
	hMaj, hMin, err := ParseVersion(host)
	if err != nil {
		return fmt.Errorf("host version: %w", err)
	}
	pMaj, pMin, err := ParseVersion(plugin)
	if err != nil {
		return fmt.Errorf("plugin version: %w", err)
	}
	switch {
	case pMaj != hMaj:
		return fmt.Errorf("%w: plugin was built for SDK %s, host speaks SDK %s; rebuild the plugin against SDK %d.x",
			ErrIncompatibleVersion, plugin, host, hMaj)
	case pMin > hMin:
		return fmt.Errorf("%w: plugin needs SDK %s, host speaks only SDK %s; upgrade toolbrain",
			ErrIncompatibleVersion, plugin, host)
	}
	return nil
}
