package serveraccounts_test

import (
	"encoding/json"
	"fmt"

	"clnd/internal/apitest"
)

func jsonData(r *apitest.Response, v any) error {
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s", r.Raw)
	}
	return json.Unmarshal(r.Data, v)
}
