package iamtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/secretsql/secretsql/iamtest"
)

func Example() {
	key := iamtest.NewKey(iamtest.AccessKey{Region: "eu-west-1"})
	// A token of aws-sdk-go-v2's feature/rds/auth for user app.
	token, err := auth.BuildAuthToken(context.Background(), "127.0.0.1:5432", "eu-west-1", "app",
		credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, ""))
	if err != nil {
		fmt.Println(err)
		return
	}

	lookup := func(id string) (iamtest.Key, bool) { return key.Key(), id == key.AccessKeyID }
	expect := iamtest.Expect{User: "app", Endpoints: []string{"127.0.0.1:5432"}, Region: "eu-west-1", Now: time.Now()}
	tok, err := iamtest.Verify(token, expect, lookup)
	fmt.Println(tok.Action, tok.User, tok.Endpoint, err)

	expect.User = "admin" // another user's token
	_, err = iamtest.Verify(token, expect, lookup)
	fmt.Println(errors.Is(err, iamtest.ErrWrongUser))

	expect.User, expect.Now = "app", time.Now().Add(16*time.Minute)
	_, err = iamtest.Verify(token, expect, lookup)
	fmt.Println(errors.Is(err, iamtest.ErrExpired))
	// Output:
	// connect app 127.0.0.1:5432 <nil>
	// true
	// true
}
