package tdstest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
	"unicode/utf16"
)

// mangle obfuscates a password as a TDS client does (MS-TDS 2.2.6.4).
func mangle(s string) []byte {
	b := appendUCS2(nil, s)
	for i, c := range b {
		b[i] = (c<<4 | c>>4) ^ 0xA5
	}
	return b
}

func TestUnmangle(t *testing.T) {
	for _, pw := range []string{"", "a", "p@ss/word", "pässwörd€ß漢字", "😀"} {
		if got := decodeUCS2(unmangle(mangle(pw))); got != pw {
			t.Errorf("unmangle(mangle(%q)) = %q", pw, got)
		}
	}
	// MS-TDS example: the byte 0x61 ('a') is sent as 0xB3.
	if got := mangle("a"); !bytes.Equal(got, []byte{0xB3, 0xA5}) {
		t.Errorf("mangle(a) = % x", got)
	}
}

// buildLogin7 encodes a LOGIN7 payload the way go-mssqldb does, but with
// lengths in UTF-16 code units as the specification requires.
func buildLogin7(user, password, database string, packetSize uint32, flags2 byte) []byte {
	fields := []struct {
		ib   int
		data []byte
	}{
		{ibHostName, appendUCS2(nil, "host")},
		{ibUserName, appendUCS2(nil, user)},
		{ibPassword, mangle(password)},
		{ibAppName, appendUCS2(nil, "app")},
		{ibServerName, appendUCS2(nil, "srv")},
		{ibDatabase, appendUCS2(nil, database)},
	}
	p := make([]byte, login7FixedSize)
	binary.LittleEndian.PutUint32(p[4:], tdsVersion74)
	binary.LittleEndian.PutUint32(p[8:], packetSize)
	p[optionFlags2] = flags2
	for _, f := range fields {
		binary.LittleEndian.PutUint16(p[f.ib:], uint16(len(p)))
		binary.LittleEndian.PutUint16(p[f.ib+2:], uint16(len(f.data)/2))
		p = append(p, f.data...)
	}
	binary.LittleEndian.PutUint32(p, uint32(len(p)))
	return p
}

func TestParseLogin7(t *testing.T) {
	p := buildLogin7("us:er", "pä😀ss", "db name", 8192, 0)
	l, err := parseLogin7(p)
	if err != nil {
		t.Fatal(err)
	}
	if l.user != "us:er" || l.password != "pä😀ss" || l.database != "db name" || l.appName != "app" ||
		l.serverName != "srv" || l.packetSize != 8192 || l.tdsVersion != tdsVersion74 || l.integrated {
		t.Errorf("parsed %+v", l)
	}
	if l, _ := parseLogin7(buildLogin7("u", "p", "", 0, fIntSecurity)); !l.integrated {
		t.Error("integrated security flag not seen")
	}

	for name, bad := range map[string][]byte{
		"short":  p[:login7FixedSize-1],
		"length": append(append([]byte{}, p...), 0),
		"out of bounds": func() []byte {
			q := append([]byte{}, p...)
			binary.LittleEndian.PutUint16(q[ibPassword+2:], 500)
			return q
		}(),
	} {
		if _, err := parseLogin7(bad); !errors.Is(err, errProtocol) {
			t.Errorf("%s: error %v, want a protocol error", name, err)
		}
	}
}

func TestPreloginOptions(t *testing.T) {
	opts, err := preloginOptions(preloginReply())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(opts[preloginEncryption], []byte{encryptNotSup}) || len(opts[preloginVersion]) != 6 {
		t.Errorf("options %v", opts)
	}
	for name, bad := range map[string][]byte{
		"empty":           {},
		"no terminator":   {preloginEncryption, 0, 6, 0, 1, 2},
		"truncated":       {preloginEncryption, 0},
		"out of bounds":   {preloginEncryption, 0, 6, 0, 9, preloginTerminator, 0},
		"missing payload": {preloginEncryption, 0, 20, 0, 1, preloginTerminator},
	} {
		if _, err := preloginOptions(bad); !errors.Is(err, errProtocol) {
			t.Errorf("%s: error %v, want a protocol error", name, err)
		}
	}
}

