package sdk

import "errors"

// Sentinel errors of the plugin contract. Callers test for them with
// errors.Is; the runtime wraps them with the plugin's name and the detail.
var (
	// ErrIncompatibleVersion means a plugin was built against an SDK version
	// that this host cannot serve.
	ErrIncompatibleVersion = errors.New("sdk: incompatible SDK version")
	// ErrBadVersion means a version string is not of the form MAJOR.MINOR.
	ErrBadVersion = errors.New("sdk: malformed SDK version")
	// ErrPermissionDenied means a plugin called a host function that its
	// manifest did not ask for or the configuration did not grant.
	ErrPermissionDenied = errors.New("sdk: permission denied")
	// ErrInvalidRequest means a request fails its own invariants (for
	// example a group with rewards and lengths of different sizes).
	ErrInvalidRequest = errors.New("sdk: invalid request")
	// ErrInvalidResponse means a plugin's response is not valid JSON for its
	// kind or breaks the kind's invariants (wrong count of scores, ranking
	// that is not a permutation, pairs out of range).
	ErrInvalidResponse = errors.New("sdk: invalid response")
	// ErrInvalidScore means a score or advantage is NaN or infinite.
	ErrInvalidScore = errors.New("sdk: score is not a finite number")
	// ErrUnreadableAnswer means a judge's model answered, but no verdict
	// could be read from the answer (not the JSON asked for, a score out of
	// range, a wrong count), even after asking again. The coach counts it
	// apart from a judge that failed or timed out. A plugin's error reaches
	// the host as text, so hosts also look for this message in it.
	ErrUnreadableAnswer = errors.New("sdk: unreadable answer from the judge model")
)
