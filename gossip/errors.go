package gossip

import "errors"

// Sentinel errors. Callers test them with errors.Is; the returned errors wrap
// them with the detail (field name, size, peer).
var (
	// ErrInvalidConfig is wrapped by Config.Validate with the offending field.
	ErrInvalidConfig = errors.New("gossip: invalid config")
	// ErrMetaTooLarge: an encoded Meta would not fit memberlist.MetaMaxSize.
	ErrMetaTooLarge = errors.New("gossip: meta too large")
	// ErrMetaMalformed: bytes received as node meta do not decode.
	ErrMetaMalformed = errors.New("gossip: malformed meta")
	// ErrMetaVersion: node meta of a format version this build cannot read.
	ErrMetaVersion = errors.New("gossip: unsupported meta version")
	// ErrForeignCluster: a peer advertises a cluster ID other than ours.
	ErrForeignCluster = errors.New("gossip: peer belongs to another cluster")
	// ErrNotInInventory: a peer's address is not in the inventory this
	// node resolved, and Config.AllowOnlyInventory is set.
	ErrNotInInventory = errors.New("gossip: peer not in the inventory")
	// ErrJoinFailed: no join address could be contacted.
	ErrJoinFailed = errors.New("gossip: join failed")
	// ErrBroadcastTimeout: a meta update or leave was applied locally but its
	// broadcast did not go out before the deadline; gossip and push/pull will
	// still spread it.
	ErrBroadcastTimeout = errors.New("gossip: broadcast timed out")
	// ErrShutdown: the Membership has been shut down.
	ErrShutdown = errors.New("gossip: shut down")
	// ErrFiltered: a stream dial refused by the test packet filter.
	ErrFiltered = errors.New("gossip: address blocked by packet filter")
	// ErrInvalidKey: a gossip key that is not base64 of 16, 24 or 32 bytes.
	ErrInvalidKey = errors.New("gossip: invalid key")
	// ErrEncryptionOff: a keyring operation on a node that runs gossip in
	// clear. memberlist cannot switch encryption on at runtime: give every
	// node a key (cluster.membership.secret) and restart them.
	ErrEncryptionOff = errors.New("gossip: encryption is off (it can only be turned on at start, with a configured key)")
	// ErrKeyNotInstalled: UseKey of a key the keyring does not hold.
	ErrKeyNotInstalled = errors.New("gossip: key not installed")
	// ErrRemovePrimary: RemoveKey of the key this node encrypts with.
	ErrRemovePrimary = errors.New("gossip: cannot remove the primary key")
	// ErrKeyring: a cluster-wide keyring operation this node's state
	// refuses (encryption off, use of a key not installed, removal of the
	// primary); the wrapping message names the field and the node.
	ErrKeyring = errors.New("gossip: keyring operation refused")
	// ErrPeerAnswered: a peer answered a keyring request with an error
	// (final, not retried); wrapped by the Requester.
	ErrPeerAnswered = errors.New("gossip: peer refused")
	// ErrKeyringFile: the keyring file cannot be read, parsed or written.
	ErrKeyringFile = errors.New("gossip: keyring file")
)
