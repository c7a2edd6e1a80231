package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// argNames is the Args check of every verb: it names what is missing or
// what is too much, with the usage line, instead of cobra's "accepts 2
// arg(s), received 1". names are the positional arguments as the verb's
// Use line writes them: "KEY" is required, "[PREFIX]" optional, and a last
// "[ARGS...]" takes any number. No names means no arguments.
//
//	kv put: missing VALUE (usage: conclave kv put KEY VALUE)
//	members: unexpected argument "x" (usage: conclave members)
func argNames(names ...string) cobra.PositionalArgs {
	required, max := 0, len(names)
	for _, n := range names {
		if !strings.HasPrefix(n, "[") {
			required++
		}
	}
	if len(names) > 0 && strings.HasSuffix(names[len(names)-1], "...]") {
		max = -1
	}
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < required {
			missing := make([]string, 0, required-len(args))
			for _, n := range names[len(args):] {
				if !strings.HasPrefix(n, "[") {
					missing = append(missing, n)
				}
			}
			return fmt.Errorf("%s: missing %s (usage: %s)", verbPath(cmd), strings.Join(missing, " and "), usageLine(cmd))
		}
		if max >= 0 && len(args) > max {
			return fmt.Errorf("%s: %s (usage: %s)", verbPath(cmd), unexpected(args[max:]), usageLine(cmd))
		}
		return nil
	}
}

// unexpected names the arguments a verb does not take, the first three
// of them quoted.
func unexpected(extra []string) string {
	if len(extra) == 1 {
		return "unexpected argument " + truncate(extra[0])
	}
	shown := make([]string, 0, 3)
	for _, a := range extra[:min(len(extra), 3)] {
		shown = append(shown, truncate(a))
	}
	s := "unexpected arguments " + strings.Join(shown, ", ")
	if n := len(extra) - len(shown); n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	return s
}

// verbPath is the command's path without the binary's name ("kv put"),
// the prefix of its error lines.
func verbPath(cmd *cobra.Command) string {
	p := cmd.CommandPath()
	if root := cmd.Root().Name(); strings.HasPrefix(p, root+" ") {
		return strings.TrimPrefix(p, root+" ")
	}
	return p
}

// usageLine is the command's usage without cobra's trailing "[flags]".
func usageLine(cmd *cobra.Command) string {
	return strings.TrimSuffix(cmd.UseLine(), " [flags]")
}

// requireSubcommands makes every command group under cmd (kv, lock, tls
// ca, ...) refuse an unknown subcommand with an error, so that it exits 1:
// cobra's default for a group is to print its help and succeed. A group
// given no subcommand still prints its help.
func requireSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		requireSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = unknownSubcommand
	// cobra suggests only at the root unless told a distance.
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// unknownSubcommand is the Args check of a command group: any argument is
// a subcommand it does not have.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %s for %q", truncate(args[0]), cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return errors.New(msg + "; did you mean " + strings.Join(s, " or ") + "?")
	}
	var verbs []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			verbs = append(verbs, c.Name())
		}
	}
	return fmt.Errorf("%s (commands: %s)", msg, strings.Join(verbs, ", "))
}

// runArgs is the Args check of `lock run` and `name run`: NAME, then the
// command, with nothing but NAME before a "--".
func runArgs(cmd *cobra.Command, args []string) error {
	if err := argNames("NAME", "CMD", "[ARGS...]")(cmd, args); err != nil {
		return err
	}
	if at := cmd.ArgsLenAtDash(); at != -1 && at != 1 {
		return fmt.Errorf("%s: want exactly NAME before --, got %d arguments (usage: %s)", verbPath(cmd), at, usageLine(cmd))
	}
	return nil
}
