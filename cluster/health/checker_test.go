package health

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGossipBootGrace(t *testing.T) {
	x := newHarness(t)
	x.gossip.score = 4
	if r := x.result(t, "gossip"); r.Status != Pass || r.Reason != "health score 4 (fails above 4); 2 members alive" {
		t.Fatalf("score at the ceiling: %+v", r)
	}
	x.gossip.score = 5
	x.clock.Advance(time.Minute - time.Millisecond)
	if r := x.result(t, "gossip"); r.Status != Warn || r.Reason != "health score 5 above 4, within the 1m0s boot grace" {
		t.Fatalf("high score in the boot grace: %+v", r)
	}
	x.clock.Advance(time.Millisecond)
	if r := x.result(t, "gossip"); r.Status != Fail || !strings.HasPrefix(r.Reason, "health score 5 above 4: this node misses") {
		t.Fatalf("high score after the boot grace: %+v", r)
	}
}

func TestRaftContact(t *testing.T) {
	standby := []Server{{ID: "n1", Suffrage: "nonvoter"}, {ID: "n2", Suffrage: "voter"}}
	for name, tc := range map[string]struct {
		after  time.Duration // since start
		st     func(*RaftStatus)
		status string
		reason string
	}{
		"leader": {
			st:     func(s *RaftStatus) { s.State, s.LastContact = "leader", 0 },
			status: Pass, reason: "leader in term 3",
		},
		"shut down": {
			st:     func(s *RaftStatus) { s.State = "shutdown" },
			status: Fail, reason: "raft is shut down",
		},
		"client exempt": {
			after:  time.Hour,
			st:     func(s *RaftStatus) { s.Member, s.LastContact, s.Servers = false, 0, s.Servers[1:] },
			status: Pass, reason: "client node (not in the Raft configuration): exempt",
		},
		"voter in contact": {
			st:     func(s *RaftStatus) { s.LastContact = 30 * time.Second },
			status: Pass, reason: "voter, last leader contact 30s ago (limit 30s)",
		},
		"voter out of contact": {
			st:     func(s *RaftStatus) { s.LastContact = 30*time.Second + time.Millisecond },
			status: Fail, reason: "voter without leader contact for 30.001s (limit 30s)",
		},
		"standby within its longer limit": {
			st:     func(s *RaftStatus) { s.LastContact, s.Servers = 31*time.Second, standby },
			status: Pass, reason: "standby, last leader contact 31s ago (limit 5m0s)",
		},
		"standby out of contact": {
			st:     func(s *RaftStatus) { s.LastContact, s.Servers = 5*time.Minute+time.Millisecond, standby },
			status: Fail, reason: "standby without leader contact for 5m0.001s (limit 5m0s)",
		},
		"member missing from the servers counts as standby": {
			st:     func(s *RaftStatus) { s.LastContact, s.Servers = time.Minute, s.Servers[1:] },
			status: Pass, reason: "standby, last leader contact 1m0s ago (limit 5m0s)",
		},
		"never in contact, in the boot grace": {
			after:  time.Minute - time.Millisecond,
			st:     func(s *RaftStatus) { s.State, s.LeaderID, s.LastContact = "candidate", "", 0 },
			status: Pass, reason: "voter, no leader contact yet, within the 1m0s boot grace",
		},
		"never in contact, counted from start after the grace": {
			after:  time.Minute,
			st:     func(s *RaftStatus) { s.State, s.LeaderID, s.LastContact = "candidate", "", 0 },
			status: Fail, reason: "voter without leader contact for 1m0s (limit 30s)",
		},
		"standby never in contact, within its limit after the grace": {
			after:  time.Minute,
			st:     func(s *RaftStatus) { s.LastContact, s.Servers = 0, standby },
			status: Pass, reason: "standby, last leader contact 1m0s ago (limit 5m0s)",
		},
	} {
		t.Run(name, func(t *testing.T) {
			x := newHarness(t)
			x.raft.set(tc.st)
			x.clock.Advance(tc.after)
			r := x.result(t, "raft_contact")
			if r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf("got %s %q, want %s %q", r.Status, r.Reason, tc.status, tc.reason)
			}
		})
	}
}

