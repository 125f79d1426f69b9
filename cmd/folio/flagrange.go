package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Range checks of numeric and time flags, run before a command does any
// work (issue 19): the message names the flag, the value and the range,
// and the error is a usage error (exitUsage).

// intFlag is an integer flag's value and its valid range [min, max].
type intFlag struct {
	name     string
	v        int64
	min, max int64
}

// durFlag is a duration flag's value and its valid range [min, max].
type durFlag struct {
	name     string
	v        time.Duration
	min, max time.Duration
}

// checkRanges returns one usage error listing every flag out of its
// range, or nil.
func checkRanges(ints []intFlag, durs []durFlag) error {
	var errs []string
	for _, f := range ints {
		if f.v < f.min || f.v > f.max {
			errs = append(errs, fmt.Sprintf("--%s %d: must be %d to %d", f.name, f.v, f.min, f.max))
		}
	}
	for _, f := range durs {
		if f.v < f.min || f.v > f.max {
			errs = append(errs, fmt.Sprintf("--%s %s: must be %s to %s", f.name, f.v, f.min, f.max))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &exitError{code: exitUsage, err: errors.New(strings.Join(errs, "; "))}
}
