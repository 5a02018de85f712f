package workers

import (
	"context"
	"errors"
	"fmt"

	"whistle"
	"whistle/crypto"
	"whistle/intake"
	"whistle/mongodb"
	"whistle/workers/sla"
)

// Group kinds of mongodb.GroupKey.
const (
	KindDepartment   = "department"
	KindCoordination = "coordination"
	KindFinance      = "finance" // opens reporters' identity vaults (rewards)
)

// FinanceOffice is the finance group that approves rewards region-wide.
const FinanceOffice = "自治区财政厅"

// groupKeyVersion is the version of group keys created here. Rotating a
// group key (a member left with a copy) is a staff-console operation that
// creates the next version; the workers always seal to the stored one.
const groupKeyVersion = 1

// EnsureKeys gives every registry department (triage.Router.Departments)
// and the 安委办 coordination office of the region and of every city intake
// accepts (intake.Cities, with 宁东) a key pair, if they have none yet. Safe
// to run from several processes at once: the first stored key wins.
func (w *Workers) EnsureKeys(ctx context.Context) error {
	var errs []error
	for _, d := range w.router.Departments() {
		if _, err := w.GroupRecipient(ctx, KindDepartment, d.Name); err != nil {
			errs = append(errs, err)
		}
	}
	jurisdictions := []string{sla.Region}
	for _, c := range intake.Cities {
		jurisdictions = append(jurisdictions, c.Name)
	}
	for _, j := range jurisdictions {
		if _, err := w.GroupRecipient(ctx, KindCoordination, j); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := w.GroupRecipient(ctx, KindFinance, FinanceOffice); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("workers: provisioning group keys: %w", err)
	}
	return nil
}

// GroupRecipient returns the group's key as a holder for sealing report
// keys, creating the group's key pair first if it has none: a fresh X25519
// pair whose public half is stored and whose private half is stored only
// sealed to the current custodian key (escrow). Nobody — not this process —
// keeps the private half: members get it later from the custodian or from
// a member through the staff console (crypto.SealKeyPair to their staff
// key). See README.md "Group keys".
func (w *Workers) GroupRecipient(ctx context.Context, kind, name string) (crypto.Recipient, error) {
	k, err := w.store.GroupKey(ctx, kind, name)
	if whistle.ErrorCode(err) == whistle.ENOTFOUND {
		k, err = w.createGroupKey(ctx, kind, name)
	}
	if err != nil {
		return crypto.Recipient{}, err
	}
	if len(k.Public) != 32 {
		return crypto.Recipient{}, fmt.Errorf("workers: stored key of %s %s is malformed", kind, name)
	}
	return crypto.Recipient{Holder: k.Holder, Key: crypto.PublicKey(k.Public)}, nil
}

func (w *Workers) createGroupKey(ctx context.Context, kind, name string) (*mongodb.GroupKey, error) {
	var holder string
	switch kind {
	case KindDepartment:
		holder = crypto.HolderDepartment(name, groupKeyVersion)
	case KindCoordination:
		holder = crypto.HolderCoordination(name, groupKeyVersion)
	case KindFinance:
		holder = crypto.HolderFinance(name, groupKeyVersion)
	default:
		return nil, fmt.Errorf("workers: unknown group kind %q", kind)
	}
	kp := crypto.GenerateKeyPair()
	defer kp.Wipe()
	custodian := w.keys.CustodianRecipient()
	escrow, err := crypto.SealKeyPair(kp, holder, custodian.Key)
	if err != nil {
		return nil, err
	}
	k, err := w.store.CreateGroupKey(ctx, mongodb.GroupKey{Kind: kind, Name: name, Version: groupKeyVersion,
		Holder: holder, Public: kp.Public[:], Escrow: escrow, EscrowHolder: custodian.Holder, CreatedAt: w.now()})
	if err != nil {
		return nil, err
	}
	w.log.Info("group key ready", "kind", kind, "name", name, "fingerprint", crypto.PublicKey(k.Public).Fingerprint())
	return k, nil
}
