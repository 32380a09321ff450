// Package config reads and validates the tandem-backend configuration file
// (default /etc/tandem/backend.yaml).
//
// The file is YAML and strict (shared/strictyaml, the reader of the
// director's native format too): an unknown key, a value of the wrong kind,
// a bad address or a missing required field is an error that names the
// file, the line and the key, as in
//
//	/etc/tandem/backend.yaml:7: key "vips[1]": "192.0.2.300" is not an IP address
//
// Every error of the file is reported at once, sorted by line.
//
// Parsing does no I/O beyond reading the file; values that depend on the host
// (the default interface and real IP, the node name) are left empty here and
// resolved by the daemon. docs/backend.md is the reference for every key and
// docs/examples/backend.yaml a commented example.
package config
