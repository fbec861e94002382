package tdstest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
)

// Packet types (MS-TDS 2.2.3.1.1).
const (
	packSQLBatch    = 1
	packRPCRequest  = 3
	packReply       = 4
	packAttention   = 6
	packTransMgrReq = 14
	packLogin7      = 16
	packPrelogin    = 18
)

// Packet status bits (MS-TDS 2.2.3.1.2).
const (
	statusEOM             = 0x01
	statusResetConnection = 0x08
)

// Token types (MS-TDS 2.2.7).
const (
	tokenColMetadata = 0x81
	tokenError       = 0xAA
	tokenInfo        = 0xAB
	tokenLoginAck    = 0xAD
	tokenRow         = 0xD1
	tokenEnvChange   = 0xE3
	tokenDone        = 0xFD
)

// DONE status bits and the CurCmd value of a SELECT.
const (
	doneFinal = 0x00
	doneError = 0x02
	doneCount = 0x10
	doneAttn  = 0x20
	cmdSelect = 0xC1
)

// ENVCHANGE types.
const (
	envDatabase     = 1
	envPacketSize   = 4
	envResetConnAck = 18
)

// PRELOGIN option tokens and encryption values (MS-TDS 2.2.6.5).
const (
	preloginVersion    = 0
	preloginEncryption = 1
	preloginInstOpt    = 2
	preloginThreadID   = 3
	preloginMARS       = 4
	preloginTerminator = 0xFF

	encryptNotSup = 2
)

// Data types used in result sets.
const (
	typeInt4     = 0x38
	typeNVarChar = 0xE7
)

const (
	headerSize        = 8
	defaultPacketSize = 4096
	minPacketSize     = 512
	maxPacketSize     = 32767
	maxMessageSize    = 1 << 20
	login7FixedSize   = 94
	tdsVersion74      = 0x74000004
)

// errProtocol marks a client message this server cannot make sense of.
var errProtocol = errors.New("tdstest: protocol error")

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errProtocol}, args...)...)
}

// message is one client message: the packets up to the one with EOM,
// reassembled.
type message struct {
	typ     byte
	status  byte // status of the first packet
	payload []byte
}

// readMessage reads packets until the end of a message.
func readMessage(r *bufio.Reader) (message, error) {
	var m message
	var hdr [headerSize]byte
	for first := true; ; first = false {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if !first && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return m, err
		}
		size := int(binary.BigEndian.Uint16(hdr[2:4]))
		if size < headerSize {
			return m, protocolErrorf("packet length %d", size)
		}
		if first {
			m.typ, m.status = hdr[0], hdr[1]
		} else if hdr[0] != m.typ {
			return m, protocolErrorf("packet type %d inside a message of type %d", hdr[0], m.typ)
		}
		if len(m.payload)+size-headerSize > maxMessageSize {
			return m, protocolErrorf("message longer than %d bytes", maxMessageSize)
		}
		start := len(m.payload)
		m.payload = append(m.payload, make([]byte, size-headerSize)...)
		if _, err := io.ReadFull(r, m.payload[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return m, err
		}
		if hdr[1]&statusEOM != 0 {
			return m, nil
		}
	}
}

// packetize splits a reply into packets of at most packetSize bytes.
func packetize(payload []byte, packetSize int, spid uint16) []byte {
	chunk := packetSize - headerSize
	out := make([]byte, 0, len(payload)+headerSize*(len(payload)/chunk+1))
	id := byte(1)
	for {
		n := min(chunk, len(payload))
		status := byte(0)
		if n == len(payload) {
			status = statusEOM
		}
		out = append(out, packReply, status)
		out = binary.BigEndian.AppendUint16(out, uint16(headerSize+n))
		out = binary.BigEndian.AppendUint16(out, spid)
		out = append(out, id, 0)
		out = append(out, payload[:n]...)
		payload = payload[n:]
		id++
		if status == statusEOM {
			return out
		}
	}
}

