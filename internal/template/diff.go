package template

import (
	"bytes"
	"encoding/json"
)

// Changes is what turns one deployed plan into another.
type Changes struct {
	// Create are new resources, in the new plan's order.
	Create []Change `json:"create,omitempty"`
	// Update are resources whose definition changed, in the new plan's
	// order. Those with Replace set changed identity (name, type): create
	// the new one, then delete Old.
	Update []Change `json:"update,omitempty"`
	// Delete are resources the new plan no longer has, in reverse order of
	// the old plan (dependents first). Apply them after creates and updates.
	Delete []Change `json:"delete,omitempty"`
	// Retain are resources the new plan no longer has whose DeletionPolicy
	// was Retain: forget them, do not delete them.
	Retain []Change `json:"retain,omitempty"`
	// Unchanged are the logical ids left alone.
	Unchanged []string `json:"unchanged,omitempty"`
}

// Change is one resource's change.
type Change struct {
	LogicalID string `json:"logicalId"`
	Type      string `json:"type"`
	Replace   bool   `json:"replace,omitempty"`
	// Old and New point into the plans given to Diff (Old is nil for a
	// create, New for a delete).
	Old *Resource `json:"-"`
	New *Resource `json:"-"`
}

// Empty reports whether nothing changes.
func (c *Changes) Empty() bool { return len(c.Create)+len(c.Update)+len(c.Delete)+len(c.Retain) == 0 }

// Diff compares a deployed plan (nil for a first deploy) with a new one,
// resource by logical id. A resource is unchanged when its definition (its
// JSON, without DependsOn and a function's Build) is equal, so a function's
// code counts only through CodeSHA256, which the deployer sets in the plans
// it diffs and stores.
func Diff(prev, next *Plan) Changes {
	var c Changes
	olds := map[string]*Resource{}
	if prev != nil {
		for i := range prev.Resources {
			olds[prev.Resources[i].LogicalID] = &prev.Resources[i]
		}
	}
	news := map[string]bool{}
	if next != nil {
		for i := range next.Resources {
			n := &next.Resources[i]
			news[n.LogicalID] = true
			o := olds[n.LogicalID]
			switch {
			case o == nil:
				c.Create = append(c.Create, Change{LogicalID: n.LogicalID, Type: n.Type, New: n})
			case equal(o, n):
				c.Unchanged = append(c.Unchanged, n.LogicalID)
			default:
				replace := o.Type != n.Type || o.PhysicalID() != n.PhysicalID()
				c.Update = append(c.Update, Change{LogicalID: n.LogicalID, Type: n.Type, Replace: replace, Old: o, New: n})
			}
		}
	}
	if prev != nil {
		for i := len(prev.Resources) - 1; i >= 0; i-- {
			o := &prev.Resources[i]
			switch {
			case news[o.LogicalID]:
			case o.Retain:
				c.Retain = append(c.Retain, Change{LogicalID: o.LogicalID, Type: o.Type, Old: o})
			default:
				c.Delete = append(c.Delete, Change{LogicalID: o.LogicalID, Type: o.Type, Old: o})
			}
		}
	}
	return c
}

// equal compares definitions. DependsOn is ordering, and a function's Build
// is how its code is made (its directory may move); neither is deployed.
func equal(a, b *Resource) bool {
	x, y := definition(a), definition(b)
	ja, errA := json.Marshal(x)
	jb, errB := json.Marshal(y)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

func definition(r *Resource) Resource {
	d := *r
	d.DependsOn = nil
	if d.Function != nil {
		f := *d.Function
		f.Build = Build{}
		d.Function = &f
	}
	return d
}
