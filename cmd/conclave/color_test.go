package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
)

func TestColorOnlyOnATerminal(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	file, err := os.Create(filepath.Join(t.TempDir(), "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if colorOK(file, noEnv) {
		t.Fatal("colour to a regular file")
	}
	if colorOK(&syncBuffer{}, noEnv) {
		t.Fatal("colour to a buffer")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if colorOK(w, noEnv) {
		t.Fatal("colour to a pipe")
	}
	// A character device is what a terminal is; /dev/null is one too and
	// stands in for a tty here.
	dev, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer dev.Close()
	if !colorOK(dev, noEnv) {
		t.Fatal("no colour on a character device")
	}
	if colorOK(dev, func(k string) (string, bool) { return "1", k == "NO_COLOR" }) {
		t.Fatal("colour despite NO_COLOR")
	}
}

func TestConsoleLogColors(t *testing.T) {
	for _, color := range []bool{false, true} {
		var buf syncBuffer
		l, err := newLogger(config.LogConfig{Level: "info", Format: "console"}, &buf, color)
		if err != nil {
			t.Fatal(err)
		}
		l.Info().Str("node", "n1").Msg("hello")
		out := buf.String()
		if !strings.Contains(out, "hello") || strings.Contains(out, "\x1b[") != color {
			t.Fatalf("color=%v: console line %q", color, out)
		}
	}
}

// TestDevAgentLogsPlainToAPipe: `conclave agent --dev` (console format)
// whose stderr is a pipe, not a terminal, writes no ANSI codes.
func TestDevAgentLogsPlainToAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&logs, r)
	}()
	e := env{
		lookup: func(string) (string, bool) { return "", false },
		newNode: func(config.Config, ...cluster.Option) (agentNode, api.Services, error) {
			n := newFakeNode("dev")
			return n, n.services(), nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"agent", "--dev", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"},
			e, strings.NewReader(""), &syncBuffer{}, w)
	}()
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), "agent started") })
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d, logs %q", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit")
	}
	w.Close()
	<-copied
	r.Close()
	out := logs.String()
	if !strings.Contains(out, "INF") || strings.Contains(out, "\x1b[") {
		t.Fatalf("console log to a pipe: %q", out)
	}
}
