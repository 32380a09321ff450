// Package archtest enforces docs/architecture.md in a test: the import
// rules between the layers (cmd → cli → app → pure packages and edges;
// pure packages free of kernel libraries; shared/* free of director/* and
// backend/*; director/* and backend/* apart), and that the table "Where
// each behaviour lives" names every folder that holds Go code. It reads
// the module with `go list -json` and has no code of its own.
package archtest
