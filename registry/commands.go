package registry

import (
	"fmt"
	"slices"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Command ops of the registry table. Every number is wire format, written
// to the Raft log, and never changes meaning. The release of a session's
// or a node's instances rides on the envelope's release-session and
// release-node commands (Table's ReleaseSession and ReleaseNode).
const (
	opRegister   = 1 // pid now registration
	opDeregister = 2 // service id pid ("": whoever owns it)
	opSetHealth  = 3 // service id pid health output last_seen now
	opLastSeen   = 4 // node now count (service id pid at)*
)

// Query ops (the local replica, or a server's for a node without one).
const (
	queryInstances = 1 // service tag group passing_only
	queryServices  = 2
	queryIndex     = 3 // the table's last change index alone (a mirror's cheap poll)
)

// Decoding bounds: generous beyond the validation limits, so a field over
// its limit is refused by Validate, naming it, not as malformed; they
// only stop a corrupt length from making a decoder allocate.
const (
	maxDecodeString = 64 << 10
	maxDecodeOutput = 64 << 10
)

// Register registers (or, for the same PID, replaces) an instance; Now is
// the proposer's clock. Reg is normalized (Registration.Normalize).
type Register struct {
	PID string
	Now time.Time
	Reg Registration
}

// Deregister removes an instance: PID's only, or whoever owns it when PID
// is empty (an operator's deregistration).
type Deregister struct{ Service, ID, PID string }

// SetHealth records a health transition of PID's instance, decided by its
// agent, with the output that decided it and the time the agent last saw
// it alive.
type SetHealth struct {
	Service, ID, PID string
	Health           Health
	Output           string
	LastSeen, Now    time.Time
}

// Seen is one instance's last_seen in a LastSeen batch.
type Seen struct {
	Service, ID, PID string
	At               time.Time
}

// LastSeen carries the last_seen times of Node's instances, in one entry
// per node every Config.LastSeenInterval. An item whose instance is gone
// or owned by another PID is skipped, as is a time older than the one
// recorded.
type LastSeen struct {
	Node  string
	Now   time.Time
	Items []Seen
}

// Marshal encodes the command for the Raft log.
func (c Register) Marshal() []byte {
	e := wire.Command(TableID, opRegister)
	e.String(c.PID)
	e.Time(c.Now)
	encodeRegistration(e, c.Reg)
	return e.Data()
}

// Marshal encodes the command for the Raft log.
func (c Deregister) Marshal() []byte {
	e := wire.Command(TableID, opDeregister)
	e.String(c.Service)
	e.String(c.ID)
	e.String(c.PID)
	return e.Data()
}

// Marshal encodes the command for the Raft log.
func (c SetHealth) Marshal() []byte {
	e := wire.Command(TableID, opSetHealth)
	e.String(c.Service)
	e.String(c.ID)
	e.String(c.PID)
	e.Byte(byte(c.Health))
	e.String(c.Output)
	e.Time(c.LastSeen)
	e.Time(c.Now)
	return e.Data()
}

// Marshal encodes the command for the Raft log.
func (c LastSeen) Marshal() []byte {
	e := wire.Command(TableID, opLastSeen)
	e.String(c.Node)
	e.Time(c.Now)
	e.Uvarint(uint64(len(c.Items)))
	for _, it := range c.Items {
		e.String(it.Service)
		e.String(it.ID)
		e.String(it.PID)
		e.Time(it.At)
	}
	return e.Data()
}

// unmarshal decodes a command's fields (after the envelope's header) and
// checks them against the table's rules: the one check behind both the
// leader's screen and the apply.
func unmarshal(op byte, d *wire.Decoder) (any, error) {
	var (
		c   any
		err error
	)
	switch op {
	case opRegister:
		r := Register{PID: d.StringMax(maxDecodeString), Now: d.Time(), Reg: decodeRegistration(d)}
		c, err = r, r.validate()
	case opDeregister:
		x := Deregister{Service: d.StringMax(maxDecodeString), ID: d.StringMax(maxDecodeString), PID: d.StringMax(maxDecodeString)}
		c, err = x, validateTarget(x.Service, x.ID)
		if err == nil && x.PID != "" {
			err = wire.ValidatePID("pid", x.PID)
		}
	case opSetHealth:
		x := SetHealth{Service: d.StringMax(maxDecodeString), ID: d.StringMax(maxDecodeString), PID: d.StringMax(maxDecodeString),
			Health: Health(d.Byte()), Output: d.StringMax(maxDecodeOutput), LastSeen: d.Time(), Now: d.Time()}
		c, err = x, x.validate()
	case opLastSeen:
		x := LastSeen{Node: d.StringMax(maxDecodeString), Now: d.Time()}
		n := d.Count(4)
		for i := 0; i < n && d.Err() == nil; i++ {
			x.Items = append(x.Items, Seen{Service: d.StringMax(maxDecodeString), ID: d.StringMax(maxDecodeString),
				PID: d.StringMax(maxDecodeString), At: d.Time()})
		}
		c, err = x, x.validate()
	default:
		return nil, wire.Invalidf("op", "unknown registry op %d", op)
	}
	if derr := d.Done(); derr != nil {
		return nil, fmt.Errorf("%w: malformed registry command: %w", wire.ErrInvalid, derr)
	}
	return c, err
}

func (c Register) validate() error {
	if err := wire.ValidatePID("pid", c.PID); err != nil {
		return err
	}
	if err := c.Reg.Validate(); err != nil {
		return err
	}
	if c.Reg.ID == "" || c.Reg.Protocol == "" {
		return wire.Invalidf("id", "the command carries no id or protocol (not normalized)")
	}
	return nil
}

func validateTarget(service, id string) error {
	if err := ValidateService("service", service); err != nil {
		return err
	}
	return validateID(id)
}

func (c SetHealth) validate() error {
	if err := validateTarget(c.Service, c.ID); err != nil {
		return err
	}
	if err := wire.ValidatePID("pid", c.PID); err != nil {
		return err
	}
	if len(c.Output) > MaxOutput {
		return wire.Invalidf("output", "is %d bytes, the limit is %d", len(c.Output), MaxOutput)
	}
	return validHealth("health", c.Health)
}

func (c LastSeen) validate() error {
	if err := wire.ValidateNode("node", c.Node); err != nil {
		return err
	}
	if len(c.Items) > MaxBatch {
		return wire.Invalidf("items", "%d items, the limit is %d", len(c.Items), MaxBatch)
	}
	for i, it := range c.Items {
		if err := validateTarget(it.Service, it.ID); err != nil {
			return fmt.Errorf("items[%d]: %w", i, err)
		}
		if err := wire.ValidatePID("pid", it.PID); err != nil {
			return fmt.Errorf("items[%d]: %w", i, err)
		}
		if wire.NodeOf(it.PID) != c.Node {
			return wire.Invalidf(fmt.Sprintf("items[%d].pid", i), "%q is not a session of node %s", it.PID, c.Node)
		}
	}
	return nil
}

// Encodings shared by commands, results and the snapshot.

func encodeRegistration(e *wire.Encoder, r Registration) {
	e.String(r.Service)
	e.String(r.ID)
	e.String(r.Endpoint)
	e.String(r.Protocol)
	e.String(r.Type)
	encodeStrings(e, r.Tags)
	encodeStrings(e, r.Groups)
	keys := sortedKeys(r.Meta)
	e.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.String(k)
		e.String(r.Meta[k])
	}
	e.Uvarint(uint64(len(r.Checks)))
	for _, c := range r.Checks {
		e.String(string(c.Kind))
		e.String(c.Target)
		e.Duration(c.Interval)
		e.Duration(c.Timeout)
		e.Duration(c.TTL)
		e.Uvarint(uint64(max(c.SuccessesBeforePassing, 0)))
		e.Uvarint(uint64(max(c.FailuresBeforeCritical, 0)))
	}
}

