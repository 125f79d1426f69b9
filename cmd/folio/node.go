package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/node"
)

// nodeFlags are the flags of the commands that run a node process.
type nodeFlags struct {
	config string
	set    []string
}

func (f *nodeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "", "node configuration file (YAML; see docs/configuration.md)")
	cmd.Flags().StringArrayVar(&f.set, "set", nil, "override a config field, e.g. --set log.level=debug (repeatable; beats FOLIO_* env)")
	_ = cmd.MarkFlagRequired("config")
}

// overrides merges FOLIO_* environment overrides with --set flags (flags win).
func (f *nodeFlags) overrides(cfg any) (map[string]string, error) {
	ov := config.EnvOverrides(cfg, os.LookupEnv)
	for _, kv := range f.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q: want field=value, e.g. --set log.level=debug", kv)
		}
		ov[k] = v
	}
	return ov, nil
}

func readConfig(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return data, nil
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// signalContext is cancelled by SIGINT or SIGTERM: a node's graceful stop.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func newNodeStartCmd(role string) *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "start --config FILE",
		Short: "Run a " + role + " process (normally started by 'folio network up')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// SIGHUP never kills a node: a peer or orderer looks at its
			// certificate files again on it (internal/node/certreload.go
			// installs that handler once running), a CA has nothing to
			// reload.
			signal.Ignore(syscall.SIGHUP)
			data, err := readConfig(f.config)
			if err != nil {
				return err
			}
			ov, err := f.overrides(&config.Node{})
			if err != nil {
				return err
			}
			cfg, err := config.ParseNode(f.config, data, ov)
			if err != nil {
				return err
			}
			if cfg.Role != role {
				return fmt.Errorf("config %s: field role: %q, but this is 'folio %s start': use 'folio %s start'", f.config, cfg.Role, role, cfg.Role)
			}
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(cfg.GCPercent)
			}
			ctx, stop := signalContext()
			defer stop()
			return node.Run(ctx, node.Options{Config: cfg, ConfigFile: f.config, Logger: newLogger(os.Stderr, cfg.Log)})
		},
	}
	f.register(cmd)
	return cmd
}

func newOrdererCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "orderer", Short: "Ordering service nodes"}
	cmd.AddCommand(newNodeStartCmd(config.RoleOrderer), newOrdererAddCmd(g), newOrdererRemoveCmd(g))
	return cmd
}

func newCAServeCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run an organisation's CA service (normally started by 'folio network up')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// SIGHUP never kills a node: a peer or orderer looks at its
			// certificate files again on it (internal/node/certreload.go
			// installs that handler once running), a CA has nothing to
			// reload.
			signal.Ignore(syscall.SIGHUP)
			data, err := readConfig(f.config)
			if err != nil {
				return err
			}
			ov, err := f.overrides(&config.CA{})
			if err != nil {
				return err
			}
			cfg, err := config.ParseCA(f.config, data, ov)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return node.RunCA(ctx, node.CAOptions{Config: cfg, ConfigFile: f.config, Logger: newLogger(os.Stderr, cfg.Log)})
		},
	}
	f.register(cmd)
	return cmd
}
