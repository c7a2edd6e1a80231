// Command etcdserver is one etcd member for the peer benchmark: etcd's own
// server (go.etcd.io/etcd/server/v3/embed, the version in ../go.mod) with
// etcd's default timings (100 ms heartbeat, 1 s election timeout, fsync on
// every commit), configured by the few flags the harness needs. It serves
// until SIGINT or SIGTERM, or until the server fails.
//
//	etcdserver -name m1 -data-dir /tmp/x/m1 \
//	  -client-url http://127.0.0.1:2379 -peer-url http://127.0.0.1:2380 \
//	  -initial-cluster m1=http://127.0.0.1:2380,m2=...,m3=...
//
// Restarted on an existing data dir, it rejoins the cluster it was part of
// (etcd ignores -initial-cluster then).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	var (
		name    = flag.String("name", "", "member name (required)")
		dir     = flag.String("data-dir", "", "data directory (required)")
		client  = flag.String("client-url", "", "client URL to listen on and advertise, http://127.0.0.1:PORT (required)")
		peer    = flag.String("peer-url", "", "peer URL to listen on and advertise, http://127.0.0.1:PORT (required)")
		cluster = flag.String("initial-cluster", "", "every member as name=peer-url, comma-separated (required)")
		level   = flag.String("log-level", "warn", "etcd's log level: debug, info, warn, error")
	)
	flag.Parse()
	if err := run(*name, *dir, *client, *peer, *cluster, *level); err != nil {
		fmt.Fprintln(os.Stderr, "etcdserver:", err)
		os.Exit(1)
	}
}

func run(name, dir, clientURL, peerURL, cluster, level string) error {
	for flagName, v := range map[string]string{"-name": name, "-data-dir": dir, "-client-url": clientURL, "-peer-url": peerURL, "-initial-cluster": cluster} {
		if v == "" {
			return fmt.Errorf("%s: required", flagName)
		}
	}
	cu, err := url.Parse(clientURL)
	if err != nil {
		return fmt.Errorf("-client-url: %w", err)
	}
	pu, err := url.Parse(peerURL)
	if err != nil {
		return fmt.Errorf("-peer-url: %w", err)
	}

	cfg := embed.NewConfig() // etcd's defaults, timings included
	cfg.Name = name
	cfg.Dir = dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cluster
	cfg.InitialClusterToken = "bench-peers"
	cfg.ClusterState = embed.ClusterStateFlagNew
	cfg.LogLevel = level

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return err
	case <-ctx.Done():
		return nil
	}
	select {
	case err := <-e.Err():
		if err == nil {
			err = errors.New("server stopped")
		}
		return err
	case <-ctx.Done():
		return nil
	}
}
