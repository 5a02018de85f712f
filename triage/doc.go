// Package triage routes Chinese safety-hazard reports to the department that
// leads their handling, as the Ningxia 实施细则 (宁党办〔2023〕47号) assigns it:
// 谁主管谁牵头、谁为主谁牵头、谁靠近谁牵头.
//
// # Data, not code
//
// Everything a policy officer may need to change is embedded data, validated
// when a Router is built and again by the tests:
//
//   - data/articles.json — the text of 实施细则 Art. 4, 10, 11 and 13–70 and of
//     责任追究办法 Art. 4 and 7, extracted from the seed (go test -run
//     TestEmbeddedArticlesMatchSeed -update regenerates it and the same test
//     proves it equals the seed, item by item).
//   - data/registry.json — one entry per department, named exactly as its
//     article heading, with every item of its article: its role (监管, 管理,
//     指导, 配合) and keyword rules. A rule "塔吊/塔式起重机=5 @工地/施工 !公路"
//     scores 5 once when any term occurs, a context term occurs and no
//     exclusion term does. Signals (kind, urgency, referral, escalation), 新业态
//     names, shadowing phrases (电动车 hides 动车), landmark words (挨着,
//     旁边), venue kinds and supervised hazard kinds live there too, with the rules for concealed accidents and for the
//     sectors that have national major-hazard criteria.
//   - data/gazetteer.json — the 5 cities, 22 counties and 宁东能源化工基地 with
//     aliases and well-known towns, parks and sights.
//   - data/precedents/*.jsonl — decided reports, one labelled report per line
//     (see data/precedents/README.md).
//
// # How a report is decided
//
// One pass of an Aho–Corasick automaton finds every keyword, place name and
// signal term. Keywords inside a longer shadowing phrase are dropped; places
// that only locate the matter ("挨着小学", "学校后面的山坡") count for less.
// A kind of venue (商场, 学校, 医院…) counts half when another department's
// rule names a hazard with its own supervisor (消防通道, 燃气, 电梯, 脚手架,
// 地质灾害…): the hazard's department leads and the venue's assists, unless
// the venue's department names the matter itself (a school laboratory).
// When hazards of two different supervisors meet in one venue (液化气 and a
// blocked staircase in a kindergarten), no hazard duty covers the whole
// complaint and the venue's department leads, if its article supervises the
// venue (教育 24(一), 民政, 卫健, 文旅) rather than only guiding it (商务 39(一)).
// Each rule fires at most once, the strongest first, and a keyword scores only
// once per department; a duty's further rules add half their weight, and a
// department's second and third duties a little more. The best department
// leads: alone it is 谁主管谁牵头; when another department's duty also names
// the matter it is 谁为主谁牵头 and that department assists — and precedent
// decides which of them leads: the department whose decided reports
// (data/precedents) read most like this one, by TF-IDF centroids over
// character bigrams, takes the lead when it is clearly (10 %) more similar
// than the rules' first choice. A weak match or a 新业态 the articles do not
// name makes it 谁靠近谁牵头 (below the weakest match, precedent picks the
// nearest of the departments whose words occur), and with nothing close the
// 自治区安委办 decides (Art. 10(四), 11). The kind is the kind of the most
// similar precedents, unless the signals find a concealed accident or an
// imminent danger. A concealed accident is checked by its sector's
// department with the accident investigator assisting (Art. 4); the
// investigator leads when no sector shows. Reports that accuse officials
// are copied to 自治区纪委监委 (责任追究办法
// Art. 7(一)). Every decision cites the lead's items first.
//
// # Duplicates
//
// NewFingerprint and Similarity compare reports through MinHash values and LSH
// band keys that have all passed through the caller's keyed Blind function,
// so a store of fingerprints reveals nothing without the key.
//
// Route is pure and safe for concurrent use; RunCLI is the `whistle triage`
// JSON-lines contract.
package triage
