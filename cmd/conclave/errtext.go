package main

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxEcho bounds how much of a user's input an error line repeats: enough
// to recognise a key or a name, not a 10 KB paste.
const maxEcho = 64

// truncate quotes s for an error line; past maxEcho bytes it keeps the
// first maxEcho (cut on a rune boundary) and says how long s was:
// "aaaa…" (10240 bytes).
func truncate(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
