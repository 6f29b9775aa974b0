package main

import (
	"time"

	"authserver/keys"
)

func init() {
	commands["keys list"] = &command{usage: "keys list", setup: noFlags(func(e *env) error {
		set, err := keys.Load(e.cfg.keysPath())
		if err != nil {
			return err
		}
		infos := set.List()
		return table(e.stdout, []string{"KID", "ALG", "STATE", "CREATED"}, len(infos), func(i int) []any {
			k := infos[i]
			return []any{k.KID, k.Alg, k.State, k.Created.Format(time.RFC3339)}
		})
	})}
}
