package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], env{lookup: os.LookupEnv}, os.Stdin, os.Stdout, os.Stderr))
}
