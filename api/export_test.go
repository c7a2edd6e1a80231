package api

// NewFakeRegistry is the handlers' in-memory registry for the external
// tests, accepting any session PID. TODO(lead): the SDK tests use it only
// while ServicesOf serves no registry (before the registry domain is
// merged); drop it with their fallback then.
func NewFakeRegistry() RegistryNode {
	f := newFakeRegistry()
	f.anyPID = true
	return f
}

// WaitFor is waitFor for the external tests: poll a condition until a
// deadline.
var WaitFor = waitFor
