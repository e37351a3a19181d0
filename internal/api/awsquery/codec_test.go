package awsquery

import (
	"bytes"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/query"

	"github.com/berth-dev/berth/internal/api/gen/wire"
)

// thing has the tags apigen emits for a model with every awsQuery trait:
// named list members, flattened lists (plain and renamed), a flattened map
// with named entries, a map of structures, nested structures, a list of
// lists, a renamed member, and each scalar type.
type thing struct {
	Name      *string           `query:"Name"`
	Count     *int32            `query:"Count"`
	Big       *int64            `query:"Big"`
	Ratio     *float64          `query:"Ratio"`
	Enabled   *bool             `query:"Enabled"`
	When      *wire.Timestamp   `query:"When"`
	Data      []byte            `query:"Data"`
	Names     []string          `query:"Names,member=Name"`
	Empty     []string          `query:"Empty,member=Name"`
	Flat      []string          `query:"Flat,flat"`
	FlatNamed []string          `query:"Item,flat,member=Entry"`
	Tags      []tag             `query:"Tags"`
	Attrs     map[string]string `query:"Attribute,flat,key=Name,value=Value"`
	Labels    map[string]inner2 `query:"Labels"`
	Nested    *inner            `query:"Nested"`
	Matrix    [][]string        `query:"Matrix"`
	Renamed   *string           `query:"Other"`
	Unset     *inner            `query:"Unset"`
	Missing   []string          `query:"Missing"`
}

type tag struct {
	Key   *string `query:"Key"`
	Value *string `query:"Value"`
}

type inner struct {
	Deep *inner2 `query:"Deep"`
	Note *string `query:"Note"`
}

type inner2 struct {
	Value *string `query:"Value"`
	On    *bool   `query:"On"`
}

var when = time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC)

func want() *thing {
	return &thing{
		Name: aws.String("web & api"), Count: aws.Int32(3), Big: aws.Int64(9007199254740993), Ratio: aws.Float64(0.25),
		Enabled: aws.Bool(false), When: &wire.Timestamp{Time: when}, Data: []byte("\x00\x01berth"),
		Names: []string{"a", "b"}, Empty: []string{}, Flat: []string{"x", "y"}, FlatNamed: []string{"p"},
		Tags:   []tag{{aws.String("env"), aws.String("prod")}, {aws.String("team"), aws.String("a=b")}},
		Attrs:  map[string]string{"Color": "blue", "Size": "L"},
		Labels: map[string]inner2{"one": {Value: aws.String("v1"), On: aws.Bool(true)}},
		Nested: &inner{Deep: &inner2{Value: aws.String("deep"), On: aws.Bool(true)}, Note: aws.String("n")},
		Matrix: [][]string{{"1", "2"}, {"3"}}, Renamed: aws.String("r"),
	}
}

// botocoreForm is what botocore's QuerySerializer sends for want() against
// the model that thing's tags come from (captured with botocore 1.43).
const botocoreForm = "Action=Put&Attribute.1.Name=Color&Attribute.1.Value=blue&Attribute.2.Name=Size&Attribute.2.Value=L" +
	"&Big=9007199254740993&Count=3&Data=AAFiZXJ0aA%3D%3D&Empty=&Enabled=false&Flat.1=x&Flat.2=y" +
	"&Labels.entry.1.key=one&Labels.entry.1.value.On=true&Labels.entry.1.value.Value=v1" +
	"&Matrix.member.1.member.1=1&Matrix.member.1.member.2=2&Matrix.member.2.member.1=3" +
	"&Entry.1=p&Name=web+%26+api&Names.Name.1=a&Names.Name.2=b&Nested.Deep.On=true&Nested.Deep.Value=deep" +
	"&Nested.Note=n&Other=r&Ratio=0.25&Tags.member.1.Key=env&Tags.member.1.Value=prod&Tags.member.2.Key=team" +
	"&Tags.member.2.Value=a%3Db&Version=2020-01-01&When=2026-03-01T12%3A00%3A00.123000Z"

// sdkForm encodes want() with aws-sdk-go-v2's own awsQuery encoder, the way
// its generated serializers call it.
func sdkForm(t *testing.T) url.Values {
	t.Helper()
	var buf bytes.Buffer
	enc := query.NewEncoder(&buf)
	o := enc.Object()
	o.Key("Action").String("Put")
	o.Key("Version").String("2020-01-01")
	o.Key("Name").String("web & api")
	o.Key("Count").Integer(3)
	o.Key("Big").Long(9007199254740993)
	o.Key("Ratio").Double(0.25)
	o.Key("Enabled").Boolean(false)
	o.Key("When").String(when.Format("2006-01-02T15:04:05.999Z"))
	o.Key("Data").Base64EncodeBytes([]byte("\x00\x01berth"))
	names := o.Key("Names").Array("Name")
	names.Value().String("a")
	names.Value().String("b")
	o.Key("Empty").Array("Name")
	flat := o.FlatKey("Flat").Array("member")
	flat.Value().String("x")
	flat.Value().String("y")
	o.FlatKey("Item").Array("Entry").Value().String("p")
	tags := o.Key("Tags").Array("member")
	for _, kv := range [][2]string{{"env", "prod"}, {"team", "a=b"}} {
		to := tags.Value().Object()
		to.Key("Key").String(kv[0])
		to.Key("Value").String(kv[1])
	}
	attrs := o.FlatKey("Attribute").Map("Name", "Value")
	attrs.Key("Color").String("blue")
	attrs.Key("Size").String("L")
	lo := o.Key("Labels").Map("key", "value").Key("one").Object()
	lo.Key("Value").String("v1")
	lo.Key("On").Boolean(true)
	n := o.Key("Nested").Object()
	d := n.Key("Deep").Object()
	d.Key("Value").String("deep")
	d.Key("On").Boolean(true)
	n.Key("Note").String("n")
	m := o.Key("Matrix").Array("member")
	row := m.Value().Array("member")
	row.Value().String("1")
	row.Value().String("2")
	m.Value().Array("member").Value().String("3")
	o.Key("Other").String("r")
	if err := enc.Encode(); err != nil {
		t.Fatal(err)
	}
	form, err := url.ParseQuery(buf.String())
	if err != nil {
		t.Fatal(err)
	}
	return form
}

