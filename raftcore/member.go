package raftcore

import "github.com/hashicorp/raft"

// refreshMember re-reads the configuration and records whether this node
// is a member: in it (a voter or a non-voter) and holding a replica at
// least as fresh as the commit index it knew when it found itself added.
// Until then it still reads through the leader, so a reader that moves
// from forwarded to local reads at that moment does not see the state go
// back to an older index. A displaced node (displaced.go) is not a member
// whatever its own configuration says.
func (c *Core) refreshMember() []raft.Server {
	f := c.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	servers := f.Configuration().Servers
	in := false
	for _, s := range servers {
		if string(s.ID) == c.cfg.NodeID {
			in = true
		}
	}
	switch {
	case !in || c.displaced.Load():
		c.joinCommit.Store(0)
		c.member.Store(false)
	case c.member.Load():
	default:
		target := c.joinCommit.Load()
		if target == 0 {
			target = c.raft.CommitIndex() + 1
			c.joinCommit.Store(target)
		}
		if c.raft.AppliedIndex()+1 >= target {
			c.joinCommit.Store(0)
			c.member.Store(true)
		}
	}
	return servers
}

// IsMember reports whether this node is a member (see refreshMember): a
// voter or a standby whose replica has caught up to when it was added.
// Cheap on a member; otherwise the configuration is re-read, since a
// follower gets no observation when an entry adds it and the flag alone
// can lag a tick.
func (c *Core) IsMember() bool {
	if c.member.Load() {
		return true
	}
	c.refreshMember()
	return c.member.Load()
}