func TestLeader(t *testing.T) {
	for name, tc := range map[string]struct {
		st         func(*RaftStatus)
		advertised string
		status     string
		reason     string
	}{
		"member knows its leader": {
			st:     func(*RaftStatus) {},
			status: Pass, reason: "leader n2 in term 3",
		},
		"member without a leader": {
			st:         func(s *RaftStatus) { s.LeaderID = "" },
			advertised: "n2", // a member trusts only its own Raft
			status:     Fail, reason: "no known Raft leader: writes and default reads fail until one is elected",
		},
		"client knows the leader from gossip": {
			st:         func(s *RaftStatus) { s.Member, s.LeaderID = false, "" },
			advertised: "n2",
			status:     Pass, reason: "leader n2, as Raft members advertise it",
		},
		"client without an advertised leader": {
			st:     func(s *RaftStatus) { s.Member = false },
			status: Fail, reason: "no known Raft leader: writes and default reads fail until one is elected",
		},
	} {
		t.Run(name, func(t *testing.T) {
			x := newHarness(t)
			x.raft.set(tc.st)
			x.gossip.leader = tc.advertised
			r := x.result(t, "leader")
			if r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf("got %s %q, want %s %q", r.Status, r.Reason, tc.status, tc.reason)
			}
		})
	}
}

func TestFSMCatchUp(t *testing.T) {
	x := newHarness(t)
	if r := x.result(t, "fsm"); r.Status != Fail || r.Reason != "catch-up not measured yet" {
		t.Fatalf("before any sample: %+v", r)
	}
	x.raft.set(func(s *RaftStatus) { s.CommitIndex = 10 })
	x.h.sample()
	x.raft.set(func(s *RaftStatus) { s.CommitIndex, s.AppliedIndex = 20, 9 })
	if r := x.result(t, "fsm"); r.Status != Fail || r.Reason != "catch-up not measured yet" {
		t.Fatalf("after one sample: %+v", r)
	}
	x.h.sample() // commit index 10 is now known one sample ago
	if r := x.result(t, "fsm"); r.Status != Fail || r.Reason != "applied index 9 behind commit index 10 known 1s ago (now 20)" {
		t.Fatalf("behind the older sample: %+v", r)
	}
	x.raft.set(func(s *RaftStatus) { s.AppliedIndex = 10 })
	if r := x.result(t, "fsm"); r.Status != Pass || r.Reason != "applied index 10, commit index 20" {
		t.Fatalf("trailing only the last sample's entries: %+v", r)
	}
	x.raft.set(func(s *RaftStatus) { s.CommitIndex = 30 })
	x.h.sample() // now 20 must be applied
	if r := x.result(t, "fsm"); r.Status != Fail {
		t.Fatalf("behind after another sample: %+v", r)
	}
	x.raft.set(func(s *RaftStatus) { s.Member = false })
	if r := x.result(t, "fsm"); r.Status != Pass || r.Reason != "client node: no local replica, reads go to Raft members" {
		t.Fatalf("client: %+v", r)
	}
}

