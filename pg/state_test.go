package pg

import (
	"reflect"
	"testing"
)

var (
	kA = Key{Scope: "default", Group: "a"}
	kB = Key{Scope: "default", Group: "b"}
)

func join(k Key, pid string) Op  { return Op{Key: k, PID: pid} }
func leave(k Key, pid string) Op { return Op{Leave: true, Key: k, PID: pid} }

func TestLocalJoinLeave(t *testing.T) {
	s := NewState("n1", 7)
	d, ch := s.Join(kA, "n1/x")
	want := Delta{Node: "n1", Incarnation: 7, Base: 0, Seq: 1, Ops: []Op{join(kA, "n1/x")}}
	if !reflect.DeepEqual(d, want) || len(ch) != 1 || !ch[0].Joined {
		t.Fatalf("join: %+v %+v", d, ch)
	}
	if d, ch := s.Join(kA, "n1/x"); !d.Empty() || d.Seq != 1 || len(ch) != 0 {
		t.Fatalf("second join changed something: %+v %+v", d, ch)
	}
	s.Join(kB, "n1/x")
	s.Join(kB, "n1/y")
	if got := s.Members(kB); !reflect.DeepEqual(got, []string{"n1/x", "n1/y"}) {
		t.Fatalf("members %v", got)
	}
	if d, _ := s.Leave(kA, "n1/y"); !d.Empty() {
		t.Fatalf("leave of a non-member: %+v", d)
	}
	d, ch = s.LeaveAll("n1/x")
	want = Delta{Node: "n1", Incarnation: 7, Base: 3, Seq: 5, Ops: []Op{leave(kA, "n1/x"), leave(kB, "n1/x")}}
	if !reflect.DeepEqual(d, want) || len(ch) != 2 {
		t.Fatalf("leave all: %+v %+v", d, ch)
	}
	if s.IsMember(kA, "n1/x") || s.LocalVersion() != (Version{7, 5}) {
		t.Fatalf("after leave all: member %v, version %+v", s.IsMember(kA, "n1/x"), s.LocalVersion())
	}
	if g, l, tot := s.Counts(); g != 1 || l != 1 || tot != 1 {
		t.Fatalf("counts %d %d %d", g, l, tot)
	}
}

// replicate feeds every delta of owner to peer in order and checks that
// peer's copy equals the owner's own.
func TestDeltasReplicate(t *testing.T) {
	owner, peer := NewState("n1", 1), NewState("n2", 1)
	var deltas []Delta
	add := func(d Delta, _ []Change) { deltas = append(deltas, d) }
	add(owner.Join(kA, "n1/x"))
	add(owner.Join(kA, "n1/y"))
	add(owner.Join(kB, "n1/x"))
	add(owner.Leave(kA, "n1/x"))
	for i, d := range deltas {
		if res, _ := peer.ApplyDelta(d); res != DeltaApplied {
			t.Fatalf("delta %d: %v", i, res)
		}
	}
	if !reflect.DeepEqual(peer.Members(kA), []string{"n1/y"}) || !reflect.DeepEqual(peer.Members(kB), []string{"n1/x"}) {
		t.Fatalf("peer has %v %v", peer.Members(kA), peer.Members(kB))
	}
	if v, _ := peer.Version("n1"); v != owner.LocalVersion() {
		t.Fatalf("version %+v, want %+v", v, owner.LocalVersion())
	}
}

