package snsapi

import (
	"net/url"
	"slices"
	"testing"
)

// FuzzParams feeds arbitrary query strings to the parameter decoders.
func FuzzParams(f *testing.F) {
	f.Add("Action=Publish&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=Binary&MessageAttributes.entry.1.Value.BinaryValue=AAE%3D")
	f.Add("Attributes.entry.2.key=k&Attributes.entry.2.value=v&Attributes.entry.1.key=x&Tags.member.1.Key=a&Tags.member.1.Value=b&TagKeys.member.1=a")
	f.Add("PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.01.Id=b&PublishBatchRequestEntries.member.-1.Id=c")
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		p := params(v)
		p.messageAttributes("MessageAttributes")
		p.entries("Attributes")
		p.tags("Tags")
		p.members("TagKeys")
		idx := p.indices("PublishBatchRequestEntries.member")
		if !slices.IsSorted(idx) || len(slices.Compact(slices.Clone(idx))) != len(idx) {
			t.Fatalf("indices = %v", idx)
		}
		for _, i := range idx {
			if i < 1 {
				t.Fatalf("index %d", i)
			}
		}
	})
}
