package testcluster

import (
	"bytes"
	"sync"
)

// logBuffer keeps the last lines every node logged, to print on failure.
type logBuffer struct {
	mu    sync.Mutex
	lines [][]byte
}

const maxLogLines = 20000

func newLogBuffer() *logBuffer { return &logBuffer{} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, bytes.Clone(p))
	if len(b.lines) > maxLogLines {
		b.lines = append([][]byte(nil), b.lines[len(b.lines)-maxLogLines/2:]...)
	}
	return len(p), nil
}

func (b *logBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := max(0, len(b.lines)-n)
	return string(bytes.Join(b.lines[start:], nil))
}

func (b *logBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if bytes.Contains(l, []byte(s)) {
			return true
		}
	}
	return false
}

func (b *logBuffer) count(node, s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	tag := []byte(`"node":"` + node + `"`)
	n := 0
	for _, l := range b.lines {
		if bytes.Contains(l, []byte(s)) && (node == "" || bytes.Contains(l, tag)) {
			n++
		}
	}
	return n
}
