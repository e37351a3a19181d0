package ecstypes

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name string
		v    interface{ Validate() error }
		want []string // substrings of the error; nil means valid
	}{
		{name: "valid run task", v: &RunTaskRequest{TaskDefinition: str("web")}},
		{
			name: "missing required member",
			v:    &RunTaskRequest{},
			want: []string{"1 validation error detected", "Value null at 'taskDefinition' failed to satisfy constraint: Member must not be null"},
		},
		{
			name: "enum outside the set",
			v:    &RunTaskRequest{TaskDefinition: str("web"), LaunchType: str("MOON")},
			want: []string{"Value 'MOON' at 'launchType' failed to satisfy constraint: Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES]"},
		},
		{
			name: "nested list element path and tag key length",
			v:    &RunTaskRequest{TaskDefinition: str("web"), Tags: []Tag{{Key: str(strings.Repeat("k", 129))}}},
			want: []string{"at 'tags.1.member.key'", "Member must have length less than or equal to 128"},
		},
		{
			name: "two errors are counted",
			v:    &RegisterTaskDefinitionRequest{},
			want: []string{"2 validation errors detected", "'containerDefinitions'", "'family'"},
		},
		{
			name: "list longer than its maximum",
			v:    &TagResourceRequest{ResourceArn: str("arn"), Tags: make([]Tag, 51)},
			want: []string{"Member must have length less than or equal to 50"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestTimestampJSON(t *testing.T) {
	ts := Timestamp{Time: time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)}
	b, err := json.Marshal(ts)
	if err != nil || string(b) != "1714979289.123" {
		t.Fatalf("Marshal = %s, %v; want 1714979289.123", b, err)
	}
	for _, in := range []string{`1714979289.123`, `"2024-05-06T07:08:09.123Z"`} {
		var got Timestamp
		if err := json.Unmarshal([]byte(in), &got); err != nil || !got.Equal(ts.Time) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", in, got, err, ts)
		}
	}
	var bad Timestamp
	if err := json.Unmarshal([]byte(`true`), &bad); err == nil {
		t.Error("Unmarshal(true) succeeded, want an error")
	}
}

func TestEmptyListsSurviveRoundTrip(t *testing.T) {
	// AWS returns empty lists as []; omitzero keeps them while dropping nil ones.
	b, err := json.Marshal(ContainerDefinition{Environment: []KeyValuePair{}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"environment":[]}` {
		t.Fatalf("Marshal = %s, want {\"environment\":[]}", b)
	}
}
