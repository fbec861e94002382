package smtest_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql/smtest"
)

func Example() {
	srv := smtest.NewServer()
	defer srv.Close()

	srv.CreateSecret("prod/db", `{"username":"app","password":"s3cret"}`)

	client := srv.Client()
	out, err := client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String("prod/db"),
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(*out.Name)
	fmt.Println(*out.SecretString)
	fmt.Println(out.VersionStages)
	fmt.Println("GetSecretValue calls:", srv.Calls("GetSecretValue"))
	// Output:
	// prod/db
	// {"username":"app","password":"s3cret"}
	// [AWSCURRENT]
	// GetSecretValue calls: 1
}
