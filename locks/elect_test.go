package locks

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestElectionCampaignProclaimResignFIFO(t *testing.T) {
	tb := New()
	r, ev, err := tb.Campaign(1, t0, CampaignRequest{Name: "svc", PID: "n1/a", Value: "10.0.0.1", Wait: time.Hour})
	if err != nil || !r.Granted || r.Token != SemTokenScale {
		t.Fatalf("first campaign: %+v %v", r, err)
	}
	mustEvents(t, ev, nil, Event{Kind: Granted, Name: electKey("svc"), PID: "n1/a", Token: SemTokenScale, Sem: true, Value: "10.0.0.1"})
	for i, pid := range []string{"n2/b", "n3/c"} {
		r, _, err = tb.Campaign(uint64(2+i), t0, CampaignRequest{Name: "svc", PID: pid, Value: pid, Wait: time.Hour})
		if err != nil || !r.Queued || r.Position != i+1 {
			t.Fatalf("candidate %s: %+v %v", pid, r, err)
		}
	}
	// Only the leader proclaims.
	if _, err := tb.Proclaim(4, t0, "svc", "n2/b", "x"); !errors.Is(err, ErrNotHolder) || !strings.Contains(err.Error(), "n1/a") {
		t.Fatalf("proclaim by a candidate: %v", err)
	}
	ev, err = tb.Proclaim(5, t0, "svc", "n1/a", "10.0.0.9")
	mustEvents(t, ev, err, Event{Kind: Proclaimed, Name: electKey("svc"), PID: "n1/a", Token: SemTokenScale, Sem: true, Value: "10.0.0.9"})
	e, ok := tb.GetElection("svc")
	if !ok || e.Leader != "n1/a" || e.Value != "10.0.0.9" || e.Rev != 5 || len(e.Candidates) != 2 {
		t.Fatalf("election: %+v", e)
	}
	// The leader's node is lost: the first candidate leads with its value.
	ev, err = tb.ReleaseNode(6, t0, "n1")
	mustEvents(t, ev, err,
		Event{Kind: AutoReleased, Name: electKey("svc"), PID: "n1/a", Token: SemTokenScale, Sem: true},
		Event{Kind: Granted, Name: electKey("svc"), PID: "n2/b", Token: 6 * SemTokenScale, Sem: true, Value: "n2/b"})
	if _, err := tb.Resign(7, t0, "svc", "n2/b"); err != nil {
		t.Fatal(err)
	}
	if e, _ := tb.GetElection("svc"); e.Leader != "n3/c" || e.Value != "n3/c" {
		t.Fatalf("after resign: %+v", e)
	}
	// Elections are not semaphores, and a semaphore of the same name is
	// another thing.
	if tb.ElectionsLed() != 1 {
		t.Fatalf("ElectionsLed %d, want 1", tb.ElectionsLed())
	}
	if len(tb.ListSems("")) != 0 || tb.SemHeld() != 0 {
		t.Fatalf("an election shows as a semaphore: %+v", tb.ListSems(""))
	}
	if _, _, err := tb.SemAcquire(8, t0, SemAcquireRequest{Name: "svc", PID: "n1/z", Limit: 2}); err != nil {
		t.Fatal(err)
	}
	// Snapshots carry elections with their values.
	got := New()
	if err := got.UnmarshalBinary(encode(t, tb)); err != nil {
		t.Fatal(err)
	}
	if e1, _ := got.GetElection("svc"); e1.Leader != "n3/c" || e1.Value != "n3/c" || e1.Rev != 7 {
		t.Fatalf("restored: %+v", e1)
	}
}

func TestElectionBadInputNamesField(t *testing.T) {
	cases := map[string]struct {
		req   CampaignRequest
		field string
	}{
		"empty name":     {CampaignRequest{PID: "n1/a"}, "name"},
		"value too long": {CampaignRequest{Name: "e", PID: "n1/a", Value: strings.Repeat("v", MaxElectionValue+1)}, "value"},
		"bad pid":        {CampaignRequest{Name: "e", PID: "x"}, "pid"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tb := New()
			if _, _, err := tb.Campaign(1, t0, c.req); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("got %v, want ErrInvalid naming %s", err, c.field)
			}
			if _, ok := tb.GetElection(c.req.Name); ok {
				t.Fatal("bad input changed the table")
			}
		})
	}
	tb := New()
	tb.Campaign(1, t0, CampaignRequest{Name: "e", PID: "n1/a"})
	if _, err := tb.Proclaim(2, t0, "e", "n1/a", strings.Repeat("v", MaxElectionValue+1)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "value") {
		t.Fatalf("proclaim too long: %v", err)
	}
}

func TestDeliverElectionsOneStatePerEntry(t *testing.T) {
	s := &Service{}
	ch := s.obs.add("svc")
	s.deliverElections([]IndexedEvent{
		{Event{Kind: AutoReleased, Name: electKey("svc"), PID: "n1/a", Token: 1024, Sem: true}, 6},
		{Event{Kind: Granted, Name: electKey("svc"), PID: "n2/b", Token: 6144, Sem: true, Value: "b"}, 6},
		{Event{Kind: Proclaimed, Name: electKey("svc"), PID: "n2/b", Token: 6144, Sem: true, Value: "b2"}, 7},
		{Event{Kind: Granted, Name: "svc", PID: "n9/z", Token: 7, Sem: true}, 7}, // a semaphore
	})
	want := []Election{{Name: "svc", Leader: "n2/b", Token: 6144, Value: "b", Rev: 6}, {Name: "svc", Leader: "n2/b", Token: 6144, Value: "b2", Rev: 7}}
	for _, w := range want {
		if got := <-ch; got.Name != w.Name || got.Leader != w.Leader || got.Value != w.Value || got.Rev != w.Rev || got.Token != w.Token {
			t.Fatalf("got %+v, want %+v", got, w)
		}
	}
	if len(ch) != 0 {
		t.Fatalf("%d extra states", len(ch))
	}
}

// FuzzParseElections: an election query result from the network never
// panics the reader, and what decodes re-encodes to bytes that decode.
func FuzzParseElections(f *testing.F) {
	tb := New()
	tb.Campaign(1, t0, CampaignRequest{Name: "e", PID: "n1/a", Value: "v"})
	tb.Campaign(2, t0, CampaignRequest{Name: "e", PID: "n2/a", Wait: time.Second})
	f.Add(marshalElections(tb.ListElections("")))
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseElections(b)
		if err != nil {
			return
		}
		if _, err := ParseElections(marshalElections(es)); err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", es, err)
		}
	})
}