func TestPacketizeAndReadMessage(t *testing.T) {
	payload := make([]byte, 3000)
	for i := range payload {
		payload[i] = byte(i)
	}
	wire := packetize(payload, 512, 77)
	// 3000 bytes in packets of 504 bytes of data: 6 packets.
	if want := 3000 + 6*headerSize; len(wire) != want {
		t.Fatalf("wire length %d, want %d", len(wire), want)
	}
	for i, off := 0, 0; off < len(wire); i++ {
		size := int(binary.BigEndian.Uint16(wire[off+2:]))
		if size > 512 || wire[off+6] != byte(i+1) || binary.BigEndian.Uint16(wire[off+4:]) != 77 {
			t.Fatalf("packet %d: size %d id %d", i, size, wire[off+6])
		}
		if last := off+size == len(wire); (wire[off+1]&statusEOM != 0) != last {
			t.Fatalf("packet %d: status %#x, last %v", i, wire[off+1], last)
		}
		off += size
	}
	// readMessage reassembles it (the reply type stands in for any type).
	m, err := readMessage(bufio.NewReader(bytes.NewReader(wire)))
	if err != nil || m.typ != packReply || !bytes.Equal(m.payload, payload) {
		t.Fatalf("readMessage: %v, type %d, %d bytes", err, m.typ, len(m.payload))
	}
	if _, err := readMessage(bufio.NewReader(bytes.NewReader(wire[:1000]))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated message: %v", err)
	}
	if _, err := readMessage(bufio.NewReader(bytes.NewReader([]byte{1, 1, 0, 4, 0, 0, 0, 0}))); !errors.Is(err, errProtocol) {
		t.Errorf("packet shorter than its header: %v", err)
	}
	mixed := append(packetize(payload, 512, 1)[:512:512], packetize(payload, 512, 1)[512:]...)
	mixed[512] = packSQLBatch
	if _, err := readMessage(bufio.NewReader(bytes.NewReader(mixed))); !errors.Is(err, errProtocol) {
		t.Errorf("mixed packet types: %v", err)
	}
	if empty := packetize(nil, 512, 1); len(empty) != headerSize || empty[1] != statusEOM {
		t.Errorf("empty reply: % x", empty)
	}
}

func TestBatchText(t *testing.T) {
	headers := []byte{22, 0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	text, err := batchText(appendUCS2(append([]byte{}, headers...), "select 1"))
	if err != nil || text != "select 1" {
		t.Errorf("batchText = %q, %v", text, err)
	}
	for name, bad := range map[string][]byte{
		"short":      {1, 0},
		"too long":   {99, 0, 0, 0, 0, 0},
		"too small":  {2, 0, 0, 0},
		"odd length": {4, 0, 0, 0, 's'},
	} {
		if _, err := batchText(bad); !errors.Is(err, errProtocol) {
			t.Errorf("%s: error %v, want a protocol error", name, err)
		}
	}
}

// rawClient speaks TDS directly, for what go-mssqldb cannot be made to send.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, srv *Server) *rawClient {
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t, nc, bufio.NewReader(nc)}
}

func (c *rawClient) send(typ, status byte, payload []byte) {
	c.t.Helper()
	wire := packetize(payload, defaultPacketSize, 0)
	wire[0], wire[1] = typ, status|statusEOM
	if _, err := c.nc.Write(wire); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) recv() []byte {
	c.t.Helper()
	m, err := readMessage(c.r)
	if err != nil {
		c.t.Fatal(err)
	}
	if m.typ != packReply {
		c.t.Fatalf("reply of type %d", m.typ)
	}
	return m.payload
}

func (c *rawClient) login(user, password string) []byte {
	c.t.Helper()
	c.send(packPrelogin, 0, []byte{preloginEncryption, 0, 6, 0, 1, preloginTerminator, encryptNotSup})
	if opts, err := preloginOptions(c.recv()); err != nil || opts[preloginEncryption][0] != encryptNotSup {
		c.t.Fatalf("PRELOGIN reply: %v %v", opts, err)
	}
	c.send(packLogin7, 0, buildLogin7(user, password, "", 4096, 0))
	return c.recv()
}

// lastDone returns the status of the DONE token that ends a reply.
func lastDone(t *testing.T, reply []byte) uint16 {
	t.Helper()
	if len(reply) < 13 || reply[len(reply)-13] != tokenDone {
		t.Fatalf("reply does not end with DONE: % x", reply)
	}
	return binary.LittleEndian.Uint16(reply[len(reply)-12:])
}