func TestUnmarshal(t *testing.T) {
	botocore, err := url.ParseQuery(botocoreForm)
	if err != nil {
		t.Fatal(err)
	}
	for name, form := range map[string]url.Values{"botocore": botocore, "aws-sdk-go-v2": sdkForm(t)} {
		t.Run(name, func(t *testing.T) {
			var got thing
			if err := Unmarshal(form, &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(&got, want()) {
				t.Fatalf("Unmarshal =\n%+v\nwant\n%+v", got, *want())
			}
		})
	}
}

func TestUnmarshalEdges(t *testing.T) {
	tests := []struct {
		name    string
		form    string
		check   func(*thing) bool
		wantErr string // FieldError text
	}{
		{name: "absent members stay nil", form: "Action=Put",
			check: func(v *thing) bool { return v.Names == nil && v.Nested == nil && v.Attrs == nil && v.Count == nil }},
		{name: "list stops at the first gap", form: "Names.Name.1=a&Names.Name.3=c",
			check: func(v *thing) bool { return reflect.DeepEqual(v.Names, []string{"a"}) }},
		{name: "flattened renamed list at its own name", form: "Item.1=q",
			check: func(v *thing) bool { return reflect.DeepEqual(v.FlatNamed, []string{"q"}) }},
		{name: "nested structure from one deep key", form: "Nested.Deep.On=true",
			check: func(v *thing) bool { return v.Nested != nil && v.Nested.Deep != nil && aws.ToBool(v.Nested.Deep.On) }},
		{name: "epoch seconds timestamp", form: "When=1772366400.123",
			check: func(v *thing) bool { return v.When != nil && v.When.Equal(when) }},
		{name: "bad integer", form: "Count=three", wantErr: "Value 'three' at 'Count' failed to satisfy constraint: Member must be an integer"},
		{name: "integer overflow", form: "Count=3000000000", wantErr: "at 'Count'"},
		{name: "bad boolean", form: "Nested.Deep.On=yes please", wantErr: "at 'Nested.Deep.On' failed to satisfy constraint: Member must be a boolean"},
		{name: "bad timestamp", form: "When=tomorrow", wantErr: "an ISO 8601 timestamp"},
		{name: "bad blob", form: "Data=***", wantErr: "base64-encoded"},
		{name: "bad list element", form: "Tags.member.1.Key=a&Matrix.member.1.member.1=1&Count=1.5", wantErr: "at 'Count'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := url.ParseQuery(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			var got thing
			err = Unmarshal(form, &got)
			if tt.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || !strings.Contains(fe.Error(), tt.wantErr) {
					t.Fatalf("Unmarshal error = %v, want a FieldError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(&got) {
				t.Fatalf("Unmarshal = %+v, %v", got, err)
			}
		})
	}
	if err := Unmarshal(url.Values{}, thing{}); err == nil {
		t.Error("Unmarshal into a non-pointer succeeded")
	}
}

// wantXML is AppendXML of want(). botocore's QueryParser reads it back,
// wrapped in <PutResponse><PutResult>, as exactly want() (checked with
// botocore 1.43 against the same model).
const wantXML = "<Name>web &amp; api</Name><Count>3</Count><Big>9007199254740993</Big><Ratio>0.25</Ratio>" +
	"<Enabled>false</Enabled><When>2026-03-01T12:00:00.123Z</When><Data>AAFiZXJ0aA==</Data>" +
	"<Names><Name>a</Name><Name>b</Name></Names><Empty></Empty><Flat>x</Flat><Flat>y</Flat><Entry>p</Entry>" +
	"<Tags><member><Key>env</Key><Value>prod</Value></member><member><Key>team</Key><Value>a=b</Value></member></Tags>" +
	"<Attribute><Name>Color</Name><Value>blue</Value></Attribute><Attribute><Name>Size</Name><Value>L</Value></Attribute>" +
	"<Labels><entry><key>one</key><value><Value>v1</Value><On>true</On></value></entry></Labels>" +
	"<Nested><Deep><Value>deep</Value><On>true</On></Deep><Note>n</Note></Nested>" +
	"<Matrix><member><member>1</member><member>2</member></member><member><member>3</member></member></Matrix>" +
	"<Other>r</Other>"

func TestAppendXML(t *testing.T) {
	var b strings.Builder
	if err := AppendXML(&b, want()); err != nil {
		t.Fatal(err)
	}
	if b.String() != wantXML {
		t.Fatalf("AppendXML =\n%s\nwant\n%s", b.String(), wantXML)
	}
	b.Reset()
	if err := AppendXML(&b, (*thing)(nil)); err != nil || b.Len() != 0 {
		t.Fatalf("AppendXML(nil) = %q, %v", b.String(), err)
	}
	if err := AppendXML(&b, 3); err == nil {
		t.Fatal("AppendXML of a non-struct succeeded")
	}
}
