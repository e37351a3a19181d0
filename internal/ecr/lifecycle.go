package ecr

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Lifecycle planning: which images of a repository a lifecycle policy
// expires, as ECR's user guide ("Lifecycle policy evaluation rules" and
// "Examples of lifecycle policies") describes it. Planning is pure: the
// lifecycle controller (controllers.go) deletes what a plan says, and
// StartLifecyclePolicyPreview shows it.
//
//   - Every rule identifies the images its selection matches: tagStatus
//     untagged the images without a tag, any every image, tagged the images
//     that, for each entry of tagPrefixList, have a tag starting with it
//     (each entry of tagPatternList: a tag matching it, "*" standing for
//     any run of characters); several entries select only the images
//     matching all of them.
//   - Among the images a rule identifies, sorted from the most recently
//     pushed, imageCountMoreThan N marks all but the first N, and
//     sinceImagePushed N (days) marks those pushed more than N days ago.
//   - An image belongs to the first rule, by rulePriority, that identifies
//     it: that rule alone may expire it. A later rule still counts it
//     ("rules can never mark images that are marked by higher priority
//     rules, but can still identify them"), so in the guide's Example A
//     (rule 1 prod, rule 2 beta, both imageCountMoreThan 1) image B, kept
//     by rule 1, is not expired by rule 2, and only image A expires.
//   - An image an index of the repository lists is left out: ECR does not
//     delete such an image (BatchDeleteImage answers
//     ImageReferencedByManifestList) until the index is gone, and a rule
//     does not count it.

// LifecycleImage is what planning knows of an image.
type LifecycleImage struct {
	Digest   string
	Tags     []string
	PushedAt time.Time
	// Referenced is whether an index of the repository lists the image.
	Referenced bool
}

// LifecycleExpiry is an image a policy expires, and the rule expiring it.
type LifecycleExpiry struct {
	Image        LifecycleImage
	RulePriority int
}

// PlanLifecycle returns the images of a repository that policy p expires
// at now, from the least recently pushed (ties by digest), each with its
// rule. Its cost is bounded by the number of images times the policy's
// size.
func PlanLifecycle(p *LifecyclePolicy, imgs []LifecycleImage, now time.Time) []LifecycleExpiry {
	// Newest first, ties by digest: the order rules count in.
	sorted := make([]LifecycleImage, 0, len(imgs))
	for _, img := range imgs {
		if !img.Referenced {
			sorted = append(sorted, img)
		}
	}
	slices.SortFunc(sorted, func(a, b LifecycleImage) int {
		if c := b.PushedAt.Compare(a.PushedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Digest, b.Digest)
	})
	rules := slices.Clone(p.Rules)
	slices.SortStableFunc(rules, func(a, b LifecycleRule) int { return cmp.Compare(a.RulePriority, b.RulePriority) })

	owned := make([]bool, len(sorted)) // identified by an earlier rule
	var out []LifecycleExpiry
	for _, r := range rules {
		kept := 0
		for i, img := range sorted {
			if !r.selects(img) {
				continue
			}
			mine := !owned[i]
			owned[i] = true
			expire := false
			switch r.Selection.CountType {
			case "imageCountMoreThan":
				expire = kept >= r.Selection.CountNumber
				kept++
			case "sinceImagePushed":
				expire = now.Sub(img.PushedAt) > time.Duration(r.Selection.CountNumber)*24*time.Hour
			}
			if expire && mine {
				out = append(out, LifecycleExpiry{Image: img, RulePriority: r.RulePriority})
			}
		}
	}
	// Oldest first, as ECR expires.
	slices.SortFunc(out, func(a, b LifecycleExpiry) int {
		if c := a.Image.PushedAt.Compare(b.Image.PushedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Image.Digest, b.Image.Digest)
	})
	return out
}

// selects reports whether rule r identifies img.
func (r LifecycleRule) selects(img LifecycleImage) bool {
	sel := r.Selection
	switch sel.TagStatus {
	case "any":
		return true
	case "untagged":
		return len(img.Tags) == 0
	case "tagged":
		if len(img.Tags) == 0 {
			return false
		}
		for _, prefix := range sel.TagPrefixList {
			if !slices.ContainsFunc(img.Tags, func(t string) bool { return strings.HasPrefix(t, prefix) }) {
				return false
			}
		}
		for _, pattern := range sel.TagPatternList {
			if !slices.ContainsFunc(img.Tags, func(t string) bool { return matchTagPattern(pattern, t) }) {
				return false
			}
		}
		return true
	}
	return false
}

// matchTagPattern reports whether tag matches pattern as a whole, "*"
// matching any run of characters (none included) and nothing else being
// special. ParseLifecyclePolicy allows at most four "*" a pattern, and
// tags are at most 128 characters, so the cost is small.
func matchTagPattern(pattern, tag string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == tag
	}
	rest, ok := strings.CutPrefix(tag, parts[0])
	if !ok {
		return false
	}
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, mid)
		if i < 0 {
			return false
		}
		rest = rest[i+len(mid):]
	}
	return len(rest) >= len(last) && strings.HasSuffix(rest, last)
}
