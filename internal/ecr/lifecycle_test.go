package ecr

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// lifecycleFixture is a repository of tagged and untagged images, pushed
// days ago (name: tags, days).
var lifecycleFixture = []struct {
	name   string
	tags   []string
	days   int
	listed bool // by an index of the repository
}{
	{"u20", nil, 20, false},
	{"u10", nil, 10, false},
	{"u3", nil, 3, false},
	{"u1", nil, 1, false},
	{"child", nil, 30, true},
	{"prodA", []string{"beta-1", "prod-1"}, 10, false},
	{"prodB", []string{"beta-2", "prod-2"}, 9, false},
	{"betaC", []string{"beta-3"}, 8, false},
	{"v1", []string{"v1.0", "latest-v1"}, 40, false},
	{"v2", []string{"v2.0"}, 20, false},
	{"v3", []string{"v3.0", "stable"}, 2, false},
	{"rc", []string{"v4.0-rc1"}, 15, false},
}

// planOf plans policy (JSON rules) over the fixture and renders the
// expiries as "name@priority", oldest first.
func planOf(t *testing.T, rules ...string) string {
	t.Helper()
	p, err := ParseLifecyclePolicy(`{"rules":[` + strings.Join(rules, ",") + `]}`)
	if err != nil {
		t.Fatalf("ParseLifecyclePolicy: %v", err)
	}
	var imgs []LifecycleImage
	names := map[string]string{}
	for _, f := range lifecycleFixture {
		d := "sha256:" + f.name
		names[d] = f.name
		imgs = append(imgs, LifecycleImage{Digest: d, Tags: f.tags, PushedAt: testNow.Add(-time.Duration(f.days)*24*time.Hour - time.Minute),
			Referenced: f.listed})
	}
	var out []string
	for _, e := range PlanLifecycle(p, imgs, testNow) {
		out = append(out, fmt.Sprintf("%s@%d", names[e.Image.Digest], e.RulePriority))
	}
	return strings.Join(out, " ")
}

// rule is one lifecycle rule's JSON.
func rule(prio int, status, filter, count string) string {
	sel := `"tagStatus":"` + status + `"`
	if filter != "" {
		sel += "," + filter
	}
	return fmt.Sprintf(`{"rulePriority":%d,"selection":{%s,%s},"action":{"type":"expire"}}`, prio, sel, count)
}

const (
	countOver1 = `"countType":"imageCountMoreThan","countNumber":1`
	countOver2 = `"countType":"imageCountMoreThan","countNumber":2`
	days5      = `"countType":"sinceImagePushed","countUnit":"days","countNumber":5`
	days12     = `"countType":"sinceImagePushed","countUnit":"days","countNumber":12`
)

// Lifecycle rules on a fixture of tagged and untagged images, as ECR's
// user guide evaluates them.
func TestPlanLifecycle(t *testing.T) {
	cases := []struct {
		name  string
		rules []string
		want  string
	}{
		{"untagged over 1: the newest untagged stays; an index's child is never counted",
			[]string{rule(1, "untagged", "", countOver1)}, "u20@1 u10@1 u3@1"},
		{"untagged older than 5 days", []string{rule(1, "untagged", "", days5)}, "u20@1 u10@1"},
		{"tagged prefix: an image matches if one of its tags starts with it",
			[]string{rule(1, "tagged", `"tagPrefixList":["v"]`, countOver2)}, "v1@1 v2@1"},
		{"several prefixes: the image must match them all",
			[]string{rule(1, "tagged", `"tagPrefixList":["beta","prod"]`, countOver1)}, "prodA@1"},
		{"guide Example A: rule 2 may not expire B, which rule 1 identified",
			[]string{rule(1, "tagged", `"tagPrefixList":["prod"]`, countOver1), rule(2, "tagged", `"tagPrefixList":["beta"]`, countOver1)},
			"prodA@1"},
		{"guide Example B: beta first expires A and B",
			[]string{rule(1, "tagged", `"tagPrefixList":["beta"]`, countOver1), rule(2, "tagged", `"tagPrefixList":["prod"]`, countOver1)},
			"prodA@1 prodB@1"},
		{"pattern with a wildcard, matched as a whole",
			[]string{rule(1, "tagged", `"tagPatternList":["v*.0"]`, days12)}, "v1@1 v2@1"},
		{"pattern without a wildcard is an exact tag",
			[]string{rule(1, "tagged", `"tagPatternList":["v2"]`, days5)}, ""},
		{"several patterns: all must match a tag",
			[]string{rule(1, "tagged", `"tagPatternList":["v*","*-v1"]`, days5)}, "v1@1"},
		{"any, last, counts every image not listed by an index",
			[]string{rule(1, "tagged", `"tagPrefixList":["v"]`, countOver1), rule(2, "any", "", `"countType":"imageCountMoreThan","countNumber":5`)},
			"v1@1 u20@2 v2@1 rc@1 prodA@2 u10@2"},
		{"any keeps what an earlier rule identified",
			[]string{rule(1, "tagged", `"tagPrefixList":["v"]`, `"countType":"imageCountMoreThan","countNumber":10`), rule(2, "any", "", days12)},
			"u20@2"},
		{"untagged by age then tagged by count, each image by one rule",
			[]string{rule(1, "untagged", "", days12), rule(2, "tagged", `"tagPatternList":["*"]`, `"countType":"imageCountMoreThan","countNumber":3`)},
			"v1@2 u20@1 v2@2 rc@2 prodA@2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := planOf(t, c.rules...); got != c.want {
				t.Fatalf("expired %q, want %q", got, c.want)
			}
		})
	}
}

// Equal push times are ordered by digest, so plans are deterministic.
func TestPlanLifecycleTies(t *testing.T) {
	p, err := ParseLifecyclePolicy(`{"rules":[` + rule(1, "any", "", countOver1) + `]}`)
	if err != nil {
		t.Fatal(err)
	}
	var imgs []LifecycleImage
	for _, d := range []string{"sha256:c", "sha256:a", "sha256:b"} {
		imgs = append(imgs, LifecycleImage{Digest: d, PushedAt: testNow})
	}
	for range 3 {
		plan := PlanLifecycle(p, imgs, testNow)
		if len(plan) != 2 || plan[0].Image.Digest != "sha256:b" || plan[1].Image.Digest != "sha256:c" {
			t.Fatalf("plan %+v", plan)
		}
		imgs = append(imgs[1:], imgs[0])
	}
}

func TestMatchTagPattern(t *testing.T) {
	cases := []struct {
		pattern, tag string
		want         bool
	}{
		{"prod", "prod", true},
		{"prod", "prod1", false},
		{"prod*", "prod", true},
		{"prod*", "prod-2", true},
		{"prod*", "xprod", false},
		{"*prod", "xprod", true},
		{"*test*1*2*3", "my-test-1-2-3", true},
		{"*test*1*2*3", "my-test-1-2-3-x", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"*", "", true},
	}
	for _, c := range cases {
		if got := matchTagPattern(c.pattern, c.tag); got != c.want {
			t.Errorf("matchTagPattern(%q, %q) = %v, want %v", c.pattern, c.tag, got, c.want)
		}
	}
}
