package config

// buildKaIndexes is replaced once the catalogue of keepalived's keywords
// lands.
func buildKaIndexes() kaIndexes { return kaIndexes{} }
