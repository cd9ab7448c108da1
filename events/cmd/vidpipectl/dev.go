package main

import (
	"context"
	"fmt"
	"io"
)

func devCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return fmt.Errorf("dev: not available yet")
}
