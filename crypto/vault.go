package crypto

import (
	"fmt"
	"sort"
	"strings"
)

// Vault is the reporter identity vault: identity and contact details
// (optional, for rewards) under their own DEK, sealed to the finance group key
// and the custodian key only — not to the department, not to triage, not to
// the reporter key. Store it as a sub-document of the report.
type Vault struct {
	Envelope []byte            `bson:"envelope" json:"envelope"`
	Holders  map[string][]byte `bson:"holders" json:"holders"`
}

const identityField = "identity"

// SealIdentity seals identity for finance and the custodian.
func SealIdentity(reportID string, identity []byte, finance, custodian Recipient) (Vault, error) {
	dek := NewDataKey()
	defer dek.Wipe()
	env, err := SealField(dek, 1, reportID, identityField, identity)
	if err != nil {
		return Vault{}, err
	}
	holders, err := SealDataKeyFor(dek, reportID, finance, custodian)
	if err != nil {
		return Vault{}, err
	}
	return Vault{Envelope: env, Holders: holders}, nil
}

// OpenIdentity opens the vault with the key pair of the named holder
// (HolderDepartment(financeID, v) with the finance group key, or
// HolderCustodian(v) with the offline custodian key).
func OpenIdentity(v Vault, reportID, holder string, kp KeyPair) ([]byte, error) {
	sealed, ok := v.Holders[holder]
	if !ok {
		return nil, fmt.Errorf("crypto: identity vault has no copy for %s", holder)
	}
	dek, err := OpenDataKey(sealed, reportID, kp)
	if err != nil {
		return nil, err
	}
	defer dek.Wipe()
	return OpenField(dek, reportID, identityField, v.Envelope)
}

// RecoverDataKey opens a report's DEK with the offline custodian key, for
// disputes, lost department keys and lawful orders. It runs on the
// custodian's separate machine: export the report's sealed copies there,
// recover, and re-seal (SealDataKey) to whoever must now hold the report.
func RecoverDataKey(copies map[string][]byte, reportID string, custodian CustodianKey) (DataKey, error) {
	sealed, ok := copies[HolderCustodian(custodian.Version)]
	if !ok {
		var present []string
		for name := range copies {
			if strings.HasPrefix(name, "custodian:") {
				present = append(present, name)
			}
		}
		sort.Strings(present)
		return DataKey{}, fmt.Errorf("crypto: report has no copy for custodian key v%d (custodian copies present: %v)", custodian.Version, present)
	}
	return OpenDataKey(sealed, reportID, custodian.KeyPair)
}