// preloginOptions parses a PRELOGIN payload into its options.
func preloginOptions(p []byte) (map[byte][]byte, error) {
	opts := map[byte][]byte{}
	for i := 0; ; i += 5 {
		if i >= len(p) {
			return nil, protocolErrorf("PRELOGIN without terminator")
		}
		if p[i] == preloginTerminator {
			return opts, nil
		}
		if i+5 > len(p) {
			return nil, protocolErrorf("truncated PRELOGIN option")
		}
		off := int(binary.BigEndian.Uint16(p[i+1:]))
		n := int(binary.BigEndian.Uint16(p[i+3:]))
		if off+n > len(p) {
			return nil, protocolErrorf("PRELOGIN option %d out of bounds", p[i])
		}
		opts[p[i]] = p[off : off+n]
	}
}

// preloginReply is the server's PRELOGIN answer: version 16.0.4000,
// encryption not supported, no instance, no MARS.
func preloginReply() []byte {
	type opt struct {
		token byte
		data  []byte
	}
	opts := []opt{
		{preloginVersion, []byte{16, 0, 0x0F, 0xA0, 0, 0}},
		{preloginEncryption, []byte{encryptNotSup}},
		{preloginInstOpt, []byte{0}},
		{preloginThreadID, []byte{}},
		{preloginMARS, []byte{0}},
	}
	off := len(opts)*5 + 1
	var head, data []byte
	for _, o := range opts {
		head = append(head, o.token)
		head = binary.BigEndian.AppendUint16(head, uint16(off+len(data)))
		head = binary.BigEndian.AppendUint16(head, uint16(len(o.data)))
		data = append(data, o.data...)
	}
	head = append(head, preloginTerminator)
	return append(head, data...)
}

// login7 holds the LOGIN7 fields the server uses.
type login7 struct {
	tdsVersion     uint32
	packetSize     uint32
	integrated     bool
	user           string
	password       string
	appName        string
	serverName     string
	database       string
	changePassword string
}

// Offsets of the LOGIN7 variable fields' (offset, length) pairs.
const (
	ibHostName       = 36
	ibUserName       = 40
	ibPassword       = 44
	ibAppName        = 48
	ibServerName     = 52
	ibDatabase       = 68
	ibChangePassword = 86
	optionFlags2     = 25
	optionFlags3     = 27
	fIntSecurity     = 0x80
	fChangePassword  = 0x01
)

// parseLogin7 decodes a LOGIN7 payload (MS-TDS 2.2.6.4).
func parseLogin7(p []byte) (login7, error) {
	var l login7
	if len(p) < login7FixedSize {
		return l, protocolErrorf("LOGIN7 of %d bytes", len(p))
	}
	if n := binary.LittleEndian.Uint32(p); int(n) != len(p) {
		return l, protocolErrorf("LOGIN7 length %d, message of %d bytes", n, len(p))
	}
	l.tdsVersion = binary.LittleEndian.Uint32(p[4:])
	l.packetSize = binary.LittleEndian.Uint32(p[8:])
	l.integrated = p[optionFlags2]&fIntSecurity != 0
	field := func(ib int, mangled bool) (string, error) {
		off := int(binary.LittleEndian.Uint16(p[ib:]))
		cch := int(binary.LittleEndian.Uint16(p[ib+2:]))
		if off+2*cch > len(p) {
			return "", protocolErrorf("LOGIN7 field at %d out of bounds", ib)
		}
		b := p[off : off+2*cch]
		if mangled {
			b = unmangle(b)
		}
		return decodeUCS2(b), nil
	}
	var err error
	for _, f := range []struct {
		ib      int
		mangled bool
		dst     *string
	}{
		{ibUserName, false, &l.user},
		{ibPassword, true, &l.password},
		{ibAppName, false, &l.appName},
		{ibServerName, false, &l.serverName},
		{ibDatabase, false, &l.database},
	} {
		if *f.dst, err = field(f.ib, f.mangled); err != nil {
			return l, err
		}
	}
	if p[optionFlags3]&fChangePassword != 0 {
		if l.changePassword, err = field(ibChangePassword, true); err != nil {
			return l, err
		}
	}
	return l, nil
}

// unmangle reverses the LOGIN7 password obfuscation: the client swaps the
// nibbles of every byte and XORs it with 0xA5.
func unmangle(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		c ^= 0xA5
		out[i] = c<<4 | c>>4
	}
	return out
}

