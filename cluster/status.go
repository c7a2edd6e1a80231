package cluster

import (
	"context"
	"sort"
	"time"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/raftcore"
)

// configTimeout bounds how long a client node waits for the leader's copy
// of the Raft configuration when showing roles.
const configTimeout = 2 * time.Second

// servers is the Raft configuration: the local copy on a member, the
// leader's on a client node; the (empty) local copy if the leader is not
// reachable in time.
func (n *Node) servers(st raftcore.Status) []raftcore.Server {
	if st.Member {
		return st.Servers
	}
	ctx, cancel := context.WithTimeout(context.Background(), configTimeout)
	defer cancel()
	ss, err := n.core.Servers(ctx)
	if err != nil {
		return st.Servers
	}
	return ss
}

// Members lists every node this node knows of, itself included, by name.
func (n *Node) Members() []Member {
	st := n.core.Status()
	servers := n.servers(st)
	suffrage := make(map[string]string, len(servers))
	for _, s := range servers {
		suffrage[s.ID] = s.Suffrage
	}
	members := n.ml.Members()
	out := make([]Member, 0, len(members))
	now := n.clock.Now()
	for _, m := range members {
		if m.Name == n.Name() {
			m.LastSeen = now // we are alive to ourselves; no probe says so
		}
		role := "client"
		switch suffrage[m.Name] {
		case "voter":
			role = "voter"
		case "nonvoter":
			role = "standby"
		}
		out = append(out, Member{
			Name:          m.Name,
			Addr:          m.Addr,
			State:         string(m.State),
			FailureDomain: m.Meta.FailureDomain,
			Priority:      m.Meta.Priority,
			Eligible:      m.Meta.Eligible,
			RoleHint:      m.Meta.Role,
			RaftRole:      role,
			InternodeAddr: m.Meta.InternodeAddr,
			APIAddr:       m.Meta.APIAddr,
			HTTPAddr:      m.Meta.HTTPAddr,
			Leader:        leaderName(st.LeaderID, members) == m.Name,
			ClusterID:     m.Meta.ClusterID,
			LastSeen:      m.LastSeen,
		})
	}
	return out
}

// leaderName is Raft's leader if this node knows it, else the leader that
// alive peers advertise with the highest term (client nodes).
func leaderName(raftLeader string, members []gossip.Member) string {
	if raftLeader != "" {
		return raftLeader
	}
	var (
		leader string
		term   uint64
	)
	for _, m := range members {
		if m.State == gossip.StateAlive && m.Meta.Leader != "" && m.Meta.Term >= term {
			leader, term = m.Meta.Leader, m.Meta.Term
		}
	}
	return leader
}

// RaftStatus reports this node's view of the Raft core.
func (n *Node) RaftStatus() RaftStatus {
	st := n.core.Status()
	out := RaftStatus{
		Node:         st.ID,
		State:        st.State,
		Term:         st.Term,
		LeaderID:     st.LeaderID,
		LeaderAddr:   st.LeaderAddr,
		ClusterID:    st.ClusterID,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
		LastIndex:    st.LastIndex,
		LastContact:  st.LastContact,
	}
	if !st.Member && st.State != "shutdown" {
		out.State = "client"
		if out.LeaderID == "" {
			out.LeaderID = leaderName("", n.ml.Members())
		}
	}
	out.Admitted = n.admission.Nodes()
	members := n.ml.Members()
	meta := make(map[string]gossip.Meta, len(members))
	for _, m := range members {
		meta[m.Name] = m.Meta
	}
	inConfig := map[string]bool{}
	for _, s := range n.servers(st) {
		role := "standby"
		if s.Suffrage == "voter" {
			role = "voter"
		}
		inConfig[s.ID] = true
		out.Servers = append(out.Servers, RaftServer{
			ID: s.ID, Address: s.Address, Suffrage: s.Suffrage, Role: role, Leader: s.ID == out.LeaderID,
			FailureDomain: meta[s.ID].FailureDomain, Priority: meta[s.ID].Priority,
		})
	}
	for _, m := range members {
		if !inConfig[m.Name] && m.State == gossip.StateAlive {
			out.Servers = append(out.Servers, RaftServer{
				ID: m.Name, Role: "client", FailureDomain: m.Meta.FailureDomain, Priority: m.Meta.Priority,
			})
		}
	}
	sort.SliceStable(out.Servers, func(i, j int) bool {
		a, b := roleOrder[out.Servers[i].Role], roleOrder[out.Servers[j].Role]
		if a != b {
			return a < b
		}
		return out.Servers[i].ID < out.Servers[j].ID
	})
	return out
}

var roleOrder = map[string]int{"voter": 0, "standby": 1, "client": 2}
