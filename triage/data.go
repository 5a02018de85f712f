package triage

import "embed"

// The routing data is compiled into the binary: a worker or the CLI never
// depends on a file beside it, and a decision always names the ruleset version
// that produced it.
var (
	//go:embed data/articles.json
	articlesJSON []byte
	//go:embed data/registry.json
	registryJSON []byte
	//go:embed data/gazetteer.json
	gazetteerJSON []byte
	//go:embed data/precedents/*.jsonl
	precedentFiles embed.FS
)