func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func appendUCS2(b []byte, s string) []byte {
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// appendBVarChar appends a B_VARCHAR: a length in UTF-16 code units in one
// byte, then the characters. s is truncated to 255 code units.
func appendBVarChar(b []byte, s string) []byte {
	u := utf16.Encode([]rune(s))
	if len(u) > 255 {
		u = u[:255]
	}
	b = append(b, byte(len(u)))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

// appendUSVarChar appends a US_VARCHAR: like B_VARCHAR with a 2-byte length.
func appendUSVarChar(b []byte, s string) []byte {
	u := utf16.Encode([]rune(s))
	if len(u) > 0xFFFF {
		u = u[:0xFFFF]
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(u)))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

// appendToken appends a token whose body starts with its 2-byte length.
func appendToken(b []byte, token byte, body []byte) []byte {
	b = append(b, token)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func appendEnvChange(b []byte, typ byte, newValue, oldValue string) []byte {
	body := appendBVarChar([]byte{typ}, newValue)
	return appendToken(b, tokenEnvChange, appendBVarChar(body, oldValue))
}

// appendResetConnAck appends the ENVCHANGE that acknowledges a
// RESETCONNECTION request: two empty B_VARBYTE values.
func appendResetConnAck(b []byte) []byte {
	return appendToken(b, tokenEnvChange, []byte{envResetConnAck, 0, 0})
}

// serverName is what the server reports in LOGINACK and in messages.
const serverName = "tdstest"

// appendMessage appends an ERROR or INFO token.
func appendMessage(b []byte, token byte, number int32, state, class byte, text string) []byte {
	body := binary.LittleEndian.AppendUint32(nil, uint32(number))
	body = append(body, state, class)
	body = appendUSVarChar(body, text)
	body = appendBVarChar(body, serverName)
	body = appendBVarChar(body, "") // procedure name
	body = binary.LittleEndian.AppendUint32(body, 1)
	return appendToken(b, token, body)
}

func appendLoginAck(b []byte) []byte {
	body := []byte{1} // interface: SQL_TSQL
	body = binary.BigEndian.AppendUint32(body, tdsVersion74)
	body = appendBVarChar(body, "Microsoft SQL Server")
	body = append(body, 16, 0, 0x0F, 0xA0) // program version 16.0.4000
	return appendToken(b, tokenLoginAck, body)
}

func appendDone(b []byte, status, curCmd uint16, rowCount uint64) []byte {
	b = append(b, tokenDone)
	b = binary.LittleEndian.AppendUint16(b, status)
	b = binary.LittleEndian.AppendUint16(b, curCmd)
	return binary.LittleEndian.AppendUint64(b, rowCount)
}

// column is a result-set column: an INT or an NVARCHAR(128), unnamed.
type column struct {
	nvarchar bool
}

// collation is Latin1_General_CI_AS, as SQL Server sends it.
var collation = []byte{0x09, 0x04, 0xD0, 0x00, 0x34}

func appendColMetadata(b []byte, cols []column) []byte {
	b = append(b, tokenColMetadata)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(cols)))
	for _, c := range cols {
		b = binary.LittleEndian.AppendUint32(b, 0) // user type
		if c.nvarchar {
			b = binary.LittleEndian.AppendUint16(b, 0x0001) // nullable
			b = append(b, typeNVarChar)
			b = binary.LittleEndian.AppendUint16(b, 256) // max length in bytes
			b = append(b, collation...)
		} else {
			b = binary.LittleEndian.AppendUint16(b, 0x0000)
			b = append(b, typeInt4)
		}
		b = appendBVarChar(b, "") // no column name
	}
	return b
}

// appendRow appends a ROW token; values are int32 or string, matching cols.
func appendRow(b []byte, values ...any) []byte {
	b = append(b, tokenRow)
	for _, v := range values {
		switch v := v.(type) {
		case int32:
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		case string:
			s := appendUCS2(nil, v)
			b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
			b = append(b, s...)
		default:
			panic("tdstest: unsupported value type " + strconv.Quote(fmt.Sprintf("%T", v)))
		}
	}
	return b
}
