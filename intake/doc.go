// Package intake is how reports get in and how reporters follow them up: the
// anonymous web pages (zh-CN, server-rendered, usable with JavaScript off),
// the JSON API, and the Service that every channel — web, API, hotline
// console, 12345 work-order import — submits through.
//
// Service.Submit validates, strips evidence metadata (PrepareEvidence), seals
// the report under a fresh data key to the triage, custodian and
// receipt-derived reporter keys, seals any identity in the identity vault
// (finance + custodian), writes the case (mongodb.CreateCase) and only then
// returns the receipt; triage is enqueued after, best effort, and the
// reconcile sweep covers a lost enqueue.
//
// Nothing here logs or stores a client address, user agent or report
// content: rate limits key on an HMAC of the address under a per-process
// salt, in memory only.
package intake
