package client_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/conclave-dev/conclave/api/client"
)

// Example_registerAService serves gRPC (here the standard health service)
// and registers it as an instance of "echo" for as long as the process
// runs: the instance goes when the session ends (Close, or the process
// dying). The agent checks it with the gRPC health protocol.
func Example_registerAService() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	cl, err := client.New("127.0.0.1:7940")
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := cl.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	in, err := sess.RegisterService(ctx, client.Registration{
		Service:  "echo",
		Endpoint: ln.Addr().String(),
		Protocol: "grpc",
		Tags:     []string{"v1"},
		Checks:   []client.Check{{Kind: client.CheckGRPC, Interval: 5 * time.Second}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered", in.Service, in.ID)
	<-sess.Done() // serve until the session ends
}

// Example_callAService calls "echo" through conclave:///echo: the
// resolver follows its passing instances and round_robin spreads the
// calls over them.
func Example_callAService() {
	cl, err := client.New("127.0.0.1:7940")
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	conn, err := grpc.NewClient("conclave:///echo",
		grpc.WithResolvers(cl.Resolver()),
		grpc.WithDefaultServiceConfig(client.RoundRobin),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetStatus())
}

// ExampleClient_Picker spreads HTTP requests over the passing instances
// of "web", to the one with the fewest requests in flight.
func ExampleClient_Picker() {
	cl, err := client.New("127.0.0.1:7940")
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	web := cl.Picker("web", client.PickBalance(client.BalanceLeastInFlight))
	defer web.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in, done, err := web.Pick(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer done()
	resp, err := http.Get("http://" + in.Endpoint + "/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(in.ID, resp.Status)
}