func TestRawAttentionAndReset(t *testing.T) {
	srv := NewServer(t, "u", "p😀")
	c := dialRaw(t, srv)
	reply := c.login("u", "p😀") // spec-conformant lengths: the astral character is sent whole
	if !bytes.Contains(reply, []byte{tokenLoginAck}) || lastDone(t, reply) != doneFinal {
		t.Fatalf("login reply: % x", reply)
	}
	c.send(packAttention, 0, nil)
	if st := lastDone(t, c.recv()); st != doneAttn {
		t.Errorf("attention: DONE status %#x", st)
	}
	headers := []byte{4, 0, 0, 0}
	c.send(packSQLBatch, statusResetConnection, appendUCS2(append([]byte{}, headers...), "SELECT 9"))
	reply = c.recv()
	if !bytes.HasPrefix(reply, []byte{tokenEnvChange, 3, 0, envResetConnAck, 0, 0}) {
		t.Errorf("reset not acknowledged first: % x", reply)
	}
	if st := lastDone(t, reply); st != doneCount {
		t.Errorf("SELECT 9: DONE status %#x", st)
	}
	// An unknown message type ends the connection.
	c.send(0x42, 0, []byte{1})
	if _, err := readMessage(c.r); !errors.Is(err, io.EOF) {
		t.Errorf("after an unknown message: %v, want EOF", err)
	}
}

func TestRawFailedAndIntegratedLogin(t *testing.T) {
	srv := NewServer(t, "u", "p")
	c := dialRaw(t, srv)
	reply := c.login("u", "nope")
	if reply[0] != tokenError || binary.LittleEndian.Uint32(reply[3:]) != 18456 || lastDone(t, reply) != doneError {
		t.Errorf("failed login reply: % x", reply)
	}
	if _, err := readMessage(c.r); !errors.Is(err, io.EOF) {
		t.Errorf("connection not closed after a failed login: %v", err)
	}

	c = dialRaw(t, srv)
	c.send(packPrelogin, 0, []byte{preloginTerminator})
	c.recv()
	c.send(packLogin7, 0, buildLogin7("", "", "", 4096, fIntSecurity))
	if reply := c.recv(); binary.LittleEndian.Uint32(reply[3:]) != 18452 {
		t.Errorf("integrated login reply: % x", reply)
	}
	if srv.FailedLogins() != 2 || srv.Logins() != 0 {
		t.Errorf("failed %d, logins %d", srv.FailedLogins(), srv.Logins())
	}
}

func TestRawProtocolErrors(t *testing.T) {
	srv := NewServer(nil, "u", "p")
	defer srv.Close()
	login := packetize(buildLogin7("u", "p", "", 4096, 0), 4096, 0)
	login[0] = packLogin7
	// A TLS ClientHello, as go-mssqldb sends first with encrypt=strict: read
	// as a TDS header it announces a 256-byte packet of type 0x16.
	hello := make([]byte, 256)
	copy(hello, []byte{0x16, 0x03, 0x01, 0x00, 0xFB, 0x01})
	for name, first := range map[string][]byte{
		"login before prelogin": login,
		"tls client hello":      hello,
	} {
		c := dialRaw(t, srv)
		if _, err := c.nc.Write(first); err != nil {
			t.Fatal(err)
		}
		if _, err := readMessage(c.r); !errors.Is(err, io.EOF) {
			t.Errorf("%s: %v, want the server to hang up", name, err)
		}
	}
	if srv.Logins() != 0 {
		t.Errorf("Logins() = %d", srv.Logins())
	}
}

func TestUCS2Helpers(t *testing.T) {
	s := "a€😀"
	if got := decodeUCS2(appendUCS2(nil, s)); got != s {
		t.Errorf("UCS-2 round trip: %q", got)
	}
	b := appendBVarChar(nil, s)
	if b[0] != byte(len(utf16.Encode([]rune(s)))) {
		t.Errorf("B_VARCHAR length %d", b[0])
	}
	long := string(bytes.Repeat([]byte{'x'}, 300))
	if b := appendBVarChar(nil, long); b[0] != 255 || len(b) != 1+510 {
		t.Errorf("B_VARCHAR of 300 characters: length byte %d, %d bytes", b[0], len(b))
	}
}
