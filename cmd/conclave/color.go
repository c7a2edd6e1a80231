package main

import (
	"io"
	"os"
)

// colorOK reports whether the console log format may write ANSI colours
// to w: only when w is a terminal (a character device, as a tty is), and
// never when NO_COLOR is set (no-color.org). So `conclave agent --dev
// 2>agent.log`, a pipe to less or a supervisor's journal get plain text.
func colorOK(w io.Writer, lookup func(string) (string, bool)) bool {
	if v, ok := lookup("NO_COLOR"); ok && v != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
