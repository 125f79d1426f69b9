package main

import (
	"strings"
	"testing"
)

func TestParseCallArgs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: `{"id":"W1","to":"user1@Org2"}`, want: []string{`{"id":"W1","to":"user1@Org2"}`}},
		{in: ` { "id" : "W1" } `, want: []string{`{"id":"W1"}`}},
		{in: `["a", "b c", 7, {"k":[1,2]}, null, true]`, want: []string{"a", "b c", "7", `{"k":[1,2]}`, "null", "true"}},
		{in: `"just a string"`, want: []string{`"just a string"`}},
		{in: `12345678901234567890123`, want: []string{"12345678901234567890123"}}, // no float rounding
		{in: `[]`, want: []string{}},
		{in: `{"id":`, err: "not JSON"},
		{in: `{} {}`, err: "more than one JSON value"},
		{in: "[" + strings.Repeat(`"x",`, maxCLIArgs) + `"x"]`, err: "at most"},
	} {
		got, err := parseCallArgs(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: %d arguments %q, want %d", tc.in, len(got), got, len(tc.want))
			continue
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("%q: argument %d is %q, want %q", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}
