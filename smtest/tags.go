package smtest

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Tag limits from the Secrets Manager API reference.
const (
	maxTagKeyLen   = 128
	maxTagValueLen = 256
	maxTags        = 50
)

// tag is a tag of a secret, as DescribeSecret and ListSecrets show it.
type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// tagInput is a tag of a request; both members are optional in the API.
type tagInput struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

func validateTags(val *validation, tags []tagInput) {
	for i, t := range tags {
		member := "tags." + strconv.Itoa(i+1) + ".member."
		val.length(member+"key", t.Key, 1, maxTagKeyLen)
		val.length(member+"value", t.Value, 0, maxTagValueLen)
	}
}

// checkTagKeys refuses the tag keys AWS reserves for itself.
func checkTagKeys(tags []tagInput) *apiError {
	for _, t := range tags {
		if t.Key != nil && strings.HasPrefix(strings.ToLower(*t.Key), "aws:") {
			return newError(codeInvalidParameter,
				"The tag key %q uses the reserved prefix aws:, which only AWS may use.", *t.Key)
		}
	}
	return nil
}

// setTags adds tags, replacing the value of keys sec already has.
func (sec *secret) setTags(tags []tagInput) {
	for _, in := range tags {
		t := tag{Key: aws.ToString(in.Key), Value: aws.ToString(in.Value)}
		if i := slices.IndexFunc(sec.tags, func(old tag) bool { return old.Key == t.Key }); i >= 0 {
			sec.tags[i] = t
		} else {
			sec.tags = append(sec.tags, t)
		}
	}
}

// ---- TagResource and UntagResource ----

// tagsInput is the input of TagResource (Tags) and of UntagResource
// (TagKeys).
type tagsInput struct {
	secretIDInput
	Tags    []tagInput `json:"Tags"`
	TagKeys []string   `json:"TagKeys"`
}

func (in *tagsInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	validateTags(val, in.Tags)
	for i := range in.TagKeys {
		val.length("tagKeys."+strconv.Itoa(i+1)+".member", &in.TagKeys[i], 1, maxTagKeyLen)
	}
	return checkTagKeys(in.Tags)
}

// required answers the ValidationException for a missing member.
func required(member string) *apiError {
	var val validation
	val.required(member, false)
	return val.err()
}

func (s *Server) tagResource(in *tagsInput, sec *secret, _ time.Time) (any, *apiError) {
	if in.Tags == nil {
		return nil, required("tags")
	}
	merged := &secret{tags: slices.Clone(sec.tags)}
	merged.setTags(in.Tags)
	if len(merged.tags) > maxTags {
		return nil, newError(codeLimitExceeded, "A secret can have at most %d tags; this request would give it %d.", maxTags, len(merged.tags))
	}
	sec.tags = merged.tags
	return struct{}{}, nil
}

func (s *Server) untagResource(in *tagsInput, sec *secret, _ time.Time) (any, *apiError) {
	if in.TagKeys == nil {
		return nil, required("tagKeys")
	}
	sec.tags = slices.DeleteFunc(sec.tags, func(t tag) bool { return slices.Contains(in.TagKeys, t.Key) })
	return struct{}{}, nil
}

// ---- Filters of ListSecrets and BatchGetSecretValue ----

type filter struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
}

var filterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

// filterValue is the pattern of a filter value in the API reference.
var filterValue = regexp.MustCompile(`^!?[a-zA-Z0-9 :_@/+=.\-!]*$`)

func validateFilters(val *validation, filters []filter) {
	for i, f := range filters {
		member := "filters." + strconv.Itoa(i+1) + ".member."
		if f.Key != nil && !slices.Contains(filterKeys, *f.Key) {
			val.custom("Value '" + *f.Key + "' at '" + member + "key' failed to satisfy constraint: Member must satisfy enum value set: [" +
				strings.Join(filterKeys, ", ") + "]")
		}
		if f.Values != nil && (len(f.Values) < 1 || len(f.Values) > 10) {
			val.custom("Value at '" + member + "values' failed to satisfy constraint: Member must have length between 1 and 10, inclusive")
		}
		for j := range f.Values {
			v := &f.Values[j]
			val.length(member+"values."+strconv.Itoa(j+1)+".member", v, 0, 512)
			if !filterValue.MatchString(*v) {
				val.custom("Value '" + *v + "' at '" + member + "values." + strconv.Itoa(j+1) +
					".member' failed to satisfy constraint: Member must satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$")
			}
		}
	}
}

// matches reports whether sec passes every filter (filters are ANDed, the
// values of one filter ORed; a value starting with "!" is negated).
func matches(sec *secret, filters []filter) bool {
	for _, f := range filters {
		if f.Key == nil || len(f.Values) == 0 {
			continue
		}
		ok := false
		for _, v := range f.Values {
			neg := strings.HasPrefix(v, "!")
			m := matchKey(*f.Key, strings.TrimPrefix(v, "!"), sec)
			if m != neg {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchKey matches one filter value as the API reference describes: a
// prefix, case-sensitive but for description and all.
func matchKey(key, v string, sec *secret) bool {
	anyTag := func(field func(tag) string) bool {
		return slices.ContainsFunc(sec.tags, func(t tag) bool { return strings.HasPrefix(field(t), v) })
	}
	switch key {
	case "name":
		return strings.HasPrefix(sec.name, v)
	case "description":
		return strings.HasPrefix(strings.ToLower(sec.description), strings.ToLower(v))
	case "tag-key":
		return anyTag(func(t tag) string { return t.Key })
	case "tag-value":
		return anyTag(func(t tag) string { return t.Value })
	case "all":
		return matchWords(sec, v)
	case "primary-region":
		// Only replicated secrets, primaries and replicas, have one.
		pr := sec.primaryRegion()
		return pr != "" && strings.HasPrefix(pr, v)
	}
	// The emulator has no managed secrets: owning-service matches no
	// secret.
	return false
}

// matchWords reports whether every word of v starts a word of the secret's
// name, description, tag keys or tag values, ignoring case.
func matchWords(sec *secret, v string) bool {
	text := []string{sec.name, sec.description}
	for _, t := range sec.tags {
		text = append(text, t.Key, t.Value)
	}
	split := func(s string) []string {
		return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	}
	words := split(strings.Join(text, " "))
	for _, q := range split(v) {
		if !slices.ContainsFunc(words, func(w string) bool { return strings.HasPrefix(w, q) }) {
			return false
		}
	}
	return true
}
