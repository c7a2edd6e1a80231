package client

import (
	"context"
	"fmt"
)

// WithToken makes every call and stream of the Client present secret, an
// ACL token's secret ID (`conclave acl bootstrap`, `conclave acl token
// create`), as gRPC metadata "authorization: Bearer <secret>". An empty
// secret sends none, as if the option were not given. The token goes with
// plain text as well as TLS: an agent on loopback may run in clear, and
// anything that can read the connection there can read the agent's data
// too. New fails if secret cannot be sent as metadata (it must be
// printable ASCII without spaces).
func WithToken(secret string) Option {
	return func(o *options) { o.token = secret }
}

// bearer is the per-RPC credential WithToken installs: grpc adds its
// metadata to every unary call and every stream the connection opens.
type bearer struct{ header string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

// RequireTransportSecurity is false so that the SDK keeps working in clear
// on loopback; see WithToken.
func (bearer) RequireTransportSecurity() bool { return false }

// checkToken refuses a secret that gRPC would reject only at the first
// call (metadata values are printable ASCII), or that would be read back
// as something else (a space splits "Bearer <secret>").
func checkToken(secret string) error {
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("client: token: byte %d is %q; a secret ID is printable ASCII without spaces", i, c)
		}
	}
	return nil
}
