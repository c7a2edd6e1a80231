package api

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/conclave-dev/conclave/registry"
)

// FuzzDNSAnswer feeds arbitrary packets to the query handler the way the
// server does (unpack, then answer): it must never panic, and every answer
// must pack and fit a TCP message after truncation.
func FuzzDNSAnswer(f *testing.F) {
	reg := twoAPIs()
	reg.add("api", "h1", "host.example:1", registry.Passing)
	a := &dnsAnswerer{reg: reg, domain: "conclave.", ttl: 5}
	for _, seed := range []struct {
		name  string
		qtype uint16
	}{
		{"api.service.conclave.", dns.TypeSRV},
		{"v1.api.service.conclave.", dns.TypeA},
		{"_api._tcp.service.conclave.", dns.TypeSRV},
		{"db.service.conclave.", dns.TypeAAAA},
		{"0a000001.addr.conclave.", dns.TypeA},
		{"conclave.", dns.TypeSOA},
		{"example.com.", dns.TypeA},
		{`a\.b.service.conclave.`, dns.TypeANY},
	} {
		m := new(dns.Msg)
		m.SetQuestion(seed.name, seed.qtype)
		m.SetEdns0(1232, false)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xbe, 0xef, 0x01, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(data); err != nil {
			return // the server drops and counts these
		}
		resp := a.answer(req)
		if resp == nil {
			t.Fatal("nil answer")
		}
		resp.Truncate(dns.MaxMsgSize)
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("answer to %v does not pack: %v", req.Question, err)
		}
	})
}
