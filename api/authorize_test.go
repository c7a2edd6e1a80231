package api

import (
	"reflect"
	"testing"

	"google.golang.org/grpc"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
	"github.com/conclave-dev/conclave/pg"
)

// TestEveryMethodHasAnAccessRule keeps methodNeeds complete: a method
// without a rule is refused to everyone while ACLs are on, which a new
// RPC would otherwise only find out in production. It reads the methods a
// real Server registers when it serves every service there is.
func TestEveryMethodHasAnAccessRule(t *testing.T) {
	f := newFakeNode("n1")
	// Every field set, so that every service is registered. Typed nils
	// stand in for the services no call reaches here (the server is never
	// started).
	svcs := f.services()
	svcs.Admit = (*cluster.Node)(nil)
	svcs.Names = (*naming.Service)(nil)
	svcs.Groups = (*pg.Service)(nil)
	svcs.Keyring = (*cluster.Node)(nil)
	svcs.Health = (*cluster.Node)(nil)
	svcs.ACL = (*acl.Service)(nil)
	svcs.Operator = (*cluster.Node)(nil)
	svcs.Registry = newFakeRegistry()
	svcs.EventualKV = (*kv.EventualService)(nil)
	svcs.Semaphores = (*locks.Service)(nil)
	svcs.Elections = (*locks.Service)(nil)
	v := reflect.ValueOf(svcs)
	for i := range v.NumField() {
		if v.Field(i).IsNil() {
			t.Fatalf("Services.%s is not set: the test would miss its service", v.Type().Field(i).Name)
		}
	}
	srv, err := New(DefaultLocalConfig(), svcs)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// The descriptors the registration should cover: a service served
	// but missing here is caught below too.
	descs := map[string]grpc.ServiceDesc{}
	for _, d := range []grpc.ServiceDesc{
		pb.Cluster_ServiceDesc, pb.ACL_ServiceDesc, pb.KV_ServiceDesc, pb.Session_ServiceDesc,
		pb.Lock_ServiceDesc, pb.Names_ServiceDesc, pb.Groups_ServiceDesc, pb.Keyring_ServiceDesc,
		pb.Operator_ServiceDesc, pb.Registry_ServiceDesc, pb.Semaphore_ServiceDesc, pb.Election_ServiceDesc,
	} {
		descs[d.ServiceName] = d
	}
	info := srv.grpc.GetServiceInfo()
	if len(info) != len(descs) {
		t.Errorf("the server registers %d services, the test knows %d", len(info), len(descs))
	}
	rules := 0
	for svc, si := range info {
		d, ok := descs[svc]
		if !ok {
			t.Errorf("service %s is served but not in the test's list", svc)
		}
		if len(si.Methods) != len(d.Methods)+len(d.Streams) {
			t.Errorf("service %s: %d methods served, %d in its descriptor", svc, len(si.Methods), len(d.Methods)+len(d.Streams))
		}
		for _, m := range si.Methods {
			full := "/" + svc + "/" + m.Name
			if _, ok := methodNeeds[full]; !ok {
				t.Errorf("%s has no access rule in methodNeeds: while ACLs are on it is refused to everyone", full)
			}
			rules++
		}
	}
	// And no rule for a method that does not exist (a rename would leave
	// one behind and the new name without).
	if rules != len(methodNeeds) {
		for full := range methodNeeds {
			found := false
			for svc, si := range info {
				for _, m := range si.Methods {
					found = found || "/"+svc+"/"+m.Name == full
				}
			}
			if !found {
				t.Errorf("methodNeeds has a rule for %s, which is not served", full)
			}
		}
	}
}
