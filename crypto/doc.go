// Package crypto is Whistle's encryption at rest: a stolen database reads
// nothing, and a routed report is readable only by the people it was routed
// to.
//
// Every report has a random data key (DataKey, the DEK). Its fields are
// sealed with SealField (XChaCha20-Poly1305, bound to report id, field name
// and key version) and its attachments with NewAttachmentWriter (chunked
// streaming, constant memory). The DEK itself is stored only as X25519
// sealed boxes, one per holder, in a map keyed by holder name (Holder*
// functions): the triage service key until routing is done, the department
// and 安委办 coordination group keys, the reporter's receipt-derived key, and
// the offline custodian key. Group private keys are sealed to each member's
// personal key (SealKeyPair), which is sealed under the member's password
// with Argon2id (StaffKey). The reporter's identity lives in its own Vault,
// sealed to finance and custodian only.
//
// Receipts (Receipt) are 20 random digits; the database stores only a lookup
// token derived from the receipt, the server pepper and Argon2id
// (ServiceSecrets.DeriveReceiptKey). Service secrets and service keys live in
// a Keyset loaded from files (0600) or the environment, never from the
// database.
//
// Crypto-shredding: deleting every sealed copy of a report's DEK (the whole
// holder map, and the identity vault's map) makes its content permanently
// unreadable; nothing else needs to be overwritten.
//
// README.md in this directory has the key hierarchy, what the server can read
// when, the threat model, the stored formats and the receipt cost argument.
package crypto
