package cql_test

import (
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/cql"
)

// host is a caller's view of a container instance.
type host struct {
	attrs  map[string]string
	groups []string
}

func (h host) Attribute(name string) (string, bool) { v, ok := h.attrs[name]; return v, ok }
func (h host) EC2InstanceID() string                { return "i-0abc" }
func (h host) AgentConnected() bool                 { return true }
func (h host) AgentVersion() string                 { return "1.82.0" }
func (h host) RegisteredAt() time.Time              { return time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC) }
func (h host) RunningTasksCount() int               { return len(h.groups) }
func (h host) TaskGroups() []string                 { return h.groups }

func Example() {
	e, err := cql.Parse("attribute:ecs.instance-type =~ g4dn.* && !(task:group == service:db)")
	if err != nil {
		panic(err)
	}
	gpu := host{attrs: map[string]string{"ecs.instance-type": "g4dn.xlarge"}, groups: []string{"service:web"}}
	small := host{attrs: map[string]string{"ecs.instance-type": "t3.micro"}}
	fmt.Println(e)
	fmt.Println(e.Eval(gpu), e.Eval(small))
	fmt.Println("failed memberOf(" + e.Explain(small) + ")")

	_, err = cql.Parse("attribute:ecs.instance-type g4dn.*")
	fmt.Println("memberOf " + err.Error())
	// Output:
	// attribute:ecs.instance-type =~ g4dn.* and not(task:group == service:db)
	// true false
	// failed memberOf(attribute:ecs.instance-type =~ g4dn.* (found "t3.micro"))
	// memberOf expression is not valid at position 29: expected an operator after "attribute:ecs.instance-type", found "g4dn.*"
}
