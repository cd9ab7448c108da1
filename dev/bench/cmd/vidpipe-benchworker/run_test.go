package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestRunFlags(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string // substring of the error; "" means no error
	}{
		"help":         {args: []string{"-h"}},
		"unknown flag": {args: []string{"-nope"}, want: "not defined"},
		"no topics":    {args: []string{"-brokers", "127.0.0.1:1"}, want: "required"},
		"no group":     {args: []string{"-input", "a", "-output", "b", "-dlq", "c"}, want: "required"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), tc.args, nil, io.Discard)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("run(%v) = %v, want nil", tc.args, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("run(%v) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}
