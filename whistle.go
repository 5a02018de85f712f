// Package whistle holds the domain of the Whistle (吹哨) safety-hazard reporting
// service: the types every other package speaks, the errors they return, and the
// case lifecycle. It depends on nothing but the standard library; storage, HTTP,
// queues and cryptography live in their own packages (one per dependency) and
// are wired together in cmd/whistle.
package whistle

// Build information, set by the linker (-ldflags "-X whistle.Version=…").
var (
	Version = "dev"
	Commit  = ""
)