func TestApplyDeltaCases(t *testing.T) {
	owner := NewState("n1", 5)
	d1, _ := owner.Join(kA, "n1/x")
	d2, _ := owner.Join(kA, "n1/y")
	d3, _ := owner.Leave(kA, "n1/x")
	batch := Delta{Node: "n1", Incarnation: 5, Base: 0, Seq: 3, Ops: append(append(append([]Op{}, d1.Ops...), d2.Ops...), d3.Ops...)}
	restart := Delta{Node: "n1", Incarnation: 6, Base: 0, Seq: 1, Ops: []Op{join(kB, "n1/z")}}

	tests := map[string]struct {
		before  []Delta
		d       Delta
		want    DeltaResult
		members []string // kA after
	}{
		"first":              {nil, d1, DeltaApplied, []string{"n1/x"}},
		"gap from nothing":   {nil, d2, DeltaGap, nil},
		"gap":                {[]Delta{d1}, d3, DeltaGap, []string{"n1/x"}},
		"duplicate":          {[]Delta{d1, d2}, d2, DeltaStale, []string{"n1/x", "n1/y"}},
		"older":              {[]Delta{d1, d2}, d1, DeltaStale, []string{"n1/x", "n1/y"}},
		"overlapping batch":  {[]Delta{d1, d2}, batch, DeltaApplied, []string{"n1/y"}},
		"new incarnation":    {[]Delta{d1, d2}, restart, DeltaApplied, nil},
		"old incarnation":    {[]Delta{restart}, d1, DeltaStale, nil},
		"own node":           {nil, Delta{Node: "n2", Incarnation: 1, Seq: 1, Ops: []Op{join(kA, "n2/q")}}, DeltaStale, nil},
		"inconsistent count": {nil, Delta{Node: "n1", Incarnation: 5, Seq: 2, Ops: []Op{join(kA, "n1/x")}}, DeltaGap, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewState("n2", 1)
			for _, d := range tc.before {
				if res, _ := s.ApplyDelta(d); res != DeltaApplied {
					t.Fatalf("setup: %v", res)
				}
			}
			if res, _ := s.ApplyDelta(tc.d); res != tc.want {
				t.Fatalf("result %v, want %v", res, tc.want)
			}
			if got := s.Members(kA); !reflect.DeepEqual(got, tc.members) {
				t.Fatalf("members %v, want %v", got, tc.members)
			}
		})
	}
}

func TestApplySyncAndDrop(t *testing.T) {
	owner := NewState("n1", 3)
	owner.Join(kA, "n1/x")
	owner.Join(kB, "n1/x")
	peer := NewState("n2", 1)
	peer.Join(kA, "n2/p")
	ok, ch := peer.ApplySync(owner.LocalSync())
	if !ok || len(ch) != 2 {
		t.Fatalf("sync: %v %+v", ok, ch)
	}
	owner.Leave(kA, "n1/x")
	owner.Join(kA, "n1/y")
	newer := owner.LocalSync()
	ok, ch = peer.ApplySync(newer)
	want := []Change{{Key: kA, PID: "n1/x"}, {Key: kA, PID: "n1/y", Joined: true}}
	if !ok || !reflect.DeepEqual(ch, want) {
		t.Fatalf("newer sync: %v %+v", ok, ch)
	}
	stale := newer
	stale.Version.Seq = 1
	if ok, _ := peer.ApplySync(stale); ok {
		t.Fatal("stale sync applied")
	}
	if got := peer.Members(kA); !reflect.DeepEqual(got, []string{"n1/y", "n2/p"}) {
		t.Fatalf("members %v", got)
	}
	if hosts := peer.RemoteHosts(kA); !reflect.DeepEqual(hosts, []Host{{Node: "n1", Members: 1}}) {
		t.Fatalf("hosts %+v", hosts)
	}
	gs := peer.Groups("default")
	if len(gs) != 2 || gs[0].Members != 2 || gs[0].Local != 1 || gs[1].Members != 1 || gs[1].Local != 0 {
		t.Fatalf("groups %+v", gs)
	}
	ch = peer.DropNode("n1")
	if len(ch) != 2 || ch[0].Joined || ch[1].Joined {
		t.Fatalf("drop: %+v", ch)
	}
	if got := peer.Members(kA); !reflect.DeepEqual(got, []string{"n2/p"}) {
		t.Fatalf("after drop %v", got)
	}
	if ch := peer.DropNode("n2"); ch != nil || len(peer.Members(kA)) != 1 {
		t.Fatal("dropping the local node changed something")
	}
	if ok, _ := peer.ApplySync(Sync{Node: "n2", Version: Version{9, 9}}); ok {
		t.Fatal("a sync about the local node applied")
	}
}
