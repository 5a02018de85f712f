package intake

import "slices"

// City is one jurisdiction a report can name: a prefecture-level city of
// Ningxia with its county-level units, or 宁东能源化工基地, which the seed
// (实施细则 Art. 71) treats as a jurisdiction of its own and which has no
// counties.
type City struct {
	Name     string
	Counties []string
}

// NingdongBase is the 宁东能源化工基地 jurisdiction.
const NingdongBase = "宁东能源化工基地"

// Cities lists Ningxia's 5 prefecture-level cities with their 22 county-level
// units (districts, counties, county-level cities), then 宁东, in the order the
// form shows them.
var Cities = []City{
	{"银川市", []string{"兴庆区", "西夏区", "金凤区", "永宁县", "贺兰县", "灵武市"}},
	{"石嘴山市", []string{"大武口区", "惠农区", "平罗县"}},
	{"吴忠市", []string{"利通区", "红寺堡区", "盐池县", "同心县", "青铜峡市"}},
	{"固原市", []string{"原州区", "西吉县", "隆德县", "泾源县", "彭阳县"}},
	{"中卫市", []string{"沙坡头区", "中宁县", "海原县"}},
	{NingdongBase, nil},
}

// checkPlace accepts an empty city (the reporter does not know; triage and
// 安委办 decide), a known city with no county, or a known city with one of
// its counties.
func checkPlace(city, county string) error {
	if city == "" {
		if county != "" {
			return fieldError("city", "选择区县前请先选择所在市。")
		}
		return nil
	}
	i := slices.IndexFunc(Cities, func(c City) bool { return c.Name == city })
	if i < 0 {
		return fieldError("city", "请从列表中选择所在市。")
	}
	if county != "" && !slices.Contains(Cities[i].Counties, county) {
		return fieldError("county", "所选区县不属于"+city+"。")
	}
	return nil
}
