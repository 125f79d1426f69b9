package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/internal/version"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			return g.emit(v, func(w io.Writer) { fmt.Fprintln(w, v.String()) })
		},
	}
}