func TestRunSamplesOnTheClock(t *testing.T) {
	x := newHarness(t)
	// Set before Run starts: its first sample, taken at once, must see
	// commit index 5 (set after, it raced that sample and the second
	// sample's reason named an index known 0 s ago).
	x.raft.set(func(s *RaftStatus) { s.CommitIndex = 5 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.h.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if d := x.clock.awaitWaiting(t); d != time.Second {
		t.Fatalf("Run waits %s, want the 1s sample interval", d)
	}
	if r := x.result(t, "fsm"); r.Status != Fail || r.Reason != "catch-up not measured yet" {
		t.Fatalf("after the first sample: %+v", r)
	}
	x.clock.Advance(time.Second)
	x.clock.awaitWaiting(t)
	x.raft.set(func(s *RaftStatus) { s.AppliedIndex = 4 })
	r := x.result(t, "fsm")
	if r.Status != Fail || r.Reason != "applied index 4 behind commit index 5 known 1s ago (now 5)" {
		t.Fatalf("after the second sample: %+v", r)
	}
	x.raft.set(func(s *RaftStatus) { s.AppliedIndex = 5 })
	if r := x.result(t, "fsm"); r.Status != Pass {
		t.Fatalf("caught up: %+v", r)
	}
}

func TestGroupHeartbeat(t *testing.T) {
	for name, tc := range map[string]struct {
		after  time.Duration // since start
		alive  int
		beat   time.Duration // since start; 0 for none
		peer   string
		status string
		reason string
	}{
		"alone passes": {
			after: time.Hour, alive: 1,
			status: Pass, reason: "no peers alive in gossip: nothing to hear from",
		},
		"recent beat": {
			after: 10 * time.Minute, alive: 3, beat: 9*time.Minute + 58*time.Second, peer: "n2",
			status: Pass, reason: "last beat from n2 2s ago (fails after 5m0s)",
		},
		"beat at the ceiling": {
			after: 10 * time.Minute, alive: 3, beat: 5 * time.Minute, peer: "n2",
			status: Pass, reason: "last beat from n2 5m0s ago (fails after 5m0s)",
		},
		"no beat yet, within the ceiling": {
			after: 5 * time.Minute, alive: 2,
			status: Warn, reason: "no group heartbeat from any peer yet (fails 5m0s after start)",
		},
		"no beat since start": {
			after: 5*time.Minute + time.Second, alive: 2,
			status: Fail, reason: "no group heartbeat from any peer since start (5m1s ago): internode group traffic is not getting through",
		},
		"beats stopped": {
			after: 20 * time.Minute, alive: 2, beat: 10 * time.Minute, peer: "n3",
			status: Fail, reason: "no group heartbeat from any peer for 10m0s (last from n3): internode group traffic is not getting through",
		},
	} {
		t.Run(name, func(t *testing.T) {
			x := newHarness(t)
			x.gossip.alive = tc.alive
			if tc.beat > 0 {
				x.groups.peer, x.groups.at = tc.peer, t0.Add(tc.beat)
			}
			x.clock.Advance(tc.after)
			r := x.result(t, "groups_heartbeat")
			if r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf("got %s %q, want %s %q", r.Status, r.Reason, tc.status, tc.reason)
			}
		})
	}
}

// TestHeartbeatBootGraceOutlastsCeiling: with a boot grace longer than the
// ceiling, a node still booting only warns.
func TestHeartbeatBootGraceOutlastsCeiling(t *testing.T) {
	x := newHarness(t)
	x.h.cfg.BootGrace = 10 * time.Minute
	x.clock.Advance(6 * time.Minute)
	if r := x.result(t, "groups_heartbeat"); r.Status != Warn {
		t.Fatalf("in the boot grace: %+v", r)
	}
	x.clock.Advance(4 * time.Minute)
	if r := x.result(t, "groups_heartbeat"); r.Status != Fail {
		t.Fatalf("after the boot grace: %+v", r)
	}
}

func TestLivenessAndReadiness(t *testing.T) {
	x := newHarness(t)
	var at time.Time
	x.h.Add(Check{Name: "extra", Check: func(now time.Time) (string, string) { at = now; return Warn, "w" }})
	x.h.Add(Check{Name: "extra_ready", ReadyOnly: true, Check: func(time.Time) (string, string) { return Pass, "p" }})
	x.clock.Advance(time.Second)
	names := func(rs []Result) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	if got, want := names(x.h.Liveness()), []string{"gossip", "raft_contact", "groups_heartbeat", "extra"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("liveness checks %v, want %v", got, want)
	}
	if !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("added check ran at %s, want the clock's %s", at, t0.Add(time.Second))
	}
	want := []string{"gossip", "raft_contact", "groups_heartbeat", "leader", "fsm", "raft_lag", "disk_free", "extra", "extra_ready"}
	if got := names(x.h.Readiness()); !reflect.DeepEqual(got, want) {
		t.Fatalf("readiness checks %v, want %v", got, want)
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []Config{DefaultConfig("n1", "/data"), DefaultLocalConfig("n1", "/data")} {
		if err := c.Validate(); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"no node":             {func(c *Config) { c.Node = "" }, "node"},
		"negative score":      {func(c *Config) { c.MaxGossipScore = -1 }, "max_gossip_score"},
		"zero ceiling":        {func(c *Config) { c.HeartbeatCeiling = 0 }, "heartbeat_ceiling"},
		"zero grace":          {func(c *Config) { c.BootGrace = 0 }, "boot_grace"},
		"zero voter contact":  {func(c *Config) { c.VoterContact = 0 }, "voter_contact"},
		"zero sample":         {func(c *Config) { c.FSMSample = 0 }, "fsm_sample"},
		"standby below voter": {func(c *Config) { c.StandbyContact = c.VoterContact - 1 }, "standby_contact"},
		"no data dir":         {func(c *Config) { c.DataDir = "" }, "data_dir"},
		"zero lag entries":    {func(c *Config) { c.MaxLagEntries = 0 }, "max_lag_entries"},
		"zero lag time":       {func(c *Config) { c.MaxLagTime = 0 }, "max_lag_time"},
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig("n1", "/data")
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
			if _, err := New(c, Deps{Gossip: &fakeGossip{}, Raft: &fakeRaft{}, Groups: &fakeGroups{}, Disk: &fakeDisk{}}); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	if _, err := New(DefaultConfig("n1", "/data"), Deps{}); err == nil {
		t.Fatal("New accepted missing deps")
	}
	if _, err := New(DefaultConfig("n1", "/data"), Deps{Gossip: &fakeGossip{}, Raft: &fakeRaft{}, Groups: &fakeGroups{}}); err == nil {
		t.Fatal("New accepted a missing disk")
	}
}
