package smtest

import (
	"crypto/rand"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Character classes of GetRandomPassword, as the API reference lists them.
const (
	lowercaseChars   = "abcdefghijklmnopqrstuvwxyz"
	uppercaseChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars       = "0123456789"
	punctuationChars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	defaultPwdLength = 32
	maxPwdLength     = 4096
)

type getRandomPasswordInput struct {
	PasswordLength          *int64  `json:"PasswordLength"`
	ExcludeCharacters       *string `json:"ExcludeCharacters"`
	ExcludeNumbers          *bool   `json:"ExcludeNumbers"`
	ExcludePunctuation      *bool   `json:"ExcludePunctuation"`
	ExcludeUppercase        *bool   `json:"ExcludeUppercase"`
	ExcludeLowercase        *bool   `json:"ExcludeLowercase"`
	IncludeSpace            *bool   `json:"IncludeSpace"`
	RequireEachIncludedType *bool   `json:"RequireEachIncludedType"`
}

func (in *getRandomPasswordInput) validate(val *validation) *apiError {
	val.rangeInt("passwordLength", in.PasswordLength, 1, maxPwdLength)
	val.length("excludeCharacters", in.ExcludeCharacters, 0, maxPwdLength)
	return nil
}

type getRandomPasswordOutput struct {
	RandomPassword string `json:"RandomPassword"`
}

// getRandomPassword draws each character from crypto/rand. With
// RequireEachIncludedType (the default) the password has at least one
// character of every class left after the exclusions: lowercase, uppercase,
// digits and punctuation (the space, if included, is optional).
func (s *Server) getRandomPassword(_ *region, _ string, in *getRandomPasswordInput, _ time.Time) (any, *apiError) {
	length := defaultPwdLength
	if in.PasswordLength != nil {
		length = int(*in.PasswordLength)
	}
	excluded := aws.ToString(in.ExcludeCharacters)
	keep := func(chars string, exclude bool) string {
		if exclude {
			return ""
		}
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(excluded, r) {
				return -1
			}
			return r
		}, chars)
	}
	var required []string
	for _, class := range []string{
		keep(lowercaseChars, aws.ToBool(in.ExcludeLowercase)),
		keep(uppercaseChars, aws.ToBool(in.ExcludeUppercase)),
		keep(digitChars, aws.ToBool(in.ExcludeNumbers)),
		keep(punctuationChars, aws.ToBool(in.ExcludePunctuation)),
	} {
		if class != "" {
			required = append(required, class)
		}
	}
	all := strings.Join(required, "") + keep(" ", !aws.ToBool(in.IncludeSpace))
	if all == "" {
		return nil, newError(codeInvalidParameter, "The password can't be generated: every character type is excluded.")
	}
	if in.RequireEachIncludedType != nil && !*in.RequireEachIncludedType {
		required = nil
	}
	if length < len(required) {
		return nil, newError(codeInvalidParameter, "Password length is too short based on the required types.")
	}
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand panics instead)
	rng := mrand.New(mrand.NewChaCha8(seed))
	b := make([]byte, 0, length)
	for _, class := range required {
		b = append(b, class[rng.IntN(len(class))])
	}
	for len(b) < length {
		b = append(b, all[rng.IntN(len(all))])
	}
	rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	return getRandomPasswordOutput{RandomPassword: string(b)}, nil
}
