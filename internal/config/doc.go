// Package config defines the configuration of every Folio process (peer,
// orderer, CA): one YAML file per node, with documented defaults, overrides
// from FOLIO_* environment variables and --set flags, and a Validate that
// names the file, the field and the fix for every problem.
//
// Precedence, lowest to highest: defaults, the file, environment, flags.
// Only cmd/ reads files, flags and the environment; this package parses
// bytes and applies override maps it is handed.
package config
