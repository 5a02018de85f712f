package whistle

// Role is what a person (or the triage worker) may do in Whistle. The codes are
// stable: they are stored with every case event and in user records.
type Role string

const (
	RoleReporter     Role = "reporter"      // 吹哨人, known only by the receipt code
	RoleHotlineAgent Role = "hotline_agent" // 12345 / 12350 call-centre agent
	RoleSystem       Role = "system"        // the triage worker that routes reports
	RoleHandler      Role = "handler"       // case handler of a functional department
	RoleDeptLead     Role = "dept_lead"     // department supervisor; approves extensions
	RoleCoordinator  Role = "coordinator"   // 安委办: arbitrates routing, supervises, closes
	RoleFinance      Role = "finance"       // approves and pays rewards
	RoleAuditor      Role = "auditor"       // read-only audit trail, 纪检监察
	RoleAdmin        Role = "admin"         // operator: users and keys, never case decisions
)

// Roles lists every role, in display order.
var Roles = []Role{
	RoleReporter, RoleHotlineAgent, RoleSystem, RoleHandler, RoleDeptLead,
	RoleCoordinator, RoleFinance, RoleAuditor, RoleAdmin,
}

// Label is the zh-CN name of the role for display.
func (r Role) Label() string {
	switch r {
	case RoleReporter:
		return "举报人"
	case RoleHotlineAgent:
		return "热线坐席"
	case RoleSystem:
		return "系统"
	case RoleHandler:
		return "部门承办人"
	case RoleDeptLead:
		return "部门负责人"
	case RoleCoordinator:
		return "安委办"
	case RoleFinance:
		return "财务"
	case RoleAuditor:
		return "审计监察"
	case RoleAdmin:
		return "系统管理员"
	}
	return "未知角色"
}

// ParseRole returns the role with the given stable code.
func ParseRole(code string) (Role, error) {
	for _, r := range Roles {
		if string(r) == code {
			return r, nil
		}
	}
	return "", FieldError("role", "未知的角色")
}

// Actor is who performs an action: a user id (or a worker name for RoleSystem),
// the role they act in, and the department they belong to ("" when the role is
// not tied to one).
type Actor struct {
	ID         string
	Role       Role
	Department string
}