func decodeRegistration(d *wire.Decoder) Registration {
	r := Registration{
		Service: d.Field("service").StringMax(maxDecodeString), ID: d.Field("id").StringMax(maxDecodeString),
		Endpoint: d.Field("endpoint").StringMax(maxDecodeString), Protocol: d.Field("protocol").StringMax(maxDecodeString),
		Type: d.Field("type").StringMax(maxDecodeString),
	}
	r.Tags = decodeStrings(d.Field("tags"))
	r.Groups = decodeStrings(d.Field("groups"))
	if n := d.Field("meta").Count(2); n > 0 {
		r.Meta = make(map[string]string, n)
		for i := 0; i < n && d.Err() == nil; i++ {
			k := d.StringMax(maxDecodeString)
			r.Meta[k] = d.StringMax(maxDecodeString)
		}
	}
	n := d.Field("checks").Count(7)
	for i := 0; i < n && d.Err() == nil; i++ {
		r.Checks = append(r.Checks, Check{Kind: CheckKind(d.StringMax(64)), Target: d.StringMax(maxDecodeString),
			Interval: d.Duration(), Timeout: d.Duration(), TTL: d.Duration(),
			SuccessesBeforePassing: smallInt(d), FailuresBeforeCritical: smallInt(d)})
	}
	d.Field("")
	return r
}

