package api

import (
	"net"
	"net/http"
	"strings"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// hostGuard refuses mutating requests (any method but GET and HEAD) whose
// Host header is not a name this agent answers to, while the HTTP door is
// bound to loopback. It closes DNS rebinding: a web page on evil.example
// re-points its own name at 127.0.0.1, and the victim's browser then sends
// same-origin PUTs to the agent with Host: evil.example. A browser cannot
// forge the Host header, so refusing unknown names is enough; reads stay
// open to any name (curl against a host alias, /metrics scrapes), and GET
// never mutates anything (rest.go registers no mutation under GET).
//
// Allowed: localhost, any loopback IP literal (the bound address is one),
// and the configured extras. With TLS on, a rebinding page cannot complete
// the handshake under its own name anyway; the guard stays, it costs
// nothing. On a non-loopback bind the guard is off: the door is then
// reached under names the agent cannot know, and TLS is required there
// (config.CheckExposure).
type hostGuard struct {
	next    http.Handler
	allowed map[string]bool
	log     zerolog.Logger
}

// newHostGuard wraps next when bound is a loopback address; otherwise it
// returns next unchanged.
func newHostGuard(next http.Handler, bound net.Addr, extra []string, log zerolog.Logger) http.Handler {
	tcp, ok := bound.(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		return next
	}
	g := &hostGuard{next: next, allowed: map[string]bool{"localhost": true}, log: log}
	for _, h := range extra {
		g.allowed[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	return g
}

func (g *hostGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || g.allows(r.Host) {
		g.next.ServeHTTP(w, r)
		return
	}
	g.log.Warn().Str("host", r.Host).Str("method", r.Method).Str("path", r.URL.Path).
		Msg("refused a mutation for a foreign host name")
	var body errorJSON
	body.Error.Code = codes.PermissionDenied.String()
	body.Error.Message = status.Newf(codes.PermissionDenied,
		"host %q is not a name of this agent: mutations on a loopback HTTP address take Host localhost or a loopback IP (add names with api.http_allowed_hosts)",
		r.Host).Message()
	writeJSON(w, g.log, http.StatusForbidden, body)
}

// allows reports whether the Host header names this agent.
func (g *hostGuard) allows(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || g.allowed[ip.String()]
	}
	return g.allowed[strings.ToLower(host)]
}
