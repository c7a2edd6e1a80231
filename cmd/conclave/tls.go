package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/internal/pki"
)

// File names `conclave tls ca create` writes and `tls cert create` reads
// by default (Consul's consul-agent-ca.pem, renamed).
const (
	caCertFile = "conclave-agent-ca.pem"
	caKeyFile  = "conclave-agent-ca-key.pem"
)

// newTLSCmd is `conclave tls`: the two commands that set up a cluster's
// certificates (docs/security.md), modelled on `consul tls`.
func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Create a cluster CA and node or client certificates (PEM files)",
	}
	ca := &cobra.Command{Use: "ca", Short: "The cluster certificate authority"}
	ca.AddCommand(newTLSCACreateCmd())
	cert := &cobra.Command{Use: "cert", Short: "Node and client certificates"}
	cert.AddCommand(newTLSCertCreateCmd())
	cmd.AddCommand(ca, cert)
	return cmd
}

func newTLSCACreateCmd() *cobra.Command {
	var (
		dir  string
		days int
		cn   string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Write a new CA: " + caCertFile + " and " + caKeyFile,
		Long: "Write a new cluster CA certificate and its private key into --dir (default: the\n" +
			"current directory). Existing files are never overwritten. Keep the key off the\n" +
			"nodes: it is needed only to sign certificates.",
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days <= 0 {
				return fmt.Errorf("invalid --days %d: must be > 0", days)
			}
			certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
			if err := refuseExisting(certPath, keyPath); err != nil {
				return err
			}
			certPEM, keyPEM, err := pki.CreateCA(pki.CARequest{CommonName: cn, Validity: time.Duration(days) * 24 * time.Hour}, time.Now())
			if err != nil {
				return err
			}
			return writePair(cmd.OutOrStdout(), certPath, certPEM, keyPath, keyPEM)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dir, "dir", ".", "directory to write the files into")
	fs.IntVar(&days, "days", int(pki.DefaultCAValidity/(24*time.Hour)), "validity in days")
	fs.StringVar(&cn, "common-name", "conclave CA", "the CA's common name")
	return cmd
}

func newTLSCertCreateCmd() *cobra.Command {
	var (
		node, clientName string
		caPath, caKey    string
		dir              string
		days             int
		dns, ips         []string
	)
	cmd := &cobra.Command{
		Use:   "create --node NAME | --client NAME",
		Short: "Write a certificate signed by the CA: NAME.pem and NAME-key.pem",
		Long: "Write a node certificate (--node NAME: it names the node, which must equal its\n" +
			"cluster.name; it serves the APIs and the internode mesh and includes localhost,\n" +
			"127.0.0.1 and ::1) or a client certificate (--client NAME: for the CLI, the Go SDK\n" +
			"or Prometheus when tls.verify_incoming is on) into --dir, signed by the CA files\n" +
			"--ca and --ca-key (default: those `tls ca create` wrote into --dir). Add every\n" +
			"name and address clients dial a node by with --dns and --ip.",
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, name, err := certRequest(node, clientName, dns, ips, days)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("ca") {
				caPath = filepath.Join(dir, caCertFile)
			}
			if !cmd.Flags().Changed("ca-key") {
				caKey = filepath.Join(dir, caKeyFile)
			}
			caCert, err := os.ReadFile(caPath)
			if err != nil {
				return fmt.Errorf("--ca: %w (create one with `conclave tls ca create`)", err)
			}
			caKeyPEM, err := os.ReadFile(caKey)
			if err != nil {
				return fmt.Errorf("--ca-key: %w", err)
			}
			certPath, keyPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
			if err := refuseExisting(certPath, keyPath); err != nil {
				return err
			}
			certPEM, keyPEM, err := pki.CreateCert(caCert, caKeyPEM, req, time.Now())
			if err != nil {
				return fmt.Errorf("sign with --ca %s and --ca-key %s: %w", caPath, caKey, err)
			}
			return writePair(cmd.OutOrStdout(), certPath, certPEM, keyPath, keyPEM)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&node, "node", "", "node name (its cluster.name): a node certificate")
	fs.StringVar(&clientName, "client", "", "client name: a client certificate")
	fs.StringVar(&caPath, "ca", caCertFile, "CA certificate (default: in --dir)")
	fs.StringVar(&caKey, "ca-key", caKeyFile, "CA private key (default: in --dir)")
	fs.StringVar(&dir, "dir", ".", "directory to write the files into (and to find the CA in)")
	fs.IntVar(&days, "days", int(pki.DefaultCertValidity/(24*time.Hour)), "validity in days (at most the CA's)")
	fs.StringSliceVar(&dns, "dns", nil, "extra DNS name; repeatable or comma-separated")
	fs.StringSliceVar(&ips, "ip", nil, "extra IP address; repeatable or comma-separated")
	return cmd
}

// certRequest checks the flags of `tls cert create` and returns the
// request and the file name stem.
func certRequest(node, clientName string, dns, ips []string, days int) (pki.CertRequest, string, error) {
	req := pki.CertRequest{Node: node, Client: clientName, DNS: dns, Validity: time.Duration(days) * 24 * time.Hour}
	name, flag := node, "--node"
	switch {
	case node == "" && clientName == "":
		return req, "", errors.New("set --node NAME or --client NAME")
	case node != "" && clientName != "":
		return req, "", errors.New("--node and --client: set one, not both")
	case clientName != "":
		name, flag = clientName, "--client"
	}
	if err := checkCertName(name); err != nil {
		return req, "", fmt.Errorf("invalid %s %q: %w", flag, name, err)
	}
	if days <= 0 {
		return req, "", fmt.Errorf("invalid --days %d: must be > 0", days)
	}
	for _, d := range dns {
		if d == "" || strings.ContainsFunc(d, func(r rune) bool { return unicode.IsSpace(r) || r == '/' || r == ':' }) {
			return req, "", fmt.Errorf("invalid --dns %q: want a host name", d)
		}
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return req, "", fmt.Errorf("invalid --ip %q: want an IP address", s)
		}
		req.IPs = append(req.IPs, ip)
	}
	return req, name, nil
}

// checkCertName applies cluster.name's rules (no whitespace, '/' or
// control characters) plus what a file name stem needs.
func checkCertName(name string) error {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-") {
		return errors.New("must not start with '.' or '-'")
	}
	if strings.ContainsFunc(name, func(r rune) bool {
		return r == '/' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) {
		return errors.New("must not contain whitespace, '/', '\\' or control characters")
	}
	return nil
}

// refuseExisting fails if any of paths exists: certificates are never
// overwritten (a node's key replaced by mistake is an outage).
func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; not overwriting it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writePair writes a certificate (0644) and its key (0600), each created
// exclusively, and says where they went.
func writePair(out io.Writer, certPath string, certPEM []byte, keyPath string, keyPEM []byte) error {
	if err := writeNew(certPath, certPEM, 0o644); err != nil {
		return err
	}
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		_ = os.Remove(certPath)
		return err
	}
	fmt.Fprintf(out, "==> wrote %s\n==> wrote %s\n", certPath, keyPath)
	return nil
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