// smallInt reads a threshold; one past any sane value reads as
// MaxThreshold+1, which validation refuses.
func smallInt(d *wire.Decoder) int {
	v := d.Uvarint()
	if v > MaxThreshold {
		return MaxThreshold + 1
	}
	return int(v)
}

func encodeStrings(e *wire.Encoder, ss []string) {
	e.Uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.String(s)
	}
}

func decodeStrings(d *wire.Decoder) []string {
	n := d.Count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out = append(out, d.StringMax(maxDecodeString))
	}
	return out
}

func encodeInstance(e *wire.Encoder, in *Instance) {
	encodeRegistration(e, in.registration())
	e.String(in.PID)
	e.Byte(byte(in.Health))
	e.String(in.Output)
	e.Time(in.RegisteredAt)
	e.Time(in.LastSeen)
	e.Uvarint(in.CreateIndex)
	e.Uvarint(in.ModifyIndex)
}

func decodeInstance(d *wire.Decoder) *Instance {
	r := decodeRegistration(d)
	in := &Instance{Service: r.Service, ID: r.ID, Endpoint: r.Endpoint, Protocol: r.Protocol, Type: r.Type,
		Tags: r.Tags, Groups: r.Groups, Meta: r.Meta, Checks: r.Checks}
	in.PID = d.StringMax(maxDecodeString)
	in.Node = wire.NodeOf(in.PID)
	in.Health = Health(d.Byte())
	in.Output = d.StringMax(maxDecodeOutput)
	in.RegisteredAt, in.LastSeen = d.Time(), d.Time()
	in.CreateIndex, in.ModifyIndex = d.Uvarint(), d.Uvarint()
	return in
}

// registration is the part of the instance its session announced.
func (in *Instance) registration() Registration {
	return Registration{Service: in.Service, ID: in.ID, Endpoint: in.Endpoint, Protocol: in.Protocol, Type: in.Type,
		Tags: in.Tags, Groups: in.Groups, Meta: in.Meta, Checks: in.Checks}
}

// clone is a deep copy, for callers outside the table.
func (in *Instance) clone() Instance {
	c := *in
	c.Tags, c.Groups, c.Checks = slices.Clone(in.Tags), slices.Clone(in.Groups), slices.Clone(in.Checks)
	if in.Meta != nil {
		c.Meta = make(map[string]string, len(in.Meta))
		for k, v := range in.Meta {
			c.Meta[k] = v
		}
	}
	return c
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Queries.

func instancesQuery(f Filter) []byte {
	e := wire.Command(TableID, queryInstances)
	e.String(f.Service)
	e.String(f.Tag)
	e.String(f.Group)
	e.Bool(f.PassingOnly)
	return e.Data()
}

func servicesQuery() []byte { return wire.Command(TableID, queryServices).Data() }

func indexQuery() []byte { return wire.Command(TableID, queryIndex).Data() }
