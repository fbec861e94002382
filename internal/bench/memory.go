package bench

import (
	"context"
	"database/sql/driver"
	"fmt"
	"runtime"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql"
)

// MemoryResult is part 5: memory per cached secret and per connect.
type MemoryResult struct {
	// Secrets is the number of Connectors (distinct secrets) measured.
	Secrets int `json:"secrets"`
	// HeapPerSecretBytes is the live heap per Connector whose secret is
	// cached and resolved (Connector, shared cache entry, parsed version),
	// before its first connect.
	HeapPerSecretBytes float64 `json:"heap_per_cached_secret_bytes"`
	// HeapPerNativeBytes is the live heap of one native connector, which a
	// Connector adds per secret version it connects with.
	HeapPerNativeBytes float64 `json:"heap_per_native_connector_bytes"`
	// Connect is the median number of allocations and bytes allocated per
	// connect, raw driver against secretsql (warm cache).
	Connect []AllocRow `json:"allocs_per_connect"`
}

// AllocRow is one approach's allocations per connect.
type AllocRow struct {
	Approach string  `json:"approach"`
	Allocs   float64 `json:"allocs"`
	Bytes    float64 `json:"bytes"`
	Rounds   int     `json:"rounds"`
}

// memClient answers GetSecretValue from memory: the heap measurement must
// not count the emulator's call log.
type memClient map[string]*secretsmanager.GetSecretValueOutput

func (m memClient) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput,
	_ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	out, ok := m[aws.ToString(in.SecretId)]
	if !ok {
		return nil, fmt.Errorf("memClient: no secret %q", aws.ToString(in.SecretId))
	}
	return out, nil
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchMemory measures the heap of n cached secrets and of n native
// connectors, and the allocations of rounds connects per approach.
func (t *Target) BenchMemory(ctx context.Context, n, rounds int) (MemoryResult, error) {
	res := MemoryResult{Secrets: n}
	client := memClient{}
	arns := make([]string, n)
	for i := range n {
		arns[i] = fmt.Sprintf("arn:aws:secretsmanager:us-east-1:123456789012:secret:bench/mem-%d-AbCdEf", i)
		client[arns[i]] = &secretsmanager.GetSecretValueOutput{
			ARN: aws.String(arns[i]), VersionId: aws.String(fmt.Sprintf("00000000-0000-4000-8000-%012d", i)),
			SecretString: aws.String(t.DB.SecretJSON()),
		}
	}
	conns := make([]*secretsql.Connector, n)
	before := liveHeap()
	for i := range n {
		c, err := t.SecretSQL(arns[i], client)
		if err != nil {
			return res, err
		}
		conns[i] = c
		if _, err := c.Resolve(ctx); err != nil {
			return res, err
		}
	}
	after := liveHeap()
	res.HeapPerSecretBytes = (float64(after) - float64(before)) / float64(n)
	for _, c := range conns {
		c.Close()
	}
	clear(conns)

	natives := make([]driver.Connector, n)
	before = liveHeap()
	for i := range n {
		c, err := t.Raw(t.DB.User, t.DB.Password)
		if err != nil {
			return res, err
		}
		natives[i] = c
	}
	after = liveHeap()
	res.HeapPerNativeBytes = (float64(after) - float64(before)) / float64(n)
	runtime.KeepAlive(natives)

	alts, closeAll, err := t.connectAlternatives()
	if err != nil {
		return res, err
	}
	defer closeAll()
	alts = alts[:2]          // raw and secretsql
	for _, a := range alts { // warm up, fill the cache
		conn, err := a.conn.Connect(ctx)
		if err != nil {
			return res, err
		}
		conn.Close()
	}
	allocs := make([][]float64, len(alts))
	bytes := make([][]float64, len(alts))
	var m0, m1 runtime.MemStats
	for r := range rounds {
		for i := range alts {
			k := (i + r) % len(alts)
			runtime.ReadMemStats(&m0)
			conn, err := alts[k].conn.Connect(ctx)
			runtime.ReadMemStats(&m1)
			if err != nil {
				return res, err
			}
			conn.Close()
			allocs[k] = append(allocs[k], float64(m1.Mallocs-m0.Mallocs))
			bytes[k] = append(bytes[k], float64(m1.TotalAlloc-m0.TotalAlloc))
		}
	}
	for i, a := range alts {
		res.Connect = append(res.Connect, AllocRow{Approach: a.name, Allocs: median(allocs[i]), Bytes: median(bytes[i]), Rounds: rounds})
	}
	return res, nil
}
