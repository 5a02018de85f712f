package workers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/crypto"
	"whistle/intake"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers/sla"
)

// Sealed field name of the routing explanation (it quotes the report, so it
// is sealed with the case's data key like the content).
const FieldExplanation = "explanation"

// triageActor is who routes: the system role, named for the audit trail.
var triageActor = whistle.Actor{ID: "triage-worker", Role: whistle.RoleSystem}

// blindPurpose keys the duplicate-detection blind tokens (crypto.Blinder).
const blindPurpose = "dedupe-minhash"

// Points at which a test hook may stop a handler (export_test.go).
const (
	hookTriageDecided = "triage:decided" // content read and routed in memory, fingerprint stored; the case not written
	hookTriageRouted  = "triage:routed"  // routing written; notifications and pending marker not yet
	hookDedupeRead    = "dedupe:read"    // pending fingerprint and case read, case not shredded; nothing linked yet
)

var errAlreadyRouted = errors.New("case already routed")

// decision is everything the routing write needs, computed before it.
type decision struct {
	triage.Decision
	fingerprint triage.Fingerprint
	recipients  []crypto.Recipient
	ruleset     string
}

// handleTriage routes one stored report. The one case write applies the
// route action, stores the decision, seals the explanation, seals the data
// key to the lead department and the 安委办 coordination keys, deletes the
// triage copy, and starts the clocks: a crash before it changes nothing and
// a crash after it is seen as "routed" — exactly one routing either way.
// Duplicate linking (a write per band) is the dedupe:link task's; the
// fingerprint it links is stored before that write.
func (w *Workers) handleTriage(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeCase(t.Payload())
	if err != nil {
		return err
	}
	c, err := w.store.Case(ctx, p.CaseID)
	if whistle.ErrorCode(err) == whistle.ENOTFOUND {
		// A pending marker without its case (a submission that crashed
		// half-way); the sweep clears such markers once they are old.
		w.log.Warn("triage: case not found", "case", p.CaseID)
		return nil
	}
	if err != nil {
		return err
	}
	if c.Lifecycle.State != whistle.StateReceived {
		return w.afterRouting(ctx, c)
	}

	dek, err := w.keys.OpenTriageCopy(c.ID, c.Sealed.Keys)
	if err != nil {
		// Nothing the worker can do by retrying: the task is archived with
		// this error (visible in /admin/queues) and the 安委办 routes by hand.
		return fmt.Errorf("%w: case %s: %v", asynq.SkipRetry, c.ID, err)
	}
	defer dek.Wipe()
	dec, err := w.decide(ctx, c, dek)
	if err != nil {
		return err
	}
	// The fingerprint exists only in this run's memory (once routed, no
	// worker can read the text again), so it is stored before the routing
	// write: a crash after the write cannot lose it. Its task names only
	// the case, so the sweep can enqueue it again if Redis loses it.
	if len(dec.fingerprint.Bands) > 0 {
		if err := w.store.PutPendingFingerprint(ctx, mongodb.PendingFingerprint{CaseID: c.ID,
			FP: encodeValues(dec.fingerprint.Values), Bands: dec.fingerprint.Bands, At: w.now()}); err != nil {
			return err
		}
		if err := w.queue.EnqueueBestEffort(ctx, queue.DedupeTask(c.ID)); err != nil {
			w.log.Warn("dedupe enqueue failed; the sweep will retry", "case", c.ID, "err", err)
		}
	}
	w.at(hookTriageDecided, c.ID)

	routed, err := w.store.UpdateCase(ctx, c.ID, func(cur *whistle.Case) error { return w.applyRouting(cur, dec, dek) })
	if errors.Is(err, errAlreadyRouted) {
		if routed, err = w.store.Case(ctx, c.ID); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	w.at(hookTriageRouted, c.ID)
	return w.afterRouting(ctx, routed)
}

// decide opens the report, routes it, computes its blinded fingerprint and
// resolves the keys its data key will be sealed to.
func (w *Workers) decide(ctx context.Context, c *whistle.Case, dek crypto.DataKey) (decision, error) {
	plain, err := crypto.OpenField(dek, c.ID, intake.FieldContent, c.Sealed.Content)
	if err != nil {
		return decision{}, fmt.Errorf("%w: case %s content: %v", asynq.SkipRetry, c.ID, err)
	}
	defer clear(plain)
	var rep whistle.Report
	if err := json.Unmarshal(plain, &rep); err != nil {
		return decision{}, fmt.Errorf("%w: case %s content is not a report", asynq.SkipRetry, c.ID)
	}
	text := routingText(rep)
	d := decision{ruleset: w.router.Version()}
	d.Decision = w.router.Route(triage.Report{ID: c.ID, Channel: string(c.Channel), City: c.City, County: c.County, Text: text})
	if d.Lead == "" {
		d.Lead = triage.SafetyCommitteeOffice
	}
	d.fingerprint = triage.NewFingerprint(text, w.keys.CurrentSecrets().Blinder(blindPurpose))

	city := c.City
	if city == "" && !d.Jurisdiction.Ambiguous {
		city = cmp.Or(d.Jurisdiction.City, w.router.CityOf(d.Jurisdiction.County))
	}
	lead, err := w.GroupRecipient(ctx, KindDepartment, d.Lead)
	if err != nil {
		return decision{}, err
	}
	d.recipients = append(d.recipients, lead)
	for _, j := range slices.Compact([]string{city, sla.Region}) {
		if j == "" {
			continue
		}
		r, err := w.GroupRecipient(ctx, KindCoordination, j)
		if err != nil {
			return decision{}, err
		}
		d.recipients = append(d.recipients, r)
	}
	if d.Referral {
		r, err := w.GroupRecipient(ctx, KindDepartment, triage.DisciplineCommission)
		if err != nil {
			return decision{}, err
		}
		d.recipients = append(d.recipients, r)
	}
	return d, nil
}

// routingText is what the router reads: the description and the fields
// that locate the matter.
func routingText(r whistle.Report) string {
	parts := []string{r.Text}
	for _, f := range []struct{ label, v string }{{"地址", r.Address}, {"单位", r.Company}, {"行业", r.Industry}} {
		if strings.TrimSpace(f.v) != "" {
			parts = append(parts, f.label+"："+f.v)
		}
	}
	return strings.Join(parts, "\n")
}

// applyRouting is the UpdateCase function of routing. It may run more than
// once (optimistic retries); everything it does is a function of cur and d.
func (w *Workers) applyRouting(cur *whistle.Case, d decision, dek crypto.DataKey) error {
	if cur.Lifecycle.State != whistle.StateReceived {
		return errAlreadyRouted
	}
	now := w.now().UTC()
	if _, err := cur.Lifecycle.Apply(triageActor, whistle.Command{
		Action: whistle.ActionRoute, Department: d.Lead, Reason: routingReason(d.Decision),
	}, now); err != nil {
		return err
	}
	cur.Routing = &whistle.Routing{
		Lead: d.Lead, Assist: d.Assist, Principle: d.Principle, Basis: d.Basis, Kind: d.Kind,
		Referral: d.Referral, Escalate: d.Escalate, Confidence: d.Confidence, RoutedAt: now, Ruleset: d.ruleset,
	}
	keyVersion, err := crypto.EnvelopeKeyVersion(cur.Sealed.Content)
	if err != nil {
		return err
	}
	if cur.Sealed.Explanation, err = crypto.SealField(dek, keyVersion, cur.ID, FieldExplanation, []byte(d.Explanation)); err != nil {
		return err
	}
	recipients := slices.Clone(d.recipients)
	if custodian := w.keys.CustodianRecipient(); cur.Sealed.Keys[custodian.Holder] == nil {
		recipients = append(recipients, custodian)
	}
	sealed, err := crypto.SealDataKeyFor(dek, cur.ID, recipients...)
	if err != nil {
		return err
	}
	for _, h := range crypto.TriageHolders(cur.Sealed.Keys) {
		delete(cur.Sealed.Keys, h)
	}
	for h, b := range sealed {
		cur.Sealed.Keys[h] = b
	}
	if cur.City == "" && !d.Jurisdiction.Ambiguous {
		cur.City, cur.County = cmp.Or(d.Jurisdiction.City, w.router.CityOf(d.Jurisdiction.County)), d.Jurisdiction.County
	}
	cur.Kind = d.Kind
	cur.Urgent = cur.Urgent || d.Urgent
	sla.Sync(cur, w.pol)
	return nil
}

// routingReason is the reason of the route event: the principle and the
// articles, which the lifecycle requires and auditors read.
func routingReason(d triage.Decision) string {
	r := d.Principle
	if len(d.Basis) > 0 {
		r += "：依据" + strings.Join(d.Basis, "、")
	}
	if strings.TrimSpace(r) == "" {
		r = "无对应条款，交安委办协调（实施细则第十一条）"
	}
	if utf8.RuneCountInString(r) > whistle.MaxReasonRunes {
		r = string([]rune(r)[:whistle.MaxReasonRunes-1]) + "…"
	}
	return r
}

// afterRouting does what follows a routing and is safe to repeat: tell the
// groups the case concerns (delivery records are created once), then clear
// the pending marker — last, so that a crash before it leaves the marker
// and the sweep brings the task back.
func (w *Workers) afterRouting(ctx context.Context, c *whistle.Case) error {
	if r := c.Routing; r != nil {
		targets := []sla.Target{{Kind: sla.Department, Name: r.Lead}}
		if r.Referral {
			targets = append(targets, sla.Target{Kind: sla.Department, Name: triage.DisciplineCommission})
		}
		if c.Urgent || r.Escalate {
			targets = append(targets, sla.Target{Kind: sla.Coordination, Name: sla.Jurisdiction(c)})
		}
		ev := event{id: fmt.Sprintf("routed:%s:%d", c.ID, r.RoutedAt.Unix()), caseID: c.ID, urgent: c.Urgent, what: whatRouted}
		if r.Referral {
			ev.referral = true
		}
		for _, t := range targets {
			if err := w.notify.send(ctx, w, ev, t); err != nil {
				return err
			}
		}
	}
	return w.store.ClearPending(ctx, c.ID)
}

// at calls the test hook, if any.
func (w *Workers) at(point, caseID string) {
	if w.hook != nil {
		w.hook(point, caseID)
	}
}
