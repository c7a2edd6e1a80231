// Package config owns the agent's YAML configuration file: its schema, the
// defaults, strict decoding and validation. It imports nothing of ours;
// cluster maps a Config onto each package's own Config.
//
// The file has three sections (every key optional; a missing key keeps its
// default, see Default):
//
//	cluster:
//	  enabled: true
//	  name: node-1                  # default: host name
//	  failure_domain: us-east-1a
//	  data_dir: /var/lib/conclave
//	  membership:                   # gossip, TCP+UDP
//	    bind_addr: 0.0.0.0          # IP literal
//	    bind_port: 7946
//	    advertise_addr: ""          # "" = auto
//	    advertise_port: 0           # 0 = bind port
//	    join_addrs: "node-2:7946,node-3"   # string or list; bare host = bind port
//	    secret_file: /etc/conclave/gossip.key  # or secret: <base64 of 16/24/32 bytes>
//	    discover:                   # inventory added to the seeds, re-read every interval
//	      dns: ""                   # A/AAAA (bind_port) and SRV (their port) records of a name
//	      file: ""                  # one host[:port] a line, # comments
//	      interval: 30s
//	    allow_only_inventory: false # refuse members not in the inventory
//	  internode:                    # node-to-node mesh, TCP
//	    bind_addr: ""               # "" = membership.bind_addr
//	    bind_port: 0                # 0 = first free of 7950-7959, then ephemeral; -1 = ephemeral
//	    advertise_addr: ""
//	  raft:
//	    bootstrap_expect: 3         # 0 join only, 1 alone, N wait for N peers
//	    role: auto                  # auto | client
//	    eligible: true
//	    priority: 100               # lower preferred
//	    max_voters: 5               # odd, 1..9
//	    max_standbys: 4             # 0..16
//	    reconcile_debounce: 2s      # Go duration strings; bare numbers refused
//	    stabilization: 10s
//	    admission: auto             # auto | manual (conclave operator admit NODE)
//	    log_store: wal              # wal | bolt; fixed once the log holds entries
//	api:
//	  grpc_addr: 127.0.0.1:7940
//	  http_addr: 127.0.0.1:7941
//	log:
//	  level: info                   # debug | info | warn | error
//	  format: json                  # json | console
//	dns:                            # read-only DNS interface, off unless bind_addr is set
//	  bind_addr: ""                 # ip:port, UDP and TCP
//	  domain: conclave.
//	  ttl: 0s
//	  allow_unauthenticated: false  # needed with acl.enabled off loopback
//
// Decoding is strict: the document is parsed into a yaml.Node tree and walked
// against the struct's yaml tags, so unknown keys, wrong types and bad
// durations are refused with the file, the line and the dotted key
// ("node.yaml:12: cluster.raft.reconcile_debuonce: unknown key"). Every
// error wraps ErrInvalid and is an *Error, alone or errors.Join'ed.
//
// Everything here is a pure function of its inputs (plus the host name in
// Default and the secret file in GossipKey); it is safe to call from any
// goroutine and holds no state.
package config
