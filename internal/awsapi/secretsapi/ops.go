package secretsapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/secrets"
)

// epoch is a timestamp as the JSON 1.1 protocol encodes it: seconds since
// the epoch, with a fraction.
type epoch float64

func at(t time.Time) epoch { return epoch(float64(t.UnixMilli()) / 1000) }

func atPtr(t *time.Time) *epoch {
	if t == nil {
		return nil
	}
	e := at(*t)
	return &e
}

func missing(field string) error {
	return invalid("You must provide a value for the %s parameter.", field)
}

func invalid(format string, args ...any) error {
	return &lambda.Error{Code: secrets.CodeInvalidParameter, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func (a *API) createSecret(r *http.Request, body []byte) (any, error) {
	var in struct {
		Name               string
		Description        string
		SecretString       *string
		SecretBinary       []byte
		ClientRequestToken string
		Tags               []secrets.Tag
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, missing("Name")
	}
	sec, err := a.s.Create(r.Context(), secrets.CreateInput{Name: in.Name, Description: in.Description, Tags: in.Tags,
		Content: secrets.Content{String: in.SecretString, Binary: in.SecretBinary}, Token: in.ClientRequestToken})
	if err != nil {
		return nil, err
	}
	out := map[string]any{"ARN": sec.ARN, "Name": sec.Name}
	if len(sec.Versions) > 0 {
		out["VersionId"] = sec.Versions[0].ID
	}
	return out, nil
}

func (a *API) putSecretValue(r *http.Request, body []byte) (any, error) {
	var in struct {
		SecretId           string
		SecretString       *string
		SecretBinary       []byte
		ClientRequestToken string
		VersionStages      []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.SecretId == "" {
		return nil, missing("SecretId")
	}
	if len(in.VersionStages) > 0 && !slices.Equal(in.VersionStages, []string{secrets.StageCurrent}) {
		return nil, invalid("nimbus supports only the AWSCURRENT version stage in PutSecretValue.")
	}
	sec, v, err := a.s.Put(r.Context(), in.SecretId, secrets.Content{String: in.SecretString, Binary: in.SecretBinary}, in.ClientRequestToken)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": v.ID, "VersionStages": v.Stages}, nil
}

func (a *API) getSecretValue(r *http.Request, body []byte) (any, error) {
	var in struct {
		SecretId, VersionId, VersionStage string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.SecretId == "" {
		return nil, missing("SecretId")
	}
	v, err := a.s.Value(r.Context(), in.SecretId, in.VersionId, in.VersionStage)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"ARN": v.ARN, "Name": v.Name, "VersionId": v.VersionID, "VersionStages": v.Stages, "CreatedDate": at(v.Created)}
	if v.String != nil {
		out["SecretString"] = *v.String
	} else {
		out["SecretBinary"] = base64.StdEncoding.EncodeToString(v.Binary)
	}
	return out, nil
}

// description is DescribeSecret's answer and a ListSecrets entry.
type description struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            string              `json:"Description,omitempty"`
	CreatedDate            epoch               `json:"CreatedDate"`
	LastChangedDate        epoch               `json:"LastChangedDate"`
	DeletedDate            *epoch              `json:"DeletedDate,omitempty"`
	Tags                   []secrets.Tag       `json:"Tags,omitempty"`
	VersionIdsToStages     map[string][]string `json:"VersionIdsToStages,omitempty"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
}

func describe(sec secrets.Secret, list bool) description {
	d := description{ARN: sec.ARN, Name: sec.Name, Description: sec.Description, CreatedDate: at(sec.Created),
		LastChangedDate: at(sec.Changed), DeletedDate: atPtr(sec.Deleted), Tags: sec.Tags}
	stages := map[string][]string{}
	for _, v := range sec.Versions {
		stages[v.ID] = v.Stages
	}
	if len(stages) > 0 && list {
		d.SecretVersionsToStages = stages
	} else if len(stages) > 0 {
		d.VersionIdsToStages = stages
	}
	return d
}

// secretID decodes a request whose only member is the required SecretId.
func secretID(body []byte) (string, error) {
	var in struct{ SecretId string }
	if err := decode(body, &in); err != nil {
		return "", err
	}
	if in.SecretId == "" {
		return "", missing("SecretId")
	}
	return in.SecretId, nil
}

func (a *API) describeSecret(r *http.Request, body []byte) (any, error) {
	id, err := secretID(body)
	if err != nil {
		return nil, err
	}
	sec, err := a.s.Describe(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return describe(sec, false), nil
}

func (a *API) listSecrets(r *http.Request, body []byte) (any, error) {
	var in struct {
		MaxResults             *int
		NextToken              string
		IncludePlannedDeletion bool
		Filters                []struct {
			Key    string
			Values []string
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, invalid("MaxResults must be between 1 and 100.")
		}
		limit = *in.MaxResults
	}
	all, err := a.s.List(r.Context(), in.IncludePlannedDeletion)
	if err != nil {
		return nil, err
	}
	for _, f := range in.Filters {
		if f.Key != "name" && f.Key != "description" {
			return nil, invalid("nimbus supports the ListSecrets filters name and description, not %q.", f.Key)
		}
		all = slices.DeleteFunc(all, func(s secrets.Secret) bool { return !matches(s, f.Key, f.Values) })
	}
	start := 0
	if in.NextToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, invalid("The NextToken is not valid.")
		}
		start, _ = slices.BinarySearchFunc(all, string(after), func(s secrets.Secret, name string) int { return strings.Compare(s.Name, name) })
		if start < len(all) && all[start].Name == string(after) {
			start++
		}
	}
	out := struct {
		SecretList []description `json:"SecretList"`
		NextToken  string        `json:"NextToken,omitempty"`
	}{SecretList: []description{}}
	for i := start; i < len(all) && len(out.SecretList) < limit; i++ {
		out.SecretList = append(out.SecretList, describe(all[i], true))
		if len(out.SecretList) == limit && i+1 < len(all) {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(all[i].Name))
		}
	}
	return out, nil
}

// matches applies a ListSecrets filter: a value matches a prefix of the
// field; a value starting with "!" negates.
func matches(s secrets.Secret, key string, values []string) bool {
	field := s.Name
	if key == "description" {
		field = s.Description
	}
	for _, v := range values {
		neg := strings.HasPrefix(v, "!")
		if strings.HasPrefix(field, strings.TrimPrefix(v, "!")) != neg {
			return true
		}
	}
	return false
}

func (a *API) deleteSecret(r *http.Request, body []byte) (any, error) {
	var in struct {
		SecretId                   string
		RecoveryWindowInDays       int
		ForceDeleteWithoutRecovery bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.SecretId == "" {
		return nil, missing("SecretId")
	}
	sec, when, err := a.s.Delete(r.Context(), in.SecretId, in.ForceDeleteWithoutRecovery, in.RecoveryWindowInDays)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "DeletionDate": at(when)}, nil
}

func (a *API) restoreSecret(r *http.Request, body []byte) (any, error) {
	id, err := secretID(body)
	if err != nil {
		return nil, err
	}
	sec, err := a.s.Restore(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name}, nil
}
