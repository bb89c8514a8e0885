// Package lib is doccheck's test input: each identifier's name says whether
// it is documented.
package lib

// Documented has a doc comment.
func Documented() {}

func Undocumented() {}

func unexported() {}

// DocType is documented; its method Bare is not.
type DocType struct{}

func (DocType) Bare() {}

// Doc is documented.
func (*DocType) Doc() {}

type hidden struct{}

// Exported methods of an unexported type are not API.
func (hidden) Bare() {}

type BareType int

// DocIface is documented; of its methods, Bare is not.
type DocIface interface {
	// Doc is documented.
	Doc()
	Bare()
	Line() // a line comment counts
}

// The group's doc covers its specs.
const (
	GroupA = 1
	GroupB = 2
)

const BareConst = 3

var (
	BareVar = 4
	// DocVar is documented.
	DocVar  = 5
	LineVar = 6 // a line comment counts
)

// Fields is documented; of its fields, Bare and AfterBlank are not.
type Fields struct {
	Bare int
	// Doc is documented.
	Doc      int
	Block    int // covered by Doc's comment: no blank line between
	Line     int // a line comment counts
	internal int

	AfterBlank int
}
